package metrics

import (
	"cmp"
	"context"
	"runtime"
	"slices"
	"sync"
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
	cur      int16 // the currency of mrr
	from, to int32 // days; to is exclusive, noDay while current
	mrr      int64
}

const noDay = int32(-1 << 31)

type movementRow struct {
	cust          int32
	day           int32
	kind          string
	before, after int64 // at the day's rates, in the reporting currency
	cur           int16 // the currency whose MRR changed; -1: several, reported in the reporting currency
	original      int64 // the change in cur
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
	cur  int16
	mrr  int64 // in cur
	plan int32
}

// curRun is a customer's MRR in one currency and the day its run began.
type curRun struct {
	cur  int16
	mrr  int64
	from int32
}

// scanCustomers runs every customer's timeline and turns its events into
// daily MRR runs, movements and a snapshot row (see scanPart).
func (e *engine) scanCustomers(ctx context.Context) {
	e.scanPart(ctx, 0, int32(e.cust.len()))
	e.finishScan()
}

// scanPart scans the customers [lo, hi), whose lines are in e.lines. They
// are split into contiguous ranges scanned by Workers goroutines, each
// with its own buffers, rows and month accumulators; the rows are joined
// in range order, and the accumulators, additive over disjoint customers,
// are summed by finishScan: the result is the same whatever the number of
// ranges and parts.
func (e *engine) scanPart(ctx context.Context, lo, hi int32) {
	parts := e.opt.Workers
	if parts <= 0 {
		parts = runtime.GOMAXPROCS(0)
	}
	parts = max(1, min(parts, int(hi-lo)))
	bounds := e.customerRanges(lo, hi, parts)
	for len(e.workers) < len(bounds)-1 {
		e.workers = append(e.workers, &scratch{months: newMonths(e)})
	}
	var wg sync.WaitGroup
	for w := 0; w+1 < len(bounds); w++ {
		wg.Add(1)
		go func(s *scratch, from, to int32) {
			defer wg.Done()
			e.scanRange(ctx, s, from, to)
		}(e.workers[w], bounds[w], bounds[w+1])
	}
	wg.Wait()
	// The destinations are sized once: append would copy them as they grow.
	var periods, movements, quality, snapshot int
	for _, s := range e.workers {
		periods += len(s.periods)
		movements += len(s.movements)
		quality += len(s.quality)
		snapshot += len(s.snapshot)
	}
	e.periods = slices.Grow(e.periods, periods)
	e.movements, e.quality = slices.Grow(e.movements, movements), slices.Grow(e.quality, quality)
	e.snapshot = slices.Grow(e.snapshot, snapshot)
	for _, s := range e.workers {
		e.periods = append(e.periods, s.periods...)
		e.movements = append(e.movements, s.movements...)
		e.quality = append(e.quality, s.quality...)
		e.snapshot = append(e.snapshot, s.snapshot...)
		// Let go, not truncated: their room would hold the rows twice.
		s.periods, s.movements, s.quality, s.snapshot = nil, nil, nil, nil
	}
}

// finishScan sums the workers' month accumulators.
func (e *engine) finishScan() {
	if len(e.workers) == 0 {
		e.months = newMonths(e)
		return
	}
	e.months = e.workers[0].months
	for _, s := range e.workers[1:] {
		e.months.add(s.months)
	}
}

// push appends v to s, doubling its room when it is full. Append grows a
// large slice by a quarter, so a slice of rows built by appends leaves
// about four times its size behind as garbage; doubling leaves its size.
func push[T any](s []T, v T) []T {
	if len(s) == cap(s) {
		s = slices.Grow(s, max(len(s), 64))
	}
	return append(s, v)
}

// customerRanges cuts the customers [lo, hi) into parts with about as
// many lines and events each; it returns parts+1 boundaries.
func (e *engine) customerRanges(lo, hi int32, parts int) []int32 {
	ls, es := e.lines.custStart, e.events.custStart
	return cutRanges(lo, hi, parts, func(c int32) int64 { return int64(ls[c+1]-ls[c]) + int64(es[c+1]-es[c]) })
}

