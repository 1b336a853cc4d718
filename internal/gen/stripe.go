package gen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// Stripe writes Stripe API objects as the API returns them, and a
// config.yaml that runs them, into dir: prices.json (a list envelope),
// customers.ndjson, invoices.ndjson (each invoice with its lines) and
// objects.ndjson (subscriptions and credit notes). Every other customer's
// invoices are in the API's 2025 shape (line.parent, line.pricing,
// invoice.parent, taxes), the rest in the shape up to 2024 (line.type,
// line.price, invoice.subscription, tax_amounts). Customers renew, some
// with a forever coupon or exclusive tax, upgrade mid-period with
// prorations, get a credit note, or cancel at the period's end.
func Stripe(dir string, opt Options) (Stats, error) {
	opt = withStart(opt)
	st, err := stripeFiles(dir, opt)
	if err != nil {
		return st, err
	}
	return st, writeConfig(dir, opt, st, "sources:\n  - {name: stripe, kind: stripe, path: \"*.*json\"}\n")
}

// stripeFiles writes the Stripe objects of Stripe, without a config.
func stripeFiles(dir string, opt Options) (Stats, error) {
	end := opt.Start.AddDate(0, opt.Months, 0)
	st := Stats{AsOf: end.AddDate(0, 0, -1)}
	rng := rand.New(rand.NewPCG(opt.Seed, 79))
	var prices []map[string]any
	for _, p := range plans {
		prices = append(prices, stripePriceJSON(p, opt.Start))
	}
	if err := writeJSON(filepath.Join(dir, "prices.json"), map[string]any{"object": "list", "data": prices, "has_more": false, "url": "/v1/prices"}); err != nil {
		return st, err
	}
	st.Plans = len(plans)
	files := map[string]*bufio.Writer{}
	for _, name := range []string{"customers.ndjson", "invoices.ndjson", "objects.ndjson"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return st, err
		}
		defer f.Close()
		files[name] = bufio.NewWriterSize(f, 1<<20)
	}
	put := func(file string, v any) {
		b, _ := json.Marshal(v)
		files[file].Write(b)
		files[file].WriteByte('\n')
	}
	for i := 0; i < opt.Customers; i++ {
		c := stripeCustomer{id: fmt.Sprintf("cus_%06d", i), basil: i%2 == 1, rng: rng, end: end}
		signup := opt.Start.AddDate(0, rng.IntN(max(opt.Months-2, 1)), rng.IntN(28))
		put("customers.ndjson", map[string]any{"id": c.id, "object": "customer", "created": signup.Unix(),
			"name": fmt.Sprintf("Customer %d", i), "email": fmt.Sprintf("billing@c%d.example", i), "currency": "usd",
			"address": map[string]any{"country": []string{"US", "GB", "DE", "CA"}[i%4], "state": nil}, "metadata": map[string]string{"n": fmt.Sprint(i)}})
		st.Customers++
		c.bill(signup, func(v map[string]any) { put("invoices.ndjson", v); st.Invoices++ }, func(v map[string]any) { put("objects.ndjson", v) })
	}
	for _, w := range files {
		if err := w.Flush(); err != nil {
			return st, err
		}
	}
	return st, nil
}

// stripePriceJSON is a plan as a Stripe price object.
func stripePriceJSON(p plan, created time.Time) map[string]any {
	return map[string]any{"id": "price_" + p.ID, "object": "price", "created": created.Unix() - 86400, "currency": "usd",
		"nickname": p.Name, "product": "prod_" + p.ID, "unit_amount": p.Price, "type": "recurring",
		"recurring": map[string]any{"interval": p.Unit, "interval_count": p.Count, "usage_type": "licensed"}}
}

// stripeCustomer writes one customer's subscription history.
type stripeCustomer struct {
	id    string
	basil bool // the 2025 API shape
	rng   *rand.Rand
	end   time.Time
	n     int
}

