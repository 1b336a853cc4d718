package metrics

import (
	"cmp"
	"slices"

	"github.com/mrrflow/mrrflow/schemas"
)

// event is a change of one subscription's MRR at an instant.
type event struct {
	t     int64
	delta int64 // in cur
	cur   int16
	sub   int32 // subscription code
	plan  int32 // the plan of a base line's start, baseEnd at its end, -1 for other changes
	line  int32 // the line that caused it
}

// segment is one base group's run: the rate it sets from start until end
// (never while it runs on at as_of), and the paid period behind it.
type segment struct {
	sub       int32
	start     int64
	paidEnd   int64
	end       int64
	rate      int64
	plan      int32
	cur       int16
	cancelled bool
}

// scratch holds the buffers of one customer's timeline, reused across
// customers so that the scan does not allocate.
type scratch struct {
	// pol is the policy of the customer being scanned.
	pol *policy
	// byCur sums MRR by currency code, to value it (all 0 between uses).
	byCur     []int64
	events    []event
	segs      []segment
	cwCancel  []int32 // the customer's cancellations that name no subscription
	cwRefund  []int32 // likewise refunds
	cancels   []int32 // cancellations that apply to the current subscription
	refunds   []int32
	adjusts   []int32
	bases     []int32
	adjustSub []int32
	causes    []int32
	nets      []curNet
	runs      []curRun

	// The rows and month accumulators of the customers this scratch scans.
	periods   []periodRow
	active    []periodRow
	movements []movementRow
	quality   []qualityRow
	snapshot  []snapshotRow
	months    *months
}

// timeline turns one customer's lines and subscription events (in sort
// order) into MRR events, by docs/RULES.md §3 and §7.
func (e *engine) timeline(s *scratch, lines, events []int32) {
	l := &e.lines
	s.events, s.segs = s.events[:0], s.segs[:0]
	s.cwCancel, s.cwRefund, s.refunds, s.adjusts, s.adjustSub = s.cwCancel[:0], s.cwRefund[:0], s.refunds[:0], s.adjusts[:0], s.adjustSub[:0]

	i := 0
	for ; i < len(lines) && l.sub[lines[i]] < 0; i++ {
		if l.cashOnly[lines[i]] {
			continue
		}
		if l.kind[lines[i]] == kindCancellation {
			s.cwCancel = append(s.cwCancel, lines[i])
		} else {
			s.cwRefund = append(s.cwRefund, lines[i])
		}
	}
	slices.SortFunc(s.cwCancel, func(a, b int32) int { return cmp.Compare(l.ps[a], l.ps[b]) })
	for i < len(lines) {
		sub := l.sub[lines[i]]
		j := i
		for j < len(lines) && l.sub[lines[j]] == sub {
			j++
		}
		e.subscription(s, sub, lines[i:j])
		i = j
	}
	if s.pol.refundsReduce {
		for _, r := range s.refunds {
			e.refund(s, r, l.sub[r])
		}
		for _, r := range s.cwRefund {
			e.refund(s, r, -1)
		}
	}
	for k, a := range s.adjusts {
		e.adjustment(s, a, s.adjustSub[k])
	}
	e.subscriptionEvents(s, events)
}

// subscriptionEvents applies docs/RULES.md §3: a start or update sets the
// subscription's rate from its time on, a cancel ends it.
func (e *engine) subscriptionEvents(s *scratch, events []int32) {
	ev := &e.events
	for i := 0; i < len(events); {
		sub := ev.sub[events[i]]
		var rate int64
		plan := int32(-1)
		if x := events[i]; ev.typ[x] == eventCancel {
			// Nothing to end: the sender's data lacks the start.
			s.quality = push(s.quality, qualityRow{cust: ev.cust[x], record: ev.id[x], day: e.cal.day(ev.t[x]), hasDay: true,
				check: "cancel_without_start", detail: "a cancel event for a subscription that never started: it changes no MRR"})
		}
		for ; i < len(events) && ev.sub[events[i]] == sub; i++ {
			x := events[i]
			cause := -x - 1
			next := int64(0)
			if ev.typ[x] == eventStart {
				next = ev.mrr[x]
				plan = ev.plan[x]
			}
			if next != rate {
				e.emit(s, ev.t[x], next-rate, sub, plan, cause, ev.cur[x])
			} else if plan >= 0 {
				e.emit(s, ev.t[x], 0, sub, plan, cause, ev.cur[x])
			}
			rate = next
		}
	}
}

