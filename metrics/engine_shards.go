package metrics

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/schemas"
)

// Shard is the shard (partition) of a customer among shards: a hash of its
// source and id, the same on every machine.
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

// computeParts computes the input in parts partitions of customers (see
// engine_partition.go) and returns their partial, its rows on disk.
func (e *engine) computeParts(ctx context.Context, in Input, parts int) (*Partial, error) {
	rt, err := newRouter(e.opt.SpillDir, parts, routedLines, e.mem)
	if err != nil {
		return nil, err
	}
	defer rt.remove()
	err = e.eachLineBatch(ctx, in, rt.route)
	if err == nil {
		err = rt.close()
	}
	if err != nil {
		return nil, err
	}
	// The customers too, from memory and from their files.
	rc, err := newRouter(e.opt.SpillDir, parts, routedCustomers, e.mem)
	if err != nil {
		return nil, err
	}
	defer rc.remove()
	for _, rec := range in.Customers {
		if err := rc.route(rec); err != nil {
			return nil, err
		}
	}
	if err := e.eachCustomerFileBatch(ctx, in, rc.route); err != nil {
		return nil, err
	}
	if err := rc.close(); err != nil {
		return nil, err
	}
	events := shardRows(in.Events, parts)
	rows, err := newRowFiles(e.opt.SpillDir, e.mem)
	if err != nil {
		return nil, err
	}
	heads := make([]*Partial, 0, parts)
	keep := false
	defer func() {
		if !keep {
			rows.release()
		}
	}()
	opt := e.opt
	opt.Partitions, opt.PartitionLines = 1, 0
	for p := range parts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// The partition's lines are streamed into its engine, which keeps
		// their encoding only.
		sub := Input{Plans: in.Plans, Events: gatherRows(e.mem, schemas.SubscriptionEvents, in.Events, events[p]),
			routed: func(ctx context.Context, fn func(arrow.RecordBatch) error) error { return rt.scan(ctx, p, fn) }, routedLines: rt.lines[p]}
		if sub.Customers, err = rc.load(p); err != nil {
			releaseAll(sub.Events)
			return nil, err
		}
		pe := newEngine(opt)
		pe.mem = e.mem
		err = pe.computeWhole(ctx, sub)
		releaseAll(sub.Customers)
		releaseAll(sub.Events)
		if err != nil {
			return nil, err
		}
		part := pe.partial()
		err = rows.writePart(p, part)
		part.Release()
		if err != nil {
			return nil, err
		}
		part.periods, part.movements, part.snapshot, part.quality = nil, nil, nil, nil
		heads = append(heads, part)
	}
	out, err := mergeHeads(heads)
	if err != nil {
		return nil, err
	}
	out.rows, keep = rows, true
	// The partitions computed are those with lines.
	out.parts = 0
	for _, n := range rt.lines {
		if n > 0 {
			out.parts++
		}
	}
	out.parts = max(out.parts, 1)
	return out, nil
}

// shardRows lists the rows of batches of a table with source and
// customer_id by shard.
func shardRows(recs []arrow.RecordBatch, parts int) [][]schemas.RowRef {
	out := make([][]schemas.RowRef, parts)
	for b, rec := range recs {
		src, id := strCol(rec, "source"), strCol(rec, "customer_id")
		for i := range int(rec.NumRows()) {
			p := Shard(src.Value(i), id.Value(i), parts)
			out[p] = append(out[p], schemas.RowRef{Batch: int32(b), Row: int32(i)})
		}
	}
	return out
}

// gatherRows is the rows of the batches as one batch of the table, none
// when there are none.
func gatherRows(mem memory.Allocator, t *schemas.Table, recs []arrow.RecordBatch, rows []schemas.RowRef) []arrow.RecordBatch {
	if len(rows) == 0 {
		return nil
	}
	return []arrow.RecordBatch{schemas.Gather(mem, t, recs, rows)}
}

// routedSchema is the layout of a table's rows routed to a partition: the
// columns the engine reads, strings plain.
func routedSchema(t *schemas.Table) *arrow.Schema {
	all := t.Schema()
	names := inputColumns[t]
	fields := make([]arrow.Field, len(names))
	for i, name := range names {
		fields[i] = all.Field(all.FieldIndices(name)[0])
	}
	return arrow.NewSchema(fields, nil)
}

var (
	routedLines     = routedSchema(schemas.InvoiceLines)
	routedCustomers = routedSchema(schemas.Customers)
)

