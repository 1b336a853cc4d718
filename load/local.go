package load

import (
	"fmt"
	"io"
	"maps"
	"slices"

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
		wr := Written{Table: tb.Table.Name, Rows: tb.Rec.NumRows()}
		parts := map[string]arrow.RecordBatch{}
		if tb.Table == schemas.MRRMovements {
			parts = byMonth(tb.Rec, tb.Table.Index(tb.Table.PartitionBy))
		} else {
			tb.Rec.Retain()
			parts[MartDir(tb.Table)+"/part-0.parquet"] = tb.Rec
		}
		kept := map[string]bool{}
		for _, rel := range slices.Sorted(maps.Keys(parts)) {
			rec := parts[rel]
			changed, err := tx.WriteFile(rel, func(wr io.Writer) error { return schemas.WriteParquet(wr, tb.Table, rec) })
			rec.Release()
			delete(parts, rel)
			if err != nil {
				for _, r := range parts {
					r.Release()
				}
				return nil, fmt.Errorf("load %s: %w", tb.Table.Name, err)
			}
			if changed {
				wr.Changed = append(wr.Changed, rel)
			}
			kept[rel] = true
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

// byMonth slices a batch sorted by a DATE column into one batch per month,
// keyed by the partition's file path.
func byMonth(rec arrow.RecordBatch, col int) map[string]arrow.RecordBatch {
	out := map[string]arrow.RecordBatch{}
	dates := rec.Column(col).(*array.Date32).Date32Values()
	name := rec.Schema().Metadata()
	table, _ := name.GetValue("table")
	for i := 0; i < len(dates); {
		m := monthKey(dates[i])
		j := i
		for j < len(dates) && monthKey(dates[j]) == m {
			j++
		}
		out[fmt.Sprintf("marts/%s/month=%s/part-0.parquet", table, m)] = rec.NewSlice(int64(i), int64(j))
		i = j
	}
	if len(dates) == 0 {
		rec.Retain()
		out["marts/"+table+"/part-0.parquet"] = rec
	}
	return out
}

func monthKey(d arrow.Date32) string { return d.ToTime().Format("2006-01") }
