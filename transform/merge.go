package transform

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mrrflow/mrrflow/schemas"
)

// merge checks references, keeps the last record of each id of the
// delivery, merges the records into base (the stored state for an upsert,
// nothing for a replace), settles each record read against stored, and
// sets the result's batch.
func (n *normalizer) merge(source string, base, stored *Batch) {
	out := &n.res.Batch
	// Refund lines made from transactions are made again from them.
	base, stored = withoutRefundLines(base), withoutRefundLines(stored)
	out.Customers = accept(n, schemas.EntityCustomer, schemas.Customers, base.Customers, stored.Customers, n.customers, n.customerRefs,
		func(c *schemas.Customer) string { return c.CustomerID }, func(c *schemas.Customer) string { return c.Origin },
		sameBut(func(c *schemas.Customer) *string { return &c.Origin }))
	out.Plans = accept(n, schemas.EntityPlan, schemas.Plans, base.Plans, stored.Plans, n.plans, n.planRefs,
		func(p *schemas.Plan) string { return p.PlanID }, func(p *schemas.Plan) string { return p.Origin },
		sameBut(func(p *schemas.Plan) *string { return &p.Origin }))

	customers := make(map[string]bool, len(out.Customers))
	for i := range out.Customers {
		customers[out.Customers[i].CustomerID] = true
	}
	plans := make(map[string]*schemas.Plan, len(out.Plans))
	for i := range out.Plans {
		plans[out.Plans[i].PlanID] = &out.Plans[i]
	}
	has := func(id string) bool { return customers[id] }
	n.joinItems(source, stored)
	fresh, badInvoice := n.mergeLines(source, base, has, plans)
	n.applyTransactions(source, base, stored)
	// Lines are settled once their paid_at is known from the transactions.
	outcomes, added := n.settleLines(stored.Lines, fresh)
	n.settleHeaders(source, badInvoice, outcomes)
	n.removed[schemas.InvoiceLines.Name] += len(stored.Lines) + added - len(out.Lines)
	n.addRefundLines(source)
	n.mergeEvents(source, base, stored, has, plans)
	out.Contacts = accept(n, schemas.EntityContact, schemas.Contacts, base.Contacts, stored.Contacts, n.contacts, n.contactRefs,
		func(c *schemas.Contact) string { return c.Email }, func(c *schemas.Contact) string { return c.Origin },
		sameBut(func(c *schemas.Contact) *string { return &c.Origin }))
	n.tableChanges(stored)
}

// refundLinePrefix begins the line id of a refund line made from a refund
// transaction: tx/<transaction_id>.
const refundLinePrefix = "tx/"

func isRefundLine(l *schemas.InvoiceLine) bool {
	return l.Kind == schemas.KindRefund && strings.HasPrefix(l.LineID, refundLinePrefix)
}

// withoutRefundLines is a state without the refund lines made from its
// transactions (a copy when it has any).
func withoutRefundLines(b *Batch) *Batch {
	if !slices.ContainsFunc(b.Lines, isRefundLine) {
		return b
	}
	c := *b
	c.Lines = slices.DeleteFunc(slices.Clone(b.Lines), isRefundLine)
	return &c
}

// addRefundLines makes a refund line of each successful refund
// transaction: dated the transaction's date, for its amount, or the
// invoice's whole amount when it gives none (ChartMogul's rule), on the
// invoice's subscription when it has one. The refunds policy then says
// whether it reduces MRR; it always counts in cash flow.
func (n *normalizer) addRefundLines(source string) {
	out := &n.res.Batch
	if len(out.Transactions) == 0 {
		return
	}
	type invoice struct {
		first *schemas.InvoiceLine
		total int64
		subs  map[string]bool
	}
	invoices := map[string]*invoice{}
	for _, l := range out.Lines {
		inv := invoices[l.InvoiceID]
		if inv == nil {
			inv = &invoice{first: l, subs: map[string]bool{}}
			invoices[l.InvoiceID] = inv
		}
		if l.Kind == schemas.KindSubscription || l.Kind == schemas.KindOneTime {
			inv.total += l.Amount
		}
		if l.SubscriptionID != "" {
			inv.subs[l.SubscriptionID] = true
		}
	}
	added := false
	for _, t := range out.Transactions {
		inv := invoices[t.InvoiceID]
		if t.Type != "refund" || t.Result != "successful" || inv == nil {
			continue
		}
		amount := t.Amount
		if amount == schemas.NoAmount {
			amount = inv.total
		}
		sub := ""
		if len(inv.subs) == 1 {
			for s := range inv.subs {
				sub = s
			}
		}
		out.Lines = append(out.Lines, &schemas.InvoiceLine{
			Source: source, InvoiceID: t.InvoiceID, LineID: refundLinePrefix + t.TransactionID, CustomerID: inv.first.CustomerID,
			SubscriptionID: sub, Kind: schemas.KindRefund, InvoiceDate: t.Date, PeriodStart: t.Date, PeriodEnd: t.Date,
			Amount: amount, Quantity: 1, PaidAt: t.Date, Currency: inv.first.Currency, Origin: t.Origin,
		})
		added = true
	}
	if added {
		slices.SortFunc(out.Lines, byLine)
	}
}

