package jobs

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/schemas"
)

// update rewrites the expected tables of testdata/scenarios from what the
// code computes now: `go test ./jobs -run TestScenarios -update`, then read
// the diff before committing it.
var update = flag.Bool("update", false, "rewrite the expected tables of testdata/scenarios")

// volatileColumns differ from run to run and are left out of the goldens.
var volatileColumns = map[string]bool{"run_id": true}

// TestScenarios runs every folder of testdata/scenarios through the real
// pipeline and compares every table it wrote, all columns, with the
// folder's expected/<table>.csv. A table the run left empty has no file;
// a file for a table the run left empty fails the test. A folder with an
// error.txt is a run that must fail, with each of its lines in the error.
func TestScenarios(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*", "config.yaml"))
	if len(dirs) == 0 {
		t.Fatal("no scenarios under testdata/scenarios")
	}
	for _, cfgPath := range dirs {
		dir := filepath.Dir(cfgPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			wh := t.TempDir()
			cfg, err := configs.Load(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.Nop()})
			if wantErr, rerr := os.ReadFile(filepath.Join(dir, "error.txt")); rerr == nil {
				checkRunError(t, err, string(wantErr), wh)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			expected := filepath.Join(dir, "expected")
			if *update {
				if err := os.RemoveAll(expected); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(expected, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, tbl := range schemas.All() {
				got := tableCSV(t, wh, tbl)
				path := filepath.Join(expected, tbl.Name+".csv")
				if *update {
					if got != nil {
						if err := os.WriteFile(path, got, 0o644); err != nil {
							t.Fatal(err)
						}
					}
					continue
				}
				want, err := os.ReadFile(path)
				if os.IsNotExist(err) {
					want, err = nil, nil
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("table %s differs from %s (run with -update to rewrite, then read the diff)\n got:\n%s\nwant:\n%s",
						tbl.Name, path, got, want)
				}
			}
		})
	}
}

// checkRunError checks a scenario that must fail: the error holds each
// line of error.txt, and no table was published.
func checkRunError(t *testing.T, err error, want, wh string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the run succeeded; error.txt wants it to fail with:\n%s", want)
	}
	for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
		if !strings.Contains(err.Error(), line) {
			t.Errorf("error %q does not say %q", err, line)
		}
	}
	for _, tbl := range schemas.All() {
		if got := tableCSV(t, wh, tbl); got != nil {
			t.Errorf("a failed run published table %s:\n%s", tbl.Name, got)
		}
	}
}

// tableCSV reads a whole table of a warehouse as CSV: a header of its
// columns (less the volatile ones), then its rows sorted as text; NULL is
// written NULL. An empty table is nil.
func tableCSV(t *testing.T, wh string, tbl *schemas.Table) []byte {
	t.Helper()
	w, err := store.Open(wh)
	if err != nil {
		t.Fatal(err)
	}
	var header []string
	for _, c := range tbl.Columns {
		if !volatileColumns[c.Name] {
			header = append(header, c.Name)
		}
	}
	rows, err := load.ReadText(context.Background(), w, tbl, header, "NULL")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		return nil
	}
	slices.SortFunc(rows, func(a, b []string) int { return slices.Compare(a, b) })
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write(header)
	cw.WriteAll(rows)
	return buf.Bytes()
}

// TestSharedFixtures runs the extra acceptance set kept outside the
// repository, when MRRFLOW_FIXTURES names its folder: each fixture's
// expected/<table>.csv holds some columns of a table, compared as text in
// sorted order. Without the variable the test says so and does nothing.
func TestSharedFixtures(t *testing.T) {
	root := os.Getenv("MRRFLOW_FIXTURES")
	if root == "" {
		t.Skip("MRRFLOW_FIXTURES is not set: the shared acceptance fixtures are not run")
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "config.yaml"))
	if len(dirs) == 0 {
		t.Fatalf("MRRFLOW_FIXTURES=%s holds no */config.yaml", root)
	}
	for _, cfgPath := range dirs {
		dir := filepath.Dir(cfgPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, err := configs.Load(cfgPath)
			if err != nil {
				t.Fatal(err)
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
