package load

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
)

// TableDir is the warehouse-relative folder holding a table's files.
func TableDir(t *schemas.Table) string {
	for _, n := range schemas.Normalized {
		if n == t {
			return "normalized/" + t.Name
		}
	}
	if t == schemas.RejectedRows {
		return "normalized/" + t.Name
	}
	return MartDir(t)
}

// ReadLocal reads every published file of a table in the local warehouse,
// in path order. The caller releases the batches.
func ReadLocal(ctx context.Context, mem memory.Allocator, w *store.Warehouse, t *schemas.Table) ([]arrow.RecordBatch, error) {
	root := w.Path(TableDir(t))
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".parquet") && !strings.HasPrefix(d.Name(), ".") {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil && !isNotExist(err) {
		return nil, fmt.Errorf("read table %s: %w", t.Name, err)
	}
	sort.Strings(paths)
	return schemas.ReadParquetFiles(ctx, mem, paths, t)
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// ReadText reads the named columns of a published table (every column when
// columns is empty) as text, row by row in file order: each value as
// schemas.FormatValue writes it, NULL as null. A column the table lacks is
// an error.
func ReadText(ctx context.Context, w *store.Warehouse, t *schemas.Table, columns []string, null string) ([][]string, error) {
	if len(columns) == 0 {
		for _, c := range t.Columns {
			columns = append(columns, c.Name)
		}
	}
	recs, err := ReadLocal(ctx, memory.DefaultAllocator, w, t)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var rows [][]string
	for _, rec := range recs {
		idx := make([]int, len(columns))
		for i, c := range columns {
			found := rec.Schema().FieldIndices(c)
			if len(found) == 0 {
				return nil, fmt.Errorf("table %s has no column %s", t.Name, c)
			}
			idx[i] = found[0]
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			row := make([]string, len(idx))
			for k, j := range idx {
				if col := rec.Column(j); col.IsNull(r) {
					row[k] = null
				} else {
					row[k] = schemas.FormatValue(col, r)
				}
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}
