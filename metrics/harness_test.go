package metrics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/schemas"
)

// scenario is a small world of one source, built line by line.
type scenario struct {
	customers []schemas.Customer
	plans     []schemas.Plan
	lines     []schemas.InvoiceLine
	opt       Options
	seq       int
}

func newScenario(asOf string) *scenario {
	s := &scenario{opt: Options{AsOf: day(asOf), Location: time.UTC, Policies: configs.Default().Policies}}
	s.plan("monthly", "month", 1)
	s.plan("annual", "year", 1)
	s.plan("quarterly", "month", 3)
	s.plan("weekly", "week", 1)
	s.plan("daily", "day", 1)
	s.plan("biannual", "month", 6)
	return s
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func us(s string) int64 {
	if len(s) == len(time.DateOnly) {
		return day(s).UnixMicro()
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMicro()
}

func (s *scenario) plan(id, unit string, count int64) {
	s.plans = append(s.plans, schemas.Plan{Source: "src", PlanID: id, Name: id, IntervalUnit: unit, IntervalCount: count, Currency: "usd"})
}

func (s *scenario) customer(id string) {
	for _, c := range s.customers {
		if c.CustomerID == id {
			return
		}
	}
	s.customers = append(s.customers, schemas.Customer{Source: "src", CustomerID: id, Name: id, Attributes: "{}", CreatedAt: schemas.NoTime, TrialStartedAt: schemas.NoTime})
}

// line adds a line; opts tune it: "sub=x", "prorated", "paid=DATE",
// "date=DATE" (invoice date, default the period start), "tax=N".
func (s *scenario) line(cust, kind, plan string, amount int64, from, to string, opts ...string) *schemas.InvoiceLine {
	s.customer(cust)
	s.seq++
	l := schemas.InvoiceLine{
		Source: "src", InvoiceID: fmt.Sprintf("inv_%03d", s.seq), CustomerID: cust, PlanID: plan, Kind: kind,
		Amount: amount, Quantity: 1, Currency: "usd", PaidAt: schemas.NoTime,
		PeriodStart: us(from), PeriodEnd: us(from), InvoiceDate: us(from),
	}
	if to != "" {
		l.PeriodEnd = us(to)
	}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "sub":
			l.SubscriptionID = v
		case "prorated":
			l.Prorated = true
		case "paid":
			l.PaidAt = us(v)
		case "date":
			l.InvoiceDate = us(v)
		case "tax":
			fmt.Sscan(v, &l.Tax)
		case "cur":
			l.Currency = v
		default:
			panic("unknown option " + o)
		}
	}
	l.LineID = l.InvoiceID
	s.lines = append(s.lines, l)
	return &s.lines[len(s.lines)-1]
}

// sub adds a subscription line for a monthly-style period.
func (s *scenario) sub(cust, plan string, amount int64, from, to string, opts ...string) *schemas.InvoiceLine {
	return s.line(cust, schemas.KindSubscription, plan, amount, from, to, opts...)
}

// output is a computed result, read back as text for assertions.
type output struct {
	movements []string // "date customer kind amount before->after"
	rows      []map[string]string
	monthly   []map[string]string
	cohorts   []map[string]string
	snapshot  []map[string]string
	periods   []string // "customer from to mrr"
	// periodRows are the customer_mrr_periods rows, all columns.
	periodRows []map[string]string
	quality    []string
}

func (s *scenario) run(t *testing.T) *output {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	res := s.compute(t, mem, 0)
	defer res.Release()
	o := &output{}
	eachRow(res.Movements, func(r map[string]string) {
		o.rows = append(o.rows, r)
		o.movements = append(o.movements, fmt.Sprintf("%s %s %s %s %s->%s", r["date"], r["customer_id"], r["movement"], r["amount"], r["mrr_before"], r["mrr_after"]))
	})
	eachRow(res.Monthly, func(r map[string]string) { o.monthly = append(o.monthly, r) })
	eachRow(res.Cohorts, func(r map[string]string) { o.cohorts = append(o.cohorts, r) })
	eachRow(res.Snapshot, func(r map[string]string) { o.snapshot = append(o.snapshot, r) })
	eachRow(res.Periods, func(r map[string]string) {
		o.periodRows = append(o.periodRows, r)
		o.periods = append(o.periods, fmt.Sprintf("%s %s %s %s", r["customer_id"], r["valid_from"], r["valid_to"], r["mrr"]))
	})
	eachRow(res.Quality, func(r map[string]string) { o.quality = append(o.quality, r["customer_id"]+" "+r["check"]) })
	return o
}

// compute runs the engine with the lines split into batches of batchSize
// rows (0: one batch).
func (s *scenario) compute(t testing.TB, mem memory.Allocator, batchSize int) *Result {
	t.Helper()
	cust := schemas.CustomersRecord(mem, s.customers)
	plans := schemas.PlansRecord(mem, s.plans)
	lines := schemas.InvoiceLinesRecord(mem, schemas.Refs(s.lines))
	defer cust.Release()
	defer plans.Release()
	defer lines.Release()
	batches := []arrow.RecordBatch{lines}
	if batchSize > 0 {
		batches = nil
		for i := int64(0); i < lines.NumRows(); i += int64(batchSize) {
			b := lines.NewSlice(i, min(i+int64(batchSize), lines.NumRows()))
			defer b.Release()
			batches = append(batches, b)
		}
	}
	res, err := Compute(context.Background(), mem, Input{
		Customers: []arrow.RecordBatch{cust}, Plans: []arrow.RecordBatch{plans}, Lines: batches,
	}, s.opt)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func eachRow(rec arrow.RecordBatch, fn func(map[string]string)) {
	for r := 0; r < int(rec.NumRows()); r++ {
		row := map[string]string{}
		for i, f := range rec.Schema().Fields() {
			row[f.Name] = schemas.FormatValue(rec.Column(i), r)
		}
		fn(row)
	}
}

// month returns the mrr_monthly row of a month (YYYY-MM).
func (o *output) month(t *testing.T, m string) map[string]string {
	t.Helper()
	for _, r := range o.monthly {
		if strings.HasPrefix(r["month"], m) {
			return r
		}
	}
	t.Fatalf("no month %s in %v", m, o.monthly)
	return nil
}

func (o *output) customer(t *testing.T, id string) map[string]string {
	t.Helper()
	for _, r := range o.snapshot {
		if r["customer_id"] == id {
			return r
		}
	}
	t.Fatalf("no customer %s", id)
	return nil
}

func wantMovements(t *testing.T, o *output, want ...string) {
	t.Helper()
	if strings.Join(o.movements, "\n") != strings.Join(want, "\n") {
		t.Errorf("movements:\n got:\n  %s\nwant:\n  %s", strings.Join(o.movements, "\n  "), strings.Join(want, "\n  "))
	}
}
