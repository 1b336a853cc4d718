package extract

// The mapping of Stripe objects to canonical records (README, "Stripe"):
// plans, customers, invoice lines, cancellations and refunds.

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/arena"
	"github.com/mrrflow/mrrflow/schemas"
)

// stripePart is a run of the records the objects map to; parts can be
// passed on at once (a Block).
type stripePart func(out *stripeOut, fn func(*Record) error) error

// Each passes on the part's records.
func (p stripePart) Each(fn func(*Record) error) error { return p(&stripeOut{rec: &Record{}}, fn) }

// stripeOut is the record a part fills, and the arena its numbers' texts
// are written into.
type stripeOut struct {
	rec  *Record
	nums arena.Arena
}

// text sets a text field; an empty value is absent.
func (out *stripeOut) text(name, v string) {
	if v != "" {
		out.rec.Set(name, name, Value{Text: v, Kind: Text})
	}
}

// num sets a number field: an amount, a count or epoch seconds.
func (out *stripeOut) num(name string, v int64) {
	out.nums.Room(20)
	buf := out.nums.Buf()
	start := len(buf)
	out.rec.Set(name, name, Value{Text: out.nums.Keep(strconv.AppendInt(buf, v, 10), start), Kind: Number})
}

// invoicesPerPart is how many invoices' lines a part passes on.
const invoicesPerPart = 4096

