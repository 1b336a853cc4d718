package scaleout

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/gen"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/jobs"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/schemas"
)

func TestMain(m *testing.M) {
	beam.Init()
	os.Exit(m.Run())
}

func onPrism(ctx context.Context, p *beam.Pipeline) error {
	_, err := prism.Execute(ctx, p)
	return err
}

// marts reads a warehouse's mart tables as text, all columns.
func marts(t *testing.T, wh string) map[string][][]string {
	t.Helper()
	w, err := store.Open(wh)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]string{}
	for _, tbl := range []*schemas.Table{schemas.CustomerMRRPeriods, schemas.MRRMovements, schemas.MRRMonthly, schemas.Cohorts,
		schemas.CustomerSnapshot, schemas.DataQuality} {
		rows, err := load.ReadText(context.Background(), w, tbl, nil, "NULL")
		if err != nil {
			t.Fatal(err)
		}
		out[tbl.Name] = rows
	}
	return out
}

// Every scenario of the main module's acceptance set, run on Prism in
// 1, 3, 8 and 32 shards, gives the tables mrrflow run gives.
func TestScenariosOnPrism(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("..", "..", "jobs", "testdata", "scenarios", "*", "config.yaml"))
	if len(dirs) == 0 {
		t.Fatal("no scenarios under jobs/testdata/scenarios")
	}
	for _, cfgPath := range dirs {
		if _, err := os.Stat(filepath.Join(filepath.Dir(cfgPath), "error.txt")); err == nil {
			continue // a run that must fail computes nothing
		}
		t.Run(filepath.Base(filepath.Dir(cfgPath)), func(t *testing.T) {
			cfg, err := configs.Load(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			one := t.TempDir()
			if _, err := jobs.Run(context.Background(), cfg, jobs.Options{Warehouse: one, Log: zerolog.Nop()}); err != nil {
				t.Fatal(err)
			}
			want := marts(t, one)
			for _, shards := range []int{1, 3, 8, 32} {
				wh := t.TempDir()
				_, err := jobs.Run(context.Background(), cfg, jobs.Options{Warehouse: wh, Log: zerolog.Nop(), Compute: Runner{Shards: shards, Execute: onPrism}.Compute})
				if err != nil {
					t.Fatalf("%d shards: %v", shards, err)
				}
				got := marts(t, wh)
				for name, rows := range want {
					if !reflect.DeepEqual(got[name], rows) {
						t.Errorf("%d shards: table %s differs from one machine's:\n%v\nwant:\n%v", shards, name, got[name], rows)
					}
				}
			}
		})
	}
}

// A run whose pipeline fails publishes nothing.
func TestAFailedPipelineChangesNothing(t *testing.T) {
	cfg, err := configs.Load(filepath.Join("..", "..", "jobs", "testdata", "scenarios", "currencies", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wh := t.TempDir()
	failing := func(ctx context.Context, p *beam.Pipeline) error { return errors.New("the workers are gone") }
	if _, err := jobs.Run(context.Background(), cfg, jobs.Options{Warehouse: wh, Log: zerolog.Nop(), Compute: Runner{Shards: 4, Execute: failing}.Compute}); err == nil ||
		!strings.Contains(err.Error(), "the workers are gone") {
		t.Fatalf("a failed pipeline: %v", err)
	}
	w, err := store.Open(wh)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := load.ReadText(context.Background(), w, schemas.MRRMonthly, nil, "NULL"); err == nil && len(rows) > 0 {
		t.Errorf("mrr_monthly was published: %d rows", len(rows))
	}
}

// Generated exports of 1M invoice lines in two currencies (usd, and eur
// for every fourth customer), stored by a run on one machine: the next
// run on Prism reads the stored lines by row group, and its tables are
// the bytes of the run on one machine, in 1, 3, 8 and 32 shards.
func TestAMillionLinesOnPrism(t *testing.T) {
	if testing.Short() {
		t.Skip("1M lines: not in -short")
	}
	dir := t.TempDir()
	st, err := gen.GrowPanel(dir, gen.Options{Customers: 100_000, Months: 24, Seed: 7, EUR: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Invoices < 900_000 {
		t.Fatalf("%d invoice lines generated; want about 1M", st.Invoices)
	}
	cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(dir, "one")
	if _, err := jobs.Run(context.Background(), cfg, jobs.Options{Warehouse: one, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	want := martFiles(t, one)
	for _, shards := range []int{1, 3, 8, 32} {
		wh := filepath.Join(dir, fmt.Sprintf("beam-%d", shards))
		if err := os.CopyFS(wh, os.DirFS(one)); err != nil {
			t.Fatal(err)
		}
		// Wipe the marts: the run must write them all again.
		if err := os.RemoveAll(filepath.Join(wh, "marts")); err != nil {
			t.Fatal(err)
		}
		rec, err := jobs.Run(context.Background(), cfg, jobs.Options{Warehouse: wh, Log: zerolog.Nop(), Compute: Runner{Shards: shards, Execute: onPrism}.Compute})
		if err != nil {
			t.Fatalf("%d shards: %v", shards, err)
		}
		if s := rec.Sources[0]; !s.Unchanged {
			t.Fatalf("%d shards: the source was read again (%+v); the stored lines should be", shards, s)
		}
		if got := martFiles(t, wh); !reflect.DeepEqual(got, want) {
			t.Errorf("%d shards: the mart files differ from one machine's", shards)
		}
	}
}

// martFiles are the bytes of a warehouse's mart files, by path.
func martFiles(t *testing.T, wh string) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := filepath.Join(wh, "marts")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(root, path)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no mart file")
	}
	return out
}

// Prism reports the bytes the split sent to the shards.
func TestShuffledBytes(t *testing.T) {
	cfg, err := configs.Load(filepath.Join("..", "..", "jobs", "testdata", "scenarios", "currencies", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	execute := func(ctx context.Context, p *beam.Pipeline) error {
		res, err := prism.Execute(ctx, p)
		n = ShuffledBytes(res)
		return err
	}
	if _, err := jobs.Run(context.Background(), cfg, jobs.Options{Warehouse: t.TempDir(), Log: zerolog.Nop(), Compute: Runner{Shards: 3, Execute: execute}.Compute}); err != nil {
		t.Fatal(err)
	}
	if n <= 0 {
		t.Errorf("shuffled bytes: %d", n)
	}
	if ShuffledBytes(nil) != 0 {
		t.Error("no result, some bytes")
	}
}
