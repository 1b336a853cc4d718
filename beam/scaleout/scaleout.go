// Package scaleout runs mrrflow's engine on Apache Beam: the input is cut
// into shards of customers (a hash of source and customer id), each shard
// is computed into a metrics.Partial on its own, and the partials are
// merged and finalized into the same tables a run on one machine makes.
// Elements between the steps are Arrow record batches (Arrow IPC bytes,
// Zstandard-compressed), one per piece of input and shard, never one per
// row. The workers read the input from, and write the merged partial to,
// a data location: a local directory or Cloud Storage (data.go).
package scaleout

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"golang.org/x/sync/errgroup"

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

// Runner computes on Beam in shards; its Compute has metrics.Compute's
// signature (for jobs.Options.Compute).
type Runner struct {
	// Shards is the number of shards of customers computed apart.
	Shards int
	// Data is where the workers read the input and write the merged
	// partial: a local directory, or gs://bucket/prefix for workers that
	// do not share this machine's disk (Dataflow). "" is a temporary
	// directory of this machine. On gs://, the stored tables read are
	// copied under tables/ by the name of their content, once, and each
	// run's pieces live under runs/ for the run only.
	Data string
	// Execute runs the pipeline on a runner.
	Execute Execute
	// DryRun says the runner only describes the job: nothing is written
	// to Data and there is no result.
	DryRun bool
}

