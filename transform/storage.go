package transform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

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

// Stage writes a source's normalized tables into a run's transaction, all
// at once; a table whose content did not change is left as it is.
func Stage(tx *store.Tx, b *Batch) error {
	mem := memory.DefaultAllocator
	tables := []struct {
		table *schemas.Table
		rec   func() arrow.RecordBatch
	}{
		{schemas.Customers, func() arrow.RecordBatch { return schemas.CustomersRecord(mem, b.Customers) }},
		{schemas.Plans, func() arrow.RecordBatch { return schemas.PlansRecord(mem, b.Plans) }},
		{schemas.InvoiceLines, func() arrow.RecordBatch { return schemas.InvoiceLinesRecord(mem, b.Lines) }},
		{schemas.Transactions, func() arrow.RecordBatch { return schemas.TransactionsRecord(mem, b.Transactions) }},
		{schemas.SubscriptionEvents, func() arrow.RecordBatch { return schemas.EventsRecord(mem, b.Events) }},
		{schemas.Contacts, func() arrow.RecordBatch { return schemas.ContactsRecord(mem, b.Contacts) }},
	}
	errs := make([]error, len(tables))
	var wg sync.WaitGroup
	for i, t := range tables {
		wg.Go(func() {
			rec := t.rec()
			defer rec.Release()
			_, errs[i] = tx.WriteFile(TablePath(t.table, b.Source), func(w io.Writer) error {
				return schemas.WriteParquet(w, t.table, rec)
			})
		})
	}
	wg.Wait()
	return errors.Join(errs...)
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
