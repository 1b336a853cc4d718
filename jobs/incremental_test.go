package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/schemas"
)

// incWorld is billing data that changes from run to run: two GrowPanel
// sources (a, upserted from a growing folder of invoice files; b,
// replaced by its folder), customers in USD and EUR, and EUR rates; and a
// ChartMogul source of subscription events (c, with its own policies).
type incWorld struct {
	t    *testing.T
	dir  string
	rng  *rand.Rand
	asOf time.Time
	seq  int
	// invoices are the invoices written, by source: to change or bill
	// again.
	invoices map[string][]map[string]any
	rates    []string
	// plans are each source's plans, as written.
	plans map[string][]map[string]any
}

var incPlans = []map[string]any{
	{"id": "m", "name": "Monthly", "billing_freq": "month", "currency": "usd"},
	{"id": "y", "name": "Yearly", "billing_freq": "year", "currency": "usd"},
	{"id": "e", "name": "Monthly EUR", "billing_freq": "month", "currency": "eur"},
	{"id": "g", "name": "Monthly GBP", "billing_freq": "month", "currency": "gbp"},
}

// plan picks a plan: GBP's for a few customers only, so that a change of
// its rates recomputes them alone.
func (w *incWorld) plan() map[string]any {
	if w.rng.IntN(12) == 0 {
		return incPlans[3]
	}
	return incPlans[w.rng.IntN(3)]
}

func newIncWorld(t *testing.T, seed uint64) *incWorld {
	w := &incWorld{t: t, dir: t.TempDir(), rng: rand.New(rand.NewPCG(seed, 3)), asOf: time.Date(2024, 12, 5, 0, 0, 0, 0, time.UTC),
		invoices: map[string][]map[string]any{}, plans: map[string][]map[string]any{}}
	w.rates = []string{"date,currency,rate"}
	for m := 1; m <= 12; m++ {
		w.rates = append(w.rates, fmt.Sprintf("2024-%02d-01,eur,1.%02d", m, w.rng.IntN(30)), fmt.Sprintf("2024-%02d-01,gbp,1.%02d", m, 20+w.rng.IntN(30)))
	}
	for _, src := range []string{"a", "b"} {
		os.MkdirAll(filepath.Join(w.dir, src, "invoices"), 0o755)
		for _, p := range incPlans {
			w.plans[src] = append(w.plans[src], maps.Clone(p))
		}
		w.writeJSON(filepath.Join(src, "plans.json"), w.plans[src])
		var customers []map[string]any
		for c := range 14 {
			id := fmt.Sprintf("%s%02d", src, c)
			customers = append(customers, map[string]any{"id": id, "name": id, "country": "us", "created_date": "2024-01-01T00:00:00Z"})
			plan := w.plan()
			start := time.Date(2024, time.Month(1+w.rng.IntN(11)), 1+w.rng.IntN(28), 0, 0, 0, 0, time.UTC)
			// Some stop paying; the others are billed into next year,
			// past the as-of days the runs will see.
			end := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
			if w.rng.IntN(4) == 0 {
				end = start.AddDate(0, 2+w.rng.IntN(8), 0)
			}
			for at := start; at.Before(end); {
				next := at.AddDate(0, 1, 0)
				if plan["id"] == "y" {
					next = at.AddDate(1, 0, 0)
				}
				w.invoice(src, id, plan, at, next, int64(1000*(1+w.rng.IntN(40))))
				at = next
			}
		}
		w.writeJSON(filepath.Join(src, "customers.json"), customers)
	}
	// c: ChartMogul subscription events, and a customer with an invoice
	// and no event (cash flow only, as its source has events).
	os.MkdirAll(filepath.Join(w.dir, "c"), 0o755)
	var events []map[string]any
	for c := range 4 {
		at := time.Date(2024, time.Month(1+w.rng.IntN(11)), 1+w.rng.IntN(28), 0, 0, 0, 0, time.UTC)
		events = append(events, w.event(fmt.Sprintf("c%02d", c), "subscription_start", at))
	}
	w.writeJSON("c/history.json", map[string]any{
		"customers": []map[string]any{{"external_id": "c00", "name": "c00"}, {"external_id": "c01", "name": "c01"},
			{"external_id": "c02", "name": "c02"}, {"external_id": "c03", "name": "c03"}, {"external_id": "c09", "name": "c09"}},
		"plans":    []map[string]any{{"external_id": "cm", "name": "CM", "interval_count": 1, "interval_unit": "month"}},
		"invoices": []map[string]any{{"external_id": "ci_1", "date": "2024-11-08 00:00:00", "currency": "USD", "customer_external_id": "c09"}},
		"line_items": []map[string]any{{"type": "subscription", "amount_in_cents": 4500, "quantity": 1, "invoice_external_id": "ci_1",
			"plan_external_id": "cm", "subscription_external_id": "cs_9", "service_period_start": "2024-11-08 00:00:00",
			"service_period_end": "2024-12-08 00:00:00"}},
		"subscription_events": events,
	})
	// a's history in one file; b's in a few (it is replaced by them).
	w.writeJSON("a/invoices/history.json", w.invoices["a"])
	for k, part := range chunks(w.invoices["b"], 5) {
		w.writeJSON(fmt.Sprintf("b/invoices/part%d.json", k), part)
	}
	w.writeRates()
	return w
}