func (c *stripeCustomer) bill(t time.Time, invoice, object func(map[string]any)) {
	tier := 1 + c.rng.IntN(4) // a paid plan: basic_m, pro_m, business_m, pro_q
	p := plans[tier-1]
	sub := "sub_" + c.id[4:]
	discount := int64(0)
	if c.rng.IntN(5) == 0 {
		discount = 20 // percent, forever
	}
	taxed := c.rng.IntN(4) == 0 // exclusive tax of 19%
	status, endedAt := "active", any(nil)
	for t.Before(c.end) {
		next := t.AddDate(0, p.Count, 0)
		if p.Unit == "year" {
			next = t.AddDate(p.Count, 0, 0)
		}
		off := p.Price * discount / 100
		tax := int64(0)
		if taxed {
			tax = (p.Price - off) * 19 / 100
		}
		inv := c.invoice(sub, t, c.line(sub, p, p.Price, off, tax, t, next, false))
		invoice(inv)
		r := c.rng.IntN(40)
		if r == 0 && len(inv["lines"].(map[string]any)["data"].([]map[string]any)) > 0 {
			object(map[string]any{"id": fmt.Sprintf("cn_%s_%d", c.id[4:], c.n), "object": "credit_note", "created": t.AddDate(0, 0, 5).Unix(),
				"customer": c.id, "invoice": inv["id"], "currency": "usd", "status": "issued", "total": (p.Price - off + tax) / 2, "type": "post_payment"})
		}
		if r == 1 && tier < 3 && p.Unit == "month" && p.Count == 1 {
			// An upgrade mid-period, with its prorations.
			mid := t.AddDate(0, 0, 14)
			up := plans[tier]
			left, whole := next.Sub(mid), next.Sub(t)
			credit := -(p.Price - off) * int64(left) / int64(whole)
			charge := (up.Price - up.Price*discount/100) * int64(left) / int64(whole)
			invoice(c.invoice(sub, mid, c.line(sub, p, credit, 0, 0, mid, next, true), c.line(sub, up, charge, 0, 0, mid, next, true)))
			tier, p = tier+1, up
		}
		if r == 2 {
			status, endedAt = "canceled", next.Unix()
			break
		}
		t = next
	}
	object(map[string]any{"id": sub, "object": "subscription", "customer": c.id, "status": status, "currency": "usd",
		"ended_at": endedAt, "cancel_at_period_end": endedAt != nil, "canceled_at": nil, "cancel_at": nil})
}

func (c *stripeCustomer) invoice(sub string, t time.Time, lines ...map[string]any) map[string]any {
	c.n++
	inv := map[string]any{"id": fmt.Sprintf("in_%s_%d", c.id[4:], c.n), "object": "invoice", "customer": c.id, "created": t.Unix(),
		"currency": "usd", "status": "paid", "status_transitions": map[string]any{"paid_at": t.Add(time.Hour).Unix()},
		"lines": map[string]any{"object": "list", "data": lines, "has_more": false}}
	if c.basil {
		inv["parent"] = map[string]any{"type": "subscription_details", "subscription_details": map[string]any{"subscription": sub}}
	} else {
		inv["subscription"] = sub
	}
	return inv
}

func (c *stripeCustomer) line(sub string, p plan, amount, discount, tax int64, start, end time.Time, proration bool) map[string]any {
	c.n++
	l := map[string]any{"id": fmt.Sprintf("il_%s_%d", c.id[4:], c.n), "object": "line_item", "amount": amount, "currency": "usd",
		"quantity": 1, "period": map[string]any{"start": start.Unix(), "end": end.Unix()}}
	if discount != 0 {
		l["discount_amounts"] = []map[string]any{{"amount": discount, "discount": "di_forever"}}
	}
	if c.basil {
		l["parent"] = map[string]any{"type": "subscription_item_details",
			"subscription_item_details": map[string]any{"subscription": sub, "subscription_item": "si_" + sub[4:], "proration": proration}}
		l["pricing"] = map[string]any{"type": "price_details", "price_details": map[string]any{"price": "price_" + p.ID, "product": "prod_" + p.ID}}
		if tax != 0 {
			l["taxes"] = []map[string]any{{"amount": tax, "tax_behavior": "exclusive", "type": "tax_rate_details"}}
		}
		return l
	}
	l["type"], l["proration"], l["subscription"] = "subscription", proration, sub
	l["price"] = stripePriceJSON(p, start)
	if tax != 0 {
		l["tax_amounts"] = []map[string]any{{"amount": tax, "inclusive": false, "tax_rate": "txr_19"}}
	}
	return l
}
