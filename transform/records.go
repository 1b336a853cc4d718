package transform

import (
	"strings"

	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/schemas"
)

func toCustomer(rec *extract.Record) (schemas.Customer, error) {
	r := &reader{rec: rec}
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
	r := &reader{rec: rec}
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
	r := &reader{rec: rec}
	l := schemas.InvoiceLine{
		Source:         rec.Source,
		InvoiceID:      r.text("invoice_id", true),
		LineID:         r.text("line_id", false),
		CustomerID:     r.text("customer_id", true),
		SubscriptionID: r.text("subscription_id", false),
		PlanID:         r.text("plan_id", false),
		InvoiceDate:    r.time("invoice_date", true),
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
	switch kind {
	case schemas.KindSubscription, schemas.KindRefund, schemas.KindCancellation:
	case "one-time", "one_time", "onetime":
		kind = schemas.KindOneTime
	default:
		if r.err == nil {
			r.fail("kind", "%q is not one of subscription, one-time, refund, cancellation", kind)
		}
	}
	l.Kind = kind
	l.Amount = r.amount("amount", kind != schemas.KindCancellation)
	l.Currency = r.currency("currency", kind != schemas.KindCancellation)
	if l.LineID == "" {
		l.LineID = l.InvoiceID
	}
	if r.err != nil {
		return l, r.err
	}
	if kind == schemas.KindSubscription && l.PlanID == "" {
		r.fail("plan_id", "is required for a subscription invoice")
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

// recordID returns the id a record carries, for rejections.
func recordID(rec *extract.Record) string {
	name := map[schemas.Entity]string{
		schemas.EntityCustomer: "customer_id",
		schemas.EntityPlan:     "plan_id",
		schemas.EntityInvoice:  "invoice_id",
	}[rec.Entity]
	return strings.TrimSpace(rec.Get(name).Text)
}
