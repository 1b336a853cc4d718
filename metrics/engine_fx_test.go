package metrics

import (
	"strconv"
	"testing"
	"time"
)

func rate(day, cur, r string) Rate { return Rate{Day: dayOf(day), Currency: cur, Rate: r} }

func dayOf(s string) time.Time { return day(s) }

// §4: a customer billed in a currency whose rate moves for months with no
// plan change has no movement after its first; the change shows as
// fx_impact, and the month ends are valued at their own day's rate.
func TestMovingRateMakesFXImpactNotMovements(t *testing.T) {
	s := newScenario("2024-04-15")
	s.opt.ReportingCurrency = "usd"
	s.opt.Rates = []Rate{rate("2024-01-01", "eur", "1.10"), rate("2024-02-01", "eur", "1.20"), rate("2024-03-01", "eur", "1.00"), rate("2024-04-10", "eur", "1.05")}
	for _, m := range []string{"01", "02", "03", "04"} {
		next := map[string]string{"01": "02", "02": "03", "03": "04", "04": "05"}[m]
		s.sub("e", "monthly", 10000, "2024-"+m+"-01", "2024-"+next+"-01", "cur=eur")
	}
	s.sub("u", "monthly", 5000, "2024-01-01", "2024-02-01")
	o := s.run(t)
	wantMovements(t, o,
		"2024-01-01 e new 11000 0->11000",
		"2024-01-01 u new 5000 0->5000",
		"2024-02-01 u churn 5000 5000->0",
	)
	for _, r := range o.rows {
		if r["customer_id"] == "e" && (r["currency"] != "eur" || r["amount_original"] != "10000") {
			t.Errorf("movement of e: currency %s, amount_original %s; want eur 10000", r["currency"], r["amount_original"])
		}
	}
	for _, c := range []struct{ month, end, fx string }{
		{"2024-01", "16000", "0"}, {"2024-02", "12000", "1000"}, {"2024-03", "10000", "-2000"}, {"2024-04", "10500", "500"},
	} {
		m := o.month(t, c.month)
		if m["mrr_end"] != c.end || m["fx_impact"] != c.fx {
			t.Errorf("%s: mrr_end %s fx_impact %s, want %s %s", c.month, m["mrr_end"], m["fx_impact"], c.end, c.fx)
		}
	}
	if got := o.customer(t, "e")["mrr"]; got != "10500" {
		t.Errorf("snapshot mrr = %s, want 10500 (at the rate of as_of)", got)
	}
	if len(o.periods) != 2 || o.periods[0] != "e 2024-01-01  10000" {
		t.Errorf("periods = %q, want e's one run of 10000 (eur) and u's", o.periods)
	}
}

// §4: movements are classified at the fixed rates of as_of, valued at the
// rate of their day; a customer whose currencies change together gets its
// movement in the reporting currency.
func TestCurrencyClassificationAndValuation(t *testing.T) {
	s := newScenario("2024-03-15")
	s.opt.ReportingCurrency = "usd"
	s.opt.Rates = []Rate{rate("2024-01-01", "eur", "2"), rate("2024-02-01", "eur", "0.5"), rate("2024-03-01", "eur", "1"), rate("2024-01-01", "jpy", "0.007")}
	// Down from 10000 to 9000 eur while the rate drops: a contraction of
	// 1000 eur, valued at February's rate.
	s.sub("d", "monthly", 10000, "2024-01-01", "2024-02-01", "cur=eur")
	s.sub("d", "monthly", 9000, "2024-02-01", "2024-03-01", "cur=eur")
	s.sub("d", "monthly", 9000, "2024-03-01", "2024-04-01", "cur=eur")
	// Two currencies change on one day.
	s.sub("m", "monthly", 1000, "2024-01-01", "2024-04-01", "cur=usd", "sub=a")
	s.sub("m", "quarterly", 30000, "2024-01-01", "2024-04-01", "cur=jpy", "sub=b")
	o := s.run(t)
	wantMovements(t, o,
		"2024-01-01 d new 20000 0->20000",
		"2024-01-01 m new 8000 0->8000", // 1000 cents + 10000 yen/month x 0.007 USD = 7000 cents
		"2024-02-01 d contraction 500 5000->4500",
	)
	for _, r := range o.rows {
		want := map[string][2]string{"d": {"eur", "10000"}, "m": {"usd", "8000"}}[r["customer_id"]]
		if r["movement"] == "contraction" {
			want = [2]string{"eur", "1000"}
		}
		if r["currency"] != want[0] || r["amount_original"] != want[1] {
			t.Errorf("%s %s: currency %s amount_original %s, want %v", r["customer_id"], r["movement"], r["currency"], r["amount_original"], want)
		}
	}
	for _, m := range o.monthly {
		n := func(c string) int64 { v, _ := strconv.ParseInt(m[c], 10, 64); return v }
		if n("mrr_start")+n("new")+n("expansion")+n("reactivation")-n("contraction")-n("churn")+n("fx_impact") != n("mrr_end") {
			t.Errorf("%s: invariant broken: %v", m["month"], m)
		}
	}
}