func chunks[T any](s []T, n int) [][]T {
	var out [][]T
	size := (len(s) + n - 1) / n
	for len(s) > 0 {
		k := min(size, len(s))
		out, s = append(out, s[:k]), s[k:]
	}
	return out
}

func (w *incWorld) invoice(src, cust string, plan map[string]any, from, to time.Time, amount int64) map[string]any {
	w.seq++
	inv := map[string]any{"id": fmt.Sprintf("i%05d", w.seq), "customer_id": cust, "plan_id": plan["id"], "type": "subscription",
		"date": from.Format(time.RFC3339), "amount_cents": amount, "currency": plan["currency"],
		"start_date": from.Format(time.RFC3339), "end_date": to.Format(time.RFC3339)}
	w.invoices[src] = append(w.invoices[src], inv)
	return inv
}

// event is a ChartMogul subscription event of customer cust.
func (w *incWorld) event(cust, kind string, at time.Time) map[string]any {
	w.seq++
	e := map[string]any{"external_id": fmt.Sprintf("e%05d", w.seq), "subscription_external_id": "cs_" + cust,
		"customer_external_id": cust, "plan_external_id": "cm", "event_type": kind,
		"effective_date": at.Format("2006-01-02 15:04:05"), "currency": "USD"}
	if kind != "subscription_cancelled" {
		e["amount_in_cents"] = 1000 * (1 + w.rng.IntN(20))
	}
	return e
}

func (w *incWorld) writeJSON(rel string, v any) {
	w.t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, rel), data, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *incWorld) writeRates() {
	os.WriteFile(filepath.Join(w.dir, "rates.csv"), []byte(strings.Join(w.rates, "\n")+"\n"), 0o644)
}

func (w *incWorld) config() *configs.Config {
	w.t.Helper()
	yaml := fmt.Sprintf(`as_of: %s
reporting_currency: usd
fx_rates: rates.csv
sources:
  - name: a
    kind: growpanel
    plans: a/plans.json
    customers: a/customers.json
    invoices: a/invoices/*.json
  - name: b
    kind: growpanel
    mode: replace
    plans: b/plans.json
    customers: b/customers.json
    invoices: b/invoices/*.json
  - name: c
    kind: chartmogul
    path: c/*.json
`, w.asOf.Format(time.DateOnly))
	path := filepath.Join(w.dir, "config.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		w.t.Fatal(err)
	}
	cfg, err := configs.Load(path)
	if err != nil {
		w.t.Fatal(err)
	}
	return cfg
}

