package metrics

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/schemas"
)

// Each test here pins down one rule of docs/RULES.md §2 to §6.

func TestMulDivRoundHalfAwayFromZero(t *testing.T) {
	for _, c := range []struct {
		x    int64
		n, d uint64
		want int64
	}{
		{5, 1, 2, 3}, {-5, 1, 2, -3}, {4, 1, 3, 1}, {-4, 1, 3, -1}, {1000, 1, 6, 167}, {-3, 1, 6, -1},
		{2500 * 86400, 31, 16 * 86400, 4844}, {1 << 62, 4, 4, 1 << 62},
	} {
		if got, ok := mulDivRound(c.x, c.n, c.d); !ok || got != c.want {
			t.Errorf("round(%d*%d/%d) = %d (ok %v), want %d", c.x, c.n, c.d, got, ok, c.want)
		}
	}
	if _, ok := mulDivRound(1<<62, 8, 1); ok {
		t.Error("an overflowing result was not reported")
	}
}

// §2: the plan's interval normalizes the amount to a month.
func TestLineMRRByInterval(t *testing.T) {
	s := newScenario("2024-01-05")
	s.sub("a", "annual", 120000, "2024-01-01", "2025-01-01")
	s.sub("q", "quarterly", 9000, "2024-01-01", "2024-04-01")
	s.sub("w", "weekly", 1000, "2024-01-01", "2024-01-08")
	s.sub("d", "daily", 100, "2024-01-01", "2024-01-02")
	s.sub("b", "biannual", 1000, "2024-01-01", "2024-07-01")
	s.sub("t", "monthly", 11900, "2024-01-01", "2024-02-01", "tax=1900")
	wantMovements(t, s.run(t),
		"2024-01-01 a new 10000 0->10000",
		"2024-01-01 b new 167 0->167",   // 1000/6 = 166.67
		"2024-01-01 d new 3042 0->3042", // 100 * 365/12
		"2024-01-01 q new 3000 0->3000",
		"2024-01-01 t new 10000 0->10000", // tax excluded
		"2024-01-01 w new 4333 0->4333",   // 1000 * 52/12
	)
}

// §2: a prorated line counts at the rate of a full interval.
func TestLineMRRProrated(t *testing.T) {
	s := newScenario("2024-03-20")
	s.sub("c", "monthly", 2500, "2024-03-16", "2024-04-01", "prorated")
	wantMovements(t, s.run(t), "2024-03-16 c new 4844 0->4844") // 25 x 31/16 = 48.44
}

// §2: free lines have no MRR; one-time lines count in cash flow only; a
// period that differs from the plan is flagged, and MRR follows the plan.
func TestLineMRRZeroOneTimeAndPeriodMismatch(t *testing.T) {
	s := newScenario("2024-01-20")
	s.sub("free", "monthly", 0, "2024-01-01", "2024-02-01")
	s.line("fee", schemas.KindOneTime, "", 50000, "2024-01-03", "")
	s.sub("six", "biannual", 6000, "2024-01-01", "2024-02-01")
	o := s.run(t)
	wantMovements(t, o, "2024-01-01 six new 1000 0->1000")
	if got := o.month(t, "2024-01")["one_time_billed"]; got != "50000" {
		t.Errorf("one_time_billed = %s, want 50000", got)
	}
	if !slices.Equal(o.quality, []string{"six period_mismatch"}) {
		t.Errorf("quality = %v, want one period_mismatch for six", o.quality)
	}
	if got := o.customer(t, "free")["status"]; got != "trialing" {
		t.Errorf("a customer on a free line in force is %s, want trialing", got)
	}
}

// §3.1: a base line supersedes the one in force; base lines of one start
// add up.
func TestBaseLinesSupersedeAndAddUp(t *testing.T) {
	s := newScenario("2024-01-31")
	s.sub("x", "monthly", 10000, "2024-01-01", "2024-02-01")
	s.sub("x", "monthly", 20000, "2024-01-15", "2024-02-15")
	s.sub("y", "monthly", 10000, "2024-01-01", "2024-02-01")
	s.sub("y", "monthly", 5000, "2024-01-01", "2024-02-01")
	wantMovements(t, s.run(t),
		"2024-01-01 x new 10000 0->10000",
		"2024-01-01 y new 15000 0->15000",
		"2024-01-15 x expansion 10000 10000->20000",
	)
}

