package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
)

// writeFiles writes name -> content into dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runDir(t *testing.T, dir, warehouse string) (*Record, error) {
	t.Helper()
	cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return Run(context.Background(), cfg, Options{Warehouse: warehouse, Log: zerolog.Nop()})
}

const goodConfig = `as_of: 2024-03-31
sources:
  - name: billing
    kind: growpanel
    plans: plans.json
    customers: customers.ndjson
    invoices: invoices.csv
`

const goodPlans = `[
  {"id": "pro", "name": "Pro", "interval": "month", "currency": "usd"},
  {"id": "bad_plan", "name": "Bad", "interval": "fortnight", "currency": "usd"},
  {"id": "eur_plan", "name": "Bad currency", "interval": "month", "currency": "euro"}
]`

// Each malformed record becomes a rejected row naming the record, the
// field and the problem; the rest of the run still produces its tables.
func TestBadRecordsBecomeRejectedRows(t *testing.T) {
	dir, wh := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"config.yaml": goodConfig,
		"plans.json":  goodPlans,
		"customers.ndjson": `{"id": "c1", "name": "One", "country": "us"}
{"id": "c2", "name": "Two", "country": "USA"}
{"id": "c3", "name": "Three", "created": "yesterday"}
{"id": "c4", "name": "Four", "created": "2024-01-01T00:00:00Z", "created_date": "2024-02-01T00:00:00Z"}
{"id": "c5", "name": "Five"
{"name": "No id"}
{"id": "c6", "name": "Six"}
`,
		"invoices.csv": `id,customer_id,plan_id,type,invoice_date,amount,currency
i1,c1,pro,subscription,2024-01-01T00:00:00Z,9900,usd
i2,c1,pro,subscription,2024-02-01T00:00:00Z,99.5,usd
i3,c1,pro,subscription,not a date,9900,usd
i4,c9,pro,subscription,2024-01-01T00:00:00Z,9900,usd
i5,c2,pro,subscription,2024-01-01T00:00:00Z,9900,usd
i6,c1,bad_plan,subscription,2024-01-01T00:00:00Z,9900,usd
i7,c1,pro,renewal,2024-01-01T00:00:00Z,9900,usd
i8,c1,,subscription,2024-01-01T00:00:00Z,9900,usd
i9,c6,pro,subscription,2024-01-01T00:00:00Z
i10,c6,pro,subscription,2024-02-01T00:00:00Z,9900,usd
`,
	})
	rec, err := runDir(t, dir, wh)
	if err != nil {
		t.Fatal(err)
	}
	rows := tableRows(t, wh, "rejected_rows", []string{"entity", "record_id", "origin", "error"})
	want := []string{
		"customer,,customers.ndjson:6,field id: is required",
		"customer,c2,customers.ndjson:2,field country: \"USA\" is not an ISO 3166 alpha-2 country code",
		"customer,c3,customers.ndjson:3,field created: \"yesterday\" is not an ISO 8601 date-time",
		"customer,c4,customers.ndjson:4,fields created (\"2024-01-01T00:00:00Z\") and created_date (\"2024-02-01T00:00:00Z\") disagree",
		"customer,,customers.ndjson:5,line is not valid JSON:",
		"invoice,i2,invoices.csv:3,field amount: must be an integer number of minor units (cents), got \"99.5\"",
		"invoice,i3,invoices.csv:4,field invoice_date: \"not a date\" is not an ISO 8601 date-time",
		"invoice,i4,invoices.csv:5,customer \"c9\" does not exist in source \"billing\"",
		"invoice,i5,invoices.csv:6,customer \"c2\" was rejected: field country: \"USA\" is not an ISO 3166 alpha-2 country code",
		"invoice,i6,invoices.csv:7,plan \"bad_plan\" was rejected: field interval: \"fortnight\" is not one of day, week, month, year",
		"invoice,i7,invoices.csv:8,field type: \"renewal\" is not one of subscription, one-time, refund, cancellation",
		"invoice,i8,invoices.csv:9,field plan_id: is required for a subscription invoice",
		"invoice,i9,invoices.csv:10,row has 5 cells, the header has 7",
		"plan,bad_plan,plans.json:3,field interval: \"fortnight\" is not one of day, week, month, year",
		"plan,eur_plan,plans.json:4,field currency: \"euro\" is not an ISO 4217 currency code",
	}
	// Origins name the files as the config does, relative to its directory.
	for _, w := range want {
		found := slices.ContainsFunc(rows, func(r string) bool { return strings.HasPrefix(r, w) })
		if !found {
			t.Errorf("no rejected row like %q", w)
		}
	}
	if len(rows) != len(want) || rec.Rejected != len(want) {
		t.Errorf("%d rejected rows (record says %d), want %d:\n%s", len(rows), rec.Rejected, len(want), strings.Join(rows, "\n"))
	}
	// The good records made it through.
	got := tableRows(t, wh, "mrr_movements", []string{"date", "customer_id", "movement", "amount"})
	// (both lapse after the grace: as_of is past their paid month + 30 days)
	if !slices.Equal(got, []string{"2024-01-01,c1,new,9900", "2024-02-01,c1,churn,9900", "2024-02-01,c6,new,9900", "2024-03-01,c6,churn,9900"}) {
		t.Errorf("movements = %v", got)
	}
	raw := tableRows(t, wh, "rejected_rows", []string{"record_id", "raw"})
	if !slices.ContainsFunc(raw, func(r string) bool { return strings.HasPrefix(r, "i2,") && strings.Contains(r, `"amount":"99.5"`) }) {
		t.Errorf("the raw record of i2 was not kept: %v", raw)
	}
}

