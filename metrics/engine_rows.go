package metrics

// A computation in partitions can write each partition's per-customer rows
// to disk as soon as the partition is scanned (Options.SpillRows), so that
// what the engine holds does not grow with the customers: only the month
// and cohort accumulators stay in memory. The rows are then streamed to
// the sink from those files (Result.Tables), in the tables' order:
// partitions are ranges of customers in rank order, so customer_mrr_periods,
// customer_snapshot and data_quality are their partitions' rows end to end,
// and mrr_movements, ordered by date first, is merged month by month (each
// partition keeps one batch per month). The files are Arrow IPC, under
// SpillDir, and go when the partial and the result made of it are released.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/schemas"
)

// rowTables are the tables kept per customer, in the order of rowFiles'
// counts.
var rowTables = []*schemas.Table{schemas.CustomerMRRPeriods, schemas.MRRMovements, schemas.CustomerSnapshot, schemas.DataQuality}

// rowFiles are the per-customer rows of a computation, one file per table
// and partition.
type rowFiles struct {
	dir   string
	mem   memory.Allocator
	parts int
	rows  [4]int64 // by rowTables
	// months are, for each partition, the month (monthOfDay) of each of
	// its movement batches, ascending.
	months [][]int32
	// refs counts the partials and results that share the files.
	mu   sync.Mutex
	refs int
}

func newRowFiles(parent string, mem memory.Allocator) (*rowFiles, error) {
	dir, err := os.MkdirTemp(parent, "mrrflow-rows-")
	if err != nil {
		return nil, fmt.Errorf("spill rows: %w", err)
	}
	return &rowFiles{dir: dir, mem: mem, refs: 1}, nil
}

func (rf *rowFiles) path(t int, p int) string {
	return filepath.Join(rf.dir, fmt.Sprintf("%s-%04d.arrow", rowTables[t].Name, p))
}

func (rf *rowFiles) retain() {
	rf.mu.Lock()
	rf.refs++
	rf.mu.Unlock()
}

// release removes the files when the last holder lets them go.
func (rf *rowFiles) release() {
	rf.mu.Lock()
	rf.refs--
	last := rf.refs == 0
	rf.mu.Unlock()
	if last {
		os.RemoveAll(rf.dir)
	}
}

// rowChunk is the most rows of a batch in the files: a merge holds one
// batch of each partition at once.
const rowChunk = 64 << 10

// writePart writes the rows of partition p's partial to its files.
func (rf *rowFiles) writePart(p int, part *Partial) error {
	if p != rf.parts {
		return fmt.Errorf("spill rows: partition %d written after %d", p, rf.parts)
	}
	var months []int32
	for t, rec := range part.batches() {
		var batches []arrow.RecordBatch
		if rowTables[t] == schemas.MRRMovements {
			batches, months = byMonth(rec)
		} else {
			for off := int64(0); off < rec.NumRows(); off += rowChunk {
				batches = append(batches, rec.NewSlice(off, min(off+rowChunk, rec.NumRows())))
			}
		}
		err := rf.write(t, p, batches)
		releaseAll(batches)
		if err != nil {
			return err
		}
		rf.rows[t] += rec.NumRows()
	}
	rf.months = append(rf.months, months)
	rf.parts = p + 1
	return nil
}

// byMonth slices a batch of mrr_movements, in date order, into one batch
// per month; it returns the slices and their months.
func byMonth(rec arrow.RecordBatch) ([]arrow.RecordBatch, []int32) {
	dates := rec.Column(schemas.MRRMovements.Index("date")).(*array.Date32).Date32Values()
	var out []arrow.RecordBatch
	var months []int32
	for i := 0; i < len(dates); {
		m := monthOfDay(int32(dates[i]))
		j := i
		for j < len(dates) && monthOfDay(int32(dates[j])) == m {
			j++
		}
		out, months = append(out, rec.NewSlice(int64(i), int64(j))), append(months, m)
		i = j
	}
	return out, months
}

