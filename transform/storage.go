package transform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
)

// TablePath is the warehouse-relative file of one source's normalized table.
func TablePath(t *schemas.Table, source string) string {
	return "normalized/" + t.Name + "/source=" + source + "/part-0.parquet"
}

// RejectedPath is the warehouse-relative file of one run's rejected rows.
func RejectedPath(runID string) string {
	return "normalized/rejected_rows/run_id=" + runID + ".parquet"
}

// Load reads a source's normalized tables from the warehouse; a source
// never stored gives an empty batch.
func Load(ctx context.Context, w *store.Warehouse, source string) (*Batch, error) {
	mem := memory.DefaultAllocator
	b := &Batch{Source: source}
	read := func(t *schemas.Table, fn func(arrow.RecordBatch) error) error {
		path := w.Path(TablePath(t, source))
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		recs, err := schemas.ReadParquetFile(ctx, mem, path, t)
		if err != nil {
			return fmt.Errorf("load source %s: %w", source, err)
		}
		defer func() {
			for _, r := range recs {
				r.Release()
			}
		}()
		for _, r := range recs {
			if err := fn(r); err != nil {
				return fmt.Errorf("load source %s %s: %w", source, t.Name, err)
			}
		}
		return nil
	}
	var err error
	if e := read(schemas.Customers, func(r arrow.RecordBatch) error {
		b.Customers, err = schemas.CustomersFrom(r, b.Customers)
		return err
	}); e != nil {
		return nil, e
	}
	if e := read(schemas.Plans, func(r arrow.RecordBatch) error {
		b.Plans, err = schemas.PlansFrom(r, b.Plans)
		return err
	}); e != nil {
		return nil, e
	}
	if e := read(schemas.InvoiceLines, func(r arrow.RecordBatch) error {
		b.Lines, err = schemas.InvoiceLinesFrom(r, b.Lines)
		return err
	}); e != nil {
		return nil, e
	}
	if e := read(schemas.Transactions, func(r arrow.RecordBatch) error {
		b.Transactions, err = schemas.TransactionsFrom(r, b.Transactions)
		return err
	}); e != nil {
		return nil, e
	}
	if e := read(schemas.SubscriptionEvents, func(r arrow.RecordBatch) error {
		b.Events, err = schemas.EventsFrom(r, b.Events)
		return err
	}); e != nil {
		return nil, e
	}
	if e := read(schemas.Contacts, func(r arrow.RecordBatch) error {
		b.Contacts, err = schemas.ContactsFrom(r, b.Contacts)
		return err
	}); e != nil {
		return nil, e
	}
	return b, nil
}

// Stage writes a source's normalized tables into a run's transaction; a
// table whose content did not change is left as it is.
func Stage(tx *store.Tx, b *Batch) error {
	mem := memory.DefaultAllocator
	write := func(t *schemas.Table, rec arrow.RecordBatch) error {
		defer rec.Release()
		_, err := tx.WriteFile(TablePath(t, b.Source), func(w io.Writer) error {
			return schemas.WriteParquet(w, t, rec)
		})
		return err
	}
	if err := write(schemas.Customers, schemas.CustomersRecord(mem, b.Customers)); err != nil {
		return err
	}
	if err := write(schemas.Plans, schemas.PlansRecord(mem, b.Plans)); err != nil {
		return err
	}
	if err := write(schemas.InvoiceLines, schemas.InvoiceLinesRecord(mem, b.Lines)); err != nil {
		return err
	}
	if err := write(schemas.Transactions, schemas.TransactionsRecord(mem, b.Transactions)); err != nil {
		return err
	}
	if err := write(schemas.SubscriptionEvents, schemas.EventsRecord(mem, b.Events)); err != nil {
		return err
	}
	return write(schemas.Contacts, schemas.ContactsRecord(mem, b.Contacts))
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
