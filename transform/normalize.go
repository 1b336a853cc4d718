package transform

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/arena"
	"github.com/mrrflow/mrrflow/schemas"
)

// Batch is the normalized state of one source.
type Batch struct {
	Source       string
	Customers    []schemas.Customer
	Plans        []schemas.Plan
	Lines        []*schemas.InvoiceLine // the records made while reading, not copied
	Transactions []schemas.Transaction
	Events       []schemas.SubscriptionEvent
	Contacts     []schemas.Contact
}

// Result is what normalizing one read of a source gave.
type Result struct {
	Batch    Batch
	Rejected []schemas.Rejected
	// Read and Accepted count records by entity.
	Read     map[schemas.Entity]int
	Accepted map[schemas.Entity]int
	// Warnings are records kept that look suspicious.
	Warnings []string
	Took     time.Duration
	// Unchanged is an upsert that read no record: the source's stored
	// tables stand as they are, and Batch is empty (they were not loaded).
	Unchanged bool
}

// Normalize reads a source through its extractor, validates every record,
// and merges what is valid into prior (the source's normalized state from
// earlier runs): in mode upsert a record replaces the one with its id (an
// invoice replaces all its lines); in mode replace the read is the whole
// state. A record that fails becomes a rejected row; an error of the read
// itself (a broken file, a lost connection) is returned.
//
// prior loads the stored state; it is called only when there is something
// to merge it with.
func Normalize(ctx context.Context, runID string, src configs.Source, mode string, ex extract.Extractor, prior func() (*Batch, error)) (*Result, error) {
	start := time.Now()
	n := newNormalizer(runID)
	n.res.Batch.Source = src.Name
	var err error
	if bx, ok := ex.(extract.BlockExtractor); ok && runtime.GOMAXPROCS(0) > 1 {
		err = n.addBlocks(ctx, bx, runtime.GOMAXPROCS(0))
	} else {
		err = ex.Extract(ctx, n.add)
	}
	if err != nil {
		return nil, err
	}
	if mode == configs.ModeUpsert && n.res.read() == 0 {
		n.res.Unchanged = true
		n.res.Took = time.Since(start)
		return n.res, nil
	}
	state := &Batch{Source: src.Name}
	if prior != nil && mode == configs.ModeUpsert {
		if state, err = prior(); err != nil {
			return nil, err
		}
	}
	n.merge(src.Name, state)
	n.res.Took = time.Since(start)
	return n.res, nil
}

func newNormalizer(runID string) *normalizer {
	return &normalizer{
		runID:       runID,
		res:         &Result{Read: map[schemas.Entity]int{}, Accepted: map[schemas.Entity]int{}},
		rejected:    map[schemas.Entity]map[string]string{},
		headers:     map[string]invoiceHeader{},
		planUUID:    map[string]string{},
		subCustomer: map[string]string{},
		customerAt:  map[string]int{},
	}
}

// read is the number of records read.
func (r *Result) read() int {
	n := 0
	for _, c := range r.Read {
		n += c
	}
	return n
}

type normalizer struct {
	runID     string
	res       *Result
	customers []schemas.Customer
	plans     []schemas.Plan
	lines     []pendingLine
	// lineParts are the lines of blocks read on other goroutines, which
	// come before lines (kept as they are: copying them costs).
	lineParts [][]pendingLine
	// arena holds the lines' ids, copied out of the text read.
	arena arena.Arena
	// Invoices sent as a header and line items (ChartMogul).
	headers      map[string]invoiceHeader
	items        []lineItem
	transactions []schemas.Transaction
	events       []pendingEvent
	contacts     []schemas.Contact
	planUUID     map[string]string
	// subCustomer maps the subscriptions of seed 002 rows to their company.
	subCustomer map[string]string
	customerAt  map[string]int
	// rejected holds the reason each rejected id was rejected for.
	rejected map[schemas.Entity]map[string]string
}

type pendingLine struct {
	line schemas.InvoiceLine
	raw  string
}

type pendingEvent struct {
	event schemas.SubscriptionEvent
	raw   string
}

