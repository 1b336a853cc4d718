package transform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
)

// TablePath is the warehouse-relative file of one source's normalized table.
func TablePath(t *schemas.Table, source string) string { return schemas.NormalizedPath(t, source) }

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
		load(ctx, w, source, schemas.InvoiceLines, schemas.InvoiceLinesFrom, &b.Lines),
		load(ctx, w, source, schemas.Transactions, schemas.TransactionsFrom, &b.Transactions),
		load(ctx, w, source, schemas.SubscriptionEvents, schemas.EventsFrom, &b.Events),
		load(ctx, w, source, schemas.Contacts, schemas.ContactsFrom, &b.Contacts),
	)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// load reads one normalized table of a source into records.
func load[T any](ctx context.Context, w *store.Warehouse, source string, t *schemas.Table,
	from func(arrow.RecordBatch, []T) ([]T, error), into *[]T) error {
	path := w.Path(TablePath(t, source))
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	recs, err := schemas.ReadParquetFile(ctx, memory.DefaultAllocator, path, t)
	if err != nil {
		return fmt.Errorf("load source %s: %w", source, err)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, r := range recs {
		if *into, err = from(r, *into); err != nil {
			return fmt.Errorf("load source %s %s: %w", source, t.Name, err)
		}
	}
	return nil
}

// Staged are a source's normalized tables being written: the batches they
// are written from (which the engine can read meanwhile), and the writes.
type Staged struct {
	Customers, Plans, Lines, Events arrow.RecordBatch
	others                          []arrow.RecordBatch
	wg                              sync.WaitGroup
	errs                            []error
	took                            time.Duration
}

// Wait waits until every table is written, and returns what failed.
func (s *Staged) Wait() (time.Duration, error) {
	s.wg.Wait()
	return s.took, errors.Join(s.errs...)
}

// Release waits for the writes and frees the batches.
func (s *Staged) Release() {
	s.Wait()
	for _, r := range append([]arrow.RecordBatch{s.Customers, s.Plans, s.Lines, s.Events}, s.others...) {
		r.Release()
	}
}

// Stage builds the batches of a source's normalized tables and starts
// writing them into a run's transaction, all at once; Wait says when they
// are written. A table whose content did not change is left as it is.
func Stage(tx *store.Tx, b *Batch) *Staged {
	start := time.Now()
	mem := memory.DefaultAllocator
	st := &Staged{others: make([]arrow.RecordBatch, 2)}
	tables := []struct {
		table *schemas.Table
		rec   arrow.RecordBatch
	}{
		{schemas.Customers, schemas.CustomersRecord(mem, b.Customers)},
		{schemas.Plans, schemas.PlansRecord(mem, b.Plans)},
		{schemas.InvoiceLines, schemas.InvoiceLinesRecord(mem, b.Lines)},
		{schemas.Transactions, schemas.TransactionsRecord(mem, b.Transactions)},
		{schemas.SubscriptionEvents, schemas.EventsRecord(mem, b.Events)},
		{schemas.Contacts, schemas.ContactsRecord(mem, b.Contacts)},
	}
	st.Customers, st.Plans, st.Lines, st.others[0], st.Events, st.others[1] =
		tables[0].rec, tables[1].rec, tables[2].rec, tables[3].rec, tables[4].rec, tables[5].rec
	st.errs = make([]error, len(tables))
	var writes sync.WaitGroup
	for i, t := range tables {
		writes.Go(func() {
			_, st.errs[i] = tx.WriteFile(TablePath(t.table, b.Source), func(w io.Writer) error {
				return schemas.WriteParquet(w, t.table, t.rec)
			})
		})
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
		tx.Remove(TablePath(t, source))
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