// eachCustomerFileBatch streams the batches of the input's customer files
// to fn, the columns the engine reads (a batch is valid during the call).
func (e *engine) eachCustomerFileBatch(ctx context.Context, in Input, fn func(arrow.RecordBatch) error) error {
	cols := inputColumns[schemas.Customers]
	for _, path := range in.CustomerFiles {
		err := schemas.ScanParquetDict(ctx, e.mem, path, schemas.Customers, cols, nil, func(rec arrow.RecordBatch) error {
			if err := checkBatch(rec.Schema(), schemas.Customers, cols, nil); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return fn(rec)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// readCustomerFiles reads the input's customer files into memory, the
// columns the engine reads; the caller releases the batches.
func (e *engine) readCustomerFiles(ctx context.Context, in Input) ([]arrow.RecordBatch, error) {
	return collect(func(fn func(arrow.RecordBatch) error) error { return e.eachCustomerFileBatch(ctx, in, fn) })
}

// routedBatch is the rows a router gathers for a partition before it
// writes them.
const routedBatch = 32 << 10

// router writes each row of a table (lines, customers) to the file of its
// customer's partition.
type router struct {
	dir     string
	mem     memory.Allocator
	schema  *arrow.Schema
	parts   int
	files   []*os.File
	bufs    []*bufio.Writer
	writers []*ipc.Writer
	builds  []*array.RecordBuilder
	lines   []int // rows by partition
}

func newRouter(parent string, parts int, schema *arrow.Schema, mem memory.Allocator) (*router, error) {
	dir, err := os.MkdirTemp(parent, "mrrflow-spill-")
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	rt := &router{dir: dir, mem: mem, schema: schema, parts: parts, lines: make([]int, parts)}
	for p := range parts {
		f, err := os.Create(rt.path(p))
		if err != nil {
			rt.remove()
			return nil, fmt.Errorf("spill: %w", err)
		}
		buf := bufio.NewWriterSize(f, 256<<10)
		rt.files = append(rt.files, f)
		rt.bufs = append(rt.bufs, buf)
		rt.writers = append(rt.writers, ipc.NewWriter(buf, ipc.WithSchema(schema), ipc.WithAllocator(mem)))
		rt.builds = append(rt.builds, array.NewRecordBuilder(mem, schema))
	}
	return rt, nil
}

func (rt *router) path(p int) string {
	return filepath.Join(rt.dir, fmt.Sprintf("part-%04d.arrows", p))
}

// route appends each row of a batch (with the router's columns, strings
// plain or dictionaries) to its partition.
func (rt *router) route(rec arrow.RecordBatch) error {
	src, cust := strsCol(rec, "source"), strCol(rec, "customer_id")
	cols := make([]func(array.Builder, int), len(rt.schema.Fields()))
	for c, f := range rt.schema.Fields() {
		name := f.Name
		switch col := column(rec, name).(type) {
		case *array.Dictionary, *array.String:
			s := strsCol(rec, name)
			cols[c] = func(b array.Builder, i int) {
				if col.IsNull(i) {
					b.AppendNull()
					return
				}
				b.(*array.StringBuilder).Append(s.Value(i))
			}
		case *array.Timestamp:
			cols[c] = copyValue[arrow.Timestamp, *array.TimestampBuilder](col)
		case *array.Int64:
			cols[c] = copyValue[int64, *array.Int64Builder](col)
		case *array.Boolean:
			cols[c] = copyValue[bool, *array.BooleanBuilder](col)
		default:
			return fmt.Errorf("route lines: a column %s of type %s", name, col.DataType())
		}
	}
	lastSrc, lastID, lastPart := "\xff", "", 0
	for i := range int(rec.NumRows()) {
		s, id := src.Value(i), cust.Value(i)
		if s != lastSrc || id != lastID {
			lastSrc, lastID, lastPart = s, id, Shard(s, id, rt.parts)
		}
		b := rt.builds[lastPart]
		rt.lines[lastPart]++
		for c, add := range cols {
			add(b.Field(c), i)
		}
		if b.Field(0).Len() == routedBatch {
			if err := rt.flush(lastPart); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyValue appends value i of col to a builder of its type.
func copyValue[T any, B interface{ Append(T) }](col interface {
	IsNull(int) bool
	Value(int) T
}) func(array.Builder, int) {
	return func(b array.Builder, i int) {
		if col.IsNull(i) {
			b.AppendNull()
			return
		}
		b.(B).Append(col.Value(i))
	}
}

// flush writes what partition p has gathered.
func (rt *router) flush(p int) error {
	b := rt.builds[p]
	if b.Field(0).Len() == 0 {
		return nil
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	if err := rt.writers[p].Write(rec); err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	return nil
}

// close writes what is left and closes the files.
func (rt *router) close() error {
	for p := range rt.parts {
		if err := rt.flush(p); err != nil {
			return err
		}
		if err := rt.writers[p].Close(); err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		if err := rt.bufs[p].Flush(); err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		if err := rt.files[p].Close(); err != nil {
			return fmt.Errorf("spill: %w", err)
		}
	}
	rt.writers = nil
	return nil
}

// scan streams partition p's rows back to fn, a batch at a time (valid
// during the call).
func (rt *router) scan(ctx context.Context, p int, fn func(arrow.RecordBatch) error) error {
	f, err := os.Open(rt.path(p))
	if err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	defer f.Close()
	r, err := ipc.NewReader(bufio.NewReaderSize(f, 256<<10), ipc.WithSchema(rt.schema), ipc.WithAllocator(rt.mem))
	if err != nil {
		return fmt.Errorf("spill: read partition %d: %w", p, err)
	}
	defer r.Release()
	for r.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r.RecordBatch()); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("spill: read partition %d: %w", p, err)
	}
	return nil
}

// load reads partition p's rows back into memory.
func (rt *router) load(p int) ([]arrow.RecordBatch, error) {
	return collect(func(fn func(arrow.RecordBatch) error) error { return rt.scan(context.Background(), p, fn) })
}

// remove closes and deletes the files.
func (rt *router) remove() {
	for _, f := range rt.files {
		f.Close()
	}
	for _, b := range rt.builds {
		b.Release()
	}
	os.RemoveAll(rt.dir)
}
