package metrics

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/internal/mempool"
	"github.com/mrrflow/mrrflow/schemas"
)

// DefaultPartitionLines is the most invoice lines the engine holds at once
// when Options.PartitionLines is 0: about 2.5 GiB of lines and their
// encoding.
const DefaultPartitionLines = 16 << 20

// A larger input is computed in partitions: contiguous ranges of
// customers (by the rank of (source, customer_id)), each with about
// PartitionLines lines. The lines are read twice, streamed: the first pass
// codes customers, subscriptions and currencies and counts each customer's
// lines; the second encodes every line and spills it to its partition's
// file (Arrow IPC) under SpillDir. Each partition is then read back, sorted
// and scanned alone; its rows keep the names of their lines, not their
// positions. Customers are independent, the month accumulators add up over
// disjoint customers, and partitions come in customer order: the tables
// are byte-identical to those of one piece (engine_partition_test.go).

// lineCount is the number of invoice lines of the input, without reading
// the files' data.
func (in *Input) lineCount() (int, error) {
	n := 0
	for _, rec := range in.Lines {
		n += int(rec.NumRows())
	}
	for _, f := range in.LineFiles {
		rows, err := schemas.ParquetRows(f)
		if err != nil {
			return 0, err
		}
		n += int(rows)
	}
	return n, nil
}

// Partitioned says whether the engine computes the input in partitions
// spilled to disk (its lines are more than the options' budget).
func Partitioned(in Input, opt Options) (bool, error) {
	n, err := in.lineCount()
	if err != nil {
		return false, err
	}
	e := engine{opt: opt}
	return e.partitions(n) > 1, nil
}

// readPool is the most bytes of freed read buffers kept for the next
// batches of the files.
const readPool = 256 << 20

// eachLineBatch streams every batch of invoice lines to fn: those in
// memory, then those of the files, one at a time. The files' batches are
// read into buffers that the batches before them freed (mempool): fn
// keeps nothing of a batch.
func (e *engine) eachLineBatch(ctx context.Context, in Input, fn func(arrow.RecordBatch) error) error {
	return e.eachLineBatchOf(ctx, in, lineFields, fn)
}

