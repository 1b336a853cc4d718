package jobs

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/schemas"
)

// tableRows reads a table of a warehouse as sorted CSV lines of columns.
func tableRows(t *testing.T, wh, name string, columns []string) []string {
	t.Helper()
	tbl := schemas.Lookup(name)
	if tbl == nil {
		t.Fatalf("no table %s", name)
	}
	w, err := store.Open(wh)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := load.ReadLocal(context.Background(), memory.DefaultAllocator, w, tbl)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, rec := range recs {
		idx := make([]int, len(columns))
		for i, c := range columns {
			idx[i] = -1
			for j, f := range rec.Schema().Fields() {
				if f.Name == c {
					idx[i] = j
				}
			}
			if idx[i] < 0 {
				t.Fatalf("table %s has no column %s", name, c)
			}
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			vals := make([]string, len(idx))
			for i, j := range idx {
				vals[i] = schemas.FormatValue(rec.Column(j), r)
			}
			rows = append(rows, strings.Join(vals, ","))
		}
		rec.Release()
	}
	slices.Sort(rows)
	return rows
}

func lookupTable(name string) *schemas.Table { return schemas.Lookup(name) }
