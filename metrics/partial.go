package metrics

// The engine's result for a set of customers, before it is finished: the
// rows of the tables kept per customer, and the month and cohort
// accumulators mrr_monthly and cohorts are made of, in integers. Customers
// are independent, so partials of disjoint sets of customers merge into
// the partial of their union, in any grouping and order, and the finished
// tables are Finalize(Merge(partials...)): the engine scales out by
// sharding customers (a run on one machine is one partial).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/schemas"
)

// Partial is the engine's result for a set of customers. Release frees it.
type Partial struct {
	// Currency is the reporting currency the partial was valued in.
	Currency string
	// chosen says the currency was configured or the data's own (a
	// partial without money takes the default, and another's in a merge).
	chosen  bool
	asOfDay int32
	months  *months
	// The customers' rows of customer_mrr_periods, mrr_movements,
	// customer_snapshot and data_quality, each in its table's order.
	periods, movements, snapshot, quality arrow.RecordBatch
	// rows, instead of the batches, hold the rows on disk
	// (Options.SpillRows) until inMemory reads them.
	rows *rowFiles
	// parts is how many pieces the engine computed the partial in.
	parts int
}

// Customers is the number of customers of the partial.
func (p *Partial) Customers() int64 {
	if p.rows != nil {
		return p.rows.rows[slices.Index(rowTables, schemas.CustomerSnapshot)]
	}
	return p.snapshot.NumRows()
}

// inMemory reads the rows a partial holds on disk into its batches.
func (p *Partial) inMemory() error {
	if p.rows == nil {
		return nil
	}
	recs, err := p.rows.take(context.Background())
	if err != nil {
		return err
	}
	p.periods, p.movements, p.snapshot, p.quality = recs[0], recs[1], recs[2], recs[3]
	p.rows = nil
	return nil
}

// ErrMerge is partials that cannot be merged: computed as of other days,
// or valued in other reporting currencies.
var ErrMerge = errors.New("the partials cannot be merged")

