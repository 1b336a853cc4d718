package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/schemas"
)

// An upsert source's files that an earlier successful run read, as they
// are now, are left out: a nightly drop of new files beside the history
// reads the new ones only, and the tables are those of a run that reads
// everything. A changed file is read again; --full, a reset and a replace
// source read every file.
func TestFilesAlreadyReadAreLeftOut(t *testing.T) {
	scenario := filepath.Join("testdata", "scenarios", "growpanel_lifecycle")
	dir := t.TempDir()
	for _, name := range []string{"plans.json", "customers.json"} {
		copyFile(t, filepath.Join(scenario, name), filepath.Join(dir, name))
	}
	// The invoices arrive as monthly files: the first half year, then the
	// rest.
	var invoices []map[string]any
	data, err := os.ReadFile(filepath.Join(scenario, "invoices.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &invoices); err != nil {
		t.Fatal(err)
	}
	byMonth := map[string][]map[string]any{}
	for _, inv := range invoices {
		m := inv["date"].(string)[:7]
		byMonth[m] = append(byMonth[m], inv)
	}
	os.Mkdir(filepath.Join(dir, "invoices"), 0o755)
	drop := func(months ...string) {
		t.Helper()
		for _, m := range months {
			data, _ := json.Marshal(byMonth[m])
			if err := os.WriteFile(filepath.Join(dir, "invoices", m+".json"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeConfig := func(extra string) *configs.Config {
		t.Helper()
		yaml := "as_of: 2024-09-20\nreporting_currency: usd\nsources:\n  - name: billing\n    kind: growpanel\n" +
			"    plans: plans.json\n    customers: customers.json\n    invoices: invoices/*.json\n" + extra
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := writeConfig("")
	wh := t.TempDir()
	run := func(opt Options, wantRead, wantSkipped int) SourceRecord {
		t.Helper()
		opt.Warehouse, opt.Log = wh, zerolog.Nop()
		rec, err := Run(context.Background(), cfg, opt)
		if err != nil {
			t.Fatal(err)
		}
		s := rec.Sources[0]
		if s.FilesRead != wantRead || s.FilesSkipped != wantSkipped {
			t.Fatalf("files read %d, skipped %d; want %d and %d", s.FilesRead, s.FilesSkipped, wantRead, wantSkipped)
		}
		return s
	}
	// sameAsReadingAll compares every table but the rejected rows (one
	// row per run that read them) with a fresh warehouse's that read all.
	sameAsReadingAll := func() {
		t.Helper()
		fresh := t.TempDir()
		if _, err := Run(context.Background(), cfg, Options{Warehouse: fresh, Log: zerolog.Nop()}); err != nil {
			t.Fatal(err)
		}
		for _, tbl := range schemas.All() {
			if tbl == schemas.RejectedRows {
				continue
			}
			if got, want := tableCSV(t, wh, tbl), tableCSV(t, fresh, tbl); !bytes.Equal(got, want) {
				t.Errorf("table %s after runs that left files out:\n%s\nreading every file:\n%s", tbl.Name, got, want)
			}
		}
	}

	drop("2024-01", "2024-02", "2024-03", "2024-04")
	run(Options{}, 6, 0)
	if s := run(Options{}, 0, 6); !s.Unchanged || s.Total().Read != 0 {
		t.Errorf("a run with no new file read %d records (unchanged %v); want none", s.Total().Read, s.Unchanged)
	}
	drop("2024-07", "2024-08", "2024-09")
	if s := run(Options{}, 3, 6); s.Accounts["invoice"].Read != len(byMonth["2024-07"])+len(byMonth["2024-08"])+len(byMonth["2024-09"]) {
		t.Errorf("read %d invoice records; want those of the 3 new files", s.Accounts["invoice"].Read)
	}
	sameAsReadingAll()

	// A file changed since it was read is read again.
	customers, _ := os.ReadFile(filepath.Join(dir, "customers.json"))
	customers = bytes.Replace(customers, []byte("Nordlys"), []byte("Nordlys AS"), 1)
	if err := os.WriteFile(filepath.Join(dir, "customers.json"), customers, 0o644); err != nil {
		t.Fatal(err)
	}
	if s := run(Options{}, 1, 8); s.Accounts["customer"].Updated != 1 {
		t.Errorf("the changed customers file: %+v; want 1 customer updated", s.Accounts["customer"])
	}
	sameAsReadingAll()

	run(Options{Full: true}, 9, 0)
	if _, err := Reset(context.Background(), cfg, "billing", Options{Warehouse: wh, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	run(Options{}, 9, 0)
	sameAsReadingAll()

	// A replace source's delivery is the whole truth: every file, every
	// run.
	cfg = writeConfig("    mode: replace\n")
	run(Options{}, 0, 0)
	run(Options{}, 0, 0)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