// subscription walks one subscription's lines: base groups, gaps, grace,
// cancellations and the open end.
func (e *engine) subscription(s *scratch, sub int32, lines []int32) {
	l := &e.lines
	s.bases, s.cancels = s.bases[:0], s.cancels[:0]
	for _, i := range lines {
		if l.cashOnly[i] {
			continue
		}
		switch l.kind[i] {
		case kindSubscription:
			if l.prorated[i] || l.amount[i] < 0 {
				s.adjusts = append(s.adjusts, i)
				s.adjustSub = append(s.adjustSub, sub)
			} else {
				s.bases = append(s.bases, i)
				e.checkPeriod(s, i)
			}
		case kindCancellation:
			s.cancels = append(s.cancels, i)
		case kindRefund:
			s.refunds = append(s.refunds, i)
		}
	}
	if len(s.cwCancel) > 0 {
		s.cancels = append(s.cancels, s.cwCancel...)
		slices.SortFunc(s.cancels, func(a, b int32) int { return cmp.Compare(l.ps[a], l.ps[b]) })
	}
	immediate, grace := s.pol.immediate, s.pol.grace
	ci := 0
	for g := 0; g < len(s.bases); {
		start := l.ps[s.bases[g]]
		h := g
		paidEnd, rate, plan, best := start, int64(0), int32(-1), int64(-1)
		for ; h < len(s.bases) && l.ps[s.bases[h]] == start; h++ {
			b := s.bases[h]
			paidEnd = max(paidEnd, l.pe[b])
			m := e.lineMRR(b)
			rate += m
			if m > best {
				best, plan = m, l.plan[b]
			}
		}
		next := never
		if h < len(s.bases) {
			next = l.ps[s.bases[h]]
		}
		for ci < len(s.cancels) && l.ps[s.cancels[ci]] < start {
			ci++
		}
		end, cause, cancelled := never, int32(-1), false
		if ci < len(s.cancels) && l.ps[s.cancels[ci]] < next {
			c := s.cancels[ci]
			at := l.ps[c]
			cause, cancelled = c, true
			switch {
			case at < paidEnd && immediate:
				end = at
			case at < paidEnd:
				end = paidEnd
			case at < paidEnd+grace:
				end = at
			default: // it had lapsed before the cancellation came
				end, cause, cancelled = paidEnd, -1, false
			}
			end = min(end, next)
		} else if next == never {
			if e.asOf >= paidEnd+grace {
				end = paidEnd
			}
		} else if next <= paidEnd+grace {
			end = next
		} else {
			end = paidEnd
		}
		for k := g; k < h; k++ {
			b := s.bases[k]
			m := e.lineMRR(b)
			e.emit(s, start, m, sub, l.plan[b], b, l.cur[b])
			if end != never {
				why := b
				if cause >= 0 {
					why = cause
				}
				// An end names no plan: a line of no MRR ending as
				// another starts must not take the subscription's plan.
				e.emit(s, end, -m, sub, baseEnd, why, l.cur[b])
			}
		}
		s.segs = append(s.segs, segment{sub: sub, start: start, paidEnd: paidEnd, end: end, rate: rate, plan: plan,
			cur: l.cur[s.bases[g]], cancelled: cancelled})
		g = h
	}
}

// adjustment adds a prorated or negative line's MRR over its own period,
// cut short where a cancellation ended its subscription.
func (e *engine) adjustment(s *scratch, i, sub int32) {
	l := &e.lines
	from, to := l.ps[i], l.pe[i]
	for k := range s.segs {
		g := &s.segs[k]
		if g.sub == sub && g.cancelled && g.start <= from && from < g.end && g.end < to {
			to = g.end
		}
	}
	if to <= from {
		return
	}
	m := e.lineMRR(i)
	e.emit(s, from, m, sub, -1, i, l.cur[i])
	e.emit(s, to, -m, sub, -1, i, l.cur[i])
}

