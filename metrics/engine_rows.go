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

// spillRows writes the rows of the partition just scanned to its files and
// empties the engine's rows, keeping their room for the next partition.
func (e *engine) spillRows(p int) error {
	rf := e.rows
	var recs [4]arrow.RecordBatch
	var wg sync.WaitGroup
	for t, f := range []func() arrow.RecordBatch{e.periodsRecord, e.movementsRecord, e.snapshotRecord, e.qualityRecord} {
		wg.Go(func() { recs[t] = f() })
	}
	wg.Wait()
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	e.periods, e.movements, e.quality, e.snapshot = e.periods[:0], e.movements[:0], e.quality[:0], e.snapshot[:0]
	e.names.truncate()
	var months []int32
	for t, rec := range recs {
		batches := []arrow.RecordBatch{rec}
		if rowTables[t] == schemas.MRRMovements {
			batches, months = byMonth(rec)
			defer func() {
				for _, b := range batches {
					b.Release()
				}
			}()
		}
		if err := rf.write(t, p, batches); err != nil {
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
	buf := bufio.NewWriterSize(f, 1<<20)
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
	for p := range rf.parts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := rf.scanPart(t, p, fn); err != nil {
			return err
		}
	}
	return nil
}

func (rf *rowFiles) scanPart(t, p int, fn func(arrow.RecordBatch) error) error {
	f, r, err := rf.open(t, p)
	if err != nil {
		return err
	}
	defer f.Close()
	defer r.Close()
	for i := range r.NumRecords() {
		rec, err := r.RecordBatchAt(i)
		if err != nil {
			return fmt.Errorf("read spilled rows of %s: %w", rowTables[t].Name, err)
		}
		err = fn(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// scanMovements merges the partitions' movements month by month: within a
// month by date, and on one date in partition order, which is the
// customers' order.
func (rf *rowFiles) scanMovements(ctx context.Context, fn func(arrow.RecordBatch) error) error {
	t := slices.Index(rowTables, schemas.MRRMovements)
	readers := make([]*ipc.FileReader, rf.parts)
	for p := range rf.parts {
		f, r, err := rf.open(t, p)
		if err != nil {
			return err
		}
		defer f.Close()
		defer r.Close()
		readers[p] = r
	}
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
		var recs []arrow.RecordBatch
		err := rf.scan(ctx, t, func(rec arrow.RecordBatch) error {
			rec.Retain()
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			releaseAll(recs)
			releaseAll(out[:])
			return out, err
		}
		out[t] = concatBatches(rf.mem, rowTables[t], recs)
		releaseAll(recs)
	}
	return out, nil
}

// concatBatches joins batches of a table into one.
func concatBatches(mem memory.Allocator, t *schemas.Table, recs []arrow.RecordBatch) arrow.RecordBatch {
	var rows []schemas.RowRef
	for b, rec := range recs {
		for i := range int32(rec.NumRows()) {
			rows = append(rows, schemas.RowRef{Batch: int32(b), Row: i})
		}
	}
	return schemas.Gather(mem, t, recs, rows)
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, rec := range recs {
		if rec != nil {
			rec.Release()
		}
	}
}
