package transform

import (
	"strings"

	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/schemas"
)

func toCustomer(rec *extract.Record) (schemas.Customer, error) {
	r := newReader(rec)
	c := schemas.Customer{
		Source:         rec.Source,
		CustomerID:     r.text("customer_id", true),
		Name:           r.text("name", false),
		Email:          r.text("email", false),
		Country:        r.country("country"),
		State:          strings.ToLower(r.text("state", false)),
		CreatedAt:      r.time("created_at", false),
		TrialStartedAt: r.time("trial_started_at", false),
		Domain:         strings.ToLower(r.text("domain", false)),
		Attributes:     rec.AttrsJSON(),
		Origin:         rec.Origin,
	}
	if r.err == nil && c.Name == "" && c.Email == "" {
		r.fail("name", "name or email is required")
	}
	return c, r.err
}

func toPlan(rec *extract.Record) (schemas.Plan, error) {
	r := newReader(rec)
	p := schemas.Plan{
		Source:        rec.Source,
		PlanID:        r.text("plan_id", true),
		Name:          r.text("name", false),
		IntervalCount: r.integer("interval_count", false, 1),
		Currency:      r.currency("currency", false),
		Origin:        rec.Origin,
	}
	unit := strings.ToLower(r.text("interval_unit", true))
	switch unit {
	case schemas.UnitDay, schemas.UnitWeek, schemas.UnitMonth, schemas.UnitYear:
	case "quarter":
		unit, p.IntervalCount = schemas.UnitMonth, 3*p.IntervalCount
	default:
		if r.err == nil {
			r.fail("interval_unit", "%q is not one of day, week, month, year", unit)
		}
	}
	p.IntervalUnit = unit
	if r.err == nil && (p.IntervalCount < 1 || p.IntervalCount > 1200) {
		r.fail("interval_count", "must be between 1 and 1200, got %d", p.IntervalCount)
	}
	if p.Name == "" {
		p.Name = p.PlanID
	}
	return p, r.err
}

// toLine validates an invoice line. Its period end is left NoTime when not
// given: it defaults to one plan interval, known once plans are.
func toLine(rec *extract.Record) (schemas.InvoiceLine, error) {
	r := newReader(rec)
	l := schemas.InvoiceLine{
		Source:         rec.Source,
		InvoiceID:      r.text("invoice_id", true),
		LineID:         r.text("line_id", false),
		CustomerID:     r.text("customer_id", !rec.Get("subscription_id").Present()),
		SubscriptionID: r.text("subscription_id", false),
		PlanID:         r.text("plan_id", false),
		InvoiceDate:    r.time(invoiceDateField(rec), true),
		PeriodStart:    r.time("period_start", false),
		PeriodEnd:      r.time("period_end", false),
		Tax:            r.amount("tax", false),
		Discount:       r.amount("discount", false),
		Quantity:       r.integer("quantity", false, 1),
		Prorated:       r.boolean("prorated"),
		PaidAt:         r.time("paid_at", false),
		Origin:         rec.Origin,
	}
	kind := strings.ToLower(r.text("kind", true))
	switch kind { // the constants, not the text read (which then goes)
	case schemas.KindSubscription:
		kind = schemas.KindSubscription
	case schemas.KindRefund:
		kind = schemas.KindRefund
	case schemas.KindCancellation:
		kind = schemas.KindCancellation
	case "one-time", "one_time", "onetime":
		kind = schemas.KindOneTime
	default:
		if r.err == nil {
			r.fail("kind", "%q is not one of subscription, one-time, refund, cancellation", kind)
		}
	}
	l.Kind = kind
	l.Amount = r.amount("amount", kind != schemas.KindCancellation)
	l.Currency = r.currency("currency", false)
	if l.Currency == "" {
		l.Currency = r.currency("account_currency", false)
	}
	if l.Currency == "" && kind != schemas.KindCancellation && r.err == nil {
		r.fail("currency", "is required")
	}
	if l.LineID == "" {
		l.LineID = l.InvoiceID
	}
	if r.err != nil {
		return l, r.err
	}
	if kind == schemas.KindRefund && l.Amount < 0 {
		l.Amount = -l.Amount // seed 000 sends refunds negative, seed 001 positive
	}
	if l.Tax < 0 {
		r.fail("tax", "must not be negative, got %d", l.Tax)
	}
	if l.Quantity < 0 {
		r.fail("quantity", "must not be negative, got %d", l.Quantity)
	}
	if l.PeriodStart == schemas.NoTime {
		l.PeriodStart = l.InvoiceDate
	}
	if l.PeriodEnd != schemas.NoTime {
		if l.PeriodEnd < l.PeriodStart {
			r.fail("period_end", "is before the period's start")
		} else if l.PeriodEnd == l.PeriodStart && kind == schemas.KindSubscription {
			r.fail("period_end", "equals the period's start: a subscription line needs a service period")
		}
	}
	return l, r.err
}

