package metrics

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/schemas"
)

// Random partitions of random worlds (currencies, events, every policy),
// each computed on its own, merged in random groupings and orders,
// finalize to the same bytes as the world computed in one piece; so do
// partitions computed in spilled pieces themselves.
func TestPartialsMergeToTheWhole(t *testing.T) {
	for seed := uint64(500); seed < 516; seed++ {
		s := randomWorld(seed, 30, seed%2 == 1)
		evs := withEvents(s, seed)
		rng := rand.New(rand.NewPCG(seed, 7))
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		input := func(keep func(source, customer string) bool) Input {
			var cs []schemas.Customer
			for _, c := range s.customers {
				if keep(c.Source, c.CustomerID) {
					cs = append(cs, c)
				}
			}
			var ls []*schemas.InvoiceLine
			for i := range s.lines {
				if l := &s.lines[i]; keep(l.Source, l.CustomerID) {
					ls = append(ls, l)
				}
			}
			var es []schemas.SubscriptionEvent
			for _, ev := range evs {
				if keep(ev.Source, ev.CustomerID) {
					es = append(es, ev)
				}
			}
			return Input{Customers: []arrow.RecordBatch{schemas.CustomersRecord(mem, cs)}, Plans: []arrow.RecordBatch{schemas.PlansRecord(mem, s.plans)},
				Lines: []arrow.RecordBatch{schemas.InvoiceLinesRecord(mem, ls)}, Events: []arrow.RecordBatch{schemas.EventsRecord(mem, es)}}
		}
		release := func(in Input) {
			for _, recs := range [][]arrow.RecordBatch{in.Customers, in.Plans, in.Lines, in.Events} {
				for _, r := range recs {
					r.Release()
				}
			}
		}
		whole := input(func(string, string) bool { return true })
		// A shard holds some of the customers of a source with events.
		s.opt.EventSources = EventSources(whole)
		res, err := Compute(context.Background(), mem, whole, s.opt)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		want := parquetBytes(t, res)
		res.Release()
		release(whole)

		for trial := range 4 {
			shards := 1 + rng.IntN(7)
			shardOf := map[string]int{}
			for _, c := range s.customers {
				shardOf[c.Source+"\x00"+c.CustomerID] = rng.IntN(shards)
			}
			// One more shard with no customer at all: its partial has no
			// month, and merges as nothing.
			var parts []*Partial
			for k := range shards + 1 {
				in := input(func(source, customer string) bool { return shardOf[source+"\x00"+customer] == k })
				opt := s.opt
				if rng.IntN(3) == 0 {
					opt.Partitions, opt.SpillDir = 2+rng.IntN(3), t.TempDir()
				}
				p, err := ComputePartial(context.Background(), mem, in, opt)
				if err != nil {
					t.Fatalf("seed %d, shard %d of %d: %v", seed, k, shards, err)
				}
				release(in)
				parts = append(parts, roundTrip(t, mem, p, rng))
			}
			// Merge two random partials (or more) at a time until one is
			// left.
			for len(parts) > 1 {
				rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
				n := 2 + rng.IntN(len(parts)-1)
				m, err := Merge(mem, parts[:n]...)
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				for _, p := range parts[:n] {
					p.Release()
				}
				parts = append(parts[n:], roundTrip(t, mem, m, rng))
			}
			res := parts[0].Finalize(mem)
			parts[0].Release()
			got := parquetBytes(t, res)
			res.Release()
			if !bytes.Equal(got, want) {
				t.Fatalf("seed %d, trial %d: %d shards merged give other tables than one piece", seed, trial, shards)
			}
		}
		mem.AssertSize(t, 0)
	}
}

// Partials as of other days, or valued in different currencies each
// taken from the data, do not merge.
func TestPartialsThatDoNotMerge(t *testing.T) {
	mem := memory.NewGoAllocator()
	partial := func(asOf, currency string) *Partial {
		s := newScenario(asOf)
		s.plan("m", "month", 1)
		s.customer("c_" + currency)
		s.sub("c_"+currency, "m", 1000, "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "cur="+currency)
		in := Input{Customers: []arrow.RecordBatch{schemas.CustomersRecord(mem, s.customers)}, Plans: []arrow.RecordBatch{schemas.PlansRecord(mem, s.plans)},
			Lines: []arrow.RecordBatch{schemas.InvoiceLinesRecord(mem, schemas.Refs(s.lines))}}
		p, err := ComputePartial(context.Background(), mem, in, s.opt)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := Merge(mem, partial("2024-03-01", "usd"), partial("2024-03-02", "usd")); !errors.Is(err, ErrMerge) {
		t.Errorf("as of different days: %v", err)
	}
	if _, err := Merge(mem, partial("2024-03-01", "usd"), partial("2024-03-01", "eur")); !errors.Is(err, ErrCurrency) {
		t.Errorf("usd and eur, no reporting currency: %v", err)
	}
	m, err := Merge(mem, partial("2024-03-01", "eur"))
	if err != nil || m.Currency != "eur" {
		t.Errorf("one partial: %v, %q", err, m.Currency)
	}
}

// roundTrip sends one partial in two through its encoding, as a
// distributed run does between workers.
func roundTrip(t *testing.T, mem memory.Allocator, p *Partial, rng *rand.Rand) *Partial {
	t.Helper()
	if rng.IntN(2) == 0 {
		return p
	}
	data, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
	q, err := UnmarshalPartial(mem, data)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// Bytes that are not an encoded partial, whole or cut short anywhere, are
// an error, never a panic or a partial.
func TestUnmarshalPartialRefusesBrokenBytes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	s := randomWorld(9, 10, true)
	in := Input{Customers: []arrow.RecordBatch{schemas.CustomersRecord(mem, s.customers)}, Plans: []arrow.RecordBatch{schemas.PlansRecord(mem, s.plans)},
		Lines: []arrow.RecordBatch{schemas.InvoiceLinesRecord(mem, schemas.Refs(s.lines))}}
	p, err := ComputePartial(context.Background(), mem, in, s.opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, recs := range [][]arrow.RecordBatch{in.Customers, in.Plans, in.Lines} {
		recs[0].Release()
	}
	data, err := p.MarshalBinary()
	p.Release()
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(data); cut += 1 + cut/20 {
		if q, err := UnmarshalPartial(mem, data[:cut]); !errors.Is(err, ErrPartial) {
			if q != nil {
				q.Release()
			}
			t.Fatalf("cut at %d of %d: %v", cut, len(data), err)
		}
	}
	bad := bytes.Replace(data, []byte(`"months":`), []byte(`"months":1`), 1)
	if _, err := UnmarshalPartial(mem, bad); !errors.Is(err, ErrPartial) {
		t.Errorf("a month count off: %v", err)
	}
	q, err := UnmarshalPartial(mem, data)
	if err != nil {
		t.Fatal(err)
	}
	q.Release()
	mem.AssertSize(t, 0)
}
