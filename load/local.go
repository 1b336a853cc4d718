package load

import (
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
)

// MartDir is the warehouse-relative folder of a mart table.
func MartDir(t *schemas.Table) string { return "marts/" + t.Name }

// Written counts what a load wrote.
type Written struct {
	Table   string
	Rows    int64
	Files   int // files written or removed because their content changed
	Changed []string
}

// Local stages mart tables (a computation's result) into a run's
// transaction.
// mrr_movements is split into one file per month of its date; the other
// tables are one file each. A file whose content did not change is not
// rewritten, and a partition that no longer has rows is removed.
func Local(w *store.Warehouse, tx *store.Tx, tables []schemas.TableBatch) ([]Written, error) {
	var out []Written
	for _, tb := range tables {
		wr := Written{Table: tb.Table.Name, Rows: tb.NumRows()}
		kept := map[string]bool{}
		write := func(rel string, write func(io.Writer) error) error {
			changed, err := tx.WriteFile(rel, write)
			if err != nil {
				return fmt.Errorf("load %s: %w", tb.Table.Name, err)
			}
			if changed {
				wr.Changed = append(wr.Changed, rel)
			}
			kept[rel] = true
			return nil
		}
		var err error
		switch {
		case tb.Table == schemas.MRRMovements:
			// One file per month: a batch of the stream is one month, or
			// the whole table.
			err = tb.Each(func(rec arrow.RecordBatch) error {
				return writeMonths(rec, tb.Table, kept, write)
			})
			if err == nil && len(kept) == 0 {
				// No rows: one empty file.
				err = write(MartDir(tb.Table)+"/part-0.parquet", func(w io.Writer) error {
					return schemas.WriteParquetScan(w, tb.Table, func(func(arrow.RecordBatch) error) error { return nil })
				})
			}
		case tb.Rec == nil:
			err = write(MartDir(tb.Table)+"/part-0.parquet", func(w io.Writer) error { return schemas.WriteParquetScan(w, tb.Table, tb.Scan) })
		default:
			err = write(MartDir(tb.Table)+"/part-0.parquet", func(w io.Writer) error { return schemas.WriteParquet(w, tb.Table, tb.Rec) })
		}
		if err != nil {
			return nil, err
		}
		old, err := w.Glob(MartDir(tb.Table) + "/*.parquet")
		if err != nil {
			return nil, err
		}
		more, _ := w.Glob(MartDir(tb.Table) + "/*/*.parquet")
		for _, rel := range append(old, more...) {
			if !kept[rel] {
				tx.Remove(rel)
				wr.Changed = append(wr.Changed, rel)
			}
		}
		wr.Files = len(wr.Changed)
		out = append(out, wr)
	}
	return out, nil
}

// writeMonths writes a batch of a table sorted by its DATE column
// PartitionBy as one file per month, in month order; a month written
// already is an error.
func writeMonths(rec arrow.RecordBatch, t *schemas.Table, kept map[string]bool, write func(string, func(io.Writer) error) error) error {
	dates := rec.Column(t.Index(t.PartitionBy)).(*array.Date32).Date32Values()
	for i := 0; i < len(dates); {
		m := monthKey(dates[i])
		j := i
		for j < len(dates) && monthKey(dates[j]) == m {
			j++
		}
		rel := fmt.Sprintf("%s/month=%s/part-0.parquet", MartDir(t), m)
		if kept[rel] {
			return fmt.Errorf("load %s: the rows of %s come in two pieces", t.Name, m)
		}
		month := rec.NewSlice(int64(i), int64(j))
		err := write(rel, func(w io.Writer) error { return schemas.WriteParquet(w, t, month) })
		month.Release()
		if err != nil {
			return err
		}
		i = j
	}
	return nil
}

func monthKey(d arrow.Date32) string { return d.ToTime().Format("2006-01") }