// invoiceHeader is an invoice whose lines arrive as line items.
type invoiceHeader struct {
	customerID string
	date       int64
	currency   string
	// ref and origin are the header record's, when it was read in this
	// delivery (not for the headers of stored lines).
	ref    ref
	origin string
}

func toHeader(rec *extract.Record) (string, invoiceHeader, error) {
	r := newReader(rec)
	id := r.text("invoice_id", true)
	h := invoiceHeader{
		customerID: r.text("customer_id", true),
		date:       r.time("invoice_date", true),
		currency:   r.currency("currency", true),
		origin:     rec.Origin,
	}
	return id, h, r.err
}

// lineItem is a line item before it is joined with its invoice.
type lineItem struct {
	line        schemas.InvoiceLine
	planUUID    string
	cancelledAt int64
	raw         string
	ref         ref
}

func toLineItem(rec *extract.Record) (lineItem, error) {
	r := newReader(rec)
	it := lineItem{raw: string(rec.RawJSON())}
	l := &it.line
	*l = schemas.InvoiceLine{
		Source:         rec.Source,
		InvoiceID:      r.text("invoice_id", true),
		LineID:         r.text("line_id", false),
		SubscriptionID: r.text("subscription_id", false),
		PlanID:         r.text("plan_id", false),
		PeriodStart:    r.time("period_start", false),
		PeriodEnd:      r.time("period_end", false),
		Amount:         r.amount("amount", true),
		Tax:            r.amount("tax", false),
		Discount:       r.amount("discount", false),
		Quantity:       r.integer("quantity", false, 1),
		Prorated:       r.boolean("prorated"),
		PaidAt:         schemas.NoTime,
		Origin:         rec.Origin,
	}
	it.planUUID = r.text("plan_uuid", false)
	it.cancelledAt = r.time("cancelled_at", false)
	kind := strings.ToLower(r.text("kind", true))
	switch kind {
	case schemas.KindSubscription:
	case "one_time", "one-time":
		kind = schemas.KindOneTime
	default:
		if r.err == nil {
			r.fail("kind", "%q is not one of subscription, one_time", kind)
		}
	}
	l.Kind = kind
	if r.err == nil && kind == schemas.KindSubscription && l.PlanID == "" && it.planUUID == "" {
		r.fail("plan_id", "is required for a subscription line item (plan_external_id or plan_uuid)")
	}
	if r.err == nil && l.Tax < 0 {
		r.fail("tax", "must not be negative, got %d", l.Tax)
	}
	if r.err == nil && l.PeriodStart != schemas.NoTime && l.PeriodEnd != schemas.NoTime && l.PeriodEnd <= l.PeriodStart {
		r.fail("period_end", "is not after the period's start")
	}
	return it, r.err
}

