package metrics

import (
	"cmp"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/mrrflow/mrrflow/schemas"
)

func (e *engine) periodsRecord() arrow.RecordBatch {
	r := schemas.NewRows(e.mem, schemas.CustomerMRRPeriods)
	defer r.Release()
	r.Reserve(len(e.periods))
	for _, p := range e.periods {
		r.String(e.cust.source[p.cust])
		r.String(e.cust.id[p.cust])
		r.String(e.currencyName(p.cur))
		r.Date(p.from, true)
		r.Date(p.to, p.to != noDay)
		r.Int64(p.mrr)
	}
	return r.Record()
}

// movementsRecord writes the movements by date, then customer. It puts
// e.movements in that order (no other output reads them), so that each
// column reads them in sequence.
func (e *engine) movementsRecord() arrow.RecordBatch {
	e.sortMovements()
	ms := e.movements
	amount := func(m *movementRow) int64 { return max(m.after-m.before, m.before-m.after) }
	return schemas.ColumnsRecord(e.mem, schemas.MRRMovements, len(ms), []func(array.Builder){
		schemas.DateColumn(ms, func(m *movementRow) int32 { return m.day }),
		schemas.StringColumn(ms, func(m *movementRow) string { return e.cust.source[m.cust] }),
		schemas.StringColumn(ms, func(m *movementRow) string { return e.cust.id[m.cust] }),
		schemas.StringColumn(ms, func(m *movementRow) string { return m.kind }),
		schemas.Int64Column(ms, amount),
		schemas.Int64Column(ms, func(m *movementRow) int64 { return m.after - m.before }),
		schemas.Int64Column(ms, func(m *movementRow) int64 { return m.before }),
		schemas.Int64Column(ms, func(m *movementRow) int64 { return m.after }),
		schemas.StringColumn(ms, func(m *movementRow) string {
			if m.cur >= 0 {
				return e.currencyName(m.cur)
			}
			return e.currency
		}),
		schemas.Int64Column(ms, func(m *movementRow) int64 {
			if m.cur >= 0 {
				return m.original
			}
			return amount(m)
		}),
		schemas.StringColumn(ms, func(m *movementRow) string {
			if m.plan >= 0 {
				return e.plans.id[m.plan]
			}
			return ""
		}),
		schemas.StringsColumn(ms, func(m *movementRow, add func(string)) {
			for _, l := range m.lines {
				add(e.lineName(l))
			}
		}),
	})
}

// sortMovements orders the movements by day. They come in customer order
// (codes are ranks of (source, customer_id)); a counting sort by day keeps
// that order within a day, and the permutation is applied in place, one
// cycle at a time.
func (e *engine) sortMovements() {
	ms := e.movements
	if len(ms) == 0 {
		return
	}
	lo, hi := ms[0].day, ms[0].day
	for i := range ms {
		lo, hi = min(lo, ms[i].day), max(hi, ms[i].day)
	}
	pos := make([]int32, int(hi-lo)+2)
	for i := range ms {
		pos[ms[i].day-lo+1]++
	}
	for d := 1; d < len(pos); d++ {
		pos[d] += pos[d-1]
	}
	// from[j] is the movement that goes to j.
	from := make([]int32, len(ms))
	for i := range ms {
		d := ms[i].day - lo
		from[pos[d]] = int32(i)
		pos[d]++
	}
	for j := range from {
		if from[j] < 0 {
			continue
		}
		first, k := ms[j], j
		for {
			next := int(from[k])
			from[k] = -1
			if next == j {
				ms[k] = first
				break
			}
			ms[k] = ms[next]
			k = next
		}
	}
}

func (e *engine) lineName(l int32) string {
	if l < 0 {
		return e.events.id[-l-1] // a subscription event
	}
	inv, lid := e.lines.names.inv(l), e.lines.names.lid(l)
	if lid == inv || lid == "" {
		return inv
	}
	return inv + "/" + lid
}

func (e *engine) snapshotRecord() arrow.RecordBatch {
	r := schemas.NewRows(e.mem, schemas.CustomerSnapshot)
	defer r.Release()
	r.Reserve(len(e.snapshot))
	for _, s := range e.snapshot {
		r.String(e.cust.source[s.cust])
		r.String(e.cust.id[s.cust])
		r.String(e.cust.name[s.cust])
		r.String(e.cust.country[s.cust])
		r.String(s.status)
		r.Int64(s.mrr)
		r.Date(s.firstPaid, s.firstPaid != noDay)
		if s.cohort != noDay {
			r.Date(firstDayOfMonth(s.cohort), true)
		} else {
			r.Date(0, false)
		}
		r.Date(s.lastMove, s.lastMove != noDay)
		r.Int64(s.lifetimeBilled)
	}
	return r.Record()
}

func (e *engine) qualityRecord() arrow.RecordBatch {
	slices.SortStableFunc(e.quality, func(a, b qualityRow) int {
		return cmp.Or(cmp.Compare(a.cust, b.cust), cmp.Compare(a.day, b.day), cmp.Compare(a.record, b.record), cmp.Compare(a.check, b.check))
	})
	r := schemas.NewRows(e.mem, schemas.DataQuality)
	defer r.Release()
	for _, q := range e.quality {
		r.String(e.cust.source[q.cust])
		r.String(e.cust.id[q.cust])
		r.String(q.record)
		r.Date(q.day, q.hasDay)
		r.String(q.check)
		r.String(q.detail)
	}
	return r.Record()
}

// currencyName returns a currency code's name.
func (e *engine) currencyName(c int16) string {
	if int(c) < len(e.currencies) {
		return e.currencies[c]
	}
	return e.currency
}
