package gen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Demo writes the embedded demo: GrowPanel exports (in USD), a ChartMogul
// bulk import of customers billed in EUR, a seed 002 subscriptions
// payload, a Stripe account's objects, monthly EUR rates, and a
// config.yaml that runs all four.
func Demo(dir string, opt Options) (Stats, error) {
	if opt.Start.IsZero() {
		opt.Start = time.Date(2023, 7, 1, 0, 0, 0, 0, time.UTC)
	}
	st, err := GrowPanel(filepath.Join(dir, "growpanel"), opt)
	if err != nil {
		return st, err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 77))
	n := max(opt.Customers/6, 3)
	cm, err := chartmogulDoc(rng, n, opt)
	if err != nil {
		return st, err
	}
	if err := writeJSON(filepath.Join(dir, "chartmogul", "import.json"), cm); err != nil {
		return st, err
	}
	if err := writeJSON(filepath.Join(dir, "subscriptions", "payload.json"), subscriptionsDoc(rng, n, opt)); err != nil {
		return st, err
	}
	if _, err := stripeFiles(filepath.Join(dir, "stripe"), Options{Customers: n, Months: opt.Months, Seed: opt.Seed, Start: opt.Start}); err != nil {
		return st, err
	}
	var fx strings.Builder
	fx.WriteString("date,currency,rate\n")
	for m := 0; m < opt.Months; m++ {
		fmt.Fprintf(&fx, "%s,eur,%.4f\n", opt.Start.AddDate(0, m, 0).Format(time.DateOnly), 1.05+0.1*rng.Float64())
	}
	if err := os.WriteFile(filepath.Join(dir, "fx.csv"), []byte(fx.String()), 0o644); err != nil {
		return st, err
	}
	st.Customers += 3 * n
	warehouse := ""
	if opt.Warehouse != "" {
		warehouse = "warehouse: " + opt.Warehouse + "\n"
	}
	config := fmt.Sprintf(`# The mrrflow demo (seed %d): four billing systems, two currencies.
%sas_of: %s
reporting_currency: usd
fx_rates: fx.csv
sources:
  - name: webshop          # GrowPanel exports, USD
    kind: growpanel
    plans: growpanel/plans.json
    customers: growpanel/customers.ndjson
    invoices: growpanel/invoices.csv
  - name: europe           # a ChartMogul bulk import, EUR
    kind: chartmogul
    path: chartmogul/import.json
  - name: enterprise       # a subscriptions payload (seed 002), USD
    kind: subscriptions
    path: subscriptions/payload.json
  - name: payments         # Stripe API objects, both API shapes, USD
    kind: stripe
    path: stripe/*.*json
`, opt.Seed, warehouse, st.AsOf.Format(time.DateOnly))
	return st, os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(config), 0o644)
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

const cmTime = "2006-01-02 15:04:05"

// chartmogulDoc makes a bulk import of n customers on monthly and annual
// EUR plans, with taxes, upgrades, cancellations and payments.
func chartmogulDoc(rng *rand.Rand, n int, opt Options) (map[string]any, error) {
	end := opt.Start.AddDate(0, opt.Months, 0)
	doc := map[string]any{
		"plans": []map[string]any{
			{"external_id": "eu_monthly", "name": "EU Monthly", "interval_count": 1, "interval_unit": "month"},
			{"external_id": "eu_annual", "name": "EU Annual", "interval_count": 1, "interval_unit": "year"},
		},
	}
	var customers, invoices, items, txs []map[string]any
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("eu_%04d", i)
		customers = append(customers, map[string]any{"external_id": id, "name": fmt.Sprintf("Europe Customer %d", i),
			"country": []string{"DE", "FR", "DK", "NL"}[i%4], "company": fmt.Sprintf("Firma %d", i)})
		t := opt.Start.AddDate(0, rng.IntN(opt.Months), rng.IntN(28))
		annual := rng.IntN(4) == 0
		price := int64(2000 + 1000*rng.IntN(10))
		for k := 0; t.Before(end); k++ {
			next := t.AddDate(0, 1, 0)
			plan, amount := "eu_monthly", price
			if annual {
				next, plan, amount = t.AddDate(1, 0, 0), "eu_annual", price*10
			}
			inv := fmt.Sprintf("%s_inv%03d", id, k)
			invoices = append(invoices, map[string]any{"external_id": inv, "date": t.Format(cmTime), "currency": "EUR", "customer_external_id": id})
			item := map[string]any{"type": "subscription", "amount_in_cents": amount, "tax_amount_in_cents": amount * 19 / 119,
				"quantity": 1, "invoice_external_id": inv, "plan_external_id": plan, "subscription_external_id": id + "_sub",
				"service_period_start": t.Format(cmTime), "service_period_end": next.Format(cmTime)}
			r := rng.IntN(30)
			if r == 0 {
				item["cancelled_at"] = next.AddDate(0, 0, -2).Format(cmTime)
			}
			items = append(items, item)
			txs = append(txs, map[string]any{"invoice_external_id": inv, "external_id": inv + "_tx", "type": "payment",
				"result": "successful", "date": t.Add(time.Hour).Format(cmTime)})
			if r == 0 {
				break
			}
			if r < 3 {
				price += 1000
			}
			t = next
		}
	}
	doc["customers"], doc["invoices"], doc["line_items"], doc["transactions"] = customers, invoices, items, txs
	return doc, nil
}

