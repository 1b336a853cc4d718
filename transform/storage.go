package transform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
)

// TableFiles lists the files of a source's normalized table in the
// warehouse, in part order; none when it was never stored.
func TableFiles(w *store.Warehouse, t *schemas.Table, source string) []string {
	var out []string
	for k := 0; ; k++ {
		path := w.Path(schemas.NormalizedPart(t, source, k))
		if _, err := os.Stat(path); err != nil {
			return out
		}
		out = append(out, path)
	}
}

// StagedFiles lists the files of a source's normalized table as a run's
// transaction will leave them, in part order.
func StagedFiles(tx *store.Tx, t *schemas.Table, source string) []string {
	var out []string
	for k := 0; ; k++ {
		path := tx.Path(schemas.NormalizedPart(t, source, k))
		if path == "" {
			return out
		}
		out = append(out, path)
	}
}

// partRows bounds the rows of one file of a normalized table: a large
// table is written in several files at once.
var partRows = 1 << 21

// RejectedPath is the warehouse-relative file of one run's rejected rows.
func RejectedPath(runID string) string {
	return "normalized/rejected_rows/run_id=" + runID + ".parquet"
}

// Load reads a source's normalized tables from the warehouse; a source
// never stored gives an empty batch.
func Load(ctx context.Context, w *store.Warehouse, source string) (*Batch, error) {
	b := &Batch{Source: source}
	err := errors.Join(
		load(ctx, w, source, schemas.Customers, schemas.CustomersFrom, &b.Customers),
		load(ctx, w, source, schemas.Plans, schemas.PlansFrom, &b.Plans),
		load(ctx, w, source, schemas.InvoiceLines, linesFrom, &b.Lines),
		load(ctx, w, source, schemas.Transactions, schemas.TransactionsFrom, &b.Transactions),
		load(ctx, w, source, schemas.SubscriptionEvents, schemas.EventsFrom, &b.Events),
		load(ctx, w, source, schemas.Contacts, schemas.ContactsFrom, &b.Contacts),
	)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// linesFrom reads a batch of lines into records of their own.
func linesFrom(rec arrow.RecordBatch, out []*schemas.InvoiceLine) ([]*schemas.InvoiceLine, error) {
	ls, err := schemas.InvoiceLinesFrom(rec, nil)
	return append(out, schemas.Refs(ls)...), err
}

// load reads one normalized table of a source into records.
func load[T any](ctx context.Context, w *store.Warehouse, source string, t *schemas.Table,
	from func(arrow.RecordBatch, []T) ([]T, error), into *[]T) error {
	for _, path := range TableFiles(w, t, source) {
		recs, err := schemas.ReadParquetFile(ctx, memory.DefaultAllocator, path, t)
		if err != nil {
			return fmt.Errorf("load source %s: %w", source, err)
		}
		for _, r := range recs {
			if err == nil {
				*into, err = from(r, *into)
			}
			r.Release()
		}
		if err != nil {
			return fmt.Errorf("load source %s %s: %w", source, t.Name, err)
		}
	}
	return nil
}

// Staged are a source's normalized tables being written: the batches they
// are written from (which the engine can read meanwhile), and the writes.
type Staged struct {
	batches map[*schemas.Table]arrow.RecordBatch
	wg      sync.WaitGroup
	errs    []error
	took    time.Duration
}

// Batch returns the batch a normalized table is written from; it is valid
// until Release.
func (s *Staged) Batch(t *schemas.Table) arrow.RecordBatch { return s.batches[t] }

// Wait waits until every table is written, and returns what failed.
func (s *Staged) Wait() (time.Duration, error) {
	s.wg.Wait()
	return s.took, errors.Join(s.errs...)
}

// Release waits for the writes and frees the batches.
func (s *Staged) Release() {
	s.Wait()
	for _, r := range s.batches {
		r.Release()
	}
}

// Stage builds the batches of a source's normalized tables and starts
// writing them into a run's transaction, all at once; Wait says when they
// are written. A table whose content did not change is left as it is.
func Stage(tx *store.Tx, b *Batch) *Staged {
	start := time.Now()
	mem := memory.DefaultAllocator
	st := &Staged{batches: map[*schemas.Table]arrow.RecordBatch{
		schemas.Customers:          schemas.CustomersRecord(mem, b.Customers),
		schemas.Plans:              schemas.PlansRecord(mem, b.Plans),
		schemas.InvoiceLines:       schemas.InvoiceLinesRecord(mem, b.Lines),
		schemas.Transactions:       schemas.TransactionsRecord(mem, b.Transactions),
		schemas.SubscriptionEvents: schemas.EventsRecord(mem, b.Events),
		schemas.Contacts:           schemas.ContactsRecord(mem, b.Contacts),
	}}
	// The writes must not hold b: its records are let go while they go on.
	source := b.Source
	var writes sync.WaitGroup
	var mu sync.Mutex
	// Writers run alongside the engine: they get half the cores.
	slots := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))
	for t, rec := range st.batches {
		n := int(rec.NumRows())
		parts := max(1, (n+partRows-1)/partRows)
		for k := range parts {
			writes.Go(func() {
				slots <- struct{}{}
				defer func() { <-slots }()
				part := rec.NewSlice(int64(k*partRows), int64(min(n, (k+1)*partRows)))
				defer part.Release()
				_, err := tx.WriteFile(schemas.NormalizedPart(t, source, k), func(w io.Writer) error {
					return schemas.WriteParquet(w, t, part)
				})
				mu.Lock()
				st.errs = append(st.errs, err)
				mu.Unlock()
			})
		}
		// Parts beyond the new last one held rows that are now in others.
		for k := parts; tx.Exists(schemas.NormalizedPart(t, source, k)); k++ {
			tx.Remove(schemas.NormalizedPart(t, source, k))
		}
	}
	st.wg.Go(func() {
		writes.Wait()
		st.took = time.Since(start)
	})
	return st
}

// Forget schedules the removal of a source's normalized tables (reset).
func Forget(tx *store.Tx, source string) {
	for _, t := range schemas.Normalized {
		for k := 0; tx.Exists(schemas.NormalizedPart(t, source, k)); k++ {
			tx.Remove(schemas.NormalizedPart(t, source, k))
		}
	}
}

// StageRejected writes a run's rejected rows, when there are any.
func StageRejected(tx *store.Tx, runID string, rows []schemas.Rejected) error {
	if len(rows) == 0 {
		return nil
	}
	rec := schemas.RejectedRecord(memory.DefaultAllocator, rows)
	defer rec.Release()
	_, err := tx.WriteFile(RejectedPath(runID), func(w io.Writer) error {
		return schemas.WriteParquet(w, schemas.RejectedRows, rec)
	})
	return err
}
