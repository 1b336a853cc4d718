package metrics

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/schemas"
)

// withEvents adds a second source whose MRR comes from subscription
// events (starts, updates, cancellations), with cash-only lines.
func withEvents(s *scenario, seed uint64) []schemas.SubscriptionEvent {
	rng := rand.New(rand.NewPCG(seed, 99))
	var evs []schemas.SubscriptionEvent
	base := time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC)
	for c := 0; c < 12; c++ {
		cust := fmt.Sprintf("e%03d", c)
		s.customers = append(s.customers, schemas.Customer{Source: "ev", CustomerID: cust, Name: cust, Attributes: "{}", CreatedAt: schemas.NoTime, TrialStartedAt: schemas.NoTime})
		for sub := 0; sub < 1+rng.IntN(2); sub++ {
			t := base.Add(time.Duration(rng.IntN(400*24)) * time.Hour)
			for k, typ := range []string{schemas.EventStart, schemas.EventUpdate, schemas.EventCancel}[:1+rng.IntN(3)] {
				evs = append(evs, schemas.SubscriptionEvent{Source: "ev", EventID: fmt.Sprintf("ev_%s_%d_%d", cust, sub, k), CustomerID: cust,
					SubscriptionID: fmt.Sprintf("es%d", sub), PlanID: "evp", Type: typ, EffectiveAt: t.UnixMicro(),
					Amount: int64(1000 * (1 + rng.IntN(30))), IntervalUnit: "month", IntervalCount: 1, Currency: "usd"})
				t = t.AddDate(0, 1+rng.IntN(5), rng.IntN(20))
			}
			inv := fmt.Sprintf("evinv_%s_%d", cust, sub)
			s.lines = append(s.lines, schemas.InvoiceLine{Source: "ev", InvoiceID: inv, LineID: inv, CustomerID: cust, SubscriptionID: fmt.Sprintf("es%d", sub),
				Kind: schemas.KindOneTime, Amount: 2500, Quantity: 1, Currency: "usd", PaidAt: schemas.NoTime,
				InvoiceDate: t.UnixMicro(), PeriodStart: t.UnixMicro(), PeriodEnd: t.UnixMicro()})
		}
	}
	// Customers of the events' source with no event of their own: their
	// subscription lines count in cash flow only, as the source's do,
	// wherever they are computed.
	s.plans = append(s.plans, schemas.Plan{Source: "ev", PlanID: "evq", Name: "evq", IntervalUnit: "month", IntervalCount: 1, Currency: "usd"})
	for c := range 2 {
		cust := fmt.Sprintf("q%03d", c)
		s.customers = append(s.customers, schemas.Customer{Source: "ev", CustomerID: cust, Name: cust, Attributes: "{}", CreatedAt: schemas.NoTime, TrialStartedAt: schemas.NoTime})
		t := base.Add(time.Duration(rng.IntN(400*24)) * time.Hour)
		inv := "evq_" + cust
		s.lines = append(s.lines, schemas.InvoiceLine{Source: "ev", InvoiceID: inv, LineID: inv, CustomerID: cust, PlanID: "evq",
			Kind: schemas.KindSubscription, Amount: 4200, Quantity: 1, Currency: "usd", PaidAt: schemas.NoTime,
			InvoiceDate: t.UnixMicro(), PeriodStart: t.UnixMicro(), PeriodEnd: t.AddDate(0, 1, 0).UnixMicro()})
	}
	return evs
}

