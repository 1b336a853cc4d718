package metrics

import (
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/schemas"
)

// months accumulates the monthly figures and cohorts while customers are
// scanned. Month j is e.first+j; the last month is that of as_of.
type months struct {
	first int32
	n     int
	snap  []int32 // the day each month's snapshot is taken: its last day, or as_of

	ncur int
	// Month-end MRR is the sum of customers' valued numbers (docs/RULES.md
	// §4): those whose MRR is all in the reporting currency go into a
	// difference array over month ends, the others are valued month by
	// month, one number per customer and month.
	mrrDiff                                    []int64
	mrrValued                                  []int64
	custDiff                                   []int64
	newMRR, expansion, contraction, churn, rea []int64
	newCust, reactCust, churnCust, churnActive []int64
	subBilled, oneTime, refunded               []int64

	// distinct-customer tracking: movements of one customer arrive in order
	lastCust  [5]int32
	lastMonth [5]int
	curCust   int32
	curMonth  int
	startMRR  int64

	cohortCustomers, cohortMRR []int64
	cohortActive               [][]int64 // [cohort][month] difference arrays
	cohortDiff                 [][]int64 // [cohort][month] difference arrays of MRR in the reporting currency
	cohortValued               [][]int64 // [cohort][month] valued MRR of the customers in other currencies
	// acc is a customer's MRR by month and currency, [month*ncur+cur]
	// (all 0 between customers).
	acc []int64
}

func newMonths(e *engine) *months {
	if !e.hasLines || e.firstDay > e.asOfDay {
		return noMonths()
	}
	return newMonthsFrom(monthOfDay(e.firstDay), e.asOfDay, max(len(e.fx.points), 1))
}

// noMonths are the accumulators of no month: no data, or none before the
// as-of day.
func noMonths() *months {
	m := &months{curCust: -1}
	for i := range m.lastCust {
		m.lastCust[i] = -1
	}
	return m
}

// newMonthsFrom makes the accumulators of the months from first to that of
// the day asOf, valuing ncur currencies; none when asOf is before first.
func newMonthsFrom(first, asOf int32, ncur int) *months {
	m := noMonths()
	if asOf < firstDayOfMonth(first) {
		return m
	}
	m.first = first
	last := monthOfDay(asOf)
	m.n = int(last-m.first) + 1
	m.snap = make([]int32, m.n)
	for j := range m.snap {
		m.snap[j] = min(lastDayOfMonth(m.first+int32(j)), asOf)
	}
	mk := func() []int64 { return make([]int64, m.n+1) }
	m.ncur = ncur
	m.mrrDiff, m.mrrValued = mk(), mk()
	m.custDiff = mk()
	m.newMRR, m.expansion, m.contraction, m.churn, m.rea = mk(), mk(), mk(), mk(), mk()
	m.newCust, m.reactCust, m.churnCust, m.churnActive = mk(), mk(), mk(), mk()
	m.subBilled, m.oneTime, m.refunded = mk(), mk(), mk()
	m.cohortCustomers, m.cohortMRR = mk(), mk()
	m.cohortActive, m.cohortDiff, m.cohortValued = make([][]int64, m.n), make([][]int64, m.n), make([][]int64, m.n)
	return m
}

func (m *months) index(day int32) int { return int(monthOfDay(day) - m.first) }

// movement adds one movement to its month.
func (m *months) movement(r *movementRow) {
	j := m.index(r.day)
	if j < 0 || j >= m.n {
		return
	}
	if r.cust != m.curCust || j != m.curMonth {
		m.curCust, m.curMonth, m.startMRR = r.cust, j, r.before
	}
	amount := r.after - r.before
	if amount < 0 {
		amount = -amount
	}
	distinct := func(k int, counts []int64) {
		if m.lastCust[k] != r.cust || m.lastMonth[k] != j {
			m.lastCust[k], m.lastMonth[k] = r.cust, j
			counts[j]++
		}
	}
	switch r.kind {
	case MoveNew:
		m.newMRR[j] += amount
		distinct(0, m.newCust)
	case MoveExpansion:
		m.expansion[j] += amount
	case MoveContraction:
		m.contraction[j] += amount
	case MoveChurn:
		m.churn[j] += amount
		distinct(2, m.churnCust)
		if m.startMRR > 0 {
			distinct(3, m.churnActive)
		}
	case MoveReactivation:
		m.rea[j] += amount
		distinct(1, m.reactCust)
	}
}

// cover returns the months whose snapshot day lies in [from, to); to is
// noDay for a run still going on at as_of.
func (m *months) cover(from, to int32) (j0, j1 int) {
	j0 = max(m.index(from), 0)
	if to == noDay {
		return j0, m.n - 1
	}
	j1 = m.index(to - 1)
	if j1 >= m.n {
		return j0, m.n - 1
	}
	if j1 >= 0 && m.snap[j1] > to-1 {
		j1--
	}
	return j0, j1
}

