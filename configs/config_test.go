package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func lookup(name string) (string, bool) {
	if name == "EXPORTS" {
		return "/data/exports", true
	}
	return "", false
}

func load(t *testing.T, name string) (*Config, error) {
	t.Helper()
	path := filepath.Join("testdata", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(path, data, lookup)
}

func TestGoodConfigs(t *testing.T) {
	c, err := load(t, "full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sources[0]
	var files testFiles
	if err := s.Decode(&files); err != nil {
		t.Fatal(err)
	}
	var db testDB
	if err := c.Sources[1].Decode(&db); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"warehouse", c.Warehouse, filepath.Join("testdata", "wh")},
		{"customers", string(files.Customers), filepath.Join("testdata", "exports", "customers*.json")},
		{"invoices (env, absolute)", string(files.Invoices), "/data/exports/invoices*.csv"},
		{"cancellation", c.Policies.Cancellation, CancelImmediate},
		{"refunds", c.Policies.Refunds, RefundCashOnly},
		{"mode", s.Mode, ModeReplace},
		{"timezone", c.Location().String(), "Europe/Copenhagen"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if q := db.Queries["customers"]; q != "select * from customers where updated_at > $1" || db.DSN != "/data/exports" {
		t.Errorf("a $1 in a query was expanded, or ${VAR} in dsn was not: %q %q", q, db.DSN)
	}
	if c.Policies.ChurnGraceDays != 14 || !c.Policies.RequirePayment || c.Policies.ReactivationWindowDays != 90 || *c.MaxRejectedRows != 10 {
		t.Errorf("policies = %+v, max_rejected_rows %v", c.Policies, *c.MaxRejectedRows)
	}

	c, err = load(t, "minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.Policies != d.Policies || c.AsOf != "now" || c.Timezone != "UTC" || c.MaxRejectedRows != nil {
		t.Errorf("defaults not set: %+v", c)
	}
	if c.Warehouse != filepath.Join("testdata", "warehouse") {
		t.Errorf("default warehouse = %s", c.Warehouse)
	}
}

// TestBadConfigs names, for each bad file, the error it must give: file,
// line and field.
var badConfigs = map[string]string{
	"unknown_top.bad.yaml":      "testdata/unknown_top.bad.yaml:2: unknown key polices",
	"grace.bad.yaml":            "testdata/grace.bad.yaml:2: policies.churn_grace_days: must be >= 0, not -1",
	"cancellation.bad.yaml":     `testdata/cancellation.bad.yaml:2: policies.cancellation: "at_once" is neither period_end nor immediate`,
	"as_of.bad.yaml":            `testdata/as_of.bad.yaml:1: as_of: "30/06/2024" is neither now nor a date YYYY-MM-DD`,
	"timezone.bad.yaml":         `testdata/timezone.bad.yaml:1: timezone: "Mars/Olympus" is not an IANA time zone`,
	"duplicate_source.bad.yaml": `testdata/duplicate_source.bad.yaml:3: sources[1].name: "b" is also the name of sources[0]`,
	"no_sources.bad.yaml":       "testdata/no_sources.bad.yaml:1: sources: at least one source is needed",
	"bigquery.bad.yaml":         "testdata/bigquery.bad.yaml:3: sink.project: is required for a bigquery sink",
	"currency.bad.yaml":         `testdata/currency.bad.yaml:1: reporting_currency: "dollars" is not a three-letter ISO 4217 code`,
	"mode.bad.yaml":             `testdata/mode.bad.yaml:2: sources[0].mode: "merge" is neither upsert nor replace`,
}

func TestBadConfigs(t *testing.T) {
	for file, want := range badConfigs {
		t.Run(file, func(t *testing.T) {
			_, err := load(t, file)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("%v is not an ErrConfig", err)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, want)
			}
		})
	}
}

// testFiles and testDB stand for kinds' config types (the kinds live in
// package extract): Decode is tested with them.
type testFiles struct {
	Customers Path `yaml:"customers"`
	Plans     Path `yaml:"plans"`
	Invoices  Path `yaml:"invoices"`
}

type testDB struct {
	DSN     string            `yaml:"dsn"`
	Cursor  string            `yaml:"cursor"`
	Queries map[string]string `yaml:"queries"`
}

// A source block's own errors come when its kind decodes it, not when
// the config loads: the config loads without the source's secrets.
var badSources = map[string]string{
	"unknown_source_key.source.bad.yaml": "testdata/unknown_source_key.source.bad.yaml:7: sources[0].invoice: is not a key of kind growpanel (it has customers, plans, invoices)",
	"missing_env.source.bad.yaml":        "testdata/missing_env.source.bad.yaml:4: sources[0].customers: environment variable NOT_SET_ANYWHERE is not set",
}

func TestBadSources(t *testing.T) {
	for file, want := range badSources {
		t.Run(file, func(t *testing.T) {
			c, err := load(t, file)
			if err != nil {
				t.Fatalf("the config does not load: %v", err)
			}
			var into testFiles
			err = c.Sources[0].Decode(&into)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("%v is not an ErrConfig", err)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, want)
			}
		})
	}
}

// NewSource makes a source in code that decodes like one read from a file.
func TestNewSource(t *testing.T) {
	src, err := NewSource("s", "files", "/data", map[string]any{"customers": "c.json", "plans": "/abs/p.json", "invoices": "i/*.csv", "mode": "replace"})
	if err != nil {
		t.Fatal(err)
	}
	var got testFiles
	if err := src.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Customers != "/data/c.json" || got.Plans != "/abs/p.json" || got.Invoices != "/data/i/*.csv" || src.Mode != ModeReplace {
		t.Errorf("decoded %+v, mode %q", got, src.Mode)
	}
	var db testDB
	if err := src.Decode(&db); err == nil || !strings.Contains(err.Error(), "sources[0].customers: is not a key of kind files (it has dsn, cursor, queries)") {
		t.Errorf("a key of another kind: %v", err)
	}
}

// Every bad file in testdata has its expected error above.
func TestEveryBadFileIsChecked(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.bad.yaml"))
	for _, f := range files {
		_, ok := badConfigs[filepath.Base(f)]
		_, okSource := badSources[filepath.Base(f)]
		if !ok && !okSource {
			t.Errorf("%s has no expected error in badConfigs or badSources", f)
		}
	}
}
