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
	var out []arrow.RecordBatch
	for _, p := range paths {
		recs, err := schemas.ReadParquetFile(ctx, mem, p, t)
		if err != nil {
			for _, r := range out {
				r.Release()
			}
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