// customer adds a scanned customer's runs to the month ends (its runs of
// MRR > 0 count it; its runs per currency value it) and to its cohort.
func (m *months) customer(e *engine, active, periods []periodRow, cohort int32, firstNew int64) {
	if m.n == 0 {
		return
	}
	cj := -1
	if cohort != noDay {
		cj = int(cohort - m.first)
		m.cohortCustomers[cj]++
		m.cohortMRR[cj] += firstNew
		if m.cohortActive[cj] == nil {
			m.cohortActive[cj] = make([]int64, m.n+1)
		}
	}
	for _, p := range active {
		j0, j1 := m.cover(p.from, p.to)
		if j1 < j0 {
			continue
		}
		m.custDiff[j0]++
		m.custDiff[j1+1]--
		if k0 := max(j0, cj); cj >= 0 && k0 <= j1 {
			m.cohortActive[cj][k0]++
			m.cohortActive[cj][j1+1]--
		}
	}
	if !slices.ContainsFunc(periods, func(p periodRow) bool { return e.fx.foreign(p.cur) }) {
		for _, p := range periods {
			j0, j1 := m.cover(p.from, p.to)
			if j1 < j0 {
				continue
			}
			m.mrrDiff[j0] += p.mrr
			m.mrrDiff[j1+1] -= p.mrr
			if k0 := max(j0, cj); cj >= 0 && k0 <= j1 {
				v := grown(&m.cohortDiff[cj], m.n+1)
				v[k0] += p.mrr
				v[j1+1] -= p.mrr
			}
		}
		return
	}
	// In other currencies: the customer's MRR by currency at each month's
	// end, valued there as one number.
	if m.acc == nil {
		m.acc = make([]int64, m.n*m.ncur)
	}
	lo, hi := m.n, -1
	for _, p := range periods {
		j0, j1 := m.cover(p.from, p.to)
		for j := j0; j <= j1; j++ {
			m.acc[j*m.ncur+int(p.cur)] += p.mrr
		}
		if j0 <= j1 {
			lo, hi = min(lo, j0), max(hi, j1)
		}
	}
	for j := lo; j <= hi; j++ {
		row := m.acc[j*m.ncur : (j+1)*m.ncur]
		v := e.fx.valueOf(row, m.snap[j])
		clear(row)
		m.mrrValued[j] += v
		if cj >= 0 && j >= cj {
			grown(&m.cohortValued[cj], m.n)[j] += v
		}
	}
}

// grown is *s, made n long when it is nil.
func grown(s *[]int64, n int) []int64 {
	if *s == nil {
		*s = make([]int64, n)
	}
	return *s
}

// add sums the accumulators of other customers into m, whose months run
// from the same first month or an earlier one, to the same last month
// (that of as_of).
func (m *months) add(o *months) { m.addScaled(o, 1) }

// addScaled adds k times the accumulators of o (k = -1 takes them away).
func (m *months) addScaled(o *months, k int64) {
	if o.n == 0 {
		return
	}
	off := int(o.first - m.first)
	sum := func(a, b []int64) {
		for i := range b {
			a[off+i] += k * b[i]
		}
	}
	for _, p := range [][2][]int64{{m.mrrDiff, o.mrrDiff}, {m.mrrValued, o.mrrValued}, {m.custDiff, o.custDiff}, {m.newMRR, o.newMRR}, {m.expansion, o.expansion},
		{m.contraction, o.contraction}, {m.churn, o.churn}, {m.rea, o.rea}, {m.newCust, o.newCust},
		{m.reactCust, o.reactCust}, {m.churnCust, o.churnCust}, {m.churnActive, o.churnActive},
		{m.subBilled, o.subBilled}, {m.oneTime, o.oneTime}, {m.refunded, o.refunded},
		{m.cohortCustomers, o.cohortCustomers}, {m.cohortMRR, o.cohortMRR}} {
		sum(p[0], p[1])
	}
	for _, p := range [][2][][]int64{{m.cohortActive, o.cohortActive}, {m.cohortDiff, o.cohortDiff}, {m.cohortValued, o.cohortValued}} {
		for i, b := range p[1] {
			if b == nil {
				continue
			}
			if p[0][off+i] == nil {
				p[0][off+i] = make([]int64, len(b)+off)
			}
			sum(p[0][off+i], b)
		}
	}
}

