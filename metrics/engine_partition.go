package metrics

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/mrrflow/mrrflow/internal/mempool"
	"github.com/mrrflow/mrrflow/schemas"
)

// DefaultPartitionLines is the most invoice lines the engine holds at once
// when Options.PartitionLines is 0: about 2.5 GiB of lines and their
// encoding.
const DefaultPartitionLines = 16 << 20

// A larger input is computed in partitions of customers: a customer's
// partition is a hash of its source and id (Shard), and there are enough
// partitions for about PartitionLines lines each (engine_shards.go). The
// lines are streamed once, each to its partition's file (Arrow IPC) under
// SpillDir; each partition is then read back with its customers and
// events and computed whole, by an engine of its own, and its rows go to
// files of their own (engine_rows.go). Nothing is kept per customer across
// partitions but those files: the month and cohort accumulators add up
// over disjoint customers, and the rows are merged in the tables' order
// when they are read. The tables are byte-identical to those of one piece
// (engine_partition_test.go).

// lineCount is the number of invoice lines of the input, without reading
// the files' data.
func (in *Input) lineCount() (int, error) {
	n := in.routedLines
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
	if in.routed != nil {
		return prefetched(ctx, in.routed, fn)
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
