package gen

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mrrflow/mrrflow/schemas"
)

// normalizedPlans are the plans of the normalized generator.
var normalizedPlans = []schemas.Plan{
	{Source: "gen", PlanID: "m", Name: "Monthly", IntervalUnit: "month", IntervalCount: 1, Currency: "usd"},
	{Source: "gen", PlanID: "q", Name: "Quarterly", IntervalUnit: "month", IntervalCount: 3, Currency: "usd"},
	{Source: "gen", PlanID: "y", Name: "Annual", IntervalUnit: "year", IntervalCount: 1, Currency: "usd"},
	{Source: "gen", PlanID: "w", Name: "Weekly", IntervalUnit: "week", IntervalCount: 1, Currency: "usd"},
	{Source: "gen", PlanID: "me", Name: "Monthly EUR", IntervalUnit: "month", IntervalCount: 1, Currency: "eur"},
}

// normalizedStart is the first day of the normalized generator's history.
var normalizedStart = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// normalizedGen makes customers straight into normalized records (no text
// export), one at a time: customers on monthly, quarterly, annual and
// weekly plans in two currencies, with renewals, upgrades, prorations,
// credits, cancellations, lapses, refunds and one-time lines.
type normalizedGen struct {
	rng  *rand.Rand
	end  time.Time
	next int
}

func newNormalizedGen(seed uint64, months int) *normalizedGen {
	return &normalizedGen{rng: rand.New(rand.NewPCG(seed, seed^0x51)), end: normalizedStart.AddDate(0, months, 0)}
}

// customer appends the next customer's lines to out.
func (g *normalizedGen) customer(out []schemas.InvoiceLine) (schemas.Customer, []schemas.InvoiceLine) {
	rng := g.rng
	id := fmt.Sprintf("c%08d", g.next)
	g.next++
	c := schemas.Customer{Source: "gen", CustomerID: id, Name: id, Attributes: "{}", CreatedAt: schemas.NoTime, TrialStartedAt: schemas.NoTime}
	p := normalizedPlans[pick(rng)]
	span := max(g.end.Sub(normalizedStart)*4/5, time.Hour)
	t := normalizedStart.Add(time.Duration(rng.Int64N(int64(span/time.Hour))) * time.Hour)
	amount := int64(1000 * (5 + rng.IntN(100)))
	for k := 0; t.Before(g.end); k++ {
		next, err := schemas.AddInterval(t, p.IntervalUnit, p.IntervalCount, 1)
		if err != nil {
			panic("gen: normalizedPlans has a plan of an unknown unit: " + err.Error()) // a constant of this file
		}
		inv := fmt.Sprintf("%s-%d", id, k)
		line := schemas.InvoiceLine{Source: "gen", InvoiceID: inv, LineID: inv, CustomerID: id, PlanID: p.PlanID,
			Kind: schemas.KindSubscription, InvoiceDate: t.UnixMicro(), PeriodStart: t.UnixMicro(), PeriodEnd: next.UnixMicro(),
			Amount: amount, Quantity: 1, Currency: p.Currency, PaidAt: t.UnixMicro()}
		out = append(out, line)
		switch r := rng.IntN(100); {
		case r < 3: // prorated upgrade halfway, with its credit
			mid := t.Add(next.Sub(t) / 2).UnixMicro()
			up, cr := line, line
			up.LineID, up.Amount, up.Prorated, up.PeriodStart = inv+"-up", amount, true, mid
			cr.LineID, cr.Amount, cr.Prorated, cr.PeriodStart = inv+"-cr", -amount/2, true, mid
			out = append(out, up, cr)
			amount *= 2
		case r < 5: // cancels
			cl := line
			cl.LineID, cl.Kind, cl.PlanID, cl.Amount, cl.PeriodStart, cl.PeriodEnd = inv+"-x", schemas.KindCancellation, "", 0, next.UnixMicro()-1, next.UnixMicro()-1
			out = append(out, cl)
			t = next.AddDate(0, 1+rng.IntN(12), 0)
			continue
		case r < 6: // refund
			rf := line
			rf.LineID, rf.Kind, rf.PlanID, rf.Amount = inv+"-r", schemas.KindRefund, "", amount/3
			rf.InvoiceDate += int64(48 * time.Hour / time.Microsecond)
			rf.PeriodStart, rf.PeriodEnd = rf.InvoiceDate, rf.InvoiceDate
			out = append(out, rf)
		case r < 7: // one-time
			ot := line
			ot.LineID, ot.Kind, ot.PlanID, ot.Amount = inv+"-o", schemas.KindOneTime, "", 20000
			out = append(out, ot)
		case r < 9: // lapses for a while
			t = next.AddDate(0, 2+rng.IntN(6), 0)
			continue
		case r < 12: // seats change
			amount += int64(1000 * (rng.IntN(5) - 2))
			amount = max(amount, 1000)
		}
		t = next
	}
	return c, out
}

// Normalized makes about lines invoice lines over five years straight into
// normalized records, in memory: the input of the engine benchmarks. The
// same seed gives the same records.
func Normalized(lines int, seed uint64) ([]schemas.Customer, []schemas.Plan, []schemas.InvoiceLine) {
	g := newNormalizedGen(seed, 60)
	var cs []schemas.Customer
	out := make([]schemas.InvoiceLine, 0, lines+lines/8)
	for len(out) < lines {
		var c schemas.Customer
		c, out = g.customer(out)
		cs = append(cs, c)
	}
	return cs, append([]schemas.Plan(nil), normalizedPlans...), out
}

func pick(rng *rand.Rand) int {
	switch r := rng.IntN(100); {
	case r < 60:
		return 0
	case r < 70:
		return 1
	case r < 80:
		return 2
	case r < 85:
		return 3
	}
	return 4
}