// §3.2: the rules' example: Bronze $100, upgraded on the 16th of a 30-day
// month with a $125 prorated charge and a $50 prorated credit: $250.
func TestAdjustmentLines(t *testing.T) {
	s := newScenario("2024-04-20")
	s.sub("b", "monthly", 10000, "2024-04-01", "2024-05-01")
	s.sub("b", "monthly", 12500, "2024-04-16", "2024-05-01", "prorated")
	s.sub("b", "monthly", -5000, "2024-04-16", "2024-05-01", "prorated")
	wantMovements(t, s.run(t),
		"2024-04-01 b new 10000 0->10000",
		"2024-04-16 b expansion 15000 10000->25000",
	)
}

// §3.3: a gap longer than the grace is a lapse at the paid end and a
// restart; a shorter one is bridged.
func TestGaps(t *testing.T) {
	s := newScenario("2024-05-15")
	s.sub("long", "monthly", 10000, "2024-01-01", "2024-02-01")
	s.sub("long", "monthly", 10000, "2024-04-01", "2024-05-01")
	s.sub("short", "monthly", 10000, "2024-01-01", "2024-02-01")
	s.sub("short", "monthly", 10000, "2024-02-20", "2024-03-20")
	s.sub("short", "monthly", 10000, "2024-03-20", "2024-04-20")
	wantMovements(t, s.run(t),
		"2024-01-01 long new 10000 0->10000",
		"2024-01-01 short new 10000 0->10000",
		"2024-02-01 long churn 10000 10000->0",
		"2024-04-01 long reactivation 10000 0->10000",
	)
}

// §3.4: the last paid period runs on while as_of is inside the grace, and
// lapses at its end once the grace is over.
func TestOpenEnd(t *testing.T) {
	for _, c := range []struct {
		asOf string
		want []string
	}{
		{"2024-02-29", []string{"2024-01-01 o new 10000 0->10000"}},
		{"2024-03-01", []string{"2024-01-01 o new 10000 0->10000", "2024-02-01 o churn 10000 10000->0"}},
	} {
		s := newScenario(c.asOf)
		s.sub("o", "monthly", 10000, "2024-01-01", "2024-02-01")
		wantMovements(t, s.run(t), c.want...)
	}
}

// §3.5: cancellations under both policies, after the paid period, and a
// restart after one.
func TestCancellation(t *testing.T) {
	build := func(policy string) *scenario {
		s := newScenario("2024-06-15")
		s.opt.Policies.Cancellation = policy
		s.sub("c", "monthly", 10000, "2024-01-01", "2024-02-01")
		s.sub("c", "monthly", 10000, "2024-02-01", "2024-03-01")
		s.line("c", schemas.KindCancellation, "", 0, "2024-02-10", "")
		s.sub("c", "monthly", 12000, "2024-05-01", "2024-06-01")
		s.sub("late", "monthly", 10000, "2024-01-01", "2024-02-01")
		s.sub("late", "monthly", 10000, "2024-02-01", "2024-03-01")
		s.line("late", schemas.KindCancellation, "", 0, "2024-03-05", "")
		return s
	}
	wantMovements(t, build(configs.CancelPeriodEnd).run(t),
		"2024-01-01 c new 10000 0->10000",
		"2024-01-01 late new 10000 0->10000",
		"2024-03-01 c churn 10000 10000->0",
		"2024-03-05 late churn 10000 10000->0",
		"2024-05-01 c reactivation 12000 0->12000",
	)
	wantMovements(t, build(configs.CancelImmediate).run(t),
		"2024-01-01 c new 10000 0->10000",
		"2024-01-01 late new 10000 0->10000",
		"2024-02-10 c churn 10000 10000->0",
		"2024-03-05 late churn 10000 10000->0",
		"2024-05-01 c reactivation 12000 0->12000",
	)
}