func (n *normalizer) add(rec *extract.Record) error {
	n.res.Read[rec.Entity]++
	if rec.Err != nil {
		n.reject(rec, rec.Err.Error())
		return nil
	}
	var err error
	switch rec.Entity {
	case schemas.EntityCustomer:
		var c schemas.Customer
		if c, err = toCustomer(rec); err == nil {
			n.customers = append(n.customers, c)
		}
	case schemas.EntityPlan:
		var p schemas.Plan
		if p, err = toPlan(rec); err == nil {
			n.plans = append(n.plans, p)
			if uuid := rec.Get("plan_uuid"); uuid.Present() {
				n.planUUID[uuid.Text] = p.PlanID
			}
		}
	case schemas.EntityInvoice:
		if rec.Header {
			var id string
			var h invoiceHeader
			if id, h, err = toHeader(rec); err == nil {
				n.headers[id] = h
			}
			break
		}
		var l schemas.InvoiceLine
		if l, err = toLine(rec); err == nil {
			// The ids are copied out of the text read, which then goes
			// (a CSV chunk, an NDJSON line's values): they are most of
			// what a line keeps.
			l.InvoiceID, l.LineID = n.arena.String(l.InvoiceID), n.arena.String(l.LineID)
			l.CustomerID, l.SubscriptionID = n.arena.String(l.CustomerID), n.arena.String(l.SubscriptionID)
			l.PlanID = n.arena.String(l.PlanID)
			// The raw text is not kept for every line (memory): a line
			// rejected later, for a reference, shows its canonical fields.
			n.lines = append(n.lines, pendingLine{line: l})
			if acc := strings.ToLower(rec.Get("account_currency").Text); acc != "" && l.Currency != acc {
				n.res.Warnings = append(n.res.Warnings, fmt.Sprintf("%s: invoice %s: currency %s differs from the account currency %s; it counts in cash flow, converted",
					rec.Origin, quoted(l.InvoiceID), l.Currency, acc))
			}
		}
	case schemas.EntityLineItem:
		var it lineItem
		if it, err = toLineItem(rec); err == nil {
			n.items = append(n.items, it)
		}
	case schemas.EntityTransaction:
		var t schemas.Transaction
		if t, err = toTransaction(rec); err == nil {
			n.transactions = append(n.transactions, t)
		}
	case schemas.EntitySubscriptionEvent:
		var ev schemas.SubscriptionEvent
		if ev, err = toEvent(rec); err == nil {
			n.events = append(n.events, pendingEvent{event: ev, raw: string(rec.RawJSON())})
		}
	case schemas.EntitySubscription:
		var c schemas.Customer
		var evs []schemas.SubscriptionEvent
		if c, evs, err = toSubscription(rec); err == nil {
			n.addCompany(c)
			n.subCustomer[evs[0].SubscriptionID] = c.CustomerID
			for _, ev := range evs {
				n.events = append(n.events, pendingEvent{event: ev, raw: string(rec.RawJSON())})
			}
		}
	case schemas.EntityContact:
		var c schemas.Contact
		if c, err = toContact(rec); err == nil {
			n.contacts = append(n.contacts, c)
		}
	default:
		err = fmt.Errorf("entity %s is not handled", rec.Entity)
	}
	if err != nil {
		n.reject(rec, err.Error())
	}
	return nil
}

// addCompany adds a customer made from a subscription row; several rows of
// one company merge, the first name given winning.
func (n *normalizer) addCompany(c schemas.Customer) {
	if i, ok := n.customerAt[c.CustomerID]; ok {
		have := &n.customers[i]
		if have.Name == have.CustomerID && c.Name != c.CustomerID {
			have.Name = c.Name
		}
		if c.TrialStartedAt != schemas.NoTime && (have.TrialStartedAt == schemas.NoTime || c.TrialStartedAt < have.TrialStartedAt) {
			have.TrialStartedAt = c.TrialStartedAt
		}
		return
	}
	n.customerAt[c.CustomerID] = len(n.customers)
	n.customers = append(n.customers, c)
}

func (n *normalizer) reject(rec *extract.Record, reason string) {
	id := recordID(rec)
	n.rejectID(rec.Source, rec.Entity, id, rec.Origin, reason, string(rec.RawJSON()))
}

func (n *normalizer) rejectID(source string, e schemas.Entity, id, origin, reason, raw string) {
	n.res.Rejected = append(n.res.Rejected, schemas.Rejected{
		RunID: n.runID, Source: source, Entity: e, RecordID: id, Origin: origin, Error: reason, Raw: raw,
	})
	if id == "" {
		return
	}
	if n.rejected[e] == nil {
		n.rejected[e] = map[string]string{}
	}
	if _, seen := n.rejected[e][id]; !seen {
		n.rejected[e][id] = reason
	}
}