// parts cuts the records the objects map to into parts, in order: the
// objects that could not be read, plans and customers; the invoices' lines,
// a few thousand invoices a part; cancellations and refunds.
func (st *stripeState) parts(src configs.Source) []Block {
	invoices := st.of("invoice")
	st.joinLines(invoices)
	em := &stripeEmit{src: src, prices: st.prices(invoices), metered: st.metered, paused: st.pausedInvoices(invoices)}
	issued := invoices[:0:0]
	for _, inv := range invoices {
		if s := inv.obj.Status; (s == "draft" || s == "void") && !em.paused[inv] {
			st.skipped[s+" invoice"]++
			continue
		}
		issued = append(issued, inv)
	}
	prices := em.prices
	blocks := []Block{stripePart(func(out *stripeOut, fn func(*Record) error) error {
		rec := out.rec
		for _, v := range st.bad {
			rec.reset(src.Name, schemas.EntityInvoice, v.origin)
			rec.raw = v.rawJSON
			rec.Err = v.err
			if err := fn(rec); err != nil {
				return err
			}
		}
		if err := emitPlans(src, out, prices, st.of("product"), fn); err != nil {
			return err
		}
		return emitCustomers(src, out, st.of("customer"), fn)
	})}
	for run := range slices.Chunk(issued, invoicesPerPart) {
		blocks = append(blocks, stripePart(func(out *stripeOut, fn func(*Record) error) error {
			for _, inv := range run {
				if err := em.invoice(out, inv, fn); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	subscriptions, notes := st.of("subscription"), st.of("credit_note")
	invoiceSub := func(id string) string { // the subscription of an invoice a credit note names
		if inv := st.version("invoice", id); inv != nil {
			return inv.obj.subscription()
		}
		return ""
	}
	return append(blocks, stripePart(func(out *stripeOut, fn func(*Record) error) error {
		rec := out.rec
		text, num := out.text, out.num
		// Cancellations, from the subscriptions.
		for _, v := range subscriptions {
			o := v.obj
			// ended_at is when the service stopped, cancel_at when it is
			// scheduled to (cancel_at_period_end), canceled_at when it was asked.
			at := cmp.Or(o.EndedAt, o.CancelAt, o.CanceledAt)
			if at <= 0 {
				continue
			}
			rec.reset(src.Name, schemas.EntityInvoice, v.origin)
			rec.spelling = stripeSpelling
			rec.raw = v.rawJSON
			text("invoice_id", o.ID)
			text("line_id", "canceled")
			text("customer_id", o.Customer)
			text("subscription_id", o.ID)
			text("kind", schemas.KindCancellation)
			num("invoice_date", at)
			text("currency", strings.ToLower(o.Currency))
			if err := fn(rec); err != nil {
				return err
			}
		}
		// Refunds: the credit notes that were not voided, before or after
		// payment, of their invoice's subscription.
		for _, v := range notes {
			o := v.obj
			if o.Status == "void" {
				continue
			}
			amount, has := o.Total, o.HasTotal
			if !has {
				amount, has = o.Amount, o.HasAmount
			}
			rec.reset(src.Name, schemas.EntityInvoice, v.origin)
			rec.spelling = stripeSpelling
			rec.raw = v.rawJSON
			text("invoice_id", o.Invoice)
			text("line_id", o.ID)
			text("customer_id", o.Customer)
			text("subscription_id", invoiceSub(o.Invoice))
			text("kind", schemas.KindRefund)
			num("invoice_date", o.Created)
			if has {
				num("amount", amount)
				if o.HasTotal && o.HasTotalExTax {
					num("tax", o.Total-o.TotalExTax)
				}
			}
			text("currency", strings.ToLower(o.Currency))
			if err := fn(rec); err != nil {
				return err
			}
		}
		return nil
	}))
}

// prices are the recurring prices and plans, sent as objects or inside
// the invoice lines that bill them: the plans of mrrflow.
func (st *stripeState) prices(invoices []*stripeVersion) map[string]stripePrice {
	prices := map[string]stripePrice{}
	for _, t := range []string{"price", "plan"} {
		for _, v := range st.of(t) {
			if p := v.obj.Price; p != nil {
				prices[p.id] = *p
			}
		}
	}
	for _, inv := range invoices {
		for _, l := range inv.obj.Lines {
			for _, p := range l.Prices {
				if _, have := prices[p.id]; !have && p.unit != "" {
					prices[p.id] = p
				}
			}
		}
	}
	return prices
}

// emitPlans passes on the prices as plans, named by their nickname, else
// their product's name, else their id.
func emitPlans(src configs.Source, out *stripeOut, prices map[string]stripePrice, products []*stripeVersion, fn func(*Record) error) error {
	rec := out.rec
	names := map[string]string{}
	for _, v := range products {
		names[v.obj.ID] = v.obj.Name
	}
	for _, id := range slices.Sorted(maps.Keys(prices)) {
		p := prices[id]
		rec.reset(src.Name, schemas.EntityPlan, "stripe price "+p.id)
		rec.spelling = stripeSpelling
		out.text("plan_id", p.id)
		out.text("name", cmp.Or(p.name, names[p.product], p.id))
		out.text("interval_unit", p.unit)
		out.num("interval_count", p.count)
		out.text("currency", p.currency)
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// emitCustomers passes on the customers.
func emitCustomers(src configs.Source, out *stripeOut, customers []*stripeVersion, fn func(*Record) error) error {
	rec, text, num := out.rec, out.text, out.num
	for _, v := range customers {
		o := v.obj
		rec.reset(src.Name, schemas.EntityCustomer, v.origin)
		rec.spelling = stripeSpelling
		rec.raw = v.rawJSON
		text("customer_id", o.ID)
		// Stripe needs neither a name nor an email: one without both is
		// named by its description, else its id, as Stripe's own
		// dashboard lists it.
		name := o.Name
		if name == "" && o.Email == "" {
			name = cmp.Or(o.Description, o.ID)
		}
		text("name", name)
		text("email", o.Email)
		text("country", o.Country)
		text("state", strings.ToLower(o.State))
		if o.Created > 0 {
			num("created_at", o.Created)
		}
		for _, kv := range o.Metadata {
			rec.SetAttr(kv[0], kv[1])
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// joinLines adds the line items read on their own (a listing of an
// invoice's lines, for invoices whose embedded lines were truncated) to
// their invoices; a line item of an invoice not read is rejected.
func (st *stripeState) joinLines(invoices []*stripeVersion) {
	if len(st.of("line_item")) == 0 && len(st.lines) == 0 {
		return
	}
	byID := make(map[string]*stripeVersion, len(invoices))
	for _, inv := range invoices {
		byID[inv.obj.ID] = inv
	}
	for _, v := range st.of("line_item") {
		l, _ := decodeLine(v.raw) // read once already
		if byID[l.Invoice] != nil {
			st.lines[l.Invoice] = append(st.lines[l.Invoice], l)
			continue
		}
		st.bad = append(st.bad, &stripeVersion{raw: v.raw, origin: v.origin,
			err: fmt.Errorf("line item %s: field invoice: invoice %q was not read; export it with the line", l.ID, l.Invoice)})
	}
	for _, id := range slices.Sorted(maps.Keys(st.lines)) {
		if byID[id] == nil {
			continue // the invoice itself could not be read: rejected
		}
		o := &byID[id].obj
		for _, l := range st.lines[id] {
			if !slices.ContainsFunc(o.Lines, func(have stripeLine) bool { return have.ID == l.ID }) {
				o.Lines = append(o.Lines, l)
			}
		}
		o.HasLines, o.LinesHasMore = true, false // the listing completes it
	}
}

// rawJSON is the version's text, for rejected rows.
func (v *stripeVersion) rawJSON() []byte { return []byte(v.raw) }

// stripeSpelling names canonical fields as Stripe's objects do.
var stripeSpelling = map[string]string{
	"customer_id": "customer", "plan_id": "price", "invoice_id": "invoice", "line_id": "id", "subscription_id": "subscription",
	"invoice_date": "created", "period_start": "period.start", "period_end": "period.end", "interval_unit": "recurring.interval",
	"currency": "currency", "amount": "amount", "paid_at": "status_transitions.paid_at",
}

// stripeEmit is what the invoices' lines are mapped with.
type stripeEmit struct {
	src     configs.Source
	prices  map[string]stripePrice
	metered string
	paused  map[*stripeVersion]bool // invoices of a paused period
}

// invoice passes on an invoice's lines: a line's amount is after its
// discounts, tax-inclusive tax kept as the line's tax (exclusive tax is
// not in the amount). An invoice of a paused period passes on its
// subscription lines at 0, paid when issued: the subscription goes on, at
// no MRR.
func (em *stripeEmit) invoice(out *stripeOut, inv *stripeVersion, fn func(*Record) error) error {
	src, prices, paused := em.src, em.prices, em.paused[inv]
	o, rec, raw := &inv.obj, out.rec, inv.rawJSON
	var paid int64
	switch {
	case paused:
		paid = o.Created // nothing is owed
	case o.Status == "paid":
		paid = o.PaidAt
	}
	if !o.HasLines || o.LinesHasMore {
		rec.reset(src.Name, schemas.EntityInvoice, inv.origin)
		rec.raw = raw
		rec.Err = fmt.Errorf("invoice %s: lines are missing or truncated (lines.has_more): export the invoice with all its lines", o.ID)
		return fn(rec)
	}
	for k, l := range o.Lines {
		rec.reset(src.Name, schemas.EntityInvoice, inv.origin+"#/lines/data/"+strconv.Itoa(k))
		rec.spelling = stripeSpelling
		rec.raw = raw
		sub := cmp.Or(l.Subscription, o.Subscription)
		price, recurring := prices[l.PriceID]
		kind := schemas.KindOneTime
		if l.SubLine || (recurring && l.Proration) {
			kind = schemas.KindSubscription
		}
		// line.amount is before discounts, with inclusive tax and without
		// exclusive tax; mrrflow's amount is what was charged, tax in it.
		amount := l.Amount - l.Discount + l.ExclusiveTax
		priceID, proration, discount, tax := l.PriceID, l.Proration, l.Discount, l.Tax
		start, end := l.Start, l.End
		switch {
		case paused && kind != schemas.KindSubscription:
			continue // never owed
		case paused:
			amount, discount, tax = 0, 0, 0
		case price.metered && em.metered == MeteredExclude:
			kind = schemas.KindOneTime
		case price.metered && end > start:
			// Billed in arrears: the usage of a period is the run rate from
			// its end (its invoice) for one interval of the price.
			start, end = end, price.after(end)
		}
		out.text("invoice_id", o.ID)
		out.text("line_id", l.ID)
		out.text("customer_id", o.Customer)
		out.text("subscription_id", sub)
		if kind == schemas.KindSubscription {
			out.text("plan_id", priceID)
		}
		out.text("kind", kind)
		out.num("invoice_date", o.Created)
		if start > 0 {
			out.num("period_start", start)
		}
		if end > start {
			out.num("period_end", end)
		}
		out.num("amount", amount)
		out.num("tax", tax)
		if discount != 0 {
			out.num("discount", discount)
		}
		if l.HasQuantity {
			out.num("quantity", l.Quantity)
		}
		if proration {
			out.text("prorated", "true")
		}
		if paid > 0 {
			out.num("paid_at", paid)
		}
		out.text("currency", strings.ToLower(cmp.Or(l.Currency, o.Currency)))
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// pausedInvoices are the invoices of the paused periods of subscriptions
// paused now (pause_collection): those Stripe issued void, draft or
// uncollectible, as it does while a pause lasts, after the subscription's
// last paid invoice.
func (st *stripeState) pausedInvoices(invoices []*stripeVersion) map[*stripeVersion]bool {
	pausedSubs := map[string]bool{}
	for _, v := range st.of("subscription") {
		if v.obj.Paused {
			pausedSubs[v.obj.ID] = true
		}
	}
	out := map[*stripeVersion]bool{}
	if len(pausedSubs) == 0 {
		return out
	}
	lastPaid := map[string]int64{}
	for _, inv := range invoices {
		if sub := inv.obj.subscription(); pausedSubs[sub] && inv.obj.Status == "paid" {
			lastPaid[sub] = max(lastPaid[sub], inv.obj.Created)
		}
	}
	for _, inv := range invoices {
		switch sub := inv.obj.subscription(); inv.obj.Status {
		case "void", "draft", "uncollectible":
			if pausedSubs[sub] && inv.obj.Created > lastPaid[sub] {
				out[inv] = true
			}
		}
	}
	return out
}

// subscription is an invoice's subscription: its own, else its first
// line's.
func (o *stripeObject) subscription() string {
	if o.Subscription != "" || len(o.Lines) == 0 {
		return o.Subscription
	}
	return o.Lines[0].Subscription
}

// after is the time one interval of the price after t (epoch seconds),
// on the calendar in UTC, as Stripe counts its periods.
func (p stripePrice) after(t int64) int64 {
	at, n := time.Unix(t, 0).UTC(), int(p.count)
	switch p.unit {
	case "day":
		at = at.AddDate(0, 0, n)
	case "week":
		at = at.AddDate(0, 0, 7*n)
	case "year":
		at = at.AddDate(n, 0, 0)
	default: // month
		at = at.AddDate(0, n, 0)
	}
	return at.Unix()
}
