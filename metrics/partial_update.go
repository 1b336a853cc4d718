package metrics

// Updating a partial in place of recomputing it: the customers whose
// result can differ are computed twice, as the partial holds them and as
// they are now, and the partial's accumulators are moved by the difference,
// exactly (integers). This is what lets a nightly run cost what changed.

import (
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/schemas"
)

// CustomerKey is how Update and QuietUntil name a customer: its source, a
// zero byte and its id (the order the engine ranks customers in).
func CustomerKey(source, customerID string) string {
	return string(AppendCustomerKey(nil, source, customerID))
}

// AppendCustomerKey appends a customer's key to b: a map looked up with
// string(b) copies nothing.
func AppendCustomerKey(b []byte, source, customerID string) []byte {
	return append(append(append(b, source...), 0), customerID...)
}

// Update returns the partial of p's customers with the customers named in
// keys replaced. old must be the partial of those customers computed from
// the inputs p was computed from and as of p's day (so it is what p holds
// of them); now is their partial from today's inputs, as of a day of the
// same month, no earlier. The caller vouches that no other customer's
// result differs between the two days. p, old and now stay the caller's.
//
// The result is the partial a computation of every customer from today's
// inputs would give, byte for byte; when that cannot be made sure here
// (the first month of the data may move, the currencies disagree), the
// error is ErrMerge and the caller computes everything.
func (p *Partial) Update(mem memory.Allocator, keys map[string]bool, old, now *Partial) (*Partial, error) {
	switch {
	case old.asOfDay != p.asOfDay:
		return nil, fmt.Errorf("%w: the customers' old partial is of another day", ErrMerge)
	case now.asOfDay < p.asOfDay || monthOfDay(now.asOfDay) != monthOfDay(p.asOfDay):
		return nil, fmt.Errorf("%w: as of a day of another month, or earlier", ErrMerge)
	case old.chosen && p.chosen && old.Currency != p.Currency:
		return nil, fmt.Errorf("%w: the customers' old partial is in another currency", ErrMerge)
	}
	for _, q := range []*Partial{p, old, now} {
		if err := q.inMemory(); err != nil {
			return nil, err
		}
	}
	rest, err := p.months.without(old.months, now.months)
	if err != nil {
		return nil, err
	}
	rest.rebase(now.asOfDay)
	kept := &Partial{Currency: p.Currency, chosen: p.chosen, asOfDay: now.asOfDay, months: rest, parts: p.parts}
	for _, t := range []struct {
		table *schemas.Table
		from  arrow.RecordBatch
		set   *arrow.RecordBatch
	}{{schemas.CustomerMRRPeriods, p.periods, &kept.periods}, {schemas.MRRMovements, p.movements, &kept.movements},
		{schemas.CustomerSnapshot, p.snapshot, &kept.snapshot}, {schemas.DataQuality, p.quality, &kept.quality}} {
		*t.set = withoutCustomers(mem, t.table, t.from, keys)
	}
	defer kept.Release()
	return Merge(mem, kept, now)
}

// withoutCustomers is a batch of a table without the rows of the
// customers named in keys.
func withoutCustomers(mem memory.Allocator, t *schemas.Table, rec arrow.RecordBatch, keys map[string]bool) arrow.RecordBatch {
	src := rec.Column(t.Index("source")).(*array.String)
	cust := rec.Column(t.Index("customer_id")).(*array.String)
	rows := make([]schemas.RowRef, 0, rec.NumRows())
	var b []byte
	for i := range int32(rec.NumRows()) {
		b = AppendCustomerKey(b[:0], src.Value(int(i)), cust.Value(int(i)))
		if !keys[string(b)] {
			rows = append(rows, schemas.RowRef{Row: i})
		}
	}
	return schemas.Gather(mem, t, []arrow.RecordBatch{rec}, rows)
}

// without returns a copy of m less the accumulators of old, a partial of
// some of m's customers; now is what replaces them. The months stay m's,
// unless old may hold the first of them and now does not: the months of
// the others then may begin later, which the accumulators cannot tell.
func (m *months) without(old, now *months) (*months, error) {
	out := m.clone()
	if old.n == 0 {
		return out, nil
	}
	off := int(old.first - m.first)
	switch {
	case m.n == 0 || off < 0 || off+old.n > m.n:
		return nil, fmt.Errorf("%w: the customers' old months are not within the partial's", ErrMerge)
	case off == 0 && (now.n == 0 || now.first > m.first):
		return nil, fmt.Errorf("%w: the first month of the data may move", ErrMerge)
	}
	out.addScaled(old, -1)
	return out, nil
}

// rebase moves the months' last snapshot to the day asOf, of their last
// month.
func (m *months) rebase(asOf int32) {
	if m.n > 0 {
		m.snap[m.n-1] = min(lastDayOfMonth(m.first+int32(m.n-1)), asOf)
	}
}

// clone is a deep copy of the accumulators.
func (m *months) clone() *months {
	c := *m
	c.snap = slices.Clone(m.snap)
	for _, a := range []*[]int64{&c.mrrDiff, &c.mrrValued, &c.custDiff, &c.newMRR, &c.expansion, &c.contraction, &c.churn, &c.rea,
		&c.newCust, &c.reactCust, &c.churnCust, &c.churnActive, &c.subBilled, &c.oneTime, &c.refunded,
		&c.cohortCustomers, &c.cohortMRR, &c.acc} {
		*a = slices.Clone(*a)
	}
	for _, a := range []*[][]int64{&c.cohortActive, &c.cohortDiff, &c.cohortValued} {
		*a = slices.Clone(*a)
		for i := range *a {
			(*a)[i] = slices.Clone((*a)[i])
		}
	}
	return &c
}