// §3.5: a cancellation naming one subscription ends only that one.
func TestCancellationOfOneSubscription(t *testing.T) {
	s := newScenario("2024-01-31")
	s.opt.Policies.Cancellation = configs.CancelImmediate
	s.sub("m", "monthly", 10000, "2024-01-01", "2024-02-01", "sub=a")
	s.sub("m", "monthly", 5000, "2024-01-01", "2024-02-01", "sub=b")
	s.line("m", schemas.KindCancellation, "", 0, "2024-01-10", "", "sub=b")
	wantMovements(t, s.run(t),
		"2024-01-01 m new 15000 0->15000",
		"2024-01-10 m contraction 5000 15000->10000",
	)
}

// §3.6: a refund reduces the MRR of the subscription with the largest base
// in force, by its plan's month factor, to the end of the paid period;
// under cash_only it moves nothing.
func TestRefunds(t *testing.T) {
	build := func(policy string) *scenario {
		s := newScenario("2024-01-20")
		s.opt.Policies.Refunds = policy
		s.sub("r", "monthly", 10000, "2024-01-01", "2024-02-01", "sub=small")
		s.sub("r", "annual", 360000, "2024-01-01", "2025-01-01", "sub=large")
		s.line("r", schemas.KindRefund, "", 12000, "2024-01-10", "")
		return s
	}
	o := build(configs.RefundReduceMRR).run(t)
	wantMovements(t, o,
		"2024-01-01 r new 40000 0->40000",
		"2024-01-10 r contraction 1000 40000->39000", // 12000 / 12 on the annual plan
	)
	if got := o.month(t, "2024-01")["refunded"]; got != "12000" {
		t.Errorf("refunded = %s, want 12000", got)
	}
	wantMovements(t, build(configs.RefundCashOnly).run(t), "2024-01-01 r new 40000 0->40000")
}

// §3.7: with require_payment, unpaid lines do not count.
func TestRequirePayment(t *testing.T) {
	s := newScenario("2024-02-20")
	s.opt.Policies.RequirePayment = true
	s.sub("p", "monthly", 10000, "2024-01-01", "2024-02-01", "paid=2024-01-02")
	s.sub("p", "monthly", 20000, "2024-02-01", "2024-03-01")
	o := s.run(t)
	wantMovements(t, o, "2024-01-01 p new 10000 0->10000")
	if got := o.month(t, "2024-02")["subscription_billed"]; got != "0" {
		t.Errorf("an unpaid line was billed: %s", got)
	}
}

// §4: customer MRR is floored at 0, with a warning.
func TestNegativeMRRFloored(t *testing.T) {
	s := newScenario("2024-01-20")
	s.sub("n", "monthly", 10000, "2024-01-01", "2024-02-01")
	s.sub("n", "monthly", -20000, "2024-01-10", "2024-02-01")
	o := s.run(t)
	wantMovements(t, o,
		"2024-01-01 n new 10000 0->10000",
		"2024-01-10 n churn 10000 10000->0",
	)
	if !slices.Contains(o.quality, "n negative_mrr") {
		t.Errorf("no negative_mrr warning: %v", o.quality)
	}
}

// §4: all changes inside one day net into one movement.
func TestSameDayChangesNet(t *testing.T) {
	s := newScenario("2024-02-20")
	s.opt.Policies.Cancellation = configs.CancelImmediate
	s.sub("d", "monthly", 10000, "2024-01-01", "2024-02-01", "sub=old")
	s.line("d", schemas.KindCancellation, "", 0, "2024-01-15T09:00:00Z", "", "sub=old")
	s.sub("d", "monthly", 15000, "2024-01-15T17:00:00Z", "2024-02-15T17:00:00Z", "sub=new")
	wantMovements(t, s.run(t),
		"2024-01-01 d new 10000 0->10000",
		"2024-01-15 d expansion 5000 10000->15000",
	)
}

// §4: reactivation_window_days makes a long-lapsed return new again.
func TestReactivationWindow(t *testing.T) {
	build := func(window int) *output {
		s := newScenario("2024-06-15")
		s.opt.Policies.ReactivationWindowDays = window
		s.sub("w", "monthly", 10000, "2024-01-01", "2024-02-01")
		s.line("w", schemas.KindCancellation, "", 0, "2024-01-20", "")
		s.sub("w", "monthly", 10000, "2024-06-01", "2024-07-01")
		return s.run(t)
	}
	if got := build(0).movements[2]; !strings.Contains(got, "reactivation") {
		t.Errorf("unlimited window: %s, want reactivation", got)
	}
	o := build(60)
	if got := o.movements[2]; !strings.Contains(got, " new ") {
		t.Errorf("60-day window, 121 days away: %s, want new", got)
	}
	if got := o.month(t, "2024-06")["new_customers"]; got != "1" {
		t.Errorf("new_customers in June = %s, want 1", got)
	}
}