// The tables are byte-identical whether the engine computes in one piece
// or in partitions spilled to disk, from lines and customers in memory or
// streamed from Parquet files, with any number of scanners.
func TestPartitionedEqualsWhole(t *testing.T) {
	for seed := uint64(300); seed < 312; seed++ {
		s := randomWorld(seed, 40, seed%2 == 1)
		if seed%3 == 0 { // some lines unpaid, and payment required
			s.opt.Policies.RequirePayment = true
			for i := range s.lines {
				if i%5 == 0 {
					s.lines[i].PaidAt = schemas.NoTime
				}
			}
		}
		evs := withEvents(s, seed)
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		cust := schemas.CustomersRecord(mem, s.customers)
		plans := schemas.PlansRecord(mem, s.plans)
		events := schemas.EventsRecord(mem, evs)
		lines := schemas.InvoiceLinesRecord(mem, schemas.Refs(s.lines))
		in := Input{Customers: []arrow.RecordBatch{cust}, Plans: []arrow.RecordBatch{plans}, Events: []arrow.RecordBatch{events}}

		dir := t.TempDir()
		spill := filepath.Join(dir, "spill")
		if err := os.Mkdir(spill, 0o755); err != nil {
			t.Fatal(err)
		}
		// The lines also as two Parquet files, cut in the middle.
		half := lines.NumRows() / 2
		var files []string
		for k, part := range []arrow.RecordBatch{lines.NewSlice(0, half), lines.NewSlice(half, lines.NumRows())} {
			path := filepath.Join(dir, fmt.Sprintf("lines-%d.parquet", k))
			var buf bytes.Buffer
			if err := schemas.WriteParquet(&buf, schemas.InvoiceLines, part); err != nil {
				t.Fatal(err)
			}
			part.Release()
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, path)
		}
		// And the customers as a Parquet file.
		custFile := filepath.Join(dir, "customers.parquet")
		var cbuf bytes.Buffer
		if err := schemas.WriteParquet(&cbuf, schemas.Customers, cust); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(custFile, cbuf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}

		compute := func(opt Options, fromFiles bool) (*Result, []byte) {
			t.Helper()
			in := in
			if fromFiles {
				in.LineFiles = files
				in.Customers, in.CustomerFiles = nil, []string{custFile}
			} else {
				in.Lines = []arrow.RecordBatch{lines}
			}
			res, err := Compute(context.Background(), mem, in, opt)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			defer res.Release()
			got := parquetBytes(t, res)
			if opt.SpillRows && res.Partitions > 1 {
				// The rows are on disk, streamed by Tables, until Load.
				if res.Periods != nil || res.Movements != nil || res.Snapshot != nil || res.Quality != nil {
					t.Fatalf("seed %d: rows held in memory with SpillRows", seed)
				}
				if err := res.Load(context.Background()); err != nil {
					t.Fatal(err)
				}
				if again := parquetBytes(t, res); !bytes.Equal(again, got) {
					t.Fatalf("seed %d: the rows loaded from disk differ from those streamed", seed)
				}
			}
			return res, got
		}
		whole, want := compute(s.opt, false)
		if whole.Partitions != 1 {
			t.Fatalf("seed %d: %d partitions by default for %d lines", seed, whole.Partitions, lines.NumRows())
		}
		if _, got := compute(s.opt, true); !bytes.Equal(got, want) {
			t.Fatalf("seed %d: in one piece from files, other tables than from memory", seed)
		}
		for k, parts := range []int{2, 3, 7, 25} {
			for _, fromFiles := range []bool{false, true} {
				opt := s.opt
				opt.Partitions, opt.SpillDir, opt.Workers = parts, spill, 1+k%3
				// Rows kept on disk for the partitions from the files.
				opt.SpillRows = fromFiles
				res, got := compute(opt, fromFiles)
				// The partitions with lines: at most as many as asked, never
				// more than one per customer with lines.
				withLines := map[string]bool{}
				for _, l := range s.lines {
					withLines[l.CustomerID] = true
				}
				if most := min(parts, len(withLines)); res.Partitions > most || res.Partitions < min(parts, 2) {
					t.Fatalf("seed %d: asked %d partitions of %d customers with lines, got %d", seed, parts, len(withLines), res.Partitions)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("seed %d: %d partitions (from files: %v) give other tables than one piece", seed, parts, fromFiles)
				}
			}
		}
		// The line budget decides the partitions when none is forced.
		opt := s.opt
		opt.PartitionLines, opt.SpillDir, opt.SpillRows = int(lines.NumRows()/4)+1, spill, true
		res, got := compute(opt, true)
		if res.Partitions != 4 || !bytes.Equal(got, want) {
			t.Fatalf("seed %d: a budget of %d lines: %d partitions, same tables: %v", seed, opt.PartitionLines, res.Partitions, bytes.Equal(got, want))
		}
		if left, _ := os.ReadDir(spill); len(left) != 0 {
			t.Fatalf("seed %d: spill files left behind: %v", seed, left)
		}
		for _, r := range []arrow.RecordBatch{cust, plans, events, lines} {
			r.Release()
		}
		mem.AssertSize(t, 0)
	}
}