// eachLineBatchOf is eachLineBatch reading only the named columns of the
// files (the batches in memory have them all).
func (e *engine) eachLineBatchOf(ctx context.Context, in Input, fields []string, fn func(arrow.RecordBatch) error) error {
	for _, rec := range in.Lines {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	pool := mempool.New(e.mem, readPool)
	defer pool.Close()
	dict := slices.DeleteFunc(slices.Clone(lineDict), func(c string) bool { return !slices.Contains(fields, c) })
	for _, path := range in.LineFiles {
		scan := func(ctx context.Context, fn func(arrow.RecordBatch) error) error {
			return schemas.ScanParquetDict(ctx, pool, path, schemas.InvoiceLines, fields, dict, func(rec arrow.RecordBatch) error {
				if err := checkBatch(rec.Schema(), schemas.InvoiceLines, fields, dict); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				return fn(rec)
			})
		}
		if err := prefetched(ctx, scan, fn); err != nil {
			return err
		}
	}
	return nil
}

// prefetched runs a scan on a goroutine of its own, a couple of batches
// ahead of fn: the next batch is decoded while fn works on this one. A
// batch is valid during fn only, as with the scan itself.
func prefetched(ctx context.Context, scan func(context.Context, func(arrow.RecordBatch) error) error, fn func(arrow.RecordBatch) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ahead := make(chan arrow.RecordBatch, 2)
	scanned := make(chan error, 1)
	go func() {
		defer close(ahead)
		scanned <- scan(ctx, func(rec arrow.RecordBatch) error {
			rec.Retain()
			select {
			case ahead <- rec:
				return nil
			case <-ctx.Done():
				rec.Release()
				return ctx.Err()
			}
		})
	}()
	var err error
	for rec := range ahead {
		if err == nil {
			if err = fn(rec); err != nil {
				cancel() // the scan stops; what it had sent is drained
			}
		}
		rec.Release()
	}
	if serr := <-scanned; err == nil {
		err = serr
	}
	return err
}

// lineFields are the columns of invoice_lines the engine reads.
var lineFields = []string{"source", "invoice_id", "line_id", "customer_id", "subscription_id", "plan_id", "kind",
	"invoice_date", "period_start", "period_end", "paid_at", "amount", "tax", "prorated", "currency"}

// lineKeys are the columns that code a line's customer, subscription and
// currency, and say whether it counts (encodeKeys).
var lineKeys = []string{"source", "customer_id", "subscription_id", "kind", "invoice_date", "paid_at", "currency"}

// lineDict are the columns of few values, read as dictionaries.
var lineDict = []string{"source", "plan_id", "kind", "currency"}

// partitions is the number of partitions for n lines.
func (e *engine) partitions(n int) int {
	if e.opt.Partitions > 0 {
		return e.opt.Partitions
	}
	per := e.opt.PartitionLines
	if per <= 0 {
		per = DefaultPartitionLines
	}
	return max(1, (n+per-1)/per)
}

// computeWhole computes the input in one piece.
func (e *engine) computeWhole(ctx context.Context, in Input) error {
	if err := e.encode(ctx, in); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.sortLines()
	e.sortEvents()
	e.scanCustomers(ctx)
	// The outputs need the lines' names only.
	e.lines = lineColumns{names: e.lines.names}
	return ctx.Err()
}

// computeParts computes the input in partitions of customers.
func (e *engine) computeParts(ctx context.Context, in Input, parts int) error {
	k := newCoder()
	if err := e.encodeHeads(in, k); err != nil {
		return err
	}
	var counts []int64 // lines by provisional customer code
	// The first pass reads the few columns that code the lines' keys.
	err := e.eachLineBatchOf(ctx, in, lineKeys, func(rec arrow.RecordBatch) error {
		e.encodeKeys(rec, k, &counts)
		return nil
	})
	if err != nil {
		return err
	}
	custRank, subRank, err := e.settleCodes(k)
	if err != nil {
		return err
	}
	e.sortEvents()
	n := int32(e.cust.len())
	byRank := make([]int64, n)
	for old, c := range counts {
		byRank[custRank[old]] = c
	}
	bounds := cutRanges(0, n, parts, func(c int32) int64 { return byRank[c] })
	e.parts = len(bounds) - 1 // fewer when there are fewer customers
	partOf := make([]int32, n)
	for p := 0; p+1 < len(bounds); p++ {
		for c := bounds[p]; c < bounds[p+1]; c++ {
			partOf[c] = int32(p)
		}
	}

	sp, err := newSpill(e.opt.SpillDir, len(bounds)-1, e.mem)
	if err != nil {
		return err
	}
	defer sp.remove()
	var tmp lineColumns
	err = e.eachLineBatch(ctx, in, func(rec arrow.RecordBatch) error {
		tmp.truncate()
		if err := e.encodeLines(rec, k, &tmp); err != nil {
			return err
		}
		for i := range tmp.cust {
			c := custRank[tmp.cust[i]]
			sp.chunks[partOf[c]].appendFrom(&tmp, i, c, subRank)
		}
		return sp.flush()
	})
	if err != nil {
		return err
	}
	if err := sp.close(); err != nil {
		return err
	}
	if e.opt.SpillRows {
		if e.rows, err = newRowFiles(e.opt.SpillDir, e.mem); err != nil {
			return err
		}
	}
	for p := 0; p+1 < len(bounds); p++ {
		lines := 0
		for c := bounds[p]; c < bounds[p+1]; c++ {
			lines += int(byRank[c])
		}
		if err := e.scanSpilled(ctx, sp, p, lines, bounds[p], bounds[p+1]); err != nil {
			return err
		}
		if e.rows != nil {
			if err := e.spillRows(p); err != nil {
				return err
			}
		}
	}
	e.finishScan()
	return nil
}

// scanSpilled reads partition p back, scans its customers [lo, hi), and
// gives its movements and quality rows the names of their lines.
func (e *engine) scanSpilled(ctx context.Context, sp *spill, p, lines int, lo, hi int32) error {
	e.lines = lineColumns{}
	e.lines.reserve(lines)
	defer func() { e.lines = lineColumns{} }()
	if err := sp.load(p, &e.lines); err != nil {
		return err
	}
	e.sortLines()
	m0, q0 := len(e.movements), len(e.quality)
	e.scanPart(ctx, lo, hi)
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := m0; i < len(e.movements); i++ {
		m := &e.movements[i]
		m.names, m.nnames = e.names.len(), int32(len(m.lines))
		for _, l := range m.lines {
			e.names.add(e.lineName(l))
		}
		m.lines = nil
	}
	for i := q0; i < len(e.quality); i++ {
		e.quality[i].record = strings.Clone(e.quality[i].record)
	}
	return nil
}

// cutRanges cuts [lo, hi) into parts ranges of about equal weight; it
// returns the boundaries.
func cutRanges(lo, hi int32, parts int, weight func(int32) int64) []int32 {
	var total int64
	for c := lo; c < hi; c++ {
		total += weight(c)
	}
	bounds := []int32{lo}
	per := total / int64(parts)
	var acc int64
	for c := lo; c < hi && len(bounds) < parts; c++ {
		acc += weight(c)
		if acc >= per*int64(len(bounds)) && c+1 < hi {
			bounds = append(bounds, c+1)
		}
	}
	return append(bounds, hi)
}

// truncate empties the columns, keeping their room.
func (l *lineColumns) truncate() {
	l.cust, l.sub, l.plan, l.kind = l.cust[:0], l.sub[:0], l.plan[:0], l.kind[:0]
	l.idate, l.ps, l.pe, l.amount, l.tax = l.idate[:0], l.ps[:0], l.pe[:0], l.amount[:0], l.tax[:0]
	l.prorated, l.cur, l.cashOnly = l.prorated[:0], l.cur[:0], l.cashOnly[:0]
	l.names.truncate()
}

// appendFrom appends line i of from, with its customer's final code and
// its subscription ranked.
func (l *lineColumns) appendFrom(from *lineColumns, i int, cust int32, subRank []int32) {
	sub := from.sub[i]
	if sub >= 0 {
		sub = subRank[sub]
	}
	l.cust = append(l.cust, cust)
	l.sub = append(l.sub, sub)
	l.plan = append(l.plan, from.plan[i])
	l.kind = append(l.kind, from.kind[i])
	l.idate = append(l.idate, from.idate[i])
	l.ps = append(l.ps, from.ps[i])
	l.pe = append(l.pe, from.pe[i])
	l.amount = append(l.amount, from.amount[i])
	l.tax = append(l.tax, from.tax[i])
	l.prorated = append(l.prorated, from.prorated[i])
	l.cur = append(l.cur, from.cur[i])
	l.names.add(from.names.inv(int32(i)), from.names.lid(int32(i)))
	l.cashOnly = append(l.cashOnly, from.cashOnly[i])
}

// spillSchema is the layout of spilled lines: the encoded columns.
var spillSchema = arrow.NewSchema([]arrow.Field{
	{Name: "cust", Type: arrow.PrimitiveTypes.Int32},
	{Name: "sub", Type: arrow.PrimitiveTypes.Int32},
	{Name: "plan", Type: arrow.PrimitiveTypes.Int32},
	{Name: "kind", Type: arrow.PrimitiveTypes.Int8},
	{Name: "flags", Type: arrow.PrimitiveTypes.Int8}, // 1: prorated, 2: cash only
	{Name: "cur", Type: arrow.PrimitiveTypes.Int16},
	{Name: "idate", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ps", Type: arrow.PrimitiveTypes.Int64},
	{Name: "pe", Type: arrow.PrimitiveTypes.Int64},
	{Name: "amount", Type: arrow.PrimitiveTypes.Int64},
	{Name: "tax", Type: arrow.PrimitiveTypes.Int64},
	{Name: "inv", Type: arrow.BinaryTypes.String},
	{Name: "lid", Type: arrow.BinaryTypes.String},
}, nil)

// spill holds the partitions' files while they are written and read.
type spill struct {
	dir     string
	mem     memory.Allocator
	files   []*os.File
	bufs    []*bufio.Writer
	writers []*ipc.Writer
	chunks  []lineColumns
	flags   []int8
	strs    *array.StringBuilder
}

func newSpill(parent string, parts int, mem memory.Allocator) (*spill, error) {
	dir, err := os.MkdirTemp(parent, "mrrflow-spill-")
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	sp := &spill{dir: dir, mem: mem, chunks: make([]lineColumns, parts), strs: array.NewStringBuilder(mem)}
	for p := 0; p < parts; p++ {
		f, err := os.Create(sp.path(p))
		if err != nil {
			sp.remove()
			return nil, fmt.Errorf("spill: %w", err)
		}
		buf := bufio.NewWriterSize(f, 1<<20)
		sp.files = append(sp.files, f)
		sp.bufs = append(sp.bufs, buf)
		sp.writers = append(sp.writers, ipc.NewWriter(buf, ipc.WithSchema(spillSchema), ipc.WithAllocator(mem)))
	}
	return sp, nil
}

func (sp *spill) path(p int) string { return fmt.Sprintf("%s/part-%04d.arrows", sp.dir, p) }

// flush writes every chunk to its partition's file and empties it.
func (sp *spill) flush() error {
	for p := range sp.chunks {
		c := &sp.chunks[p]
		if c.len() == 0 {
			continue
		}
		rec := sp.record(c)
		err := sp.writers[p].Write(rec)
		rec.Release()
		if err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		c.truncate()
	}
	return nil
}

// record views a chunk as a batch of spillSchema; the fixed-width columns
// share the chunk's memory.
func (sp *spill) record(c *lineColumns) arrow.RecordBatch {
	n := c.len()
	sp.flags = sp.flags[:0]
	for i := 0; i < n; i++ {
		var f int8
		if c.prorated[i] {
			f |= 1
		}
		if c.cashOnly[i] {
			f |= 2
		}
		sp.flags = append(sp.flags, f)
	}
	prim := func(t arrow.DataType, b []byte) arrow.Array {
		d := array.NewData(t, n, []*memory.Buffer{nil, memory.NewBufferBytes(b)}, nil, 0, 0)
		defer d.Release()
		return array.MakeFromData(d)
	}
	str := func(id func(int32) string) arrow.Array {
		sp.strs.Reserve(n)
		for i := range int32(n) {
			sp.strs.Append(id(i))
		}
		return sp.strs.NewArray()
	}
	cols := []arrow.Array{
		prim(arrow.PrimitiveTypes.Int32, arrow.Int32Traits.CastToBytes(c.cust)),
		prim(arrow.PrimitiveTypes.Int32, arrow.Int32Traits.CastToBytes(c.sub)),
		prim(arrow.PrimitiveTypes.Int32, arrow.Int32Traits.CastToBytes(c.plan)),
		prim(arrow.PrimitiveTypes.Int8, arrow.Int8Traits.CastToBytes(c.kind)),
		prim(arrow.PrimitiveTypes.Int8, arrow.Int8Traits.CastToBytes(sp.flags)),
		prim(arrow.PrimitiveTypes.Int16, arrow.Int16Traits.CastToBytes(c.cur)),
		prim(arrow.PrimitiveTypes.Int64, arrow.Int64Traits.CastToBytes(c.idate)),
		prim(arrow.PrimitiveTypes.Int64, arrow.Int64Traits.CastToBytes(c.ps)),
		prim(arrow.PrimitiveTypes.Int64, arrow.Int64Traits.CastToBytes(c.pe)),
		prim(arrow.PrimitiveTypes.Int64, arrow.Int64Traits.CastToBytes(c.amount)),
		prim(arrow.PrimitiveTypes.Int64, arrow.Int64Traits.CastToBytes(c.tax)),
		str(c.names.inv),
		str(c.names.lid),
	}
	rec := array.NewRecordBatch(spillSchema, cols, int64(n))
	for _, a := range cols {
		a.Release()
	}
	return rec
}

// close writes what is left and closes the files.
func (sp *spill) close() error {
	if err := sp.flush(); err != nil {
		return err
	}
	for p, w := range sp.writers {
		if err := w.Close(); err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		if err := sp.bufs[p].Flush(); err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		if err := sp.files[p].Close(); err != nil {
			return fmt.Errorf("spill: %w", err)
		}
	}
	sp.writers = nil
	return nil
}

// load appends partition p's lines to l.
func (sp *spill) load(p int, l *lineColumns) error {
	f, err := os.Open(sp.path(p))
	if err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	defer f.Close()
	r, err := ipc.NewReader(bufio.NewReaderSize(f, 1<<20), ipc.WithSchema(spillSchema), ipc.WithAllocator(sp.mem))
	if err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	defer r.Release()
	for r.Next() {
		rec := r.RecordBatch()
		col := func(i int) arrow.Array { return rec.Column(i) }
		l.cust = append(l.cust, col(0).(*array.Int32).Int32Values()...)
		l.sub = append(l.sub, col(1).(*array.Int32).Int32Values()...)
		l.plan = append(l.plan, col(2).(*array.Int32).Int32Values()...)
		l.kind = append(l.kind, col(3).(*array.Int8).Int8Values()...)
		for _, f := range col(4).(*array.Int8).Int8Values() {
			l.prorated = append(l.prorated, f&1 != 0)
			l.cashOnly = append(l.cashOnly, f&2 != 0)
		}
		l.cur = append(l.cur, col(5).(*array.Int16).Int16Values()...)
		l.idate = append(l.idate, col(6).(*array.Int64).Int64Values()...)
		l.ps = append(l.ps, col(7).(*array.Int64).Int64Values()...)
		l.pe = append(l.pe, col(8).(*array.Int64).Int64Values()...)
		l.amount = append(l.amount, col(9).(*array.Int64).Int64Values()...)
		l.tax = append(l.tax, col(10).(*array.Int64).Int64Values()...)
		inv, lid := col(11).(*array.String), col(12).(*array.String)
		for i := 0; i < inv.Len(); i++ {
			l.names.add(inv.Value(i), lid.Value(i))
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("spill: read partition %d: %w", p, err)
	}
	return nil
}

// remove closes and deletes the spill files.
func (sp *spill) remove() {
	for _, f := range sp.files {
		f.Close()
	}
	sp.strs.Release()
	os.RemoveAll(sp.dir)
}