// scanRange scans the customers [from, to).
func (e *engine) scanRange(ctx context.Context, s *scratch, from, to int32) {
	ord, eord := e.lines.order, e.events.order
	var subs []subState
	for c := from; c < to; c++ {
		if c&4095 == 0 && ctx.Err() != nil {
			return
		}
		lines := ord[e.lines.custStart[c]:e.lines.custStart[c+1]]
		events := eord[e.events.custStart[c]:e.events.custStart[c+1]]
		s.pol = e.policyOf(e.cust.source[c])
		e.timeline(s, lines, events)
		subs = e.customerDays(c, s, subs[:0])
		e.cashFlow(s, lines)
	}
}

// customerDays folds a customer's events into days. Each subscription's
// MRR stays in its own currency. A day whose MRR, valued at the fixed
// rates of as_of, changed makes one movement, valued at the day's rates;
// each currency's MRR makes runs of equal value.
func (e *engine) customerDays(c int32, s *scratch, subs []subState) []subState {
	ev := s.events
	// Changes at one instant apply in the order of their causes' names,
	// not of the lines' places in the input, which may come in any order.
	slices.SortFunc(ev, func(a, b event) int {
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		if a.line != b.line {
			if c := e.compareCauses(a.line, b.line); c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.delta, b.delta))
	})
	runs := s.runs[:0]
	// The customer's active runs feed its month accumulators only.
	s.active = s.active[:0]
	firstPeriod := len(s.periods)
	var (
		prev      int64 // at as_of rates, floored at 0
		activeAt  = noDay
		firstPaid = noDay
		cohort    = noDay
		lastMove  = noDay
		lastChurn = noDay
		everPaid  bool
		firstNew  int64
	)
	window := s.pol.window
	for i := 0; i < len(ev); {
		day := e.cal.day(ev[i].t)
		planBefore := int32(-1)
		var before int64
		if prev > 0 {
			planBefore = e.topPlan(subs)
			before = e.value(s, subs, day)
		}
		causes, nets := s.causes[:0], s.nets[:0]
		for ; i < len(ev) && e.cal.day(ev[i].t) == day; i++ {
			x := &ev[i]
			nets = addNet(nets, x.cur, x.delta)
			k := 0
			for k < len(subs) && (subs[k].code != x.sub || subs[k].cur != x.cur) {
				k++
			}
			if k == len(subs) {
				subs = append(subs, subState{code: x.sub, cur: x.cur, plan: -1})
			}
			subs[k].mrr += x.delta
			if x.plan >= 0 && x.delta >= 0 {
				subs[k].plan = x.plan
			}
			causes = append(causes, x.line)
		}
		s.causes, s.nets = causes, nets
		runs = e.currencyRuns(s, c, day, subs, runs)
		total := e.value(s, subs, e.asOfDay)
		if total < 0 {
			s.quality = push(s.quality, qualityRow{cust: c, day: day, hasDay: true, check: "negative_mrr",
				detail: "the subscriptions' MRR sums to a negative amount; reported as 0"})
			total = 0
		}
		if total == prev {
			continue
		}
		// A run of MRR > 0 ends or starts: it counts the customer active.
		if prev > 0 && total == 0 {
			s.active = push(s.active, periodRow{cust: c, from: activeAt, to: day})
		}
		if prev == 0 {
			activeAt = day
		}
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
		var after int64
		if total > 0 {
			after = e.value(s, subs, day)
		}
		plan := e.topPlan(subs)
		if kind == MoveChurn {
			plan = planBefore
		}
		cur, original := changedCurrency(nets)
		s.movements = push(s.movements, movementRow{cust: c, day: day, kind: kind, before: before, after: after,
			cur: cur, original: original, plan: plan, lines: e.distinctLines(causes)})
		s.months.movement(&s.movements[len(s.movements)-1])
		if kind == MoveNew && cohort == noDay {
			cohort, firstNew = monthOfDay(day), after
		}
		if !everPaid {
			firstPaid, everPaid = day, true
		}
		lastMove = day
		prev = total
	}
	if prev > 0 {
		s.active = push(s.active, periodRow{cust: c, from: activeAt, to: noDay})
	}
	for _, r := range runs {
		if r.mrr > 0 {
			s.periods = push(s.periods, periodRow{cust: c, cur: r.cur, from: r.from, to: noDay, mrr: r.mrr})
		}
	}
	s.runs = runs
	s.months.customer(e, s.active, s.periods[firstPeriod:], cohort, firstNew)
	s.snapshot = push(s.snapshot, snapshotRow{
		cust: c, status: e.status(c, prev, everPaid), mrr: prev,
		firstPaid: firstPaid, cohort: cohort, lastMove: lastMove,
	})
	return subs
}