// merge upserts the records read into prior, checks references, and sets
// the result's batch.
func (n *normalizer) merge(source string, prior *Batch) {
	out := &n.res.Batch
	out.Customers = upsert(prior.Customers, n.customers, func(c *schemas.Customer) string { return c.CustomerID })
	out.Plans = upsert(prior.Plans, n.plans, func(p *schemas.Plan) string { return p.PlanID })
	n.res.Accepted[schemas.EntityCustomer] = len(n.customers)
	n.res.Accepted[schemas.EntityPlan] = len(n.plans)

	customers := make(map[string]bool, len(out.Customers))
	for i := range out.Customers {
		customers[out.Customers[i].CustomerID] = true
	}
	plans := make(map[string]*schemas.Plan, len(out.Plans))
	for i := range out.Plans {
		plans[out.Plans[i].PlanID] = &out.Plans[i]
	}

	n.joinItems(source, prior)

	// Check each incoming line; an invoice with any bad line is rejected
	// whole, so that an invoice is never half imported.
	badInvoice := map[string]string{}
	total := len(n.lines)
	for _, part := range n.lineParts {
		total += len(part)
	}
	parts := append(n.lineParts, n.lines)
	// References are checked on several goroutines (the maps are only read
	// meanwhile); the rejections are then made in the order read.
	reasons := make([][]string, len(parts))
	var next atomic.Int32
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for k := int(next.Add(1)) - 1; k < len(parts); k = int(next.Add(1)) - 1 {
				for i := range parts[k] {
					if r := n.checkRefs(source, &parts[k][i].line, customers, plans); r != "" {
						if reasons[k] == nil {
							reasons[k] = make([]string, len(parts[k]))
						}
						reasons[k][i] = r
					}
				}
			}
		})
	}
	wg.Wait()
	accepted := make([]*schemas.InvoiceLine, 0, total)
	for k, part := range parts {
		for i := range part {
			p := &part[i]
			if reasons[k] != nil && reasons[k][i] != "" {
				reason := reasons[k][i]
				raw := p.raw
				if raw == "" {
					raw = lineJSON(&p.line)
				}
				n.rejectID(source, schemas.EntityInvoice, p.line.InvoiceID, p.line.Origin, reason, raw)
				badInvoice[p.line.InvoiceID] = reason
				continue
			}
			accepted = append(accepted, &p.line)
		}
	}
	kept := accepted[:0]
	for _, l := range accepted {
		if reason, bad := badInvoice[l.InvoiceID]; bad {
			n.res.Rejected = append(n.res.Rejected, schemas.Rejected{
				RunID: n.runID, Source: source, Entity: schemas.EntityLineItem, RecordID: l.InvoiceID + "/" + l.LineID,
				Origin: l.Origin, Error: "another line of invoice " + quoted(l.InvoiceID) + " was rejected: " + reason,
			})
			continue
		}
		kept = append(kept, l)
	}
	n.res.Accepted[schemas.EntityInvoice] = len(kept)
	n.lines, n.lineParts = nil, nil // kept points into them
	out.Lines = upsertLines(prior.Lines, kept)
	n.applyTransactions(source, prior)
	n.mergeEvents(source, prior, customers, plans)
	out.Contacts = upsert(prior.Contacts, n.contacts, func(c *schemas.Contact) string { return c.Email })
	n.res.Accepted[schemas.EntityContact] = len(n.contacts)
}

// mergeEvents checks the subscription events read (customer, plan and
// interval) and upserts them by id.
func (n *normalizer) mergeEvents(source string, prior *Batch, customers map[string]bool, plans map[string]*schemas.Plan) {
	var accepted []schemas.SubscriptionEvent
	for _, p := range n.events {
		ev := p.event
		reason := ""
		plan := plans[ev.PlanID]
		switch {
		case !customers[ev.CustomerID]:
			reason = fmt.Sprintf("customer %s does not exist in source %s", quoted(ev.CustomerID), quoted(source))
			if why, ok := n.rejected[schemas.EntityCustomer][ev.CustomerID]; ok {
				reason = fmt.Sprintf("customer %s was rejected: %s", quoted(ev.CustomerID), why)
			}
		case ev.PlanID != "" && plan == nil && ev.IntervalUnit == "":
			reason = fmt.Sprintf("plan %s does not exist in source %s, and the event names no interval", quoted(ev.PlanID), quoted(source))
		case ev.IntervalUnit == "" && plan == nil && ev.Type != schemas.EventCancel:
			reason = "field interval_unit: is required when the event names no plan"
		}
		if reason != "" {
			n.rejectID(source, schemas.EntitySubscriptionEvent, ev.EventID, ev.Origin, reason, p.raw)
			continue
		}
		if ev.IntervalUnit == "" && plan != nil {
			ev.IntervalUnit, ev.IntervalCount = plan.IntervalUnit, plan.IntervalCount
		}
		if ev.IntervalUnit == "" { // a cancel needs no interval
			ev.IntervalUnit, ev.IntervalCount = schemas.UnitMonth, 1
		}
		if ev.Currency == "" && plan != nil {
			ev.Currency = plan.Currency
		}
		accepted = append(accepted, ev)
	}
	n.res.Accepted[schemas.EntitySubscriptionEvent] = len(accepted)
	n.res.Batch.Events = upsert(prior.Events, accepted, func(e *schemas.SubscriptionEvent) string { return e.EventID })
}

