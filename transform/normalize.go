package transform

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

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
	// Accounts says what became of every record read, by entity.
	Accounts map[schemas.Entity]Account
	// Superseded names the first records replaced by a later one of the
	// same id in the delivery (all are counted in Accounts).
	Superseded []Superseded
	// Tables says, per normalized table, the rows before and after the
	// delivery and the rows it removed.
	Tables map[string]TableChange
	// Warnings are records kept that look suspicious.
	Warnings []string
	Took     time.Duration
	// Unchanged is an upsert that read no record: the source's stored
	// tables stand as they are, and Batch is empty (they were not loaded).
	Unchanged bool
	// Written says the source's normalized tables are written into the
	// run's transaction already (NormalizeInParts), and Batch is empty.
	Written bool
}

// Normalize reads a source through its extractor, validates every record,
// and merges what is valid into prior (the source's normalized state from
// earlier runs): in mode upsert a record replaces the one with its id (an
// invoice replaces all its lines); in mode replace the read is the whole
// state. A record that fails becomes a rejected row; an error of the read
// itself (a broken file, a lost connection) is returned. Every record read
// is accounted for (Result.Accounts), against the stored state.
//
// prior loads the stored state; it is called only when there is something
// to merge it with.
func Normalize(ctx context.Context, runID string, src configs.Source, mode string, ex extract.Extractor, prior func() (*Batch, error)) (*Result, error) {
	start := time.Now()
	n := newNormalizer(runID)
	n.res.Batch.Source = src.Name
	n.major = src.Amounts == configs.AmountsMajor
	err := n.read(ctx, ex)
	if err != nil {
		return nil, err
	}
	if n.unchanged(mode, start) {
		return n.res, nil
	}
	stored := &Batch{Source: src.Name}
	if prior != nil {
		if stored, err = prior(); err != nil {
			return nil, err
		}
	}
	base := stored // what the delivery is merged into
	if mode == configs.ModeReplace {
		base = &Batch{Source: src.Name}
	}
	n.merge(src.Name, base, stored)
	if n.res.Accounts, err = n.ledger.accounts(); err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	for e, a := range n.res.Accounts {
		n.res.Accepted[e] = a.Accepted()
	}
	n.res.Took = time.Since(start)
	return n.res, nil
}

// read reads every record of ex into n: block by block on every core when
// the extractor cuts blocks, else one by one. After each block absorbed,
// or record read, n.flush (when set) may spill what n holds.
func (n *normalizer) read(ctx context.Context, ex extract.Extractor) error {
	var err error
	if bx, ok := ex.(extract.BlockExtractor); ok && runtime.GOMAXPROCS(0) > 1 {
		err = n.addBlocks(ctx, bx, runtime.GOMAXPROCS(0))
	} else {
		err = ex.Extract(ctx, func(rec *extract.Record) error {
			if err := n.add(rec); err != nil || n.flush == nil {
				return err
			}
			return n.flush(false)
		})
	}
	if err != nil {
		return err
	}
	if w, ok := ex.(interface{ Warnings() []string }); ok {
		n.res.Warnings = append(n.res.Warnings, w.Warnings()...)
	}
	return nil
}

// unchanged says an upsert read no record: the stored tables stand.
func (n *normalizer) unchanged(mode string, start time.Time) bool {
	if mode != configs.ModeUpsert || n.res.read() > 0 {
		return false
	}
	n.res.Unchanged = true
	n.res.Took = time.Since(start)
	return true
}

