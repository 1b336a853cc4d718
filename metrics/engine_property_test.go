package metrics

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/schemas"
)

// randomWorld makes a random but valid world: customers with several
// subscriptions on assorted plans, renewals, gaps, prorations, credits,
// cancellations (with and without a subscription), refunds and one-time
// lines.
// randomWorld is randomScenario, with customers billed in eur and jpy
// under moving monthly rates when multi is set.
func randomWorld(seed uint64, customers int, multi bool) *scenario {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	s := newScenario("2024-12-20")
	currencies := []string{"usd"}
	if multi {
		currencies = []string{"usd", "eur", "jpy"}
		s.opt.ReportingCurrency = "usd"
		for m := 0; m < 24; m++ {
			d := time.Date(2023, time.Month(1+m), 1+rng.IntN(20), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
			s.opt.Rates = append(s.opt.Rates,
				rate(d, "eur", fmt.Sprintf("1.%02d", rng.IntN(40))),
				rate(d, "jpy", fmt.Sprintf("0.00%d", 5+rng.IntN(4))))
		}
	}
	policies := configs.Default().Policies
	policies.ChurnGraceDays = []int{0, 7, 30}[rng.IntN(3)]
	if rng.IntN(2) == 0 {
		policies.Cancellation = configs.CancelImmediate
	}
	if rng.IntN(3) == 0 {
		policies.Refunds = configs.RefundCashOnly
	}
	if rng.IntN(3) == 0 {
		policies.ReactivationWindowDays = 90
	}
	s.opt.Policies = policies
	planIDs := []string{"monthly", "annual", "quarterly", "weekly", "biannual"}
	base := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for c := 0; c < customers; c++ {
		cust := fmt.Sprintf("c%03d", c)
		s.customer(cust)
		cur := "cur=" + currencies[rng.IntN(len(currencies))]
		for sub := 0; sub < 1+rng.IntN(2); sub++ {
			subID := ""
			if sub > 0 || rng.IntN(2) == 0 {
				subID = "s" + strconv.Itoa(sub)
			}
			plan := planIDs[rng.IntN(len(planIDs))]
			p := s.plans[slicesIndex(s.plans, plan)]
			t := base.Add(time.Duration(rng.IntN(500*24)) * time.Hour)
			for n := rng.IntN(8); n >= 0; n-- {
				end, err := schemas.AddInterval(t, p.IntervalUnit, p.IntervalCount, 1)
				if err != nil {
					panic(err) // the world's plans have known units
				}
				amount := int64(1000 * (1 + rng.IntN(50)))
				s.sub(cust, plan, amount, ts3339(t), ts3339(end), "sub="+subID, cur)
				switch rng.IntN(10) {
				case 0:
					mid := t.Add(end.Sub(t) / 2)
					s.sub(cust, plan, amount/2, ts3339(mid), ts3339(end), "sub="+subID, "prorated", cur)
				case 1:
					s.sub(cust, plan, -amount/3, ts3339(t.AddDate(0, 0, 3)), ts3339(end), "sub="+subID, cur)
				case 2:
					opts := []string{}
					if rng.IntN(2) == 0 {
						opts = append(opts, "sub="+subID)
					}
					s.line(cust, schemas.KindCancellation, "", 0, ts3339(t.AddDate(0, 0, rng.IntN(40))), "", opts...)
				case 3:
					s.line(cust, schemas.KindRefund, "", amount/2, ts3339(t.AddDate(0, 0, 2)), "", cur)
				case 4:
					s.line(cust, schemas.KindOneTime, "", 5000, ts3339(t), "", cur)
				}
				t = end
				if rng.IntN(6) == 0 {
					t = t.AddDate(0, 0, rng.IntN(120))
				}
			}
		}
	}
	return s
}

func slicesIndex(ps []schemas.Plan, id string) int {
	for i := range ps {
		if ps[i].PlanID == id {
			return i
		}
	}
	panic(id)
}

func ts3339(t time.Time) string { return t.Format(time.RFC3339) }

// parquetBytes renders every table of a result as Parquet bytes.
func parquetBytes(t testing.TB, res *Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, tb := range res.Tables() {
		if err := schemas.WriteParquet(&buf, tb.Table, tb.Rec); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// The monthly invariant holds exactly, movements add up to each customer's
// MRR, and the snapshot agrees with the periods.
func TestPropertyInvariants(t *testing.T) {
	kinds := map[string]int{}
	sawFX := false
	defer func() {
		if !sawFX {
			t.Error("the multi-currency worlds never produced an fx_impact")
		}
		for _, k := range []string{MoveNew, MoveExpansion, MoveContraction, MoveChurn, MoveReactivation} {
			if kinds[k] == 0 {
				t.Errorf("the random scenarios never produced a %s movement", k)
			}
		}
	}()
	for seed := uint64(1); seed <= 60; seed++ {
		multi := seed > 40
		s := randomWorld(seed, 25, multi)
		o := s.run(t)
		if len(o.monthly) == 0 {
			t.Fatalf("seed %d: no months", seed)
		}
		var prevEnd int64
		for _, m := range o.monthly {
			n := func(col string) int64 {
				v, err := strconv.ParseInt(m[col], 10, 64)
				if err != nil {
					t.Fatalf("seed %d %s %s: %v", seed, m["month"], col, err)
				}
				return v
			}
			if n("mrr_start") != prevEnd {
				t.Errorf("seed %d %s: mrr_start %d != previous mrr_end %d", seed, m["month"], n("mrr_start"), prevEnd)
			}
			got := n("mrr_start") + n("new") + n("expansion") + n("reactivation") - n("contraction") - n("churn") + n("fx_impact")
			sawFX = sawFX || n("fx_impact") != 0
			if got != n("mrr_end") || (!multi && n("fx_impact") != 0) {
				t.Errorf("seed %d %s: invariant broken: %v", seed, m["month"], m)
			}
			prevEnd = n("mrr_end")
		}
		if multi {
			// Movements are valued at their day's rates, snapshots at as_of's:
			// the chain below holds in one currency only. The snapshot still
			// sums to the last month end, but for rounding per customer.
			var sum int64
			for _, c := range o.snapshot {
				v, _ := strconv.ParseInt(c["mrr"], 10, 64)
				sum += v
			}
			if d := sum - prevEnd; d > int64(len(o.snapshot)) || d < -int64(len(o.snapshot)) {
				t.Errorf("seed %d: snapshot MRR sums to %d, last mrr_end is %d", seed, sum, prevEnd)
			}
			continue
		}
		// Per customer: each movement starts where the last ended, and
		// the last ends at the snapshot's MRR.
		last := map[string]string{}
		for _, mv := range o.movements {
			var d, cust, kind, amount, ba string
			fmt.Sscan(mv, &d, &cust, &kind, &amount, &ba)
			kinds[kind]++
			var before, after string
			for i := range ba {
				if ba[i:i+2] == "->" {
					before, after = ba[:i], ba[i+2:]
					break
				}
			}
			if prev := last[cust]; before != prev && !(prev == "" && before == "0") {
				t.Errorf("seed %d: %s starts at %s, the previous movement ended at %s", seed, mv, before, prev)
			}
			last[cust] = after
		}
		for _, c := range o.snapshot {
			want := last[c["customer_id"]]
			if want == "" {
				want = "0"
			}
			if c["mrr"] != want {
				t.Errorf("seed %d: customer %s snapshot mrr %s, movements end at %s", seed, c["customer_id"], c["mrr"], want)
			}
		}
		// The last month's mrr_end is the sum of the current periods.
		var open int64
		for _, c := range o.snapshot {
			v, _ := strconv.ParseInt(c["mrr"], 10, 64)
			open += v
		}
		if open != prevEnd {
			t.Errorf("seed %d: snapshot MRR sums to %d, last mrr_end is %d", seed, open, prevEnd)
		}
	}
}

// The same input gives byte-identical tables: run twice, in any order of
// the lines, in batches of any size.
func TestPropertyDeterministicAndOrderFree(t *testing.T) {
	for seed := uint64(100); seed < 114; seed++ {
		s := randomWorld(seed, 30, seed >= 110)
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		first := s.compute(t, mem, 0)
		want := parquetBytes(t, first)
		first.Release()
		rng := rand.New(rand.NewPCG(seed, 7))
		for k, size := range []int{1, 3, 1024, 0} {
			// The customers scanned in 1, 3, 7 and 2 ranges at once: the
			// partitioned engine must give the same bytes.
			s.opt.Workers = []int{1, 3, 7, 2}[k]
			rng.Shuffle(len(s.lines), func(i, j int) { s.lines[i], s.lines[j] = s.lines[j], s.lines[i] })
			rng.Shuffle(len(s.customers), func(i, j int) { s.customers[i], s.customers[j] = s.customers[j], s.customers[i] })
			res := s.compute(t, mem, size)
			got := parquetBytes(t, res)
			res.Release()
			if !bytes.Equal(got, want) {
				t.Fatalf("seed %d: batches of %d rows in another order, scanned in %d ranges, give different tables", seed, size, s.opt.Workers)
			}
		}
		mem.AssertSize(t, 0)
	}
}
