package extract

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/schemas"
)

type seen struct {
	entity schemas.Entity
	origin string
	fields string
	err    string
}

// extractAll runs a growpanel source over files written into a folder.
func extractAll(t *testing.T, files map[string]string) ([]seen, error) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		data := []byte(content)
		if strings.HasSuffix(name, ".gz") {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(data)
			zw.Close()
			data = b.Bytes()
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	find := func(prefix string) string {
		for name := range files {
			if strings.HasPrefix(name, prefix) {
				return filepath.Join(dir, name)
			}
		}
		t.Fatalf("no %s file", prefix)
		return ""
	}
	src := mustSource(t, "s", "growpanel", map[string]any{"plans": find("plans"), "customers": find("customers"), "invoices": find("invoices")})
	ex, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	var out []seen
	err = ex.Extract(context.Background(), func(r *Record) error {
		s := seen{entity: r.Entity, origin: filepath.Base(r.Origin)}
		var parts []string
		for _, name := range []string{"customer_id", "plan_id", "invoice_id", "interval_unit", "interval_count", "invoice_date", "amount", "kind", "created_at", "period_start"} {
			if v := r.Get(name); v.Present() {
				parts = append(parts, name+"="+v.Text)
			}
		}
		if len(r.Attrs) > 0 {
			parts = append(parts, "attrs="+r.AttrsJSON())
		}
		s.fields = strings.Join(parts, " ")
		if r.Err != nil {
			s.err = r.Err.Error()
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

func TestGrowPanelFormatsAndSpellings(t *testing.T) {
	got, err := extractAll(t, map[string]string{
		"plans.json": `{"plans": [
  {"id": "a", "interval": "month", "interval_count": 1},
  {"id": "b", "billing_freq": "year", "billing_freq_count": 2}
]}`,
		"customers.ndjson.gz": `{"id": "c1", "created": "2024-01-01T00:00:00Z", "metadata": {"industry": "Tech", "size": 50}}` + "\n\n" +
			`{"id": "c2", "created_date": "2024-01-02T00:00:00Z", "custom_variables": {"tier": "gold"}, "data_source": "ds_1"}` + "\n",
		"invoices.csv": "id,customer_id,type,date,amount_cents,start_date,notes,currency\n" +
			"i1,c1,subscription,2024-01-01,9900,2024-01-01,\"two\nlines\",usd\n" +
			"i2,c2,one-time,2024-01-05,500,,,usd\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{schemas.EntityPlan, "plans.json:2", "plan_id=a interval_unit=month interval_count=1", ""},
		{schemas.EntityPlan, "plans.json:3", "plan_id=b interval_unit=year interval_count=2", ""},
		{schemas.EntityCustomer, "customers.ndjson.gz:1", `customer_id=c1 created_at=2024-01-01T00:00:00Z attrs={"industry":"Tech","size":"50"}`, ""},
		{schemas.EntityCustomer, "customers.ndjson.gz:3", `customer_id=c2 created_at=2024-01-02T00:00:00Z attrs={"data_source":"ds_1","tier":"gold"}`, ""},
		{schemas.EntityInvoice, "invoices.csv:2", "customer_id=c1 invoice_id=i1 invoice_date=2024-01-01 amount=9900 kind=subscription period_start=2024-01-01", ""},
		{schemas.EntityInvoice, "invoices.csv:4", "customer_id=c2 invoice_id=i2 invoice_date=2024-01-05 amount=500 kind=one-time", ""},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got\n  %v\nwant\n  %v", got, want)
	}
}

func TestGrowPanelRecordErrors(t *testing.T) {
	got, err := extractAll(t, map[string]string{
		"plans.json":       `[{"id": "a", "interval": "month", "billing_freq": "year"}, 42]`,
		"customers.ndjson": `{"id": "c1"` + "\n",
		"invoices.csv":     "id,customer_id,type,date,amount,currency\ni1,c1,subscription,2024-01-01,100,usd,extra\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	wantErrs := []string{
		`fields interval ("month") and billing_freq ("year") disagree`,
		"not a JSON object: found a JSON number",
		"line is not valid JSON: unexpected end of JSON input",
		"row has 7 cells, the header has 6",
	}
	if len(got) != len(wantErrs) {
		t.Fatalf("got %d records: %v", len(got), got)
	}
	for i, w := range wantErrs {
		if !strings.Contains(got[i].err, w) {
			t.Errorf("record %d (%s): error %q, want %q", i, got[i].origin, got[i].err, w)
		}
	}
}

func TestGrowPanelFileErrors(t *testing.T) {
	for name, c := range map[string]struct {
		plans     string
		line, col int
	}{
		"syntax":      {"[\n  {\"id\": \"a\"},\n  {\"id\" \"b\"}\n]", 3, 9},
		"truncated":   {"[\n  {\"id\": \"a\"},\n  {\"id\": ", 3, 10},
		"not records": {"\"plans\"", 1, 8},
		"trailing":    {"[]\n[]", 2, 2},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := extractAll(t, map[string]string{"plans.json": c.plans, "customers.json": "[]", "invoices.json": "[]"})
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FileError", err)
			}
			if fe.Line != c.line || fe.Col != c.col {
				t.Errorf("%v: at %d:%d, want %d:%d", err, fe.Line, fe.Col, c.line, c.col)
			}
		})
	}
	ex, err := Open(mustSource(t, "s", "growpanel", map[string]any{
		"plans": filepath.Join(t.TempDir(), "plans*.json"), "customers": "c.json", "invoices": "i.json"}))
	if err != nil {
		t.Fatal(err)
	}
	err = ex.Extract(context.Background(), func(*Record) error { return nil })
	if !errors.Is(err, ErrNoFiles) {
		t.Errorf("a pattern matching nothing: %v", err)
	}
}

// mustSource makes a source in code with the keys of its block.
func mustSource(t testing.TB, name, kind string, keys map[string]any) configs.Source {
	t.Helper()
	src, err := configs.NewSource(name, kind, "", keys)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestValidateSources(t *testing.T) {
	for _, c := range []struct {
		kind string
		keys map[string]any
		want string
	}{
		{"chargebee", nil, `unknown kind "chargebee"`},
		{"growpanel", map[string]any{"plans": "p.json", "customers": "c.json"}, "sources[0].invoices: is required"},
		{"growpanel", map[string]any{"plans": "p.json", "customers": "c.json", "invoices": "i.json", "dsn": "x"},
			"sources[0].dsn: is not a key of kind growpanel (it has customers, plans, invoices)"},
		{"growpanel", map[string]any{"plans": "p.xml", "customers": "c.json", "invoices": "i.json"}, `sources[0].plans: "p.xml": name files`},
		{"growpanel", map[string]any{"plans": "p[.json", "customers": "c.json", "invoices": "i.json"}, `sources[0].plans: bad pattern`},
		{"chartmogul", map[string]any{"path": "a.csv"}, `sources[0].path: "a.csv": kind chartmogul reads JSON`},
		{"chartmogul", map[string]any{}, `sources[0].path: is required for kind chartmogul`},
		{"subscriptions", map[string]any{"path": "p.ndjson"}, `sources[0].path: "p.ndjson": kind subscriptions reads a JSON payload`},
		{"postgres", map[string]any{"queries": map[string]string{"plans": "x"}}, "sources[0].dsn: is required for kind postgres"},
		{"postgres", map[string]any{"dsn": "x", "queries": map[string]string{"plans": "x", "customers": "y"}},
			"sources[0].queries: an invoices or a subscription_events query is required"},
		{"postgres", map[string]any{"dsn": "x", "queries": map[string]string{"plans": "x", "customers": "y", "charges": "z"}},
			`sources[0].queries: "charges" is not one of`},
		{"stripe", map[string]any{}, `sources[0].path: is required for kind stripe`},
		{"stripe", map[string]any{"path": "s.csv"}, `sources[0].path: "s.csv": kind stripe reads JSON or NDJSON files`},
		{"stripe", map[string]any{"path": "s.json", "api_key": "sk_x"}, `sources[0].path: give path (files) or api_key (the API), not both`},
		{"stripe", map[string]any{"api_base": "http://localhost:12111"}, `sources[0].api_key: is required with api_base`},
		{"stripe", map[string]any{"api_key": "sk_x", "api_base": "localhost:12111"}, `sources[0].api_base: "localhost:12111" is not an http(s) address`},
		{"mysql", map[string]any{"dsn": "not a dsn", "queries": map[string]string{"plans": "x", "customers": "y", "invoices": "z"}},
			"sources[0].dsn: not a MySQL DSN"},
	} {
		cfg := configs.Default()
		cfg.Sources = []configs.Source{mustSource(t, "s", c.kind, c.keys)}
		err := Validate(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: %v, want %q", c.kind, c.keys, err, c.want)
		}
	}
}

// Records name their files relative to the config's directory when the
// files are under it, and by their own path otherwise.
func TestOriginPath(t *testing.T) {
	dir := filepath.Join(string(filepath.Separator), "data", "project")
	src := configs.Source{Dir: dir}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "invoices.csv"), "invoices.csv"},
		{filepath.Join(dir, "exports", "2024.csv"), "exports/2024.csv"},
		{filepath.Join(dir, "..", "other", "x.csv"), filepath.Join(dir, "..", "other", "x.csv")},
		{filepath.Join(dir, "..proj", "x.csv"), "..proj/x.csv"},
		{filepath.Join(string(filepath.Separator), "elsewhere", "x.csv"), filepath.Join(string(filepath.Separator), "elsewhere", "x.csv")},
	} {
		if got := originPath(src, c.path); got != c.want {
			t.Errorf("originPath(%q) = %q, want %q", c.path, got, c.want)
		}
	}
	if got := originPath(configs.Source{}, "/a/b.csv"); got != "/a/b.csv" {
		t.Errorf("without a config directory: %q", got)
	}
}