func newNormalizer(runID string) *normalizer {
	return &normalizer{
		runID:       runID,
		res:         &Result{Read: map[schemas.Entity]int{}, Accepted: map[schemas.Entity]int{}, Accounts: map[schemas.Entity]Account{}},
		rejected:    map[schemas.Entity]map[string]string{},
		headers:     map[string]invoiceHeader{},
		planUUID:    map[string]string{},
		subCustomer: map[string]string{},
		customerAt:  map[string]int{},
		removed:     map[string]int{},
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
	runID  string
	res    *Result
	ledger ledger
	// The records read, each with the ref of the record it was read as
	// (noRef for a company made from subscription rows).
	customers    []schemas.Customer
	customerRefs []ref
	plans        []schemas.Plan
	planRefs     []ref
	lines        []pendingLine
	// lineParts are the lines of blocks read on other goroutines, which
	// come before lines (kept as they are: copying them costs).
	lineParts [][]pendingLine
	// arena holds the lines' ids, copied out of the text read.
	arena arena.Arena
	// Invoices sent as a header and line items (ChartMogul).
	headers      map[string]invoiceHeader
	items        []lineItem
	transactions []schemas.Transaction
	txRefs       []ref
	events       []pendingEvent
	contacts     []schemas.Contact
	contactRefs  []ref
	planUUID     map[string]string
	// subCustomer maps the subscriptions of seed 002 rows to their company.
	subCustomer map[string]string
	customerAt  map[string]int
	// rejected holds the reason each rejected id was rejected for.
	rejected map[schemas.Entity]map[string]string
	// removed counts, by table, the stored rows the delivery removed.
	removed map[string]int
	// major reads the source's amounts in major units.
	major bool
	// flush, when set, is called after each block absorbed: it may spill
	// the records held (NormalizeInParts).
	flush func(force bool) error
}

type pendingLine struct {
	line schemas.InvoiceLine
	raw  string
	ref  ref
}

type pendingEvent struct {
	event schemas.SubscriptionEvent
	raw   string
	ref   ref
}

func (n *normalizer) add(rec *extract.Record) error {
	n.res.Read[rec.Entity]++
	rec.MajorUnits = n.major
	r := n.ledger.open(rec.Entity)
	if rec.Err != nil {
		n.reject(rec, r, rec.Err.Error())
		return nil
	}
	if field, at, bad := rec.InvalidUTF8(); bad {
		// Never written: Parquet strings are UTF-8, and readers refuse others.
		n.reject(rec, r, fmt.Sprintf("field %s: is not valid UTF-8 (byte %d): the file's encoding is not UTF-8?", field, at))
		return nil
	}
	var err error
	switch rec.Entity {
	case schemas.EntityCustomer:
		var c schemas.Customer
		if c, err = toCustomer(rec); err == nil {
			n.customers = append(n.customers, c)
			n.customerRefs = append(n.customerRefs, r)
		}
	case schemas.EntityPlan:
		var p schemas.Plan
		if p, err = toPlan(rec); err == nil {
			n.plans = append(n.plans, p)
			n.planRefs = append(n.planRefs, r)
			if uuid := rec.Get("plan_uuid"); uuid.Present() {
				n.planUUID[uuid.Text] = p.PlanID
			}
		}
	case schemas.EntityInvoice:
		if rec.Header {
			var id string
			var h invoiceHeader
			if id, h, err = toHeader(rec); err == nil {
				h.ref = r
				if old, ok := n.headers[id]; ok {
					n.supersede(schemas.EntityInvoice, id, old.origin, h.origin, old.ref)
				}
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
			n.lines = append(n.lines, pendingLine{line: l, ref: r})
			if acc := strings.ToLower(rec.Get("account_currency").Text); acc != "" && l.Currency != acc {
				n.res.Warnings = append(n.res.Warnings, fmt.Sprintf("%s: invoice %s: currency %s differs from the account currency %s; it counts in cash flow, converted",
					rec.Origin, quoted(l.InvoiceID), l.Currency, acc))
			}
		}
	case schemas.EntityLineItem:
		var it lineItem
		if it, err = toLineItem(rec); err == nil {
			it.ref = r
			n.items = append(n.items, it)
		}
	case schemas.EntityTransaction:
		var t schemas.Transaction
		if t, err = toTransaction(rec); err == nil {
			n.transactions = append(n.transactions, t)
			n.txRefs = append(n.txRefs, r)
		}
	case schemas.EntitySubscriptionEvent:
		var ev schemas.SubscriptionEvent
		if ev, err = toEvent(rec); err == nil {
			n.events = append(n.events, pendingEvent{event: ev, raw: string(rec.RawJSON()), ref: r})
		}
	case schemas.EntitySubscription:
		var c schemas.Customer
		var evs []schemas.SubscriptionEvent
		if c, evs, err = toSubscription(rec); err == nil {
			n.addCompany(c)
			n.subCustomer[evs[0].SubscriptionID] = c.CustomerID
			for _, ev := range evs {
				n.events = append(n.events, pendingEvent{event: ev, raw: string(rec.RawJSON()), ref: r})
			}
		}
	case schemas.EntityContact:
		var c schemas.Contact
		if c, err = toContact(rec); err == nil {
			n.contacts = append(n.contacts, c)
			n.contactRefs = append(n.contactRefs, r)
		}
	default:
		err = fmt.Errorf("entity %s is not handled", rec.Entity)
	}
	if err != nil {
		n.reject(rec, r, err.Error())
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
	n.customerRefs = append(n.customerRefs, noRef) // settled by its rows' events
}

func (n *normalizer) reject(rec *extract.Record, r ref, reason string) {
	id := recordID(rec)
	n.rejectID(r, rec.Source, rec.Entity, id, rec.Origin, reason, string(rec.RawJSON()))
}

// rejectID makes a rejected row, and settles the record read it came from
// (r) as rejected.
func (n *normalizer) rejectID(r ref, source string, e schemas.Entity, id, origin, reason, raw string) {
	n.ledger.settle(r, rejected)
	// What is kept of a bad record is valid UTF-8 (a bad byte reads
	// U+FFFD), and its own: the record's strings may point into a buffer
	// that goes (an arena, or a spilled partition's bytes).
	id, origin, reason, raw = ownUTF8(id), ownUTF8(origin), ownUTF8(reason), ownUTF8(raw)
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

// checkRefs resolves a line's customer and plan, fills its default period
// end, and returns why it is rejected, or "".
func (n *normalizer) checkRefs(source string, l *schemas.InvoiceLine, customers func(string) bool, plans map[string]*schemas.Plan) string {
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
	if !customers(l.CustomerID) {
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

// ownUTF8 is a copy of s with each byte that is not UTF-8 read as U+FFFD.
func ownUTF8(s string) string {
	if utf8.ValidString(s) {
		return strings.Clone(s)
	}
	return strings.ToValidUTF8(s, "\uFFFD")
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
