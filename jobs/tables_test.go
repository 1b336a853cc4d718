package jobs

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/schemas"
)

// tableRows reads a table of a warehouse as sorted lines of the columns'
// values joined by commas (NULL as empty).
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
	text, err := load.ReadText(context.Background(), w, tbl, columns, "")
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]string, len(text))
	for i, r := range text {
		rows[i] = strings.Join(r, ",")
	}
	slices.Sort(rows)
	return rows
}

func lookupTable(name string) *schemas.Table { return schemas.Lookup(name) }