// Compute runs the pipeline and finalizes its merged partial here.
func (r Runner) Compute(ctx context.Context, mem memory.Allocator, in metrics.Input, opt metrics.Options) (*metrics.Result, error) {
	if r.Shards < 1 {
		return nil, fmt.Errorf("shards: %d is not a number of shards", r.Shards)
	}
	data := r.Data
	if data == "" {
		tmp, err := os.MkdirTemp("", "mrrflow-beam-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		data = tmp
	}
	run := joinData(data, "runs", runName())
	if !r.DryRun {
		// A failed run leaves nothing under runs/ either.
		defer removeAllData(context.WithoutCancel(ctx), run)
	}
	// A shard holds some customers of a source with events: the source's
	// lines count as cash flow in every shard, by the whole input's events
	// (all in memory here: stored events are read whole).
	opt.EventSources = metrics.EventSources(in)
	options, err := encodeOptions(opt)
	if err != nil {
		return nil, err
	}
	st := &stager{data: data, run: run, write: !r.DryRun}
	if err := st.stage(ctx, in); err != nil {
		return nil, err
	}
	out := joinData(run, "partial")
	p := pipeline(st.pieces, st.plans, options, r.Shards, out)
	if err := r.Execute(ctx, p); err != nil {
		return nil, fmt.Errorf("beam: %w", err)
	}
	if r.DryRun {
		return nil, ErrDryRun
	}
	b, err := readData(ctx, out)
	if err != nil {
		return nil, fmt.Errorf("beam: the pipeline left no result: %w", err)
	}
	part, err := metrics.UnmarshalPartial(mem, b)
	if err != nil {
		return nil, err
	}
	defer part.Release()
	if err := st.prune(ctx); err != nil {
		return nil, err
	}
	return part.Finalize(mem), nil
}

// runName names a run's directory under runs/: its start and a random
// part.
func runName() string {
	var b [6]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// piece is one element of input: a batch of a table in an Arrow IPC
// object (encodeBatch), or a row group of a Parquet file of invoice
// lines.
type piece struct {
	Table    string
	Path     string
	Parquet  bool
	RowGroup int
}

// piecesPerBatch is the most rows of a batch in memory sent as one piece.
const piecesPerBatch = 64 << 10

// stager writes a run's input where the workers read it.
type stager struct {
	data, run string
	write     bool // false: name the pieces, write nothing (a dry run)
	pieces    []piece
	plans     [][]byte
	mirrored  map[string]bool // objects under data/tables this run reads
}

// stage writes the input's batches as pieces of at most piecesPerBatch
// rows, and names the row groups of its stored line files (copied to
// Cloud Storage first when the data is there). The plans go to every
// shard in the job's description (a side input): they are few.
func (st *stager) stage(ctx context.Context, in metrics.Input) error {
	var g errgroup.Group
	g.SetLimit(8)
	add := func(t *schemas.Table, rec arrow.RecordBatch) error {
		for lo := int64(0); lo < rec.NumRows() || lo == 0; lo += piecesPerBatch {
			part := rec.NewSlice(lo, min(lo+piecesPerBatch, rec.NumRows()))
			b, err := encodeBatch(t, part)
			part.Release()
			if err != nil {
				return err
			}
			if t == schemas.Plans {
				st.plans = append(st.plans, b)
			} else {
				name := joinData(st.run, "input", fmt.Sprintf("%06d.arrow", len(st.pieces)))
				st.pieces = append(st.pieces, piece{Table: t.Name, Path: name})
				if st.write {
					g.Go(func() error { return writeData(ctx, name, b) })
				}
			}
			if rec.NumRows() == 0 {
				break
			}
		}
		return nil
	}
	// Shard 0 is always computed, so that there is a partial to finalize
	// even when no customer is read: an empty batch of customers.
	empty := schemas.CustomersRecord(memory.DefaultAllocator, nil)
	defer empty.Release()
	batches := []struct {
		table *schemas.Table
		recs  []arrow.RecordBatch
	}{{schemas.Customers, in.Customers}, {schemas.Plans, in.Plans}, {schemas.InvoiceLines, in.Lines},
		{schemas.SubscriptionEvents, in.Events}, {schemas.Customers, []arrow.RecordBatch{empty}}}
	for _, b := range batches {
		for _, rec := range b.recs {
			if err := add(b.table, rec); err != nil {
				g.Wait()
				return err
			}
		}
	}
	if len(st.plans) == 0 {
		st.plans = append(st.plans, nil) // a side input needs an element; nil is no batch
	}
	if isGCS(st.data) {
		st.mirrored = map[string]bool{}
	}
	for _, path := range in.LineFiles {
		n, err := schemas.ParquetRowGroups(path)
		if err != nil {
			g.Wait()
			return err
		}
		name := path
		if st.mirrored != nil {
			if name, err = mirrorFile(ctx, path, joinData(st.data, "tables"), st.write); err != nil {
				g.Wait()
				return err
			}
			st.mirrored[name] = true
		}
		for rg := range n {
			st.pieces = append(st.pieces, piece{Table: schemas.InvoiceLines.Name, Path: name, Parquet: true, RowGroup: rg})
		}
	}
	return g.Wait()
}

// prune removes from data/tables the copies of stored tables that this
// run, which succeeded, no longer reads.
func (st *stager) prune(ctx context.Context) error {
	if st.mirrored == nil || !st.write {
		return nil
	}
	names, err := listData(ctx, joinData(st.data, "tables"))
	if err != nil {
		return err
	}
	for _, n := range names {
		if !st.mirrored[n] {
			if err := removeData(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// pipeline builds the pipeline that computes the pieces in shards; its
// merged partial is written to out.
func pipeline(pieces []piece, plans [][]byte, options string, shards int, out string) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	elems := beam.CreateList(s.Scope("pieces"), pieces)
	planSide := beam.CreateList(s.Scope("plans"), plans)
	byShard := beam.ParDo(s.Scope("shard"), &splitFn{Shards: shards}, elems)
	grouped := beam.GroupByKey(s, byShard)
	partials := beam.ParDo(s.Scope("compute"), &computeFn{Options: options}, grouped, beam.SideInput{Input: planSide})
	all := beam.GroupByKey(s, partials)
	beam.ParDo0(s.Scope("merge"), &mergeFn{Out: out}, all)
	return p
}

// shuffled counts the bytes of the batches sent from the split to the
// shards: what a runner shuffles.
var shuffled = beam.NewCounter("mrrflow", "shuffled_bytes")

// ShuffledBytes is the bytes of batches a finished pipeline sent from the
// split to the shards (0 when the runner reports no metrics).
func ShuffledBytes(res beam.PipelineResult) int64 {
	if res == nil {
		return 0
	}
	var n int64
	for _, c := range res.Metrics().Query(func(r beam.MetricResult) bool {
		return r.Namespace() == "mrrflow" && r.Name() == "shuffled_bytes"
	}).Counters() {
		n += c.Result()
	}
	return n
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
	if pc.Parquet {
		r, closeFn, err := openData(ctx, pc.Path)
		if err != nil {
			return err
		}
		err = schemas.ScanParquetRowGroupFrom(ctx, mem, pc.Path, r, t, pc.RowGroup, func(rec arrow.RecordBatch) error {
			rec.Retain()
			recs = append(recs, rec)
			return nil
		})
		closeFn()
		if err != nil {
			return err
		}
	} else {
		b, err := readData(ctx, pc.Path)
		if err != nil {
			return err
		}
		rec, err := decodeBatch(mem, t, b)
		if err != nil {
			return fmt.Errorf("%s: %w", pc.Path, err)
		}
		recs = append(recs, rec)
	}
	rows := make([][]schemas.RowRef, f.Shards)
	for b, rec := range recs {
		src, id := stringColumn(rec, t, "source"), stringColumn(rec, t, "customer_id")
		for i := range int(rec.NumRows()) {
			k := metrics.Shard(src.Value(i), id.Value(i), f.Shards)
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
		shuffled.Inc(ctx, int64(len(data)))
		emit(k, data)
	}
	return nil
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

// mergeFn merges the shards' partials and writes the result to Out, whole
// or not at all (writeData).
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
	return writeData(ctx, f.Out, out)
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
// its table, its buffers compressed by Zstandard: at 1M lines, 43 MB to
// shuffle instead of 156 MB (LZ4: 68 MB), and on Prism 0.9 to 1.0 GiB
// instead of 2.0 to 2.4, in two thirds of the time.
func encodeBatch(t *schemas.Table, rec arrow.RecordBatch) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(tableTag(t))
	w := ipc.NewWriter(&buf, ipc.WithSchema(t.Schema()), ipc.WithZstd())
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
