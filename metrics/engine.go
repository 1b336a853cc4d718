package metrics

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/civil"
	"github.com/mrrflow/mrrflow/schemas"
)

// Options are the parameters every number depends on besides the data.
type Options struct {
	// AsOf is the day of as_of: the engine sees the state at the end of it
	// in Location.
	AsOf     time.Time
	Location *time.Location
	// ReportingCurrency, lower case; empty means the only currency present.
	ReportingCurrency string
	Policies          configs.Policies
	// SourcePolicies are the policies of the sources that have their own,
	// by source name; the others follow Policies.
	SourcePolicies map[string]configs.Policies
	// Rates are the exchange rates of fx_rates.
	Rates []Rate
	// Workers is the number of customer ranges scanned at once; 0 is one
	// per core. The result does not depend on it.
	Workers int
	// PartitionLines is the most invoice lines computed at once: a larger
	// input is cut into partitions of customers, spilled under SpillDir
	// (engine_partition.go). 0 is DefaultPartitionLines. The result does
	// not depend on it.
	PartitionLines int
	// Partitions, when above 0, forces that many partitions.
	Partitions int
	// SpillRows, for an input computed in partitions, leaves the
	// per-customer rows in the files under SpillDir each partition wrote
	// them to, so that memory does not grow with the customers: the result
	// streams them to the sink (engine_rows.go). Without it they are read
	// back into memory. The result does not depend on it.
	SpillRows bool
	// SpillDir is where partitions are spilled; empty is the system's
	// temporary directory.
	SpillDir string
	// EventSources are the sources that have subscription events (their
	// lines count in cash flow only), when the input holds only some of
	// the customers: a shard, or the customers a run recomputes. Nil is
	// the input's own.
	EventSources []string
}

// Input is the normalized data: batches of the customers, plans and
// invoice_lines tables. The engine does not retain or release them.
type Input struct {
	Customers []arrow.RecordBatch
	Plans     []arrow.RecordBatch
	Lines     []arrow.RecordBatch
	// Events are batches of the subscription_events table. A source that
	// has events gets its MRR from them; its invoice lines count in cash
	// flow only.
	Events []arrow.RecordBatch
	// LineFiles are Parquet files of the invoice_lines table, streamed;
	// their lines come after those of Lines.
	LineFiles []string
	// CustomerFiles are Parquet files of the customers table; their
	// customers come after those of Customers. An input computed in
	// partitions streams them, else they are read into memory.
	CustomerFiles []string
	// routed streams the lines of a partition from its file
	// (engine_shards.go), after the others; routedLines is their number.
	routed      func(context.Context, func(arrow.RecordBatch) error) error
	routedLines int
}

// Result holds one batch per mart table. The caller releases it.
type Result struct {
	// The per-customer tables; nil while the rows are on disk
	// (Options.SpillRows): Tables streams them, Load reads them.
	Periods   arrow.RecordBatch
	Movements arrow.RecordBatch
	Snapshot  arrow.RecordBatch
	Quality   arrow.RecordBatch
	Monthly   arrow.RecordBatch
	Cohorts   arrow.RecordBatch
	// Currency is the reporting currency used.
	Currency string
	// Partitions is the number of partitions the input was computed in.
	Partitions int
	rows       *rowFiles
}

// Tables pairs each table with its rows.
func (r *Result) Tables() []schemas.TableBatch {
	out := []schemas.TableBatch{
		{Table: schemas.CustomerMRRPeriods, Rec: r.Periods}, {Table: schemas.MRRMovements, Rec: r.Movements},
		{Table: schemas.MRRMonthly, Rec: r.Monthly}, {Table: schemas.Cohorts, Rec: r.Cohorts},
		{Table: schemas.CustomerSnapshot, Rec: r.Snapshot}, {Table: schemas.DataQuality, Rec: r.Quality},
	}
	if r.rows != nil {
		for i := range out {
			if t := slices.Index(rowTables, out[i].Table); t >= 0 {
				rf := r.rows
				out[i].Rows = rf.rows[t]
				out[i].Scan = func(fn func(arrow.RecordBatch) error) error { return rf.scan(context.Background(), t, fn) }
			}
		}
	}
	return out
}

// Rows is the number of rows of a table of the result.
func (r *Result) Rows(t *schemas.Table) int64 {
	for _, tb := range r.Tables() {
		if tb.Table == t {
			return tb.NumRows()
		}
	}
	return 0
}

// Load reads the rows the result holds on disk into its batches.
func (r *Result) Load(ctx context.Context) error {
	if r.rows == nil {
		return nil
	}
	recs, err := r.rows.take(ctx)
	if err != nil {
		return err
	}
	r.Periods, r.Movements, r.Snapshot, r.Quality = recs[0], recs[1], recs[2], recs[3]
	r.rows = nil
	return nil
}

// Release frees every batch, and the files of the rows on disk.
func (r *Result) Release() {
	for _, t := range r.Tables() {
		if t.Rec != nil {
			t.Rec.Release()
		}
	}
	if r.rows != nil {
		r.rows.release()
		r.rows = nil
	}
}

// ErrCurrency is data in a currency the engine cannot convert.
var ErrCurrency = errors.New("currency cannot be converted")

// Compute runs the engine over the whole input, in one piece or, when its
// lines are more than Options.PartitionLines, in partitions of customers:
// the partial of all the customers, finalized.
func Compute(ctx context.Context, mem memory.Allocator, in Input, opt Options) (*Result, error) {
	p, err := ComputePartial(ctx, mem, in, opt)
	if err != nil {
		return nil, err
	}
	defer p.Release()
	return p.Finalize(mem), nil
}

// newEngine prepares an engine for the options.
func newEngine(opt Options) *engine {
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	e := &engine{mem: memory.DefaultAllocator, opt: opt, cal: newCalendar(opt.Location)}
	y, m, d := opt.AsOf.Date()
	e.asOfDay = civil.Days(y, m, d)
	e.asOf = e.cal.startOfDay(e.asOfDay + 1)
	e.policy = compilePolicy(opt.Policies)
	e.policies = map[string]*policy{}
	for src, p := range opt.SourcePolicies {
		e.policies[src] = compilePolicy(p)
	}
	return e
}

// engine holds the encoded input and the state of one computation.
type engine struct {
	mem     memory.Allocator
	opt     Options
	cal     calendar
	asOf    int64 // the instant as_of ends: records at or after it are ignored
	asOfDay int32
	// policy is the run's policies; policies those of the sources that
	// have their own.
	policy   *policy
	policies map[string]*policy
	// currency is the reporting currency; fx converts into it.
	currency   string
	currencies []string // by currency code
	fx         *fxTable

	cust   customerTable
	plans  planTable
	lines  lineColumns
	events eventColumns

	// Outputs, in production order.
	periods   []periodRow // runs of each customer's MRR per currency
	movements []movementRow
	quality   []qualityRow
	snapshot  []snapshotRow
	months    *months
	workers   []*scratch // the scanners' buffers and accumulators
	parts     int        // the partitions computed
	firstDay  int32      // first day with a line (by invoice date or period start)
	hasLines  bool
}
