package metrics

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/schemas"
)

// worldInput is the input of the customers of a world that keep says.
func worldInput(mem memory.Allocator, s *scenario, evs []schemas.SubscriptionEvent, keep func(key string) bool) Input {
	var cs []schemas.Customer
	for _, c := range s.customers {
		if keep(CustomerKey(c.Source, c.CustomerID)) {
			cs = append(cs, c)
		}
	}
	var ls []*schemas.InvoiceLine
	for i := range s.lines {
		if l := &s.lines[i]; keep(CustomerKey(l.Source, l.CustomerID)) {
			ls = append(ls, l)
		}
	}
	var es []schemas.SubscriptionEvent
	for _, ev := range evs {
		if keep(CustomerKey(ev.Source, ev.CustomerID)) {
			es = append(es, ev)
		}
	}
	return Input{Customers: []arrow.RecordBatch{schemas.CustomersRecord(mem, cs)}, Plans: []arrow.RecordBatch{schemas.PlansRecord(mem, s.plans)},
		Lines: []arrow.RecordBatch{schemas.InvoiceLinesRecord(mem, ls)}, Events: []arrow.RecordBatch{schemas.EventsRecord(mem, es)}}
}

func releaseInput(in Input) {
	for _, recs := range [][]arrow.RecordBatch{in.Customers, in.Plans, in.Lines, in.Events} {
		for _, r := range recs {
			r.Release()
		}
	}
}

// A partial updated with the customers whose inputs changed and those
// QuietUntil says a later as-of day may change, finalizes to the same
// bytes as every customer computed again from the new inputs: random
// worlds (currencies, events, every policy), lines added before and
// after the old as-of day, removed and changed, as-of days moved on
// within the month, in UTC and in New York.
func TestUpdateEqualsRecompute(t *testing.T) {
	ctx := context.Background()
	updated, refused := 0, 0
	for seed := uint64(700); seed < 760; seed++ {
		s := randomWorld(seed, 30, seed%2 == 1)
		evs := withEvents(s, seed)
		rng := rand.New(rand.NewPCG(seed, 11))
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		all := func(string) bool { return true }
		optA := s.opt
		if seed%4 == 3 {
			ny, err := time.LoadLocation("America/New_York")
			if err != nil {
				t.Fatal(err)
			}
			optA.Location = ny
		}
		oldWhole := worldInput(mem, s, evs, all)
		optA.EventSources = EventSources(oldWhole)
		p, err := ComputePartial(ctx, mem, oldWhole, optA)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		quiet, err := QuietUntil(ctx, mem, oldWhole, optA)
		if err != nil {
			t.Fatal(err)
		}
		releaseInput(oldWhole)

		// The new world: some customers' lines changed, removed or added.
		next := *s
		next.lines = slices.Clone(s.lines)
		changed := map[string]bool{}
		asOf := optA.AsOf.AddDate(0, 0, rng.IntN(12))
		for range 1 + rng.IntN(6) {
			i := rng.IntN(len(next.lines))
			l := next.lines[i]
			changed[CustomerKey(l.Source, l.CustomerID)] = true
			switch rng.IntN(3) {
			case 0:
				next.lines = slices.Delete(next.lines, i, i+1)
			case 1:
				next.lines[i].Amount += 700
			default: // the next period, billed before or after the old as-of day
				l.InvoiceID, l.LineID = l.InvoiceID+"n", l.LineID+"n"
				at := optA.AsOf.AddDate(0, 0, rng.IntN(14)-7)
				l.InvoiceDate, l.PeriodStart = at.UnixMicro(), at.UnixMicro()
				l.PeriodEnd = at.AddDate(0, 1, 0).UnixMicro()
				next.lines = append(next.lines, l)
			}
		}
		keys := maps.Clone(changed)
		for k, d := range quiet {
			if civilDay(asOf) > d {
				keys[k] = true
			}
		}
		inD := func(k string) bool { return keys[k] }
		optB := optA
		optB.AsOf = asOf
		oldIn, newIn := worldInput(mem, s, evs, inD), worldInput(mem, &next, evs, inD)
		old, err := ComputePartial(ctx, mem, oldIn, optA)
		if err != nil {
			t.Fatal(err)
		}
		now, err := ComputePartial(ctx, mem, newIn, optB)
		if err != nil {
			t.Fatal(err)
		}
		releaseInput(oldIn)
		releaseInput(newIn)
		got, err := p.Update(mem, keys, old, now)
		for _, q := range []*Partial{p, old, now} {
			q.Release()
		}
		if errors.Is(err, ErrMerge) {
			refused++
			mem.AssertSize(t, 0)
			continue
		}
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		updated++
		res := got.Finalize(mem)
		got.Release()
		gotBytes := parquetBytes(t, res)
		res.Release()

		newWhole := worldInput(mem, &next, evs, all)
		want, err := Compute(ctx, mem, newWhole, optB)
		if err != nil {
			t.Fatal(err)
		}
		releaseInput(newWhole)
		wantBytes := parquetBytes(t, want)
		want.Release()
		if !bytes.Equal(gotBytes, wantBytes) {
			t.Fatalf("seed %d: %d of %d customers updated as of %s give other tables than all recomputed",
				seed, len(keys), len(quiet), asOf.Format(time.DateOnly))
		}
		mem.AssertSize(t, 0)
	}
	// The test must mostly update, not fall back.
	if updated < 3*refused || updated < 12 {
		t.Fatalf("%d updates, %d refused", updated, refused)
	}
	t.Logf("%d updates, %d refused", updated, refused)
}

func civilDay(t time.Time) int32 {
	return int32(t.Sub(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)).Hours() / 24)
}