// ComputePartial runs the engine over the input's customers (the input
// holds all the plans, and the lines and events of those customers) and
// returns their partial; in one piece, or in partitions of customers when
// its lines are more than Options.PartitionLines.
func ComputePartial(ctx context.Context, mem memory.Allocator, in Input, opt Options) (*Partial, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	if opt.EventSources == nil {
		// The input is the whole data: its own events say.
		opt.EventSources = EventSources(in)
	}
	e := newEngine(opt)
	e.mem = mem
	n, err := in.lineCount()
	if err != nil {
		return nil, err
	}
	e.parts = e.partitions(n)
	if e.parts > 1 {
		p, err := e.computeParts(ctx, in, e.parts)
		if err == nil && !opt.SpillRows {
			if err = p.inMemory(); err != nil {
				p.Release()
			}
		}
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	if len(in.CustomerFiles) > 0 {
		recs, err := e.readCustomerFiles(ctx, in)
		if err != nil {
			return nil, err
		}
		defer releaseAll(recs)
		in.Customers = append(slices.Clip(in.Customers), recs...)
	}
	if err := e.computeWhole(ctx, in); err != nil {
		return nil, err
	}
	return e.partial(), nil
}

// EventSources are the sources that have subscription events in the
// input (Options.EventSources), sorted.
func EventSources(in Input) []string {
	set := map[string]bool{}
	for _, rec := range in.Events {
		src := strCol(rec, "source")
		for i := range src.Len() {
			set[src.Value(i)] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// partial makes the engine's partial, the tables each in its own goroutine:
// they only read the engine's state (the quality rows, sorted in place,
// belong to one of them alone).
func (e *engine) partial() *Partial {
	p := &Partial{Currency: e.currency, chosen: e.opt.ReportingCurrency != "" || e.hasLines, asOfDay: e.asOfDay,
		months: e.months, parts: e.parts}
	var wg sync.WaitGroup
	for _, f := range []func(){
		func() { p.periods = e.periodsRecord() },
		func() { p.movements = e.movementsRecord() },
		func() { p.snapshot = e.snapshotRecord() },
		func() { p.quality = e.qualityRecord() },
	} {
		wg.Go(f)
	}
	wg.Wait()
	return p
}

// Release frees the partial's batches, or its files.
func (p *Partial) Release() {
	releaseAll(p.batches())
	if p.rows != nil {
		p.rows.release()
		p.rows = nil
	}
}

func (p *Partial) batches() []arrow.RecordBatch {
	return []arrow.RecordBatch{p.periods, p.movements, p.snapshot, p.quality}
}

// Finalize makes the tables of the partial. The caller releases both.
func (p *Partial) Finalize(mem memory.Allocator) *Result {
	r := &Result{Currency: p.Currency, Partitions: p.parts}
	r.Monthly, r.Cohorts = monthly(mem, p.months, p.Currency)
	if p.rows != nil {
		p.rows.retain()
		r.rows = p.rows
		return r
	}
	for _, rec := range p.batches() {
		rec.Retain()
	}
	r.Periods, r.Movements, r.Snapshot, r.Quality = p.periods, p.movements, p.snapshot, p.quality
	return r
}

// Merge makes the partial of the customers of all the partials, which must
// be of disjoint sets of customers, computed as of the same day and valued
// in the same reporting currency. The partials stay the caller's (those
// whose rows were on disk have them in memory now).
func Merge(mem memory.Allocator, parts ...*Partial) (*Partial, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: none to merge", ErrMerge)
	}
	for _, p := range parts {
		if err := p.inMemory(); err != nil {
			return nil, err
		}
	}
	out, err := mergeHeads(parts)
	if err != nil {
		return nil, err
	}
	batches := func(get func(*Partial) arrow.RecordBatch) []arrow.RecordBatch {
		recs := make([]arrow.RecordBatch, len(parts))
		for i, p := range parts {
			recs[i] = get(p)
		}
		return recs
	}
	var wg sync.WaitGroup
	for _, m := range []struct {
		t   *schemas.Table
		get func(*Partial) arrow.RecordBatch
		set *arrow.RecordBatch
	}{
		{schemas.CustomerMRRPeriods, func(p *Partial) arrow.RecordBatch { return p.periods }, &out.periods},
		{schemas.MRRMovements, func(p *Partial) arrow.RecordBatch { return p.movements }, &out.movements},
		{schemas.CustomerSnapshot, func(p *Partial) arrow.RecordBatch { return p.snapshot }, &out.snapshot},
		{schemas.DataQuality, func(p *Partial) arrow.RecordBatch { return p.quality }, &out.quality},
	} {
		wg.Go(func() { *m.set = mergeTable(mem, m.t, batches(m.get)) })
	}
	wg.Wait()
	return out, nil
}

// mergeHeads merges what partials of disjoint customers hold besides their
// rows: the currency, the as-of day, the accumulators.
func mergeHeads(parts []*Partial) (*Partial, error) {
	out := &Partial{Currency: parts[0].Currency, asOfDay: parts[0].asOfDay}
	first, any := int32(0), false
	for _, p := range parts {
		if p.asOfDay != out.asOfDay {
			return nil, fmt.Errorf("%w: computed as of different days", ErrMerge)
		}
		switch {
		case !p.chosen:
		case !out.chosen:
			out.Currency, out.chosen = p.Currency, true
		case p.Currency != out.Currency:
			cs := []string{out.Currency, p.Currency}
			slices.Sort(cs)
			return nil, fmt.Errorf("%w: %w: the data holds several currencies (%s): set reporting_currency", ErrMerge, ErrCurrency, strings.Join(cs, ", "))
		}
		if p.months.n > 0 && (!any || p.months.first < first) {
			first, any = p.months.first, true
		}
		out.parts += p.parts
	}
	out.months = noMonths()
	if any {
		out.months = newMonthsFrom(first, out.asOfDay, 1)
	}
	for _, p := range parts {
		out.months.add(p.months)
	}
	return out, nil
}

// mergeKeys are the columns a table's rows are ordered by, up to the
// customer: each batch is in that order, and rows with equal keys are one
// customer's, of one batch, whose order there stands (the merge is
// stable).
var mergeKeys = map[*schemas.Table][]string{
	schemas.CustomerMRRPeriods: {"source", "customer_id"},
	schemas.MRRMovements:       {"date", "source", "customer_id"},
	schemas.CustomerSnapshot:   {"source", "customer_id"},
	schemas.DataQuality:        {"source", "customer_id"},
}

// mergeTable merges batches of a table, each in the table's order, into
// one in that order.
func mergeTable(mem memory.Allocator, t *schemas.Table, recs []arrow.RecordBatch) arrow.RecordBatch {
	var rows []schemas.RowRef
	keys := make([][]arrow.Array, len(recs))
	for b, rec := range recs {
		for _, k := range mergeKeys[t] {
			keys[b] = append(keys[b], rec.Column(t.Index(k)))
		}
		for i := range int32(rec.NumRows()) {
			rows = append(rows, schemas.RowRef{Batch: int32(b), Row: i})
		}
	}
	// Customers' keys (source, customer_id) compare as the engine ranks
	// them: source, a zero byte, then the id.
	slices.SortStableFunc(rows, func(a, b schemas.RowRef) int {
		ka, kb := keys[a.Batch], keys[b.Batch]
		for k := range ka {
			if c := compareValues(ka[k], int(a.Row), kb[k], int(b.Row)); c != 0 {
				return c
			}
		}
		return 0
	})
	return schemas.Gather(mem, t, recs, rows)
}

// compareValues orders two values of a key column; null first.
func compareValues(a arrow.Array, i int, b arrow.Array, j int) int {
	if an, bn := a.IsNull(i), b.IsNull(j); an || bn {
		return cmp.Compare(boolInt(!an), boolInt(!bn))
	}
	switch a := a.(type) {
	case *array.String:
		return strings.Compare(a.Value(i), b.(*array.String).Value(j))
	case *array.Date32:
		return cmp.Compare(a.Value(i), b.(*array.Date32).Value(j))
	}
	panic(fmt.Sprintf("metrics: merge: a key of type %s", a.DataType()))
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}
