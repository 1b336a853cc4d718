// Package scaleout runs mrrflow's engine on Apache Beam: the input is cut
// into shards of customers (a hash of source and customer id), each shard
// is computed into a metrics.Partial on its own, and the partials are
// merged and finalized into the same tables a run on one machine makes.
// Elements between the steps are Arrow record batches (Arrow IPC bytes),
// one per piece of input and shard, never one per row.
package scaleout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/metrics"
	"github.com/mrrflow/mrrflow/schemas"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*piece)(nil)).Elem())
	register.DoFn3x1[context.Context, piece, func(int, []byte), error](&splitFn{})
	register.DoFn5x1[context.Context, int, func(*[]byte) bool, func(*[]byte) bool, func(int, []byte), error](&computeFn{})
	register.DoFn3x1[context.Context, int, func(*[]byte) bool, error](&mergeFn{})
	register.Emitter2[int, []byte]()
	register.Iter1[[]byte]()
}

// ErrDryRun is a pipeline that was described, not run (--dry_run): there
// are no tables.
var ErrDryRun = errors.New("dry run: the job was described, not run")

// Execute runs a pipeline on a runner.
type Execute func(ctx context.Context, p *beam.Pipeline) error

// Compute returns an engine with metrics.Compute's signature (for
// jobs.Options.Compute) that computes on Beam in shards: the pipeline is
// run by execute, and its merged partial passes through a temporary
// directory (local: a Dataflow run needs it on gs://, not done yet) before
// it is finalized here. dryRun says the runner only describes the job.
func Compute(shards int, execute Execute, dryRun bool) func(ctx context.Context, mem memory.Allocator, in metrics.Input, opt metrics.Options) (*metrics.Result, error) {
	return func(ctx context.Context, mem memory.Allocator, in metrics.Input, opt metrics.Options) (*metrics.Result, error) {
		if shards < 1 {
			return nil, fmt.Errorf("shards: %d is not a number of shards", shards)
		}
		out, err := os.MkdirTemp("", "mrrflow-beam-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(out)
		p, err := Pipeline(in, opt, shards, filepath.Join(out, "partial"))
		if err != nil {
			return nil, err
		}
		if err := execute(ctx, p); err != nil {
			return nil, fmt.Errorf("beam: %w", err)
		}
		if dryRun {
			return nil, ErrDryRun
		}
		data, err := os.ReadFile(filepath.Join(out, "partial"))
		if err != nil {
			return nil, fmt.Errorf("beam: the pipeline left no result: %w", err)
		}
		part, err := metrics.UnmarshalPartial(mem, data)
		if err != nil {
			return nil, err
		}
		defer part.Release()
		return part.Finalize(mem), nil
	}
}

// piece is one element of input: a batch of a table (Data, Arrow IPC),
// or a row group of a Parquet file of invoice lines.
type piece struct {
	Table    string
	Data     []byte
	Path     string
	RowGroup int
}

// piecesPerBatch is the most rows of a batch in memory sent as one piece.
const piecesPerBatch = 64 << 10

// Pipeline builds the pipeline that computes the input in shards; its
// merged partial is written to out.
func Pipeline(in metrics.Input, opt metrics.Options, shards int, out string) (*beam.Pipeline, error) {
	// A shard holds some customers of a source with events: the source's
	// lines count as cash flow in every shard, by the whole input's events
	// (all in memory here: stored events are read whole).
	opt.EventSources = metrics.EventSources(in)
	options, err := encodeOptions(opt)
	if err != nil {
		return nil, err
	}
	var pieces []piece
	var plans [][]byte
	add := func(t *schemas.Table, recs []arrow.RecordBatch) error {
		for _, rec := range recs {
			for lo := int64(0); lo < rec.NumRows() || lo == 0; lo += piecesPerBatch {
				part := rec.NewSlice(lo, min(lo+piecesPerBatch, rec.NumRows()))
				data, err := encodeBatch(t, part)
				part.Release()
				if err != nil {
					return err
				}
				if t == schemas.Plans {
					plans = append(plans, data)
				} else {
					pieces = append(pieces, piece{Table: t.Name, Data: data})
				}
				if rec.NumRows() == 0 {
					break
				}
			}
		}
		return nil
	}
	for _, t := range []struct {
		table *schemas.Table
		recs  []arrow.RecordBatch
	}{{schemas.Customers, in.Customers}, {schemas.Plans, in.Plans}, {schemas.InvoiceLines, in.Lines}, {schemas.SubscriptionEvents, in.Events}} {
		if err := add(t.table, t.recs); err != nil {
			return nil, err
		}
	}
	for _, path := range in.LineFiles {
		n, err := schemas.ParquetRowGroups(path)
		if err != nil {
			return nil, err
		}
		for rg := range n {
			pieces = append(pieces, piece{Table: schemas.InvoiceLines.Name, Path: path, RowGroup: rg})
		}
	}
	// Shard 0 is always computed, so that there is a partial to finalize
	// even when no customer is read.
	empty, err := encodeBatch(schemas.Customers, schemas.CustomersRecord(memory.DefaultAllocator, nil))
	if err != nil {
		return nil, err
	}
	pieces = append(pieces, piece{Table: schemas.Customers.Name, Data: empty})
	if len(plans) == 0 {
		plans = append(plans, nil) // a side input needs an element; nil is no batch
	}

	p, s := beam.NewPipelineWithRoot()
	elems := beam.CreateList(s.Scope("pieces"), pieces)
	planSide := beam.CreateList(s.Scope("plans"), plans)
	byShard := beam.ParDo(s.Scope("shard"), &splitFn{Shards: shards}, elems)
	grouped := beam.GroupByKey(s, byShard)
	partials := beam.ParDo(s.Scope("compute"), &computeFn{Options: options}, grouped, beam.SideInput{Input: planSide})
	all := beam.GroupByKey(s, partials)
	beam.ParDo0(s.Scope("merge"), &mergeFn{Out: out}, all)
	return p, nil
}

// splitFn cuts a piece into its rows of each shard.
type splitFn struct {
	Shards int
}

func (f *splitFn) ProcessElement(ctx context.Context, pc piece, emit func(int, []byte)) error {
	t := tableNamed(pc.Table)
	if t == nil {
		return fmt.Errorf("a piece of table %q", pc.Table)
	}
	mem := memory.DefaultAllocator
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if pc.Path != "" {
		err := schemas.ScanParquetRowGroup(ctx, mem, pc.Path, t, pc.RowGroup, func(rec arrow.RecordBatch) error {
			rec.Retain()
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			return err
		}
	} else {
		rec, err := decodeBatch(mem, t, pc.Data)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	rows := make([][]schemas.RowRef, f.Shards)
	for b, rec := range recs {
		src, id := stringColumn(rec, t, "source"), stringColumn(rec, t, "customer_id")
		for i := range int(rec.NumRows()) {
			k := Shard(src.Value(i), id.Value(i), f.Shards)
			rows[k] = append(rows[k], schemas.RowRef{Batch: int32(b), Row: int32(i)})
		}
	}
	for k, rs := range rows {
		if len(rs) == 0 && !(k == 0 && len(recs) == 1 && recs[0].NumRows() == 0) {
			continue
		}
		part := schemas.Gather(mem, t, recs, rs)
		data, err := encodeBatch(t, part)
		part.Release()
		if err != nil {
			return err
		}
		emit(k, data)
	}
	return nil
}

// Shard is the shard of a customer: a hash of its source and id, the same
// on every machine.
func Shard(source, customerID string, shards int) int {
	h := fnv.New64a()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(customerID))
	// FNV's low bits follow the last bytes too closely (ids that end
	// alike land alike): mixed as splitmix64 finishes.
	x := h.Sum64()
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	return int(x % uint64(shards))
}

// computeFn computes one shard's customers into a partial.
type computeFn struct {
	Options string // encodeOptions
}

func (f *computeFn) ProcessElement(ctx context.Context, shard int, batches func(*[]byte) bool, plans func(*[]byte) bool, emit func(int, []byte)) error {
	opt, err := decodeOptions(f.Options)
	if err != nil {
		return err
	}
	mem := memory.DefaultAllocator
	var in metrics.Input
	defer func() {
		for _, recs := range [][]arrow.RecordBatch{in.Customers, in.Plans, in.Lines, in.Events} {
			for _, r := range recs {
				r.Release()
			}
		}
	}()
	var data []byte
	for plans(&data) {
		if len(data) == 0 {
			continue
		}
		rec, err := decodeBatch(mem, schemas.Plans, data)
		if err != nil {
			return err
		}
		in.Plans = append(in.Plans, rec)
	}
	for batches(&data) {
		t, rec, err := decodeTagged(mem, data)
		if err != nil {
			return err
		}
		switch t {
		case schemas.Customers:
			in.Customers = append(in.Customers, rec)
		case schemas.InvoiceLines:
			in.Lines = append(in.Lines, rec)
		case schemas.SubscriptionEvents:
			in.Events = append(in.Events, rec)
		default:
			rec.Release()
			return fmt.Errorf("shard %d: a batch of %s", shard, t.Name)
		}
	}
	opt.SpillDir = os.TempDir()
	p, err := metrics.ComputePartial(ctx, mem, in, opt)
	if err != nil {
		return fmt.Errorf("shard %d: %w", shard, err)
	}
	defer p.Release()
	out, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	emit(0, out)
	return nil
}

// mergeFn merges the shards' partials and writes the result to Out, under
// a temporary name first.
type mergeFn struct {
	Out string
}

func (f *mergeFn) ProcessElement(ctx context.Context, _ int, partials func(*[]byte) bool) error {
	mem := memory.DefaultAllocator
	var acc *metrics.Partial
	var data []byte
	for partials(&data) {
		p, err := metrics.UnmarshalPartial(mem, data)
		if err != nil {
			return err
		}
		if acc == nil {
			acc = p
			continue
		}
		m, err := metrics.Merge(mem, acc, p)
		acc.Release()
		p.Release()
		if err != nil {
			return err
		}
		acc = m
	}
	if acc == nil {
		return errors.New("no partial to merge")
	}
	defer acc.Release()
	out, err := acc.MarshalBinary()
	if err != nil {
		return err
	}
	tmp := f.Out + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, f.Out)
}

// The engine's options as the workers receive them (JSON): a location by
// its name.
type wireOptions struct {
	AsOf              time.Time                   `json:"as_of"`
	Location          string                      `json:"location"`
	ReportingCurrency string                      `json:"reporting_currency"`
	Policies          configs.Policies            `json:"policies"`
	SourcePolicies    map[string]configs.Policies `json:"source_policies"`
	Rates             []metrics.Rate              `json:"rates"`
	PartitionLines    int                         `json:"partition_lines"`
	// EventSources are the input's, not a shard's (metrics.Options).
	EventSources []string `json:"event_sources"`
}

func encodeOptions(opt metrics.Options) (string, error) {
	loc := "UTC"
	if opt.Location != nil {
		loc = opt.Location.String()
	}
	b, err := json.Marshal(wireOptions{AsOf: opt.AsOf, Location: loc, ReportingCurrency: opt.ReportingCurrency, Policies: opt.Policies,
		SourcePolicies: opt.SourcePolicies, Rates: opt.Rates, PartitionLines: opt.PartitionLines, EventSources: opt.EventSources})
	return string(b), err
}

func decodeOptions(s string) (metrics.Options, error) {
	var w wireOptions
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return metrics.Options{}, fmt.Errorf("the engine's options: %w", err)
	}
	loc, err := time.LoadLocation(w.Location)
	if err != nil {
		return metrics.Options{}, fmt.Errorf("the engine's options: %w", err)
	}
	return metrics.Options{AsOf: w.AsOf.In(loc), Location: loc, ReportingCurrency: w.ReportingCurrency, Policies: w.Policies,
		SourcePolicies: w.SourcePolicies, Rates: w.Rates, PartitionLines: w.PartitionLines, EventSources: w.EventSources}, nil
}