func toTransaction(rec *extract.Record) (schemas.Transaction, error) {
	r := newReader(rec)
	t := schemas.Transaction{
		Source:        rec.Source,
		TransactionID: r.text("transaction_id", true),
		InvoiceID:     r.text("invoice_id", true),
		Type:          strings.ToLower(r.text("type", true)),
		Result:        strings.ToLower(r.text("result", true)),
		Date:          r.time("date", true),
		Origin:        rec.Origin,
		Amount:        schemas.NoAmount,
	}
	if v := rec.Get("amount"); v.Present() {
		t.Amount = r.amount("amount", false)
		if r.err == nil && t.Amount < 0 {
			r.fail("amount", "must not be negative, got %d", t.Amount)
		}
	}
	if r.err == nil && t.Type != "payment" && t.Type != "refund" {
		r.fail("type", "%q is not one of payment, refund", t.Type)
	}
	if r.err == nil && t.Result != "successful" && t.Result != "failed" {
		r.fail("result", "%q is not one of successful, failed", t.Result)
	}
	return t, r.err
}

// chartmogulEventTypes maps ChartMogul's event types to ours.
var chartmogulEventTypes = map[string]string{
	"subscription_start": schemas.EventStart, "subscription_start_scheduled": schemas.EventStart,
	"subscription_updated": schemas.EventUpdate, "subscription_update_scheduled": schemas.EventUpdate,
	"subscription_cancelled": schemas.EventCancel, "subscription_cancellation_scheduled": schemas.EventCancel,
}

// toEvent validates a subscription event. Its interval may be left empty:
// it then comes from its plan, known once plans are.
func toEvent(rec *extract.Record) (schemas.SubscriptionEvent, error) {
	r := newReader(rec)
	ev := schemas.SubscriptionEvent{
		Source:         rec.Source,
		EventID:        r.text("event_id", true),
		CustomerID:     r.text("customer_id", true),
		SubscriptionID: r.text("subscription_id", true),
		PlanID:         r.text("plan_id", false),
		EffectiveAt:    r.time("effective_at", true),
		Amount:         r.amount("amount", false),
		IntervalCount:  r.integer("interval_count", false, 1),
		Currency:       r.currency("currency", false),
		Quantity:       r.integer("quantity", false, 1),
		Origin:         rec.Origin,
		Disabled:       r.boolean("disabled"),
	}
	// MRR is net of tax: tax_amount_in_cents comes off the amount, as it
	// does from an invoice line's.
	if tax := r.amount("tax", false); r.err == nil && tax != 0 {
		if tax < 0 || tax > ev.Amount {
			r.fail("tax", "%d is not between 0 and the amount (%d)", tax, ev.Amount)
		}
		ev.Amount -= tax
	}
	typ := strings.ToLower(r.text("type", true))
	if t, ok := chartmogulEventTypes[typ]; ok {
		typ = t
	}
	switch typ {
	case schemas.EventStart, schemas.EventUpdate, schemas.EventCancel:
	default:
		if r.err == nil {
			r.fail("type", "%q is not one of start, update, cancel", typ)
		}
	}
	ev.Type = typ
	ev.IntervalUnit = strings.ToLower(r.text("interval_unit", false))
	if ev.IntervalUnit == "quarter" {
		ev.IntervalUnit, ev.IntervalCount = schemas.UnitMonth, 3*ev.IntervalCount
	}
	if r.err == nil && ev.IntervalUnit != "" && !isUnit(ev.IntervalUnit) {
		r.fail("interval_unit", "%q is not one of day, week, month, quarter, year", ev.IntervalUnit)
	}
	if r.err == nil && ev.Amount < 0 {
		r.fail("amount", "must not be negative, got %d", ev.Amount)
	}
	return ev, r.err
}

func isUnit(u string) bool {
	switch u {
	case schemas.UnitDay, schemas.UnitWeek, schemas.UnitMonth, schemas.UnitYear:
		return true
	}
	return false
}

func toContact(rec *extract.Record) (schemas.Contact, error) {
	r := newReader(rec)
	c := schemas.Contact{
		Source:      rec.Source,
		Email:       strings.ToLower(r.text("email", true)),
		FirstName:   r.text("first_name", false),
		LastName:    r.text("last_name", false),
		Phone:       r.text("phone", false),
		JobTitle:    r.text("job_title", false),
		Country:     r.text("country", false),
		ContactType: r.text("contact_type", false),
		Origin:      rec.Origin,
	}
	if r.err == nil && (!strings.Contains(c.Email, "@") || strings.ContainsAny(c.Email, " \t")) {
		r.fail("email", "%q is not an email address", c.Email)
	}
	return c, r.err
}

