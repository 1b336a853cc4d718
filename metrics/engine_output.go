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

// movementsRecord writes the movements by date, then customer.
func (e *engine) movementsRecord() arrow.RecordBatch {
	// Movements come in customer order (codes are ranks of (source,
	// customer_id)); a counting sort by day keeps that order within a day.
	idx := make([]int32, len(e.movements))
	if len(idx) > 0 {
		lo, hi := e.movements[0].day, e.movements[0].day
		for i := range e.movements {
			lo, hi = min(lo, e.movements[i].day), max(hi, e.movements[i].day)
		}
		pos := make([]int32, int(hi-lo)+2)
		for i := range e.movements {
			pos[e.movements[i].day-lo+1]++
		}
		for d := 1; d < len(pos); d++ {
			pos[d] += pos[d-1]
		}
		for i := range e.movements {
			d := e.movements[i].day - lo
			idx[pos[d]] = int32(i)
			pos[d]++
		}
	}
	// The columns are built at once.
	mv := func(i *int32) *movementRow { return &e.movements[*i] }
	amount := func(i *int32) int64 {
		m := mv(i)
		return max(m.after-m.before, m.before-m.after)
	}
	return schemas.ColumnsRecord(e.mem, schemas.MRRMovements, len(idx), []func(array.Builder){
		schemas.DateColumn(idx, func(i *int32) int32 { return mv(i).day }),
		schemas.StringColumn(idx, func(i *int32) string { return e.cust.source[mv(i).cust] }),
		schemas.StringColumn(idx, func(i *int32) string { return e.cust.id[mv(i).cust] }),
		schemas.StringColumn(idx, func(i *int32) string { return mv(i).kind }),
		schemas.Int64Column(idx, amount),
		schemas.Int64Column(idx, func(i *int32) int64 { return mv(i).after - mv(i).before }),
		schemas.Int64Column(idx, func(i *int32) int64 { return mv(i).before }),
		schemas.Int64Column(idx, func(i *int32) int64 { return mv(i).after }),
		schemas.StringColumn(idx, func(i *int32) string {
			if m := mv(i); m.cur >= 0 {
				return e.currencyName(m.cur)
			}
			return e.currency
		}),
		schemas.Int64Column(idx, func(i *int32) int64 {
			if m := mv(i); m.cur >= 0 {
				return m.original
			}
			return amount(i)
		}),
		schemas.StringColumn(idx, func(i *int32) string {
			if m := mv(i); m.plan >= 0 {
				return e.plans.id[m.plan]
			}
			return ""
		}),
		schemas.StringsColumn(idx, func(i *int32, add func(string)) {
			m := mv(i)
			for _, n := range m.names {
				add(n)
			}
			for _, l := range m.lines {
				add(e.lineName(l))
			}
		}),
	})
}

func (e *engine) lineName(l int32) string {
	if l < 0 {
		return e.events.id[-l-1] // a subscription event
	}
	inv, lid := e.lines.inv[l], e.lines.lid[l]
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