// write writes the batches of table t of partition p to its file.
func (rf *rowFiles) write(t, p int, recs []arrow.RecordBatch) error {
	f, err := os.Create(rf.path(t, p))
	if err != nil {
		return fmt.Errorf("spill rows: %w", err)
	}
	defer f.Close()
	buf := bufio.NewWriterSize(f, 256<<10)
	w, err := ipc.NewFileWriter(buf, ipc.WithSchema(rowTables[t].Schema()), ipc.WithAllocator(rf.mem))
	if err != nil {
		return fmt.Errorf("spill rows: %w", err)
	}
	for _, rec := range recs {
		if err := w.Write(rec); err != nil {
			return fmt.Errorf("spill rows %s: %w", rowTables[t].Name, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("spill rows %s: %w", rowTables[t].Name, err)
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("spill rows: %w", err)
	}
	return f.Close()
}

// open opens the file of table t of partition p; the caller closes both.
func (rf *rowFiles) open(t, p int) (*os.File, *ipc.FileReader, error) {
	f, err := os.Open(rf.path(t, p))
	if err != nil {
		return nil, nil, fmt.Errorf("read spilled rows: %w", err)
	}
	r, err := ipc.NewFileReader(f, ipc.WithAllocator(rf.mem), ipc.WithSchema(rowTables[t].Schema()))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read spilled rows of %s: %w", rowTables[t].Name, err)
	}
	return f, r, nil
}

// scan streams the rows of table t to fn in the table's order, in batches
// valid during the call; mrr_movements comes one batch per month.
func (rf *rowFiles) scan(ctx context.Context, t int, fn func(arrow.RecordBatch) error) error {
	if rowTables[t] == schemas.MRRMovements {
		return rf.scanMovements(ctx, fn)
	}
	return rf.scanMerged(ctx, t, fn)
}

// cursor reads one partition's file of a table, a batch at a time.
type cursor struct {
	part     int
	r        *ipc.FileReader
	next     int // the next batch
	rec      arrow.RecordBatch
	row      int
	src, cid *array.String
}

// advance loads the cursor's next batch; false when there is none.
func (c *cursor) advance() (bool, error) {
	if c.rec != nil {
		c.rec.Release()
		c.rec = nil
	}
	for c.next < c.r.NumRecords() {
		rec, err := c.r.RecordBatchAt(c.next)
		if err != nil {
			return false, fmt.Errorf("read spilled rows: %w", err)
		}
		c.next++
		if rec.NumRows() == 0 {
			rec.Release()
			continue
		}
		c.rec, c.row = rec, 0
		c.src, c.cid = strCol(rec, "source"), strCol(rec, "customer_id")
		return true, nil
	}
	return false, nil
}

// less orders cursors by their rows' customers, as the engine ranks them:
// source, then id.
func (c *cursor) less(d *cursor) bool {
	if a, b := c.src.Value(c.row), d.src.Value(d.row); a != b {
		return a < b
	}
	return c.cid.Value(c.row) < d.cid.Value(d.row)
}

// scanMerged merges the partitions' rows of a table ordered by customer:
// each partition's are in that order, and a customer's are all in one,
// next to each other.
func (rf *rowFiles) scanMerged(ctx context.Context, t int, fn func(arrow.RecordBatch) error) error {
	var heap []*cursor
	slots := make([]arrow.RecordBatch, rf.parts) // each partition's batch
	empty := schemas.Gather(rf.mem, rowTables[t], nil, nil)
	defer empty.Release()
	defer func() {
		for _, c := range heap {
			if c.rec != nil {
				c.rec.Release()
			}
		}
	}()
	readers, closeAll, err := rf.openAll(t)
	if err != nil {
		return err
	}
	defer closeAll()
	for p, r := range readers {
		c := &cursor{part: p, r: r}
		ok, err := c.advance()
		if err != nil {
			return err
		}
		if ok {
			heap = append(heap, c)
			slots[p] = c.rec
		}
	}
	down := func(i int) {
		for {
			least := i
			for _, k := range []int{2*i + 1, 2*i + 2} {
				if k < len(heap) && heap[k].less(heap[least]) {
					least = k
				}
			}
			if least == i {
				return
			}
			heap[i], heap[least] = heap[least], heap[i]
			i = least
		}
	}
	for i := len(heap)/2 - 1; i >= 0; i-- {
		down(i)
	}
	var out []schemas.RowRef
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for p, rec := range slots {
			if rec == nil {
				slots[p] = empty // Gather reads every batch's columns
			}
		}
		rec := schemas.Gather(rf.mem, rowTables[t], slots, out)
		out = out[:0]
		defer rec.Release()
		return fn(rec)
	}
	for len(heap) > 0 {
		c := heap[0]
		n := int(c.rec.NumRows())
		src, cid := c.src.Value(c.row), c.cid.Value(c.row)
		for c.row < n && c.src.Value(c.row) == src && c.cid.Value(c.row) == cid {
			out = append(out, schemas.RowRef{Batch: int32(c.part), Row: int32(c.row)})
			c.row++
		}
		if c.row < n && len(out) < rowChunk {
			down(0)
			continue
		}
		// The output refers to the batches held: it goes before one of
		// them is let go.
		if err := flush(); err != nil {
			return err
		}
		if c.row < n {
			down(0)
			continue
		}
		ok, err := c.advance()
		if err != nil {
			return err
		}
		slots[c.part] = c.rec
		if !ok {
			heap[0] = heap[len(heap)-1]
			heap = heap[:len(heap)-1]
		}
		if len(heap) > 0 {
			down(0)
		}
	}
	return flush()
}