// joinItems turns line items into lines of their invoices: customer, date
// and currency come from the invoice sent in this read, or from the lines
// stored for it earlier.
func (n *normalizer) joinItems(source string, prior *Batch) {
	if len(n.items) == 0 {
		return
	}
	known := map[string]invoiceHeader{}
	for _, l := range prior.Lines {
		known[l.InvoiceID] = invoiceHeader{customerID: l.CustomerID, date: l.InvoiceDate, currency: l.Currency}
	}
	seq := map[string]int{}
	for _, it := range n.items {
		l := it.line
		h, ok := n.headers[l.InvoiceID]
		if !ok {
			h, ok = known[l.InvoiceID]
		}
		if !ok {
			reason := fmt.Sprintf("invoice %s does not exist in source %s", quoted(l.InvoiceID), quoted(source))
			if why, rej := n.rejected[schemas.EntityInvoice][l.InvoiceID]; rej {
				reason = fmt.Sprintf("invoice %s was rejected: %s", quoted(l.InvoiceID), why)
			}
			n.rejectID(source, schemas.EntityLineItem, l.LineID, l.Origin, reason, it.raw)
			continue
		}
		l.CustomerID, l.InvoiceDate, l.Currency = h.customerID, h.date, h.currency
		seq[l.InvoiceID]++
		if l.LineID == "" {
			l.LineID = fmt.Sprint(seq[l.InvoiceID])
		}
		if l.PlanID == "" && it.planUUID != "" {
			if id, ok := n.planUUID[it.planUUID]; ok {
				l.PlanID = id
			} else {
				n.rejectID(source, schemas.EntityLineItem, l.LineID, l.Origin,
					fmt.Sprintf("plan_uuid %s matches no plan sent in this import", quoted(it.planUUID)), it.raw)
				continue
			}
		}
		if l.PeriodStart == schemas.NoTime {
			l.PeriodStart = l.InvoiceDate
		}
		n.lines = append(n.lines, pendingLine{line: l, raw: it.raw})
		if it.cancelledAt != schemas.NoTime {
			c := l
			c.LineID, c.Kind, c.Amount, c.Tax, c.Discount, c.Prorated = l.LineID+"/cancelled", schemas.KindCancellation, 0, 0, 0, false
			c.PlanID, c.PeriodStart, c.PeriodEnd = "", it.cancelledAt, it.cancelledAt
			n.lines = append(n.lines, pendingLine{line: c, raw: it.raw})
		}
	}
}