// A broken file stops the run with its path and position, and publishes
// nothing: the previous tables stay as they were.
func TestBrokenFileFailsTheRunAndChangesNothing(t *testing.T) {
	dir, wh := t.TempDir(), t.TempDir()
	files := map[string]string{
		"config.yaml":      strings.Replace(goodConfig, "invoices.csv", "invoices.json", 1),
		"plans.json":       `[{"id": "pro", "name": "Pro", "interval": "month", "currency": "usd"}]`,
		"customers.ndjson": `{"id": "c1", "name": "One"}` + "\n",
		"invoices.json": `[
  {"id": "i1", "customer_id": "c1", "plan_id": "pro", "type": "subscription", "date": "2024-01-01T00:00:00Z", "amount_cents": 9900, "currency": "usd"}
]`,
	}
	writeFiles(t, dir, files)
	if _, err := runDir(t, dir, wh); err != nil {
		t.Fatal(err)
	}
	before := tableRows(t, wh, "mrr_monthly", []string{"month", "mrr_end"})
	for name, broken := range map[string]string{
		"syntax": `[
  {"id": "i1", "customer_id": "c1", "plan_id": "pro", "type": "subscription", "date": "2024-01-01T00:00:00Z", "amount_cents": 19900, "currency": "usd"},
  {"id": "i2", "customer_id": "c1" "plan_id": "pro"}
]`,
		"truncated": `[
  {"id": "i1", "customer_id": "c1", "plan_id": "pro", "type": "subscription", "date": "2024-01-01T00:00:00Z", "amount_cents": 19900, "currency": "usd"},
  {"id": "i2", "customer_id": "c1", "pla`,
	} {
		t.Run(name, func(t *testing.T) {
			writeFiles(t, dir, map[string]string{"invoices.json": broken})
			_, err := runDir(t, dir, wh)
			var fe *extract.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FileError", err)
			}
			if fe.Line != 3 || !strings.HasSuffix(fe.Path, "invoices.json") {
				t.Errorf("error at %s line %d col %d (%v), want invoices.json line 3", fe.Path, fe.Line, fe.Col, err)
			}
			if !strings.Contains(err.Error(), "invoices.json:3:") {
				t.Errorf("message %q does not name file:line:col", err)
			}
			if after := tableRows(t, wh, "mrr_monthly", []string{"month", "mrr_end"}); !slices.Equal(after, before) {
				t.Errorf("a failed run changed mrr_monthly: %v -> %v", before, after)
			}
			if got := tableRows(t, wh, "invoice_lines", []string{"invoice_id", "amount"}); !slices.Equal(got, []string{"i1,9900"}) {
				t.Errorf("a failed run changed invoice_lines: %v", got)
			}
		})
	}
}