// tableChanges counts, for each table, the rows stored before and kept
// after, and the rows gone.
func (n *normalizer) tableChanges(stored *Batch) {
	out := &n.res.Batch
	n.res.Tables = map[string]TableChange{}
	for _, t := range []struct {
		name          string
		before, after int
	}{
		{schemas.Customers.Name, len(stored.Customers), len(out.Customers)}, {schemas.Plans.Name, len(stored.Plans), len(out.Plans)},
		{schemas.InvoiceLines.Name, len(stored.Lines), len(out.Lines)}, {schemas.Transactions.Name, len(stored.Transactions), len(out.Transactions)},
		{schemas.SubscriptionEvents.Name, len(stored.Events), len(out.Events)}, {schemas.Contacts.Name, len(stored.Contacts), len(out.Contacts)},
	} {
		n.res.Tables[t.name] = TableChange{Before: t.before, After: t.after, Removed: n.removed[t.name]}
	}
}

// accept keeps the last incoming record of each id (the earlier ones are
// superseded), settles each kept one as inserted, updated or unchanged
// against the stored record of its id, merges them into base, and counts
// the stored records of table that the merge left out.
func accept[T any](n *normalizer, e schemas.Entity, table *schemas.Table, base, stored, incoming []T, refs []ref,
	id, origin func(*T) string, same func(a, b *T) bool) []T {
	last := make(map[string]int, len(incoming))
	for i := range incoming {
		last[id(&incoming[i])] = i
	}
	var storedAt map[string]int
	if len(stored) > 0 && len(incoming) > 0 {
		storedAt = make(map[string]int, len(stored))
		for i := range stored {
			storedAt[id(&stored[i])] = i
		}
	}
	dups := len(last) < len(incoming)
	kept := incoming
	if dups {
		kept = make([]T, 0, len(last))
	}
	added := 0
	for i := range incoming {
		k := id(&incoming[i])
		if j := last[k]; j != i {
			n.supersede(e, k, origin(&incoming[i]), origin(&incoming[j]), refs[i])
			continue
		}
		j, found := storedAt[k]
		var prior *T
		if found {
			prior = &stored[j]
		} else {
			added++
		}
		n.ledger.settle(refs[i], compared(prior, found, &incoming[i], same))
		if dups {
			kept = append(kept, incoming[i])
		}
	}
	merged := upsert(base, kept, id)
	n.removed[table.Name] += len(stored) + added - len(merged)
	return merged
}

// sameBut compares two records of a comparable type, their origins aside.
func sameBut[T comparable](origin func(*T) *string) func(a, b *T) bool {
	return func(a, b *T) bool {
		x, y := *a, *b
		*origin(&x), *origin(&y) = "", ""
		return x == y
	}
}

// mergeLines checks each incoming line's references (an invoice with a
// bad line is rejected whole, so that an invoice is never half imported),
// keeps the last of each line id, and merges them into base: an invoice
// sent again replaces all its stored lines. It returns the lines kept, and
// why each invoice rejected was.
func (n *normalizer) mergeLines(source string, base *Batch, customers func(string) bool, plans map[string]*schemas.Plan) ([]*pendingLine, map[string]string) {
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
	total := 0
	for _, part := range parts {
		total += len(part)
	}
	badInvoice := map[string]string{}
	accepted := make([]*pendingLine, 0, total)
	for k, part := range parts {
		for i := range part {
			p := &part[i]
			if reasons[k] != nil && reasons[k][i] != "" {
				reason := reasons[k][i]
				raw := p.raw
				if raw == "" {
					raw = lineJSON(&p.line)
				}
				n.rejectID(p.ref, source, n.ledger.entityOf(p.ref, schemas.EntityInvoice), p.line.InvoiceID, p.line.Origin, reason, raw)
				badInvoice[p.line.InvoiceID] = reason
				continue
			}
			accepted = append(accepted, p)
		}
	}
	kept := accepted[:0]
	for _, p := range accepted {
		if reason, bad := badInvoice[p.line.InvoiceID]; bad {
			l := &p.line
			n.rejectID(p.ref, source, n.ledger.entityOf(p.ref, schemas.EntityLineItem), l.InvoiceID+"/"+l.LineID, l.Origin,
				"another line of invoice "+quoted(l.InvoiceID)+" was rejected: "+reason, p.raw)
			continue
		}
		kept = append(kept, p)
	}
	fresh := n.lastOfEach(kept)
	lines := make([]*schemas.InvoiceLine, len(fresh))
	for i, p := range fresh {
		lines[i] = &p.line
	}
	n.lines, n.lineParts = nil, nil // the lines kept point into them
	n.res.Batch.Lines = upsertLines(base.Lines, lines)
	return fresh, badInvoice
}