// step changes the world one random way, and names it.
func (w *incWorld) step(reset func(source string)) string {
	src := []string{"a", "b"}[w.rng.IntN(2)]
	// Dropped files sort after the history: a run that reads every file
	// reads them in name order, and the later record of an id wins.
	drop := func(invs []map[string]any) {
		w.seq++
		if src == "a" {
			w.writeJSON(fmt.Sprintf("a/invoices/update%05d.json", w.seq), invs)
		} else {
			w.writeJSON(fmt.Sprintf("b/invoices/part%05d.json", w.seq), invs)
		}
	}
	switch k := w.rng.IntN(12); k {
	case 11: // a plan changed: GBP's interval or name, or a new plan
		plans := w.plans[src]
		g := plans[3]
		what := "a new plan in " + src
		switch w.rng.IntN(4) {
		case 0:
			if g["billing_freq"] == "month" {
				g["billing_freq"] = "year"
			} else {
				g["billing_freq"] = "month"
			}
			what = "plan g of " + src + " billed by " + g["billing_freq"].(string)
		case 1:
			g["name"] = fmt.Sprintf("Monthly GBP %d", w.seq)
			what = "plan g of " + src + " renamed"
		case 2:
			plans[0], plans[1] = plans[1], plans[0]
			what = "the plans of " + src + " in another order (a change of no plan)"
		default: // anywhere in the list
			at := w.rng.IntN(len(plans) + 1)
			w.plans[src] = slices.Insert(plans, at, map[string]any{"id": fmt.Sprintf("n%d", w.seq), "name": "New", "billing_freq": "month", "currency": "usd"})
		}
		w.seq++
		w.writeJSON(filepath.Join(src, "plans.json"), w.plans[src])
		return what
	case 9: // an event of c about as_of: an update, a cancellation or a start
		cust := fmt.Sprintf("c%02d", w.rng.IntN(4))
		kind := []string{"subscription_updated", "subscription_cancelled", "subscription_start"}[w.rng.IntN(3)]
		w.writeJSON(fmt.Sprintf("c/update%05d.json", w.seq+1), map[string]any{
			"subscription_events": []map[string]any{w.event(cust, kind, w.asOf.AddDate(0, 0, w.rng.IntN(10)-5))}})
		return "an event of " + cust
	case 0, 1: // new lines: renewals and new customers' first invoices, about as_of
		var invs []map[string]any
		for range 1 + w.rng.IntN(4) {
			cust := fmt.Sprintf("%s%02d", src, w.rng.IntN(18))
			at := w.asOf.AddDate(0, 0, w.rng.IntN(20)-10)
			invs = append(invs, w.invoice(src, cust, w.plan(), at, at.AddDate(0, 1, 0), int64(500*(1+w.rng.IntN(60)))))
		}
		drop(invs)
		return "new lines in " + src
	case 2: // changed lines: amounts and periods sent again
		old := w.invoices[src]
		var invs []map[string]any
		for range 1 + w.rng.IntN(3) {
			inv := map[string]any{}
			for key, v := range old[w.rng.IntN(len(old))] {
				inv[key] = v
			}
			inv["amount_cents"] = int64(700 * (1 + w.rng.IntN(30)))
			invs = append(invs, inv)
		}
		drop(invs)
		return "changed lines in " + src
	case 3: // a rejected line beside a good one
		at := w.asOf.AddDate(0, 0, -w.rng.IntN(5))
		good := w.invoice(src, fmt.Sprintf("%s%02d", src, w.rng.IntN(14)), incPlans[0], at, at.AddDate(0, 1, 0), 4200)
		drop([]map[string]any{good, {"id": "bad", "customer_id": "nobody", "type": "subscription", "amount_cents": "x"}})
		return "a rejected line in " + src
	case 4, 5:
		w.asOf = w.asOf.AddDate(0, 0, 1+w.rng.IntN(6))
		return "as_of " + w.asOf.Format(time.DateOnly)
	case 6:
		w.asOf = w.asOf.AddDate(0, 1, 0)
		return "as_of a month on, " + w.asOf.Format(time.DateOnly)
	case 7, 10: // a new rate, or a past one corrected; mostly GBP's
		cur := "gbp"
		if w.rng.IntN(4) == 0 {
			cur = "eur"
		}
		if w.rng.IntN(3) > 0 {
			for i := 1 + w.rng.IntN(len(w.rates)-1); ; i = 1 + (i % (len(w.rates) - 1)) {
				if strings.Contains(w.rates[i], ","+cur+",") {
					day, _, _ := strings.Cut(w.rates[i], ",")
					w.rates[i] = fmt.Sprintf("%s,%s,1.%02d", day, cur, 50+w.rng.IntN(40))
					w.writeRates()
					return "a rate of " + cur + " corrected, " + day
				}
			}
		}
		d := w.asOf.AddDate(0, 0, 1+w.rng.IntN(40))
		w.rates = append(w.rates, fmt.Sprintf("%s,%s,1.%02d", d.Format(time.DateOnly), cur, w.rng.IntN(30)))
		w.writeRates()
		return "a rate of " + cur + " from " + d.Format(time.DateOnly)
	default:
		if src == "b" {
			files, _ := filepath.Glob(filepath.Join(w.dir, "b", "invoices", "*.json"))
			if len(files) > 4 {
				os.Remove(files[w.rng.IntN(len(files))])
				return "an invoice file of b removed"
			}
		}
		reset(src)
		return "source " + src + " reset"
	}
}