// refund reduces MRR for the rest of the paid period in force (policy
// reduce_mrr). sub < 0: the subscription whose base in force has the
// largest MRR (ties: the smallest subscription code).
func (e *engine) refund(s *scratch, i, sub int32) {
	l := &e.lines
	r := l.idate[i]
	var seg *segment
	for k := range s.segs {
		g := &s.segs[k]
		if g.start > r || r >= g.end || (sub >= 0 && g.sub != sub) {
			continue
		}
		if seg == nil || g.rate > seg.rate || (g.rate == seg.rate && g.sub < seg.sub) {
			seg = g
		}
	}
	if seg == nil || seg.plan < 0 {
		return
	}
	from := max(r, l.ps[i])
	to := seg.paidEnd
	if l.pe[i] > from {
		to = l.pe[i]
	}
	to = min(to, seg.end)
	if to <= from {
		return
	}
	if l.cur[i] != seg.cur {
		s.quality = push(s.quality, qualityRow{cust: l.cust[i], record: e.lineName(i), day: e.cal.day(r), hasDay: true,
			check: "refund_currency", detail: "the refund is in another currency than the subscription it hits; it counts in cash flow only"})
		return
	}
	m, _ := mulDivRound(l.amount[i], e.plans.mfNum[seg.plan], e.plans.mfDen[seg.plan])
	e.emit(s, from, -m, seg.sub, -1, i, seg.cur)
	e.emit(s, to, m, seg.sub, -1, i, seg.cur)
}

// baseEnd is the plan of the event that ends a base line: it names no plan,
// and is kept when it changes nothing (its line explains the day).
const baseEnd int32 = -2

func (e *engine) emit(s *scratch, t, delta int64, sub, plan, line int32, cur int16) {
	if t >= e.asOf || (delta == 0 && plan == -1) {
		return
	}
	s.events = append(s.events, event{t: t, delta: delta, cur: cur, sub: sub, plan: plan, line: line})
}

// lineMRR is a subscription line's MRR (docs/RULES.md §2), in its currency.
func (e *engine) lineMRR(i int32) int64 {
	l := &e.lines
	p := l.plan[i]
	num, den := e.plans.mfNum[p], e.plans.mfDen[p]
	if l.prorated[i] {
		full := (l.pe[i] - e.shift(p, l.pe[i], -1)) / usPerSecond
		length := (l.pe[i] - l.ps[i]) / usPerSecond
		if length > 0 && full > 0 {
			num *= uint64(full)
			den *= uint64(length)
		}
	}
	v, ok := mulDivRound(l.amount[i]-l.tax[i], num, den)
	if !ok {
		return 0 // amounts are bounded by transform; this cannot happen
	}
	return v
}

// shift moves an instant by n intervals of plan p, as
// schemas.AddInterval does in UTC.
func (e *engine) shift(p int32, t int64, n int) int64 {
	k := int(e.plans.count[p]) * n
	switch e.plans.unit[p] {
	case schemas.UnitDay:
		return shiftMicros(t, 0, k)
	case schemas.UnitWeek:
		return shiftMicros(t, 0, 7*k)
	case schemas.UnitYear:
		return shiftMicros(t, 12*k, 0)
	}
	return shiftMicros(t, k, 0)
}

// checkPeriod flags a base line whose service period differs from its
// plan's interval by more than three days.
func (e *engine) checkPeriod(s *scratch, i int32) {
	l := &e.lines
	want := e.shift(l.plan[i], l.ps[i], 1)
	diff := l.pe[i] - want
	if diff < 0 {
		diff = -diff
	}
	if diff > 3*usPerDay {
		s.quality = push(s.quality, qualityRow{
			cust: l.cust[i], record: l.names.inv(i) + "/" + l.names.lid(i), day: e.cal.day(l.ps[i]), hasDay: true,
			check: "period_mismatch",
			detail: "service period " + schemas.TimeOf(l.ps[i]).Format("2006-01-02") + " to " + schemas.TimeOf(l.pe[i]).Format("2006-01-02") +
				" differs from one interval of plan " + e.plans.id[l.plan[i]] + " by more than 3 days; MRR follows the plan",
		})
	}
}