// cashFlow adds a customer's billed lines to their months and its
// lifetime billed, and tells a trialing customer by a free line in force.
func (e *engine) cashFlow(s *scratch, lines []int32) {
	l := &e.lines
	m := s.months
	snap := &s.snapshot[len(s.snapshot)-1]
	for _, i := range lines {
		var into []int64
		sign := int64(1)
		switch l.kind[i] {
		case kindSubscription:
			into = m.subBilled
			if l.amount[i] == 0 && l.ps[i] < e.asOf && e.asOf <= l.pe[i] && snap.status == "lead" {
				snap.status = "trialing"
			}
		case kindOneTime:
			into = m.oneTime
		case kindRefund:
			into, sign = m.refunded, -1
		default:
			continue
		}
		d := e.cal.day(l.idate[i])
		v := e.fx.convert(l.amount[i], l.cur[i], d)
		snap.lifetimeBilled += sign * v
		if j := m.index(d); m.n > 0 && j >= 0 && j < m.n {
			into[j] += v
		}
	}
}

// status is a customer's status at as_of.
func (e *engine) status(c int32, mrr int64, everPaid bool) string {
	switch {
	case mrr > 0:
		return "active"
	case everPaid:
		return "churned"
	case e.cust.trialStarted[c] != schemas.NoTime && e.cust.trialStarted[c] < e.asOf:
		return "trialing"
	}
	return "lead"
}

// monthly builds the mrr_monthly and cohorts batches from the months'
// accumulators, in the reporting currency.
func monthly(mem memory.Allocator, m *months, currency string) (arrow.RecordBatch, arrow.RecordBatch) {
	r := schemas.NewRows(mem, schemas.MRRMonthly)
	defer r.Release()
	var custEnd, prevMRR, prevCust, reporting int64
	for j := 0; j < m.n; j++ {
		reporting += m.mrrDiff[j]
		mrrEnd := reporting + m.mrrValued[j]
		custEnd += m.custDiff[j]
		net := m.newMRR[j] + m.expansion[j] + m.rea[j] - m.contraction[j] - m.churn[j]
		fx := mrrEnd - (prevMRR + net)
		r.Date(firstDayOfMonth(m.first+int32(j)), true)
		r.Int64(prevMRR)
		r.Int64(m.newMRR[j])
		r.Int64(m.expansion[j])
		r.Int64(m.contraction[j])
		r.Int64(m.churn[j])
		r.Int64(m.rea[j])
		r.Int64(fx)
		r.Int64(mrrEnd)
		r.Int64(12 * mrrEnd)
		r.Int64(prevCust)
		r.Int64(custEnd)
		r.Int64(m.newCust[j])
		r.Int64(m.reactCust[j])
		r.Int64(m.churnCust[j])
		arpa, arpaOK := mulDivRound(mrrEnd, 1, uint64(max(custEnd, 1)))
		arpaOK = arpaOK && custEnd > 0
		r.Int64Or(arpa, arpaOK)
		churnRate, crOK := ratio(m.churnActive[j], prevCust)
		r.Float64Or(churnRate, crOK)
		r.Float64Or(ratio(m.churn[j]+m.contraction[j], prevMRR))
		r.Float64Or(ratio(m.churn[j]+m.contraction[j]-m.expansion[j]-m.rea[j], prevMRR))
		r.Float64Or(ratio(m.newMRR[j]+m.expansion[j]+m.rea[j], m.churn[j]+m.contraction[j]))
		// ltv = arpa / (churnActive / customers_start), exactly.
		var ltv int64
		ltvOK := arpaOK && crOK && m.churnActive[j] > 0
		if ltvOK {
			ltv, ltvOK = mulDivRound(arpa, uint64(prevCust), uint64(m.churnActive[j]))
		}
		r.Int64Or(ltv, ltvOK)
		r.Int64(m.subBilled[j])
		r.Int64(m.oneTime[j])
		r.Int64(m.refunded[j])
		r.Bool(j == m.n-1)
		r.String(currency)
		prevMRR, prevCust = mrrEnd, custEnd
	}
	monthly := r.Record()

	c := schemas.NewRows(mem, schemas.Cohorts)
	defer c.Release()
	for cj := 0; cj < m.n; cj++ {
		if m.cohortCustomers[cj] == 0 {
			continue
		}
		var active, reporting int64
		for j := cj; j < m.n; j++ {
			active += m.cohortActive[cj][j]
			if d := m.cohortDiff[cj]; d != nil {
				reporting += d[j]
			}
			value := reporting
			if v := m.cohortValued[cj]; v != nil {
				value += v[j]
			}
			c.Date(firstDayOfMonth(m.first+int32(cj)), true)
			c.Int64(int64(j - cj))
			c.Date(firstDayOfMonth(m.first+int32(j)), true)
			c.Int64(m.cohortCustomers[cj])
			c.Int64(m.cohortMRR[cj])
			c.Int64(active)
			c.Int64(value)
			c.Float64Or(ratio(active, m.cohortCustomers[cj]))
			c.Float64Or(ratio(value, m.cohortMRR[cj]))
		}
	}
	return monthly, c.Record()
}

// ratio is a/b, or not ok when b is 0.
func ratio(a, b int64) (float64, bool) {
	if b == 0 {
		return 0, false
	}
	return float64(a) / float64(b), true
}