// toSubscription turns a subscription row of the seed 002 payload into its
// company (the customer, keyed by domain) and its start and cancel events
// (docs/RULES.md §3).
func toSubscription(rec *extract.Record) (schemas.Customer, []schemas.SubscriptionEvent, error) {
	r := newReader(rec)
	id := r.text("subscription_id", true)
	domain := strings.ToLower(r.text("customer_id", true))
	c := schemas.Customer{
		Source: rec.Source, CustomerID: domain, Name: r.text("name", false), Domain: domain,
		CreatedAt: schemas.NoTime, TrialStartedAt: schemas.NoTime, Attributes: "{}", Origin: rec.Origin,
	}
	start := schemas.SubscriptionEvent{
		Source: rec.Source, EventID: id + "/start", CustomerID: domain, SubscriptionID: id,
		PlanID: r.text("plan_id", false), Type: schemas.EventStart, EffectiveAt: r.time("started_at", true),
		Amount: r.amount("amount", true), IntervalCount: 1, Currency: r.currency("account_currency", true),
		Quantity: r.integer("quantity", false, 1), Origin: rec.Origin,
	}
	canceledAt, endedAt := r.time("canceled_at", false), r.time("ended_at", false)
	switch unit := strings.ToLower(r.text("interval_unit", true)); unit {
	case "month", "year":
		start.IntervalUnit = unit
	case "quarter":
		start.IntervalUnit, start.IntervalCount = schemas.UnitMonth, 3
	default:
		if r.err == nil {
			r.fail("interval_unit", "%q is not one of month, quarter, year", unit)
		}
	}
	status := strings.ToLower(r.text("status", true))
	switch status {
	case "active", "past_due", "canceled":
	case "trialing", "paused":
		start.Amount = 0 // no MRR while trialing or paused
		if status == "trialing" {
			c.TrialStartedAt = start.EffectiveAt
		}
	default:
		if r.err == nil {
			r.fail("status", "%q is not one of active, canceled, past_due, trialing, paused", status)
		}
	}
	if r.err == nil && start.Amount < 0 {
		r.fail("amount", "must not be negative, got %d", start.Amount)
	}
	if c.Name == "" {
		c.Name = domain
	}
	events := []schemas.SubscriptionEvent{start}
	end := endedAt
	if end == schemas.NoTime && status == "canceled" {
		end = canceledAt
		if end == schemas.NoTime && r.err == nil {
			r.fail("status", "is canceled, but neither canceled_at nor ended_at is given")
		}
	}
	if end != schemas.NoTime && r.err == nil {
		if end < start.EffectiveAt {
			r.fail("ended_at", "is before started_at")
		}
		cancel := start
		cancel.EventID, cancel.Type, cancel.EffectiveAt, cancel.Amount = id+"/cancel", schemas.EventCancel, end, 0
		events = append(events, cancel)
	}
	return c, events, r.err
}

// invoiceDateField is invoice_date, or period_start for an invoice that
// has no issue date (seed 002 makes issued_at optional).
func invoiceDateField(rec *extract.Record) string {
	if !rec.Get("invoice_date").Present() && rec.Get("period_start").Present() {
		return "period_start"
	}
	return "invoice_date"
}

// recordID returns the id a record carries, for rejections.
func recordID(rec *extract.Record) string {
	name := map[schemas.Entity]string{
		schemas.EntityCustomer:          "customer_id",
		schemas.EntityPlan:              "plan_id",
		schemas.EntityInvoice:           "invoice_id",
		schemas.EntityLineItem:          "line_id",
		schemas.EntityTransaction:       "transaction_id",
		schemas.EntitySubscriptionEvent: "event_id",
		schemas.EntitySubscription:      "subscription_id",
		schemas.EntityContact:           "email",
	}[rec.Entity]
	return strings.TrimSpace(rec.Get(name).Text)
}