// A random sequence of runs (new, changed and rejected lines, as_of moved
// by days and months, rates added, files removed from a replaced source,
// a source reset): after each, the marts of the warehouse run
// incrementally are byte for byte those of a warehouse that computed
// every customer; and most runs recomputed only some customers.
func TestIncrementalRunsEqualFullRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("a sequence of runs on two warehouses: run without -short")
	}
	ctx := context.Background()
	incremental, steps, rates, plans := 0, 0, 0, 0
	seeds := uint64(4)
	if raceDetector {
		seeds = 1
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		w := newIncWorld(t, seed)
		inc, full := t.TempDir(), t.TempDir()
		run := func(wh string, opt Options) *Record {
			t.Helper()
			opt.Warehouse, opt.Log = wh, zerolog.Nop()
			rec, err := Run(ctx, w.config(), opt)
			if err != nil && !strings.Contains(err.Error(), "rejected") {
				t.Fatalf("seed %d: %v", seed, err)
			}
			return rec
		}
		reset := func(source string) {
			for _, wh := range []string{inc, full} {
				if _, err := Reset(ctx, w.config(), source, Options{Warehouse: wh, Log: zerolog.Nop()}); err != nil {
					t.Fatal(err)
				}
			}
		}
		what := "the first run"
		for range 14 {
			rec := run(inc, Options{})
			run(full, Options{Full: true})
			steps++
			if i := rec.Incremental; i != nil && !i.Full {
				incremental++
				if strings.HasPrefix(what, "a rate") {
					rates++
				}
				if strings.Contains(what, "plan") {
					plans++
				}
				if i.Recomputed >= i.Customers {
					t.Errorf("seed %d, after %s: an incremental run recomputed all %d customers", seed, what, i.Customers)
				}
			}
			sameMarts(t, fmt.Sprintf("seed %d, after %s", seed, what), inc, full)
			what = w.step(reset)
		}
	}
	if incremental < steps/3 {
		t.Fatalf("%d of %d runs were incremental", incremental, steps)
	}
	if rates == 0 || plans == 0 {
		t.Fatalf("runs after a change of rates and of plans that were incremental: %d and %d; want some of each", rates, plans)
	}
	t.Logf("%d of %d runs incremental, %d after a change of rates, %d of plans", incremental, steps, rates, plans)
}

// sameMarts compares the mart files of two warehouses, byte for byte.
func sameMarts(t *testing.T, when, a, b string) {
	t.Helper()
	files := func(wh string) map[string][]byte {
		out := map[string][]byte{}
		root := filepath.Join(wh, "marts")
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := os.ReadFile(path)
				rel, _ := filepath.Rel(root, path)
				out[rel] = data
			}
			return nil
		})
		return out
	}
	fa, fb := files(a), files(b)
	names := func(m map[string][]byte) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(names(fa), names(fb)) {
		t.Fatalf("%s: mart files %v, computing everything %v", when, names(fa), names(fb))
	}
	if len(fa) == 0 {
		t.Fatalf("%s: no mart file", when)
	}
	for name, data := range fa {
		if !bytes.Equal(data, fb[name]) {
			tbl := schemas.Lookup(strings.Split(name, "/")[0])
			t.Fatalf("%s: %s differs from computing everything:\n%s\ncomputing everything:\n%s", when, name, tableCSV(t, a, tbl), tableCSV(t, b, tbl))
		}
	}
}

// Changes of rates and plans, one at a time, each recomputing only the
// customers they reach: a past GBP rate corrected; a GBP rate added two
// days after as_of, and then as_of moved past it (the as-of rate values
// open amounts); GBP's plan billed yearly. A customer of a is billed in
// GBP every month of 2024 besides what the world holds. After each run
// the incremental tables are byte for byte those of computing everyone.
func TestIncrementalRateAndPlanChanges(t *testing.T) {
	ctx := context.Background()
	w := newIncWorld(t, 1)
	var invs []map[string]any
	for m := 1; m <= 12; m++ {
		at := time.Date(2024, time.Month(m), 3, 0, 0, 0, 0, time.UTC)
		invs = append(invs, w.invoice("a", "a13", incPlans[3], at, at.AddDate(0, 1, 0), 5000))
	}
	w.writeJSON("a/invoices/update00000.json", invs)
	inc, full := t.TempDir(), t.TempDir()
	run := func(wh string, opt Options) *Record {
		t.Helper()
		opt.Warehouse, opt.Log = wh, zerolog.Nop()
		rec, err := Run(ctx, w.config(), opt)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	run(inc, Options{})
	run(full, Options{Full: true})
	gbp := func(day, rate string) {
		for i, r := range w.rates {
			if strings.HasPrefix(r, day+",gbp,") {
				w.rates[i] = day + ",gbp," + rate
				w.writeRates()
				return
			}
		}
		w.rates = append(w.rates, day+",gbp,"+rate)
		w.writeRates()
	}
	for _, step := range []struct {
		what   string
		change func()
	}{
		{"the GBP rate of June corrected", func() { gbp("2024-06-01", "1.95") }},
		{"a GBP rate from 2024-12-07", func() { gbp("2024-12-07", "1.05") }},
		{"as_of past it", func() { w.asOf = time.Date(2024, 12, 9, 0, 0, 0, 0, time.UTC) }},
		{"GBP's plan billed yearly in a", func() {
			w.plans["a"][3]["billing_freq"] = "year"
			w.writeJSON(filepath.Join("a", "plans.json"), w.plans["a"])
		}},
	} {
		step.change()
		rec := run(inc, Options{})
		run(full, Options{Full: true})
		if i := rec.Incremental; i == nil || i.Full || i.Recomputed == 0 {
			t.Fatalf("after %s: %+v; want some customers recomputed, not all", step.what, rec.Incremental)
		}
		sameMarts(t, "after "+step.what, inc, full)
	}
}