// applyTransactions checks the transactions read, upserts them, and sets
// each line's paid_at to its invoice's first successful payment.
func (n *normalizer) applyTransactions(source string, prior *Batch) {
	out := &n.res.Batch
	if len(n.transactions) == 0 && len(prior.Transactions) == 0 {
		return // most sources send none: no work per line
	}
	invoiceDate := map[string]int64{}
	for _, l := range out.Lines {
		invoiceDate[l.InvoiceID] = l.InvoiceDate
	}
	var accepted []schemas.Transaction
	for _, t := range n.transactions {
		d, ok := invoiceDate[t.InvoiceID]
		switch {
		case !ok:
			reason := fmt.Sprintf("invoice %s does not exist in source %s", quoted(t.InvoiceID), quoted(source))
			if why, rej := n.rejected[schemas.EntityInvoice][t.InvoiceID]; rej {
				reason = fmt.Sprintf("invoice %s was rejected: %s", quoted(t.InvoiceID), why)
			}
			n.rejectID(source, schemas.EntityTransaction, t.TransactionID, t.Origin, reason, "")
		case t.Date < d:
			n.rejectID(source, schemas.EntityTransaction, t.TransactionID, t.Origin,
				fmt.Sprintf("field date: %s is before the date of invoice %s (%s)", schemas.TimeOf(t.Date).Format(time.DateOnly),
					quoted(t.InvoiceID), schemas.TimeOf(d).Format(time.DateOnly)), "")
		default:
			accepted = append(accepted, t)
		}
	}
	n.res.Accepted[schemas.EntityTransaction] = len(accepted)
	out.Transactions = upsert(prior.Transactions, accepted, func(t *schemas.Transaction) string { return t.TransactionID })
	if len(out.Transactions) == 0 {
		return
	}
	paid := map[string]int64{}
	hasTx := map[string]bool{}
	for _, t := range out.Transactions {
		hasTx[t.InvoiceID] = true
		if t.Type == "payment" && t.Result == "successful" {
			if p, ok := paid[t.InvoiceID]; !ok || t.Date < p {
				paid[t.InvoiceID] = t.Date
			}
		}
	}
	for _, l := range out.Lines {
		if !hasTx[l.InvoiceID] {
			continue
		}
		l.PaidAt = schemas.NoTime
		if p, ok := paid[l.InvoiceID]; ok {
			l.PaidAt = p
		}
	}
}

// checkRefs resolves a line's customer and plan, fills its default period
// end, and returns why it is rejected, or "".
func (n *normalizer) checkRefs(source string, l *schemas.InvoiceLine, customers map[string]bool, plans map[string]*schemas.Plan) string {
	eventBased := false
	if c, ok := n.subCustomer[l.SubscriptionID]; ok && l.SubscriptionID != "" {
		eventBased = true
		if l.CustomerID == "" {
			l.CustomerID = c
		}
	}
	if l.CustomerID == "" {
		return fmt.Sprintf("subscription %s does not exist in source %s", quoted(l.SubscriptionID), quoted(source))
	}
	if l.Kind == schemas.KindSubscription && l.PlanID == "" && !eventBased {
		return "field plan_id: is required for a subscription invoice"
	}
	if !customers[l.CustomerID] {
		if why, ok := n.rejected[schemas.EntityCustomer][l.CustomerID]; ok {
			return fmt.Sprintf("customer %s was rejected: %s", quoted(l.CustomerID), why)
		}
		return fmt.Sprintf("customer %s does not exist in source %s", quoted(l.CustomerID), quoted(source))
	}
	var plan *schemas.Plan
	if l.PlanID != "" {
		plan = plans[l.PlanID]
		if plan == nil {
			if why, ok := n.rejected[schemas.EntityPlan][l.PlanID]; ok {
				return fmt.Sprintf("plan %s was rejected: %s", quoted(l.PlanID), why)
			}
			return fmt.Sprintf("plan %s does not exist in source %s", quoted(l.PlanID), quoted(source))
		}
	}
	if l.Currency == "" && plan != nil {
		l.Currency = plan.Currency
	}
	if l.PeriodEnd == schemas.NoTime {
		if plan != nil && l.Kind != schemas.KindCancellation && l.Kind != schemas.KindRefund {
			end, err := schemas.AddInterval(schemas.TimeOf(l.PeriodStart), plan.IntervalUnit, plan.IntervalCount, 1)
			if err != nil {
				return fmt.Sprintf("plan %s: %v", quoted(plan.PlanID), err)
			}
			l.PeriodEnd = schemas.Micros(end)
		} else {
			l.PeriodEnd = l.PeriodStart
		}
	}
	return ""
}

func quoted(s string) string { return fmt.Sprintf("%q", s) }

// lineJSON renders a line's canonical fields as JSON, for a rejection of a
// line whose text was not kept.
func lineJSON(l *schemas.InvoiceLine) string {
	t := func(us int64) any {
		if us == schemas.NoTime {
			return nil
		}
		return schemas.TimeOf(us).Format(time.RFC3339)
	}
	b, _ := json.Marshal(map[string]any{
		"invoice_id": l.InvoiceID, "line_id": l.LineID, "customer_id": l.CustomerID, "subscription_id": l.SubscriptionID,
		"plan_id": l.PlanID, "kind": l.Kind, "invoice_date": t(l.InvoiceDate), "period_start": t(l.PeriodStart),
		"period_end": t(l.PeriodEnd), "amount": l.Amount, "tax": l.Tax, "currency": l.Currency,
	})
	return string(b)
}