// §4: days are calendar days of the configured time zone.
func TestTimeZoneDays(t *testing.T) {
	s := newScenario("2024-03-10")
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	s.opt.Location = ny
	s.sub("z", "monthly", 10000, "2024-03-01T02:00:00Z", "2024-04-01T02:00:00Z")
	o := s.run(t)
	wantMovements(t, o, "2024-02-29 z new 10000 0->10000")
	if len(o.monthly) != 2 || o.monthly[0]["month"] != "2024-02-01" {
		t.Errorf("months = %v, want February and March", o.monthly)
	}
}

// §5: the monthly figures, their rates, and NULL for a zero denominator.
func TestMonthlyFigures(t *testing.T) {
	s := newScenario("2024-02-15")
	s.sub("a", "monthly", 10000, "2024-01-01", "2024-02-01")
	s.sub("a", "monthly", 10000, "2024-02-01", "2024-03-01")
	s.sub("b", "monthly", 10000, "2024-01-01", "2024-02-01")
	s.line("b", schemas.KindCancellation, "", 0, "2024-01-31", "")
	s.sub("c", "monthly", 10000, "2024-01-01", "2024-02-01")
	s.sub("c", "monthly", 15000, "2024-02-01", "2024-03-01")
	s.sub("d", "monthly", 5000, "2024-02-10", "2024-03-10")
	o := s.run(t)
	jan, feb := o.month(t, "2024-01"), o.month(t, "2024-02")
	want := func(row map[string]string, col, v string) {
		t.Helper()
		if row[col] != v {
			t.Errorf("%s %s = %q, want %q", row["month"], col, row[col], v)
		}
	}
	want(jan, "mrr_end", "30000")
	want(jan, "arpa", "10000")
	want(jan, "gross_mrr_churn_rate", "") // mrr_start 0
	want(jan, "customer_churn_rate", "")
	want(jan, "quick_ratio", "") // no churn, no contraction
	want(jan, "is_partial", "false")
	want(feb, "mrr_start", "30000")
	want(feb, "churn", "10000")
	want(feb, "expansion", "5000")
	want(feb, "new", "5000")
	want(feb, "mrr_end", "30000")
	want(feb, "arr", "360000")
	want(feb, "customers_end", "3")
	want(feb, "arpa", "10000")
	want(feb, "customer_churn_rate", "0.3333333333333333")
	want(feb, "gross_mrr_churn_rate", "0.3333333333333333")
	want(feb, "net_mrr_churn_rate", "0.16666666666666666")
	want(feb, "quick_ratio", "1")
	want(feb, "ltv", "30000") // arpa / (1/3)
	want(feb, "is_partial", "true")
}

// §6: cohorts by the month of the first new movement.
func TestCohorts(t *testing.T) {
	s := newScenario("2024-03-15")
	s.sub("a", "monthly", 10000, "2024-01-05", "2024-02-05")
	s.sub("a", "monthly", 20000, "2024-02-05", "2024-03-05")
	s.sub("a", "monthly", 20000, "2024-03-05", "2024-04-05")
	s.sub("b", "monthly", 10000, "2024-01-10", "2024-02-10")
	s.line("b", schemas.KindCancellation, "", 0, "2024-02-01", "")
	s.sub("c", "monthly", 7000, "2024-03-01", "2024-04-01")
	o := s.run(t)
	var got []string
	for _, r := range o.cohorts {
		got = append(got, strings.Join([]string{r["cohort_month"], r["months_since"], r["cohort_customers"], r["cohort_mrr"],
			r["active_customers"], r["mrr"], r["customer_retention"], r["revenue_retention"]}, " "))
	}
	want := []string{
		"2024-01-01 0 2 20000 2 20000 1 1",
		"2024-01-01 1 2 20000 1 20000 0.5 1",
		"2024-01-01 2 2 20000 1 20000 0.5 1",
		"2024-03-01 0 1 7000 1 7000 1 1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("cohorts:\n got %q\nwant %q", got, want)
	}
	if c := o.customer(t, "b"); c["status"] != "churned" || c["cohort_month"] != "2024-01-01" {
		t.Errorf("snapshot of b = %v", c)
	}
}

