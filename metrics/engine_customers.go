package metrics

import (
	"cmp"
	"context"
	"slices"
)

// Movement kinds.
const (
	MoveNew          = "new"
	MoveExpansion    = "expansion"
	MoveContraction  = "contraction"
	MoveChurn        = "churn"
	MoveReactivation = "reactivation"
)

type periodRow struct {
	cust     int32
	from, to int32 // days; to is exclusive, noDay while current
	mrr      int64
}

const noDay = int32(-1 << 31)

type movementRow struct {
	cust          int32
	day           int32
	kind          string
	before, after int64
	plan          int32
	lines         []int32
}

type qualityRow struct {
	cust   int32
	record string
	day    int32
	hasDay bool
	check  string
	detail string
}

type snapshotRow struct {
	cust           int32
	status         string
	mrr            int64
	firstPaid      int32
	cohort         int32 // month index, noDay when none
	lastMove       int32
	lifetimeBilled int64
}

// subState is one subscription's running MRR within a customer's scan.
type subState struct {
	code int32
	mrr  int64
	plan int32
}

// scanCustomers runs every customer's timeline and turns its events into
// daily MRR runs, movements and a snapshot row.
func (e *engine) scanCustomers(ctx context.Context) {
	e.months = newMonths(e)
	ord, eord := e.lines.order, e.events.order
	s := &scratch{}
	var subs []subState
	i, k := 0, 0
	for c := int32(0); int(c) < e.cust.len(); c++ {
		if c&4095 == 0 && ctx.Err() != nil {
			return
		}
		j := i
		for j < len(ord) && e.lines.cust[ord[j]] == c {
			j++
		}
		lines := ord[i:j]
		i = j
		m := k
		for m < len(eord) && e.events.cust[eord[m]] == c {
			m++
		}
		events := eord[k:m]
		k = m
		e.timeline(s, lines, events)
		subs = e.customerDays(c, s, subs[:0])
		e.cashFlow(c, lines)
	}
}

// customerDays folds a customer's events into days: one period per run of
// equal MRR, one movement per day the MRR changed.
func (e *engine) customerDays(c int32, s *scratch, subs []subState) []subState {
	ev := s.events
	firstPeriod := len(e.periods)
	slices.SortFunc(ev, func(a, b event) int {
		return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.line, b.line), cmp.Compare(a.delta, b.delta))
	})
	var (
		prev      int64
		runFrom   = noDay
		firstPaid = noDay
		cohort    = noDay
		lastMove  = noDay
		lastChurn = noDay
		everPaid  bool
		firstNew  int64
	)
	window := int32(e.opt.Policies.ReactivationWindowDays)
	for i := 0; i < len(ev); {
		day := e.cal.day(ev[i].t)
		start := len(e.movements)
		planBefore := int32(-1)
		if prev > 0 {
			planBefore = topPlan(subs)
		}
		causes := s.causes[:0]
		for ; i < len(ev) && e.cal.day(ev[i].t) == day; i++ {
			x := &ev[i]
			k := 0
			for k < len(subs) && subs[k].code != x.sub {
				k++
			}
			if k == len(subs) {
				subs = append(subs, subState{code: x.sub, plan: -1})
			}
			subs[k].mrr += x.delta
			if x.plan >= 0 && x.delta > 0 {
				subs[k].plan = x.plan
			}
			causes = append(causes, x.line)
		}
		s.causes = causes
		var total int64
		for k := range subs {
			total += subs[k].mrr
		}
		if total < 0 {
			e.quality = append(e.quality, qualityRow{cust: c, day: day, hasDay: true, check: "negative_mrr",
				detail: "the subscriptions' MRR sums to a negative amount; reported as 0"})
			total = 0
		}
		if total == prev {
			continue
		}
		// A run of MRR ends, another starts.
		if prev > 0 {
			e.periods = append(e.periods, periodRow{cust: c, from: runFrom, to: day, mrr: prev})
		}
		runFrom = day
		var kind string
		switch {
		case prev == 0 && (!everPaid || (window > 0 && day-lastChurn > window)):
			kind = MoveNew
		case prev == 0:
			kind = MoveReactivation
		case total == 0:
			kind = MoveChurn
			lastChurn = day
		case total > prev:
			kind = MoveExpansion
		default:
			kind = MoveContraction
		}
		plan := topPlan(subs)
		if kind == MoveChurn {
			plan = planBefore
		}
		e.movements = append(e.movements, movementRow{cust: c, day: day, kind: kind, before: prev, after: total, plan: plan, lines: e.distinctLines(causes)})
		e.months.movement(&e.movements[start])
		if kind == MoveNew && cohort == noDay {
			cohort, firstNew = monthOfDay(day), total
		}
		if !everPaid {
			firstPaid, everPaid = day, true
		}
		lastMove = day
		prev = total
	}
	if prev > 0 {
		e.periods = append(e.periods, periodRow{cust: c, from: runFrom, to: noDay, mrr: prev})
	}
	e.months.customer(e, c, e.periods[firstPeriod:], cohort, firstNew)
	e.snapshot = append(e.snapshot, snapshotRow{
		cust: c, status: e.status(c, prev, everPaid), mrr: prev,
		firstPaid: firstPaid, cohort: cohort, lastMove: lastMove,
	})
	return subs
}

// topPlan returns the plan holding most MRR (ties: the smaller plan code).
func topPlan(subs []subState) int32 {
	best, bestMRR := int32(-1), int64(0)
	for i := range subs {
		if subs[i].plan < 0 || subs[i].mrr <= 0 {
			continue
		}
		var m int64
		for j := range subs {
			if subs[j].plan == subs[i].plan && subs[j].mrr > 0 {
				m += subs[j].mrr
			}
		}
		if m > bestMRR || (m == bestMRR && subs[i].plan < best) {
			best, bestMRR = subs[i].plan, m
		}
	}
	return best
}

// distinctLines returns the lines of a day's changes, each once, in order.
func (e *engine) distinctLines(causes []int32) []int32 {
	out := make([]int32, 0, len(causes))
	for _, c := range causes {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b int32) int { return cmp.Compare(e.lineName(a), e.lineName(b)) })
	return out
}