// value is the customer's MRR valued in the reporting currency at the
// rates of a day: its subscriptions' MRR summed by currency, valued as one
// number, rounded once.
func (e *engine) value(s *scratch, subs []subState, day int32) int64 {
	if len(subs) == 1 {
		return e.fx.convert(subs[0].mrr, subs[0].cur, day)
	}
	byCur := s.byCur[:0]
	for k := range subs {
		for int(subs[k].cur) >= len(byCur) {
			byCur = append(byCur, 0)
		}
		byCur[subs[k].cur] += subs[k].mrr
	}
	v := e.fx.valueOf(byCur, day)
	clear(byCur)
	s.byCur = byCur
	return v
}

// currencyRuns closes the runs whose currency's MRR changed on a day and
// starts new ones.
func (e *engine) currencyRuns(s *scratch, c int32, day int32, subs []subState, runs []curRun) []curRun {
	for k := range subs {
		found := false
		for r := range runs {
			if runs[r].cur == subs[k].cur {
				found = true
				break
			}
		}
		if !found {
			runs = append(runs, curRun{cur: subs[k].cur, from: day})
		}
	}
	for r := range runs {
		var m int64
		for k := range subs {
			if subs[k].cur == runs[r].cur {
				m += subs[k].mrr
			}
		}
		m = max(m, 0)
		if m == runs[r].mrr {
			continue
		}
		if runs[r].mrr > 0 {
			s.periods = push(s.periods, periodRow{cust: c, cur: runs[r].cur, from: runs[r].from, to: day, mrr: runs[r].mrr})
		}
		runs[r].mrr, runs[r].from = m, day
	}
	return runs
}

// curNet is the net change of one currency's MRR on a day.
type curNet struct {
	cur int16
	net int64
}

func addNet(nets []curNet, cur int16, delta int64) []curNet {
	for k := range nets {
		if nets[k].cur == cur {
			nets[k].net += delta
			return nets
		}
	}
	return append(nets, curNet{cur: cur, net: delta})
}

// changedCurrency returns the currency whose MRR a day changed and the
// size of the change in it; -1 when several changed.
func changedCurrency(nets []curNet) (int16, int64) {
	cur, size := int16(-1), int64(0)
	for _, n := range nets {
		if n.net == 0 {
			continue
		}
		if cur >= 0 {
			return -1, 0
		}
		cur, size = n.cur, n.net
	}
	if size < 0 {
		size = -size
	}
	return cur, size
}

// topPlan returns the plan holding most MRR (ties: the smaller plan id, so
// that the order plans arrive in never shows).
func (e *engine) topPlan(subs []subState) int32 {
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
		if m > bestMRR || (m == bestMRR && e.plans.id[subs[i].plan] < e.plans.id[best]) {
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
	if len(out) > 1 {
		slices.SortFunc(out, e.compareCauses)
	}
	return out
}

// compareCauses orders causes as their names sort, without building them:
// lines by invoice then line id, events by id.
func (e *engine) compareCauses(a, b int32) int {
	if a >= 0 && b >= 0 {
		return cmp.Or(cmp.Compare(e.lines.names.inv(a), e.lines.names.inv(b)), cmp.Compare(e.causeLineID(a), e.causeLineID(b)))
	}
	return cmp.Compare(e.lineName(a), e.lineName(b))
}

// causeLineID is the part of a line's name after its invoice id.
func (e *engine) causeLineID(l int32) string {
	if lid := e.lines.names.lid(l); lid != e.lines.names.inv(l) {
		return lid
	}
	return ""
}