// §4 and DESIGN.md: a movement names the lines that caused it and the plan
// holding most MRR after it (before it, for churn).
func TestMovementCausesAndPlan(t *testing.T) {
	s := newScenario("2024-04-20")
	s.sub("p", "monthly", 10000, "2024-01-01", "2024-02-01", "sub=a")
	s.sub("p", "annual", 240000, "2024-01-01", "2025-01-01", "sub=b")
	s.line("p", schemas.KindCancellation, "", 0, "2024-03-10", "")
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s.opt.Policies.Cancellation = configs.CancelImmediate
	res := s.compute(t, mem, 0)
	defer res.Release()
	var got []string
	eachRow(res.Movements, func(r map[string]string) {
		got = append(got, r["date"]+" "+r["movement"]+" "+r["plan_id"]+" "+r["invoice_ids"])
	})
	want := []string{
		`2024-01-01 new annual ["inv_001","inv_002"]`,
		`2024-02-01 contraction annual ["inv_001"]`, // sub a lapses (as_of is past its grace)
		`2024-03-10 churn annual ["inv_003"]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// The plan of a movement is the one holding most MRR; between plans that
// hold as much, the smaller plan id, whatever order the plans came in.
func TestTopPlanTieIsTheSmallerID(t *testing.T) {
	for _, order := range [][]string{{"zeta", "alpha"}, {"alpha", "zeta"}} {
		s := newScenario("2024-03-01")
		s.plans = nil
		for _, id := range order {
			s.plan(id, "month", 1)
		}
		s.sub("c", "zeta", 5000, "2024-01-01", "2024-04-01", "sub=s1")
		s.sub("c", "alpha", 5000, "2024-01-01", "2024-04-01", "sub=s2")
		o := s.run(t)
		if len(o.rows) != 1 || o.rows[0]["plan_id"] != "alpha" {
			t.Errorf("plans in the order %v: movements %v; want one, of plan alpha", order, o.rows)
		}
	}
}

// A free trial line ending as the paid line starts: the movement names the
// paid plan, whatever the order the lines come in (the trial's end changes
// no MRR, so it must not set the subscription's plan).
func TestFreeLineEndingNamesNoPlan(t *testing.T) {
	for _, reversed := range []bool{false, true} {
		s := newScenario("2024-03-01")
		s.plans = nil
		s.plan("free", "month", 1)
		s.plan("paid", "month", 1)
		// The trial's invoice sorts after the paid one's.
		free := s.sub("c", "free", 0, "2024-01-01", "2024-01-15")
		free.InvoiceID, free.LineID = "inv_999", "inv_999"
		s.sub("c", "paid", 5000, "2024-01-15", "2024-04-15")
		if reversed {
			slices.Reverse(s.lines)
		}
		o := s.run(t)
		if len(o.rows) != 1 || o.rows[0]["plan_id"] != "paid" {
			t.Errorf("lines reversed %v: movements %v; want one, of plan paid", reversed, o.rows)
		}
	}
}

// Two lines of one subscription starting at one instant apply in the order
// of their names, not of their places in the input.
func TestSameInstantLinesApplyByName(t *testing.T) {
	var plans []string
	for _, reversed := range []bool{false, true} {
		s := newScenario("2024-03-01")
		s.plans = nil
		s.plan("alpha", "month", 1)
		s.plan("beta", "month", 1)
		s.sub("c", "beta", 3000, "2024-01-01", "2024-04-01", "sub=s1")
		s.sub("c", "alpha", 2000, "2024-01-01", "2024-04-01", "sub=s1")
		if reversed {
			slices.Reverse(s.lines)
		}
		o := s.run(t)
		if len(o.rows) != 1 {
			t.Fatalf("movements %v; want one", o.rows)
		}
		plans = append(plans, o.rows[0]["plan_id"])
	}
	if plans[0] != plans[1] {
		t.Errorf("the movement's plan follows the input order: %v", plans)
	}
}
