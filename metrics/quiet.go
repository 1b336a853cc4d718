package metrics

// How long a customer's result stands as as_of moves on with nothing new:
// a record dated after as_of comes into view, a paid period ends, its
// grace runs out, a trial starts. Between those days nothing of the
// customer depends on the day (docs/RULES.md: records at or after the end
// of as_of are ignored; a period lapses once as_of is past its end and the
// grace), so an incremental run recomputes only the customers one of whose
// days it passed.

import (
	"context"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/schemas"
)

// Forever is the quiet day of a customer that no later as-of day changes.
const Forever = int32(math.MaxInt32)

// quietMargin is the days kept clear before a customer's day: an instant
// of local day d comes into view as of d, and an end (of a period, of a
// grace) that is the instant day d begins is past as of d-1, when that
// as-of day ends. So nothing of a customer changes before d-1, and its
// instants of days up to the as-of day have had their effect.
const quietMargin = 2

// QuietUntil returns, for each customer of the input (by CustomerKey),
// the last as-of day up to which its result is the one as of opt.AsOf:
// no record of it comes into view, and no period of it ends or runs out
// of grace, from opt.AsOf to that day. A customer with such a day at
// opt.AsOf or just before has a quiet day before opt.AsOf: any later day
// recomputes it. The days are conservative, never late.
func QuietUntil(ctx context.Context, mem memory.Allocator, in Input, opt Options) (map[string]int32, error) {
	e := newEngine(opt)
	grace := e.policy.grace
	for _, p := range e.policies {
		grace = max(grace, p.grace)
	}
	q := quiet{cal: e.cal, from: e.asOfDay + 1, fromInstant: int64(e.asOfDay-1) * usPerDay, grace: grace, until: map[string]*int32{}}
	for _, rec := range in.Customers {
		src, cust := strCol(rec, "source"), strCol(rec, "customer_id")
		created, trial := tsCol(rec, "created_at"), tsCol(rec, "trial_started_at")
		for i := range int(rec.NumRows()) {
			k := q.customer(src.Value(i), cust.Value(i))
			q.see(k, ts(created, i), false)
			q.see(k, ts(trial, i), false)
		}
	}
	for _, rec := range in.Events {
		src, cust, at := strCol(rec, "source"), strCol(rec, "customer_id"), tsCol(rec, "effective_at")
		for i := range int(rec.NumRows()) {
			q.see(q.customer(src.Value(i), cust.Value(i)), ts(at, i), true)
		}
	}
	for _, rec := range in.Lines {
		q.lines(rec)
	}
	for _, path := range in.LineFiles {
		err := schemas.ScanParquetColumns(ctx, mem, path, schemas.InvoiceLines, lineInstants, func(rec arrow.RecordBatch) error {
			q.lines(rec)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make(map[string]int32, len(q.until))
	for k, d := range q.until {
		out[k] = *d
	}
	return out, nil
}

// lineInstants are the columns of invoice_lines QuietUntil reads.
var lineInstants = []string{"source", "customer_id", "invoice_date", "period_start", "period_end", "paid_at"}

// quiet collects the customers' quiet days.
type quiet struct {
	cal         calendar
	from        int32 // an instant of an earlier day is in view, and past if it ends something
	fromInstant int64 // an instant before it is of a day before from, in any time zone
	grace       int64 // the longest grace of the policies, µs
	until       map[string]*int32
	key         []byte
}

// customer returns a customer's quiet day, making it known (quiet
// forever); the key is looked up without a copy.
func (q *quiet) customer(source, id string) *int32 {
	q.key = AppendCustomerKey(q.key[:0], source, id)
	d := q.until[string(q.key)]
	if d == nil {
		d = new(int32)
		*d = Forever
		q.until[string(q.key)] = d
	}
	return d
}

// see takes an instant of a customer, and its end of grace when grace.
func (q *quiet) see(until *int32, t int64, grace bool) {
	if t == schemas.NoTime {
		return
	}
	q.day(until, t)
	if grace {
		q.day(until, t+q.grace)
	}
}

// day takes an instant; those long before the as-of day need no calendar.
func (q *quiet) day(until *int32, t int64) {
	if t < q.fromInstant {
		return
	}
	if d := q.cal.day(t); d >= q.from && d-quietMargin < *until {
		*until = d - quietMargin
	}
}

func (q *quiet) lines(rec arrow.RecordBatch) {
	src, cust := strsCol(rec, "source"), strCol(rec, "customer_id")
	idate, ps, pe, paid := tsCol(rec, "invoice_date"), tsCol(rec, "period_start"), tsCol(rec, "period_end"), tsCol(rec, "paid_at")
	var k *int32
	lastSrc, lastCust := "", ""
	for i := range int(rec.NumRows()) {
		// A customer's lines mostly come together: one lookup for them.
		if s, c := src.Value(i), cust.Value(i); k == nil || c != lastCust || s != lastSrc {
			k, lastSrc, lastCust = q.customer(s, c), s, c
		}
		q.see(k, ts(idate, i), true)
		q.see(k, ts(ps, i), true)
		q.see(k, ts(pe, i), true)
		q.see(k, ts(paid, i), true)
	}
}
