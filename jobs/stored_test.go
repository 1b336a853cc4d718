package jobs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/gen"
	"github.com/mrrflow/mrrflow/internal/store"
)

// martBytes reads every mart file of a warehouse, by path.
func martBytes(t *testing.T, wh string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(filepath.Join(wh, "marts"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		out[path] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A source that reads nothing new keeps its stored tables: the run does
// not load them into memory but streams its lines from the warehouse into
// the engine, in one piece or in partitions spilled under _staging, and
// every mart comes out byte-identical.
func TestStoredSourceStreamsIntoTheEngine(t *testing.T) {
	dir, wh := t.TempDir(), t.TempDir()
	if _, err := gen.GrowPanel(dir, gen.Options{Customers: 150, Months: 20, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	want := martBytes(t, wh)
	// The exports now hold nothing new.
	writeFiles(t, dir, map[string]string{"plans.json": "[]", "customers.ndjson": "", "invoices.csv": "id,customer_id,amount\n"})
	for _, budget := range []int{0, 700} {
		cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		rec, err := Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.Nop(), PartitionLines: budget})
		if err != nil {
			t.Fatal(err)
		}
		if !rec.Sources[0].Unchanged || first.Sources[0].Unchanged {
			t.Fatalf("budget %d: the source is not marked unchanged on the second run only", budget)
		}
		lines := first.Sources[0].Stored["invoice_lines"]
		if got := rec.Sources[0].Stored["invoice_lines"]; got != lines || lines == 0 {
			t.Errorf("budget %d: %d invoice lines stored, the first run stored %d", budget, got, lines)
		}
		if budget > 0 && rec.Partitions != (lines+budget-1)/budget {
			t.Errorf("budget %d: %d partitions for %d lines", budget, rec.Partitions, lines)
		}
		// Computed in partitions, the customers' rows went to disk and
		// were streamed to the marts; no run can update such an input, so
		// no incremental state is kept for it.
		_, err = os.Stat(filepath.Join(wh, IncrementalDir, "state.json"))
		if kept := err == nil; kept != (budget == 0) {
			t.Errorf("budget %d: incremental state kept: %v", budget, kept)
		}
		if inc := rec.Incremental; inc == nil || inc.Customers != 150 || (budget > 0 && (!inc.Full || inc.Recomputed != 150)) {
			t.Errorf("budget %d: incremental record %+v", budget, inc)
		}
		got := martBytes(t, wh)
		if len(got) != len(want) {
			t.Fatalf("budget %d: %d mart files, want %d", budget, len(got), len(want))
		}
		for path, data := range want {
			if !bytes.Equal(got[path], data) {
				t.Errorf("budget %d: %s changed", budget, path)
			}
		}
		if left, _ := os.ReadDir(filepath.Join(wh, "_staging")); len(left) != 0 {
			t.Errorf("budget %d: left in _staging: %v", budget, left)
		}
	}
}

// `mrrflow generate --format parquet` writes the normalized tables and a
// config that computes from them.
func TestGeneratedWarehouseRuns(t *testing.T) {
	dir := t.TempDir()
	st, err := gen.Warehouse(dir, gen.Options{Customers: 300, Months: 36, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Run(context.Background(), cfg, Options{Log: zerolog.Nop(), PartitionLines: st.Invoices / 3})
	if err != nil {
		t.Fatal(err)
	}
	s := rec.Sources[0]
	if !s.Unchanged || s.Stored["invoice_lines"] != st.Invoices || s.Stored["customers"] != 300 {
		t.Fatalf("source record %+v, generated %d lines", s, st.Invoices)
	}
	if rec.Partitions < 3 {
		t.Errorf("%d partitions with a budget of a third of the lines", rec.Partitions)
	}
	kinds := map[string]bool{}
	for _, r := range tableRows(t, filepath.Join(dir, "warehouse"), "mrr_movements", []string{"movement"}) {
		kinds[r] = true
	}
	for _, k := range []string{"new", "expansion", "contraction", "churn", "reactivation"} {
		if !kinds[k] {
			t.Errorf("no %s movement in the generated history (have %v)", k, kinds)
		}
	}
}

// A stored source with a currency that has no rate is loaded whole, so its
// lines become rejected rows exactly as if it had been read afresh.
func TestStoredSourceWithoutRateIsRejectedLikeAFreshOne(t *testing.T) {
	dir, stored, fresh := t.TempDir(), t.TempDir(), t.TempDir()
	if _, err := gen.GrowPanel(dir, gen.Options{Customers: 80, Months: 12, Seed: 11, EUR: true}); err != nil {
		t.Fatal(err)
	}
	config, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(wh string) *Record {
		t.Helper()
		rec, err := runDir(t, dir, wh)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	run(stored) // with the rates
	noRates := bytes.ReplaceAll(config, []byte("fx_rates: fx.csv\n"), nil)
	if bytes.Equal(noRates, config) {
		t.Fatal("the generated config names no fx_rates")
	}
	writeFiles(t, dir, map[string]string{"config.yaml": string(noRates)})
	want := run(fresh) // the exports read afresh, without rates
	exports := map[string]string{"plans.json": "[]", "customers.ndjson": "", "invoices.csv": "id,customer_id,amount\n"}
	writeFiles(t, dir, exports)
	got := run(stored) // nothing new, without rates
	if !got.Sources[0].Unchanged || want.Rejected == 0 || got.Rejected != want.Rejected {
		t.Fatalf("stored source: unchanged %v, %d rejected; read afresh: %d rejected", got.Sources[0].Unchanged, got.Rejected, want.Rejected)
	}
	a, b := martBytes(t, stored), martBytes(t, fresh)
	for path, data := range a {
		rel, _ := filepath.Rel(stored, path)
		if !bytes.Equal(data, b[filepath.Join(fresh, rel)]) {
			t.Errorf("%s differs from the fresh run's", rel)
		}
	}
}

// A source that breaks after another was staged fails the run: the first
// source's tables, written meanwhile, are not published, and nothing is
// left in staging.
func TestSecondSourceBreaksAfterTheFirstWasStaged(t *testing.T) {
	dir, wh := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"config.yaml": goodConfig + `  - name: other
    kind: growpanel
    plans: plans.json
    customers: customers.ndjson
    invoices: broken.json
`,
		"plans.json":       `[{"id": "pro", "name": "Pro", "interval": "month", "currency": "usd"}]`,
		"customers.ndjson": `{"id": "c1", "name": "One"}` + "\n",
		"invoices.csv":     "id,customer_id,plan_id,type,invoice_date,amount,currency\ni1,c1,pro,subscription,2024-01-01T00:00:00Z,9900,usd\n",
		"broken.json":      `[{"id": "i2", "customer_id": "c1", `,
	})
	if _, err := runDir(t, dir, wh); err == nil || !strings.Contains(err.Error(), "broken.json") {
		t.Fatalf("err = %v, want the broken file named", err)
	}
	for _, sub := range []string{"normalized", "marts"} {
		if entries, err := os.ReadDir(filepath.Join(wh, sub)); err == nil && len(entries) > 0 {
			t.Errorf("%s published after a failed run: %v", sub, entries)
		}
	}
	staging, _ := os.ReadDir(filepath.Join(wh, store.StagingDir))
	for _, e := range staging {
		left, _ := os.ReadDir(filepath.Join(wh, store.StagingDir, e.Name()))
		if len(left) > 0 {
			t.Errorf("staging %s left with %d entries", e.Name(), len(left))
		}
	}
}