// In upsert mode records persist across runs until sent again; in replace
// mode each read is the whole state. A rerun with nothing new rewrites
// nothing.
func TestUpsertAndReplaceAcrossRuns(t *testing.T) {
	dir, wh := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"config.yaml":      goodConfig,
		"plans.json":       `[{"id": "pro", "name": "Pro", "interval": "month", "currency": "usd"}]`,
		"customers.ndjson": `{"id": "c1", "name": "One"}` + "\n" + `{"id": "c2", "name": "Two"}` + "\n",
		"invoices.csv": "id,customer_id,plan_id,type,invoice_date,amount,currency\n" +
			"i1,c1,pro,subscription,2024-01-01T00:00:00Z,9900,usd\ni2,c2,pro,subscription,2024-01-01T00:00:00Z,4900,usd\n",
	})
	if _, err := runDir(t, dir, wh); err != nil {
		t.Fatal(err)
	}
	rec, err := runDir(t, dir, wh)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range rec.Tables {
		if len(tr.FilesChanged) > 0 {
			t.Errorf("a rerun on the same input rewrote %s: %v", tr.Name, tr.FilesChanged)
		}
	}
	// The next export holds only i1, corrected.
	writeFiles(t, dir, map[string]string{"invoices.csv": "id,customer_id,plan_id,type,invoice_date,amount,currency\n" +
		"i1,c1,pro,subscription,2024-01-01T00:00:00Z,19900,usd\n"})
	if _, err := runDir(t, dir, wh); err != nil {
		t.Fatal(err)
	}
	if got := tableRows(t, wh, "invoice_lines", []string{"invoice_id", "amount"}); !slices.Equal(got, []string{"i1,19900", "i2,4900"}) {
		t.Errorf("upsert: invoice_lines = %v", got)
	}
	cfg := strings.Replace(goodConfig, "kind: growpanel", "kind: growpanel\n    mode: replace", 1)
	writeFiles(t, dir, map[string]string{"config.yaml": cfg})
	if _, err := runDir(t, dir, wh); err != nil {
		t.Fatal(err)
	}
	if got := tableRows(t, wh, "invoice_lines", []string{"invoice_id", "amount"}); !slices.Equal(got, []string{"i1,19900"}) {
		t.Errorf("replace: invoice_lines = %v", got)
	}
}

// A run leaves the caller's config as it was: the options' as_of and
// warehouse apply to the run only.
func TestRunLeavesTheConfigAlone(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"config.yaml":    "as_of: 2024-03-31\nsources:\n  - {name: s, kind: growpanel, plans: plans.json, customers: customers.json, invoices: invoices.json}\n",
		"plans.json":     `[{"id": "m", "name": "M", "interval": "month", "currency": "usd"}]`,
		"customers.json": `[{"id": "c", "name": "C"}]`,
		"invoices.json":  `[{"id": "i", "customer_id": "c", "plan_id": "m", "type": "subscription", "date": "2024-01-01", "amount": 100, "currency": "usd"}]`,
	})
	cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	before := *cfg
	wh := t.TempDir()
	rec, err := Run(context.Background(), cfg, Options{AsOf: "2024-02-15", Warehouse: wh, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if rec.AsOf != "2024-02-15" || cfg.AsOf != before.AsOf || cfg.Warehouse != before.Warehouse {
		t.Errorf("run as of %s; the config now says as_of %s, warehouse %s (was %s, %s)", rec.AsOf, cfg.AsOf, cfg.Warehouse, before.AsOf, before.Warehouse)
	}
	if _, err := os.Stat(filepath.Join(wh, "_state")); err != nil {
		t.Errorf("the run did not use the options' warehouse: %v", err)
	}
}