// settleLines settles each fresh line (sorted by invoice and line id, one
// of each) against the stored lines (sorted likewise), in one merge walk,
// and returns the outcome of each invoice (its most changed line's) and the
// number of lines new to the source.
func (n *normalizer) settleLines(stored []*schemas.InvoiceLine, fresh []*pendingLine) (map[string]outcome, int) {
	var byInvoice map[string]outcome
	if len(n.headers) > 0 {
		byInvoice = map[string]outcome{}
	}
	if !slices.IsSortedFunc(stored, byLine) {
		stored = slices.Clone(stored)
		slices.SortFunc(stored, byLine)
	}
	j, added := 0, 0
	same := sameBut(func(l *schemas.InvoiceLine) *string { return &l.Origin })
	for _, p := range fresh {
		for j < len(stored) && byLine(stored[j], &p.line) < 0 {
			j++
		}
		found := j < len(stored) && byLine(stored[j], &p.line) == 0
		var prior *schemas.InvoiceLine
		if found {
			prior = stored[j]
		} else {
			added++
		}
		o := compared(prior, found, &p.line, same)
		n.ledger.settle(p.ref, o)
		if byInvoice != nil {
			if cur, ok := byInvoice[p.line.InvoiceID]; !ok || o == inserted || (o == updated && cur == unchanged) {
				byInvoice[p.line.InvoiceID] = o
			}
		}
	}
	return byInvoice, added
}

// settleHeaders settles the invoice headers read (ChartMogul's invoices,
// whose lines come as line items): rejected with a bad line, else as their
// lines; an invoice without a line in the delivery is rejected.
func (n *normalizer) settleHeaders(source string, badInvoice map[string]string, lines map[string]outcome) {
	ids := make([]string, 0, len(n.headers))
	for id := range n.headers {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(n.headers[a].ref, n.headers[b].ref) })
	for _, id := range ids {
		h := n.headers[id]
		if h.ref == noRef {
			continue
		}
		if reason, bad := badInvoice[id]; bad {
			n.rejectID(h.ref, source, schemas.EntityInvoice, id, h.origin, "a line of the invoice was rejected: "+reason, "")
			continue
		}
		if o, ok := lines[id]; ok {
			n.ledger.settle(h.ref, o)
			continue
		}
		if n.ledger.outcome[h.ref] == unsettled {
			n.rejectID(h.ref, source, schemas.EntityInvoice, id, h.origin, "the invoice has no line item in this delivery", "")
		}
	}
}

