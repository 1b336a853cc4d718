package metrics

import (
	"bytes"
	"fmt"
	"math/big"
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
		for sub := 0; sub < 1+rng.IntN(3); sub++ {
			if rng.IntN(3) == 0 { // now and then a customer billed in several
				cur = "cur=" + currencies[rng.IntN(len(currencies))]
			}
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
		write := func() error { return schemas.WriteParquet(&buf, tb.Table, tb.Rec) }
		if tb.Rec == nil {
			write = func() error { return schemas.WriteParquetScan(&buf, tb.Table, tb.Scan) }
		}
		if err := write(); err != nil {
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
	for seed := uint64(1); seed <= 64; seed++ {
		multi := seed > 40 // 24 worlds in usd, eur and jpy
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
			// Movements are valued at their day's rates, snapshots at
			// as_of's: the chain below holds in one currency only. Every
			// total is still the sum of the customers' valued numbers.
			reconcile(t, seed, s, o)
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

// reconcile checks docs/RULES.md §4 against an oracle of its own: each
// customer's MRR at each month's end is valued as one number (its
// currencies' MRR from customer_mrr_periods at that day's rates, the exact
// sum rounded half away from zero once), and a month's mrr_end, a
// cohort's mrr and the snapshot's sum are sums of those numbers, exactly.
func reconcile(t *testing.T, seed uint64, s *scenario, o *output) {
	t.Helper()
	digits := map[string]int64{"usd": 2, "eur": 2, "jpy": 0}
	rateAt := func(cur string, d time.Time) *big.Rat {
		if cur == "usd" {
			return big.NewRat(1, 1)
		}
		var best, first *Rate
		for i := range s.opt.Rates {
			r := &s.opt.Rates[i]
			if r.Currency != cur {
				continue
			}
			if first == nil || r.Day.Before(first.Day) {
				first = r
			}
			if !r.Day.After(d) && (best == nil || r.Day.After(best.Day)) {
				best = r
			}
		}
		if best == nil {
			best = first
		}
		q, _ := new(big.Rat).SetString(best.Rate)
		shift := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(2), nil))
		return q.Mul(q, shift).Quo(q, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(digits[cur]), nil)))
	}
	round := func(r *big.Rat) int64 {
		f, _ := r.Float64()
		n := new(big.Int).Quo(r.Num(), r.Denom()) // toward zero
		rem := new(big.Rat).Sub(r, new(big.Rat).SetInt(n))
		half := big.NewRat(1, 2)
		if f >= 0 && rem.Cmp(half) >= 0 {
			n.Add(n, big.NewInt(1))
		}
		if f < 0 && rem.Cmp(new(big.Rat).Neg(half)) <= 0 {
			n.Sub(n, big.NewInt(1))
		}
		return n.Int64()
	}
	// valued is a customer's valued MRR at the end of day d.
	valued := func(cust string, d time.Time) int64 {
		sum := new(big.Rat)
		for _, p := range o.periodRows {
			if p["customer_id"] != cust {
				continue
			}
			from, to := day(p["valid_from"]), p["valid_to"]
			if d.Before(from) || (to != "" && !d.Before(day(to))) {
				continue
			}
			mrr, _ := strconv.ParseInt(p["mrr"], 10, 64)
			sum.Add(sum, new(big.Rat).Mul(big.NewRat(mrr, 1), rateAt(p["currency"], d)))
		}
		return round(sum)
	}
	cohortOf := map[string]string{}
	var snapshot int64
	for _, c := range o.snapshot {
		cohortOf[c["customer_id"]] = c["cohort_month"]
		v, _ := strconv.ParseInt(c["mrr"], 10, 64)
		snapshot += v
	}
	asOf := s.opt.AsOf
	monthEnd := func(month string) time.Time {
		end := day(month).AddDate(0, 1, -1)
		if end.After(asOf) {
			return asOf
		}
		return end
	}
	var lastEnd int64
	for _, m := range o.monthly {
		d := monthEnd(m["month"])
		var want int64
		for cust := range cohortOf {
			want += valued(cust, d)
		}
		got, _ := strconv.ParseInt(m["mrr_end"], 10, 64)
		if got != want {
			t.Errorf("seed %d %s: mrr_end %d, the customers' valued MRR sums to %d", seed, m["month"], got, want)
		}
		lastEnd = got
	}
	if snapshot != lastEnd {
		t.Errorf("seed %d: snapshot MRR sums to %d, last mrr_end is %d", seed, snapshot, lastEnd)
	}
	for _, c := range o.cohorts {
		d := monthEnd(c["month"])
		var want int64
		for cust, cohort := range cohortOf {
			if cohort == c["cohort_month"] {
				want += valued(cust, d)
			}
		}
		if got, _ := strconv.ParseInt(c["mrr"], 10, 64); got != want {
			t.Errorf("seed %d cohort %s %s: mrr %d, its customers' valued MRR sums to %d", seed, c["cohort_month"], c["month"], got, want)
		}
	}
}
