package jobs

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/schemas"
)

// fixtureDirs lists the shared fixtures (../shared/fixtures beside the
// repository, or $MRRFLOW_FIXTURES) and our own under testdata/fixtures.
func fixtureDirs(t *testing.T) []string {
	t.Helper()
	shared := os.Getenv("MRRFLOW_FIXTURES")
	if shared == "" {
		shared = filepath.Join("..", "..", "shared", "fixtures")
	}
	var dirs []string
	for _, root := range []string{shared, filepath.Join("testdata", "fixtures")} {
		entries, err := os.ReadDir(root)
		if err != nil {
			if root == shared {
				t.Fatalf("shared fixtures not found at %s (set MRRFLOW_FIXTURES): %v", root, err)
			}
			continue
		}
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join(root, e.Name()))
			}
		}
	}
	if len(dirs) == 0 {
		t.Fatal("no fixtures found")
	}
	return dirs
}

// TestFixtures runs every fixture folder through the real pipeline and
// compares each expected/<table>.csv as fixtures/README.md says.
func TestFixtures(t *testing.T) {
	for _, dir := range fixtureDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range cfg.Sources {
				if _, ok := extract.Lookup(s.Kind); !ok {
					t.Skipf("source kind %s is not implemented yet", s.Kind)
				}
			}
			wh := t.TempDir()
			if _, err := Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.Nop()}); err != nil {
				t.Fatal(err)
			}
			expected, _ := filepath.Glob(filepath.Join(dir, "expected", "*.csv"))
			if len(expected) == 0 {
				t.Fatal("fixture has no expected/*.csv")
			}
			for _, path := range expected {
				compareTable(t, wh, path)
			}
		})
	}
}

// compareTable compares one table of a warehouse with an expected CSV:
// only the CSV's columns, rows in sorted order, values as text.
func compareTable(t *testing.T, wh, path string) {
	t.Helper()
	name := strings.TrimSuffix(filepath.Base(path), ".csv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	header := want[0]
	got := tableRows(t, wh, name, header)
	wantRows := make([]string, 0, len(want)-1)
	for _, r := range want[1:] {
		wantRows = append(wantRows, strings.Join(r, ","))
	}
	slices.Sort(wantRows)
	if !slices.Equal(got, wantRows) {
		t.Errorf("table %s differs (columns %s)\n got:\n  %s\nwant:\n  %s", name, strings.Join(header, ","),
			strings.Join(got, "\n  "), strings.Join(wantRows, "\n  "))
	}
}

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
