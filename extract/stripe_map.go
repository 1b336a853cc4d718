package extract

// The mapping of Stripe objects to canonical records (README, "Stripe"):
// plans, customers, invoice lines, cancellations and refunds.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/schemas"
)

// stripePrice is a recurring price (or legacy plan): a plan of mrrflow.
type stripePrice struct {
	id, name, product, currency, unit string
	count                             int64
	metered                           bool
}

// stripePriceOf reads a price or plan object; ok is false for one that does not
// recur (a one-time price).
func stripePriceOf(raw json.RawMessage) (p stripePrice, ok bool) {
	var o stripeObject
	if json.Unmarshal(raw, &o) != nil || o.ID == "" {
		return p, false
	}
	p = stripePrice{id: o.ID, name: o.Nickname, product: idOf(o.Product), currency: strings.ToLower(o.Currency)}
	switch {
	case o.Recurring != nil:
		p.unit, p.count, p.metered = o.Recurring.Interval, max(o.Recurring.IntCount, 1), o.Recurring.UsageType == "metered"
	case o.Object == "plan" && o.Interval != "":
		p.unit, p.count, p.metered = o.Interval, max(o.IntCount, 1), o.UsageType == "metered"
	default:
		return p, false
	}
	return p, true
}

// emit passes on the records the objects map to.
func (st *stripeState) emit(src configs.Source, rec *Record, fn func(*Record) error) error {
	text := func(name, v string) { setText(rec, name, v) }
	num := func(name string, v int64) { setNum(rec, name, v) }
	for _, v := range st.bad {
		rec.reset(src.Name, schemas.EntityInvoice, v.origin)
		rec.raw = v.rawJSON
		rec.Err = fmt.Errorf("not a Stripe object: %w", v.err)
		if err := fn(rec); err != nil {
			return err
		}
	}
	// Plans: the recurring prices and plans, sent as objects or inside
	// the lines that bill them.
	prices := map[string]stripePrice{}
	for _, t := range []string{"price", "plan"} {
		for _, v := range st.of(t) {
			if p, ok := stripePriceOf(v.raw); ok {
				prices[p.id] = p
			}
		}
	}
	invoices := st.of("invoice")
	if err := st.joinLines(src, rec, invoices, fn); err != nil {
		return err
	}
	for _, inv := range invoices {
		if inv.obj.Lines == nil {
			continue
		}
		for _, l := range inv.obj.Lines.Data {
			for _, raw := range []json.RawMessage{l.Price, l.Plan, pricingPrice(l)} {
				if p, ok := stripePriceOf(raw); ok {
					if _, have := prices[p.id]; !have {
						prices[p.id] = p
					}
				}
			}
		}
	}
	products := map[string]string{}
	for _, v := range st.of("product") {
		products[v.obj.ID] = v.obj.Name
	}
	for _, id := range slices.Sorted(maps.Keys(prices)) {
		p := prices[id]
		rec.reset(src.Name, schemas.EntityPlan, "stripe price "+p.id)
		rec.spelling = stripeSpelling
		text("plan_id", p.id)
		text("name", cmp.Or(p.name, products[p.product], p.id))
		text("interval_unit", p.unit)
		num("interval_count", p.count)
		text("currency", p.currency)
		if err := fn(rec); err != nil {
			return err
		}
	}
	for _, v := range st.of("customer") {
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
		if o.Address != nil {
			text("country", o.Address.Country)
			text("state", strings.ToLower(o.Address.State))
		}
		if o.Created > 0 {
			num("created_at", o.Created)
		}
		for _, k := range slices.Sorted(maps.Keys(o.Metadata)) {
			rec.SetAttr(k, o.Metadata[k])
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	for _, inv := range invoices {
		if err := st.emitInvoice(src, rec, inv, prices, fn); err != nil {
			return err
		}
	}
	// Cancellations, from the subscriptions.
	for _, v := range st.of("subscription") {
		o := v.obj
		// ended_at is when the service stopped, cancel_at when it is
		// scheduled to (cancel_at_period_end), canceled_at when it was asked.
		var at *int64
		for _, t := range []*int64{o.EndedAt, o.CancelAt, o.CanceledAt} {
			if at == nil && t != nil && *t > 0 {
				at = t
			}
		}
		if at == nil {
			continue
		}
		rec.reset(src.Name, schemas.EntityInvoice, v.origin)
		rec.spelling = stripeSpelling
		rec.raw = v.rawJSON
		text("invoice_id", o.ID)
		text("line_id", "canceled")
		text("customer_id", idOf(o.Customer))
		text("subscription_id", o.ID)
		text("kind", schemas.KindCancellation)
		num("invoice_date", *at)
		text("currency", strings.ToLower(o.Currency))
		if err := fn(rec); err != nil {
			return err
		}
	}
	// Refunds: the credit notes of invoices that were not voided.
	for _, v := range st.of("credit_note") {
		o := v.obj
		if o.Status == "void" {
			continue
		}
		amount := o.Total
		if amount == nil {
			amount = o.Amount
		}
		rec.reset(src.Name, schemas.EntityInvoice, v.origin)
		rec.spelling = stripeSpelling
		rec.raw = v.rawJSON
		text("invoice_id", idOf(o.Invoice))
		text("line_id", o.ID)
		text("customer_id", idOf(o.Customer))
		text("kind", schemas.KindRefund)
		num("invoice_date", o.Created)
		if amount != nil {
			num("amount", *amount)
		}
		text("currency", strings.ToLower(o.Currency))
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// joinLines adds the line items read on their own (a listing of an
// invoice's lines, for invoices whose embedded lines were truncated) to
// their invoices; a line item of an invoice not read is rejected.
func (st *stripeState) joinLines(src configs.Source, rec *Record, invoices []*stripeVersion, fn func(*Record) error) error {
	byID := map[string]*stripeVersion{}
	for _, inv := range invoices {
		byID[inv.obj.ID] = inv
	}
	for _, v := range st.of("line_item") {
		var l stripeLine
		json.Unmarshal(v.raw, &l)
		if byID[l.Invoice] != nil {
			st.lines[l.Invoice] = append(st.lines[l.Invoice], l)
			continue
		}
		rec.reset(src.Name, schemas.EntityInvoice, v.origin)
		rec.raw = v.rawJSON
		rec.Err = fmt.Errorf("line item %s: field invoice: invoice %q was not read; export it with the line", l.ID, l.Invoice)
		if err := fn(rec); err != nil {
			return err
		}
	}
	for _, id := range slices.Sorted(maps.Keys(st.lines)) {
		if byID[id] == nil {
			continue // the invoice itself could not be read: rejected
		}
		o := &byID[id].obj
		if o.Lines == nil {
			o.Lines = &struct {
				Data    []stripeLine `json:"data"`
				HasMore bool         `json:"has_more"`
			}{}
		}
		for _, l := range st.lines[id] {
			if !slices.ContainsFunc(o.Lines.Data, func(have stripeLine) bool { return have.ID == l.ID }) {
				o.Lines.Data = append(o.Lines.Data, l)
			}
		}
		o.Lines.HasMore = false // the listing completes it
	}
	return nil
}

// rawJSON is the version's text, for rejected rows.
func (v *stripeVersion) rawJSON() []byte { return v.raw }

func pricingPrice(l stripeLine) json.RawMessage {
	if l.Pricing != nil && l.Pricing.PriceDetails != nil {
		return l.Pricing.PriceDetails.Price
	}
	return nil
}

// stripeSpelling names canonical fields as Stripe's objects do.
var stripeSpelling = map[string]string{
	"customer_id": "customer", "plan_id": "price", "invoice_id": "invoice", "line_id": "id", "subscription_id": "subscription",
	"invoice_date": "created", "period_start": "period.start", "period_end": "period.end", "interval_unit": "recurring.interval",
	"currency": "currency", "amount": "amount", "paid_at": "status_transitions.paid_at",
}

// emitInvoice passes on an invoice's lines: draft and void invoices count
// for nothing; a line's amount is after its discounts, tax-inclusive tax
// kept as the line's tax (exclusive tax is not in the amount).
func (st *stripeState) emitInvoice(src configs.Source, rec *Record, inv *stripeVersion, prices map[string]stripePrice, fn func(*Record) error) error {
	o := inv.obj
	if o.Status == "draft" || o.Status == "void" {
		st.skipped[o.Status+" invoice"]++
		return nil
	}
	invoiceSub := idOf(o.Subscription)
	if o.Parent != nil && o.Parent.SubscriptionDetails != nil {
		invoiceSub = idOf(o.Parent.SubscriptionDetails.Subscription)
	}
	var paid int64
	if o.Status == "paid" && o.StatusTransitions != nil && o.StatusTransitions.PaidAt != nil {
		paid = *o.StatusTransitions.PaidAt
	}
	if o.Lines == nil || o.Lines.HasMore {
		rec.reset(src.Name, schemas.EntityInvoice, inv.origin)
		rec.raw = inv.rawJSON
		rec.Err = fmt.Errorf("invoice %s: lines are missing or truncated (lines.has_more): export the invoice with all its lines", o.ID)
		return fn(rec)
	}
	for k, l := range o.Lines.Data {
		rec.reset(src.Name, schemas.EntityInvoice, fmt.Sprintf("%s#/lines/data/%d", inv.origin, k))
		rec.spelling = stripeSpelling
		rec.raw = inv.rawJSON
		set := func(name, v string) { setText(rec, name, v) }
		num := func(name string, v int64) { setNum(rec, name, v) }
		sub, proration, subLine := l.Subscription, l.Proration, l.Type == "subscription"
		if p := l.Parent; p != nil {
			switch {
			case p.SubscriptionItemDetails != nil:
				sub, proration, subLine = p.SubscriptionItemDetails.Subscription, p.SubscriptionItemDetails.Proration, true
			case p.InvoiceItemDetails != nil:
				sub, proration = p.InvoiceItemDetails.Subscription, p.InvoiceItemDetails.Proration
			}
		}
		if sub == "" {
			sub = invoiceSub
		}
		priceID := ""
		for _, raw := range []json.RawMessage{l.Price, l.Plan, pricingPrice(l)} {
			if id := idOf(raw); id != "" {
				priceID = id
				break
			}
		}
		_, recurring := prices[priceID]
		kind := schemas.KindOneTime
		if subLine || (recurring && proration) {
			kind = schemas.KindSubscription
		}
		// line.amount is before discounts, with inclusive tax and without
		// exclusive tax; mrrflow's amount is what was charged, tax in it.
		var discount, tax int64
		for _, d := range l.DiscountAmounts {
			discount += d.Amount
		}
		amount := l.Amount - discount
		for _, t := range l.TaxAmounts {
			tax += t.Amount
			if !t.Inclusive {
				amount += t.Amount
			}
		}
		for _, t := range l.Taxes {
			tax += t.Amount
			if t.TaxBehavior != "inclusive" {
				amount += t.Amount
			}
		}
		set("invoice_id", o.ID)
		set("line_id", l.ID)
		set("customer_id", idOf(o.Customer))
		set("subscription_id", sub)
		if kind == schemas.KindSubscription {
			// A metered price's line counts as billed: its usage of the
			// period is that period's MRR (README, "Stripe").
			set("plan_id", priceID)
		}
		set("kind", kind)
		num("invoice_date", o.Created)
		if l.Period.Start > 0 {
			num("period_start", l.Period.Start)
		}
		if l.Period.End > l.Period.Start {
			num("period_end", l.Period.End)
		}
		num("amount", amount)
		num("tax", tax)
		if discount != 0 {
			num("discount", discount)
		}
		if l.Quantity != nil {
			num("quantity", *l.Quantity)
		}
		if proration {
			set("prorated", "true")
		}
		if paid > 0 {
			num("paid_at", paid)
		}
		set("currency", strings.ToLower(cmp.Or(l.Currency, o.Currency)))
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// setText sets a text field of a Stripe record; an empty value is absent.
func setText(rec *Record, name, v string) {
	if v != "" {
		rec.Set(name, name, Value{Text: v, Kind: Text})
	}
}

// setNum sets a number field of a Stripe record: an amount or epoch seconds.
func setNum(rec *Record, name string, v int64) {
	rec.Set(name, name, Value{Text: strconv.FormatInt(v, 10), Kind: Number})
}