// mergeEvents checks the subscription events read (customer, plan and
// interval) and merges them by id.
func (n *normalizer) mergeEvents(source string, base, stored *Batch, customers func(string) bool, plans map[string]*schemas.Plan) {
	var ok []schemas.SubscriptionEvent
	var refs []ref
	for _, p := range n.events {
		ev := p.event
		reason := ""
		plan := plans[ev.PlanID]
		switch {
		case !customers(ev.CustomerID):
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
			n.rejectID(p.ref, source, n.ledger.entityOf(p.ref, schemas.EntitySubscriptionEvent), ev.EventID, ev.Origin, reason, p.raw)
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
		ok = append(ok, ev)
		refs = append(refs, p.ref)
	}
	n.res.Batch.Events = accept(n, schemas.EntitySubscriptionEvent, schemas.SubscriptionEvents, base.Events, stored.Events, ok, refs,
		func(e *schemas.SubscriptionEvent) string { return e.EventID }, func(e *schemas.SubscriptionEvent) string { return e.Origin },
		sameBut(func(e *schemas.SubscriptionEvent) *string { return &e.Origin }))
}

// joinItems turns line items into lines of their invoices: customer, date
// and currency come from the invoice sent in this read, or from the lines
// stored for it earlier.
func (n *normalizer) joinItems(source string, stored *Batch) {
	if len(n.items) == 0 {
		return
	}
	known := map[string]invoiceHeader{}
	for _, l := range stored.Lines {
		known[l.InvoiceID] = invoiceHeader{customerID: l.CustomerID, date: l.InvoiceDate, currency: l.Currency, ref: noRef}
	}
	seq := map[string]int{}
	kindOf := map[string]string{} // the kind of each line id of an invoice
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
			n.rejectID(it.ref, source, schemas.EntityLineItem, l.LineID, l.Origin, reason, it.raw)
			continue
		}
		l.CustomerID, l.InvoiceDate, l.Currency = h.customerID, h.date, h.currency
		seq[l.InvoiceID]++
		if l.LineID == "" {
			l.LineID = fmt.Sprint(seq[l.InvoiceID])
		}
		// Line item ids are scoped by type, as ChartMogul scopes them: a
		// one-time item may carry the id of the invoice's subscription item.
		// Both are kept, the later under id/type; one of the same type
		// sent again supersedes the earlier (and is named).
		key := l.InvoiceID + "\x00" + l.LineID
		if kind, seen := kindOf[key]; seen && kind != l.Kind {
			l.LineID += "/" + l.Kind
		} else if !seen {
			kindOf[key] = l.Kind
		}
		if l.PlanID == "" && it.planUUID != "" {
			if id, ok := n.planUUID[it.planUUID]; ok {
				l.PlanID = id
			} else {
				n.rejectID(it.ref, source, schemas.EntityLineItem, l.LineID, l.Origin,
					fmt.Sprintf("plan_uuid %s matches no plan sent in this import", quoted(it.planUUID)), it.raw)
				continue
			}
		}
		if l.PeriodStart == schemas.NoTime {
			l.PeriodStart = l.InvoiceDate
		}
		n.lines = append(n.lines, pendingLine{line: l, raw: it.raw, ref: it.ref})
		if it.cancelledAt != schemas.NoTime {
			c := l
			c.LineID, c.Kind, c.Amount, c.Tax, c.Discount, c.Prorated = l.LineID+"/cancelled", schemas.KindCancellation, 0, 0, 0, false
			c.PlanID, c.PeriodStart, c.PeriodEnd = "", it.cancelledAt, it.cancelledAt
			n.lines = append(n.lines, pendingLine{line: c, raw: it.raw, ref: it.ref})
		}
	}
}

// applyTransactions checks the transactions read, merges them, and sets
// each line's paid_at to its invoice's first successful payment.
func (n *normalizer) applyTransactions(source string, base, stored *Batch) {
	out := &n.res.Batch
	if len(n.transactions) == 0 && len(base.Transactions) == 0 {
		n.res.Batch.Transactions = nil
		return // most sources send none: no work per line
	}
	invoiceDate := map[string]int64{}
	for _, l := range out.Lines {
		invoiceDate[l.InvoiceID] = l.InvoiceDate
	}
	var ok []schemas.Transaction
	var refs []ref
	for i, t := range n.transactions {
		d, found := invoiceDate[t.InvoiceID]
		switch {
		case !found:
			reason := fmt.Sprintf("invoice %s does not exist in source %s", quoted(t.InvoiceID), quoted(source))
			if why, rej := n.rejected[schemas.EntityInvoice][t.InvoiceID]; rej {
				reason = fmt.Sprintf("invoice %s was rejected: %s", quoted(t.InvoiceID), why)
			}
			n.rejectID(n.txRefs[i], source, schemas.EntityTransaction, t.TransactionID, t.Origin, reason, "")
		case t.Date < d:
			n.rejectID(n.txRefs[i], source, schemas.EntityTransaction, t.TransactionID, t.Origin,
				fmt.Sprintf("field date: %s is before the date of invoice %s (%s)", schemas.TimeOf(t.Date).Format(time.DateOnly),
					quoted(t.InvoiceID), schemas.TimeOf(d).Format(time.DateOnly)), "")
		default:
			ok = append(ok, t)
			refs = append(refs, n.txRefs[i])
		}
	}
	out.Transactions = accept(n, schemas.EntityTransaction, schemas.Transactions, base.Transactions, stored.Transactions, ok, refs,
		func(t *schemas.Transaction) string { return t.TransactionID }, func(t *schemas.Transaction) string { return t.Origin },
		sameBut(func(t *schemas.Transaction) *string { return &t.Origin }))
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