// encodeBatch writes a batch as an Arrow IPC stream after one byte naming
// its table.
func encodeBatch(t *schemas.Table, rec arrow.RecordBatch) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(tableTag(t))
	w := ipc.NewWriter(&buf, ipc.WithSchema(t.Schema()))
	if err := w.Write(rec); err != nil {
		return nil, fmt.Errorf("encode %s: %w", t.Name, err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeTagged reads a batch encodeBatch wrote, of the table it names.
func decodeTagged(mem memory.Allocator, data []byte) (*schemas.Table, arrow.RecordBatch, error) {
	if len(data) == 0 || int(data[0]) >= len(tables) {
		return nil, nil, errors.New("a batch without its table")
	}
	t := tables[data[0]]
	rec, err := decodeBatch(mem, t, data)
	return t, rec, err
}

// decodeBatch reads a batch of table t that encodeBatch wrote.
func decodeBatch(mem memory.Allocator, t *schemas.Table, data []byte) (arrow.RecordBatch, error) {
	if len(data) == 0 || data[0] != tableTag(t) {
		return nil, fmt.Errorf("a batch that is not of %s", t.Name)
	}
	r, err := ipc.NewReader(bytes.NewReader(data[1:]), ipc.WithSchema(t.Schema()), ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", t.Name, err)
	}
	defer r.Release()
	if !r.Next() {
		return nil, fmt.Errorf("decode %s: no batch (%v)", t.Name, r.Err())
	}
	rec := r.RecordBatch()
	rec.Retain()
	return rec, nil
}

// tables are the input's tables, by their tag.
var tables = []*schemas.Table{schemas.Customers, schemas.Plans, schemas.InvoiceLines, schemas.SubscriptionEvents}

func tableTag(t *schemas.Table) byte {
	for i, have := range tables {
		if have == t {
			return byte(i)
		}
	}
	panic("scaleout: no tag for table " + t.Name)
}

func tableNamed(name string) *schemas.Table {
	for _, t := range tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// stringColumn is a string column of a batch of the table.
func stringColumn(rec arrow.RecordBatch, t *schemas.Table, name string) interface{ Value(int) string } {
	return rec.Column(t.Index(name)).(interface{ Value(int) string })
}