// subscriptionsDoc makes a seed 002 payload of n companies.
func subscriptionsDoc(rng *rand.Rand, n int, opt Options) map[string]any {
	var subs, invoices, contacts []map[string]any
	intervals := []string{"month", "quarter", "year"}
	for i := 0; i < n; i++ {
		domain := fmt.Sprintf("company%d.example", i)
		start := opt.Start.AddDate(0, rng.IntN(opt.Months), rng.IntN(28))
		interval := intervals[rng.IntN(3)]
		amount := int64(50000 + 10000*rng.IntN(20))
		sub := map[string]any{"external_id": fmt.Sprintf("ent_%04d", i), "customer_domain": domain,
			"customer_name": fmt.Sprintf("Company %d", i), "amount_cents": amount, "interval": interval,
			"status": "active", "plan_name": "Enterprise " + interval, "started_at": start.Format(time.RFC3339)}
		switch rng.IntN(8) {
		case 0:
			sub["status"] = "trialing"
		case 1:
			end := start.AddDate(0, 3+rng.IntN(6), 0)
			if end.Before(opt.Start.AddDate(0, opt.Months, 0)) {
				sub["status"], sub["canceled_at"], sub["ended_at"] = "canceled", end.AddDate(0, 0, -10).Format(time.RFC3339), end.Format(time.RFC3339)
			}
		}
		subs = append(subs, sub)
		invoices = append(invoices, map[string]any{"external_id": fmt.Sprintf("ent_in_%04d", i), "subscription_external_id": sub["external_id"],
			"amount_cents": amount, "status": "paid", "issued_at": start.Format(time.RFC3339), "paid_at": start.AddDate(0, 0, 2).Format(time.RFC3339)})
		contacts = append(contacts, map[string]any{"email": "cfo@" + domain, "first_name": "Casey", "last_name": fmt.Sprint(i), "job_title": "CFO"})
	}
	return map[string]any{"currency": "USD", "subscriptions": subs, "invoices": invoices, "contacts": contacts}
}

// ChartMogul writes a ChartMogul bulk import of opt.Customers customers
// billed in EUR, monthly EUR rates, and a config.yaml that runs them.
func ChartMogul(dir string, opt Options) (Stats, error) {
	opt = withStart(opt)
	rng := rand.New(rand.NewPCG(opt.Seed, 77))
	doc, err := chartmogulDoc(rng, opt.Customers, opt)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Customers: opt.Customers, Plans: 2, Invoices: len(doc["invoices"].([]map[string]any)), AsOf: opt.Start.AddDate(0, opt.Months, -1)}
	if err := writeJSON(filepath.Join(dir, "import.json"), doc); err != nil {
		return st, err
	}
	if err := writeRates(filepath.Join(dir, "fx.csv"), opt, rng); err != nil {
		return st, err
	}
	return st, writeConfig(dir, opt, st, "fx_rates: fx.csv\nsources:\n  - {name: inhouse, kind: chartmogul, path: import.json}\n")
}

// Import is a ChartMogul bulk import read back as its arrays of objects,
// for tests that change it.
type Import map[string][]map[string]any

// ReadImport reads the import.json ChartMogul wrote.
func ReadImport(path string) (Import, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc Import
	return doc, json.Unmarshal(b, &doc)
}

// Write writes the import back.
func (doc Import) Write(path string) error { return writeJSON(path, doc) }

// Copy is a shallow copy of one object of the import.
func Copy(o map[string]any) map[string]any {
	c := make(map[string]any, len(o))
	for k, v := range o {
		c[k] = v
	}
	return c
}

// Subscriptions writes a seed 002 payload of opt.Customers companies and a
// config.yaml that runs it.
func Subscriptions(dir string, opt Options) (Stats, error) {
	opt = withStart(opt)
	rng := rand.New(rand.NewPCG(opt.Seed, 78))
	doc := subscriptionsDoc(rng, opt.Customers, opt)
	st := Stats{Customers: opt.Customers, Invoices: opt.Customers, AsOf: opt.Start.AddDate(0, opt.Months, -1)}
	if err := writeJSON(filepath.Join(dir, "payload.json"), doc); err != nil {
		return st, err
	}
	return st, writeConfig(dir, opt, st, "sources:\n  - {name: crm, kind: subscriptions, path: payload.json}\n")
}

func withStart(opt Options) Options {
	if opt.Start.IsZero() {
		opt.Start = time.Date(2023, 7, 1, 0, 0, 0, 0, time.UTC)
	}
	return opt
}

func writeConfig(dir string, opt Options, st Stats, rest string) error {
	config := fmt.Sprintf("# Generated by mrrflow (seed %d): %d customers over %d months.\nas_of: %s\nreporting_currency: usd\n%s",
		opt.Seed, opt.Customers, opt.Months, st.AsOf.Format(time.DateOnly), rest)
	return os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(config), 0o644)
}