// scanMovements merges the partitions' movements month by month: within a
// month by date, and on one date in partition order, which is the
// customers' order.
func (rf *rowFiles) scanMovements(ctx context.Context, fn func(arrow.RecordBatch) error) error {
	readers, closeAll, err := rf.openAll(slices.Index(rowTables, schemas.MRRMovements))
	if err != nil {
		return err
	}
	defer closeAll()
	var all []int32
	for _, ms := range rf.months {
		all = append(all, ms...)
	}
	slices.Sort(all)
	next := make([]int, rf.parts) // each partition's next batch
	for _, m := range slices.Compact(all) {
		if err := ctx.Err(); err != nil {
			return err
		}
		var recs []arrow.RecordBatch
		for p, r := range readers {
			if next[p] == len(rf.months[p]) || rf.months[p][next[p]] != m {
				continue
			}
			rec, err := r.RecordBatchAt(next[p])
			if err != nil {
				releaseAll(recs)
				return fmt.Errorf("read spilled rows of %s: %w", schemas.MRRMovements.Name, err)
			}
			recs = append(recs, rec)
			next[p]++
		}
		merged := mergeTable(rf.mem, schemas.MRRMovements, recs)
		releaseAll(recs)
		err := fn(merged)
		merged.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// load reads the rows of every table into one batch each.
func (rf *rowFiles) load(ctx context.Context) ([4]arrow.RecordBatch, error) {
	var out [4]arrow.RecordBatch
	for t := range rowTables {
		recs, err := collect(func(fn func(arrow.RecordBatch) error) error { return rf.scan(ctx, t, fn) })
		if err != nil {
			releaseAll(out[:])
			return out, err
		}
		rec, err := schemas.Concat(rf.mem, rowTables[t], recs)
		releaseAll(recs)
		if err != nil {
			releaseAll(out[:])
			return out, err
		}
		out[t] = rec
	}
	return out, nil
}

// take reads the rows of every table into memory and lets the files go
// (this holder's share of them).
func (rf *rowFiles) take(ctx context.Context) ([4]arrow.RecordBatch, error) {
	recs, err := rf.load(ctx)
	if err == nil {
		rf.release()
	}
	return recs, err
}

// openAll opens the files of table t of every partition; close closes
// them.
func (rf *rowFiles) openAll(t int) (readers []*ipc.FileReader, close func(), err error) {
	var files []*os.File
	close = func() {
		for _, r := range readers {
			r.Close()
		}
		for _, f := range files {
			f.Close()
		}
	}
	for p := range rf.parts {
		f, r, err := rf.open(t, p)
		if err != nil {
			close()
			return nil, nil, err
		}
		files, readers = append(files, f), append(readers, r)
	}
	return readers, close, nil
}

// collect keeps every batch a scan yields; on an error, none. The caller
// releases them.
func collect(scan func(func(arrow.RecordBatch) error) error) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	err := scan(func(rec arrow.RecordBatch) error {
		rec.Retain()
		out = append(out, rec)
		return nil
	})
	if err != nil {
		releaseAll(out)
		return nil, err
	}
	return out, nil
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, rec := range recs {
		if rec != nil {
			rec.Release()
		}
	}
}
