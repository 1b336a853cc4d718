package jobs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
)

// An invoice row of the hostile tests, before it is written in a format.
type hostileRow struct {
	id, customer, kind, date, amount, currency string
}

var hostileGood = []hostileRow{
	{"i1", "c1", "subscription", "2024-01-05T00:00:00Z", "5000", "usd"},
	{"i2", "c2", "subscription", "2024-01-06T00:00:00Z", "7000", "usd"},
	{"i3", "c1", "one-time", "2024-01-07T00:00:00Z", "1500", "usd"},
}

// render writes invoice rows in a format, with a line break of nl.
func render(format, nl string, rows []hostileRow) string {
	var b strings.Builder
	switch format {
	case "csv":
		b.WriteString("id,customer_id,plan_id,type,date,amount,currency" + nl)
		for _, r := range rows {
			fmt.Fprintf(&b, "%s,%s,pro,%s,%s,%s,%s%s", r.id, r.customer, r.kind, r.date, r.amount, r.currency, nl)
		}
	case "ndjson", "json":
		for i, r := range rows {
			if format == "json" {
				b.WriteString(map[bool]string{true: "[", false: ","}[i == 0] + nl)
			}
			amount := r.amount
			if strings.HasPrefix(amount, `"`) || amount == "" {
				amount = `"` + strings.Trim(amount, `"`) + `"`
			}
			fmt.Fprintf(&b, `{"id": %q, "customer_id": %q, "plan_id": "pro", "type": %q, "date": %q, "amount": %s, "currency": %q}%s`,
				r.id, r.customer, r.kind, r.date, amount, r.currency, nl)
		}
		if format == "json" {
			b.WriteString("]" + nl)
		}
	}
	return b.String()
}

// hostileCase is a broken or odd invoices file, and what the run must make
// of it: an error naming the file (and line) and nothing published, or
// exactly these rejected records, or these superseded; never a loss.
type hostileCase struct {
	name    string
	formats []string
	file    func(format string) []byte
	mode    string   // the source's mode; upsert when empty
	err     []string // the run fails, its error saying each of these
	// rejected are the record ids and what their rejections say.
	rejected   [][2]string
	superseded int
}

func hostileCases() []hostileCase {
	all := []string{"csv", "ndjson", "json"}
	with := func(change func(rows []hostileRow)) func(string) []byte {
		return func(format string) []byte {
			rows := slices.Clone(hostileGood)
			change(rows)
			return []byte(render(format, "\n", rows))
		}
	}
	good := func(format string) []byte { return []byte(render(format, "\n", hostileGood)) }
	return []hostileCase{
		{name: "good", formats: all, file: good},
		{name: "CRLF", formats: all, file: func(f string) []byte { return []byte(render(f, "\r\n", hostileGood)) }},
		{name: "BOM", formats: all, file: func(f string) []byte { return append([]byte("\ufeff"), good(f)...) }},
		{name: "truncated JSON", formats: []string{"json"}, file: func(f string) []byte { b := good(f); return b[:len(b)-40] },
			err: []string{"invoices.json:6:102:", "unexpected end of file"}},
		{name: "truncated line", formats: []string{"ndjson"}, file: func(f string) []byte { b := good(f); return b[:len(b)-20] },
			rejected: [][2]string{{"", "line is not valid JSON"}}},
		{name: "truncated row", formats: []string{"csv"}, file: func(f string) []byte { b := good(f); return b[:len(b)-30] },
			rejected: [][2]string{{"i3", "row has 5 cells, the header has 7"}}},
		{name: "binary", formats: []string{"csv", "json"}, file: func(string) []byte { return []byte("\x00\x01PK\x03\x04\xff\xfe garbage\n\x89PNG\r\n") },
			err: []string{"invoices."}},
		{name: "binary lines", formats: []string{"ndjson"}, file: func(string) []byte { return []byte("\x00\x01PK\x03\x04\xff\xfe garbage\n\x89PNG\n") },
			rejected: [][2]string{{"", "not valid JSON"}, {"", "not valid JSON"}}},
		{name: "Latin-1", formats: all, file: func(f string) []byte {
			return bytes.Replace(good(f), []byte("c2"), []byte("M\xfcller"), 1)
		}, rejected: [][2]string{{"i2", "is not valid UTF-8 (byte 1)"}}},
		{name: "unclosed quote", formats: []string{"csv"}, file: func(f string) []byte {
			return bytes.Replace(good(f), []byte(",c2,"), []byte(`,"c2,`), 1)
		}, err: []string{"invoices.csv:3:", "quoted field", "unclosed quote"}},
		{name: "headers in another case", formats: []string{"csv"}, file: func(f string) []byte {
			return bytes.Replace(good(f), []byte("id,customer_id"), []byte("ID,Customer_ID"), 1)
		}, err: []string{"invoices.csv:1:", "lacks the columns id, customer_id", "it has ID, Customer_ID", "lower case"}},
		{name: "missing headers", formats: []string{"csv"}, file: func(string) []byte { return []byte("id,customer_id\ni1,c1\n") },
			err: []string{"invoices.csv:1:", "lacks the columns type, date or invoice_date, amount or amount_cents, currency"}},
		{name: "empty, replace", formats: all, mode: "replace", file: func(string) []byte { return nil },
			err: []string{"invoices.", "holds no record", "--allow-shrink"}},
		{name: "empty, upsert", formats: all, file: func(string) []byte { return nil }},
		{name: "huge value", formats: all, file: with(func(rows []hostileRow) { rows[1].amount = "123456789012345678901234567890" }),
			rejected: [][2]string{{"i2", "field amount: must be an integer number of minor units"}}},
		{name: "huge text", formats: all, file: with(func(rows []hostileRow) { rows[1].currency = strings.Repeat("x", 1<<20) }),
			rejected: [][2]string{{"i2", "is not an ISO 4217 currency code"}}},
		{name: "non-integer amounts", formats: all, file: with(func(rows []hostileRow) { rows[0].amount, rows[2].amount = `"12.0"`, "1e3" }),
			rejected: [][2]string{{"i1", `got "12.0"`}, {"i3", `got "1e3"`}}},
		{name: "date out of range", formats: all, file: with(func(rows []hostileRow) { rows[1].date = "1900-01-01T00:00:00Z" }),
			rejected: [][2]string{{"i2", "field date: 1900-01-01T00:00:00Z is out of range (1970 to 2200)"}}},
		{name: "duplicate ids", formats: all, file: with(func(rows []hostileRow) { rows[1].id = "i1" }), superseded: 1},
	}
}

// Hostile files in every input format: a clear error naming the file and
// line with nothing published, or rejected rows for exactly the bad
// records; the accounts always add up, and nothing is lost silently.
func TestHostileFiles(t *testing.T) {
	for _, c := range hostileCases() {
		for _, format := range c.formats {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				dir, wh := t.TempDir(), t.TempDir()
				mode := c.mode
				if mode == "" {
					mode = "upsert"
				}
				writeFiles(t, dir, map[string]string{
					"config.yaml":    fmt.Sprintf("as_of: 2024-03-31\nsources:\n  - {name: s, kind: growpanel, mode: %s, plans: plans.json, customers: customers.json, invoices: invoices.%s}\n", mode, format),
					"plans.json":     `[{"id": "pro", "name": "Pro", "interval": "month", "currency": "usd"}]`,
					"customers.json": `[{"id": "c1", "name": "One"}, {"id": "c2", "name": "Two"}, {"id": "M\u00fcller", "name": "M"}]`,
				})
				// A first, good delivery: what a failed run must leave as it is.
				if err := os.WriteFile(filepath.Join(dir, "invoices."+format), []byte(render(format, "\n", hostileGood[:1])), 0o644); err != nil {
					t.Fatal(err)
				}
				if _, err := runDir(t, dir, wh); err != nil {
					t.Fatal(err)
				}
				before := martBytes(t, wh)
				if err := os.WriteFile(filepath.Join(dir, "invoices."+format), c.file(format), 0o644); err != nil {
					t.Fatal(err)
				}
				rec, err := runDir(t, dir, wh)
				if len(c.err) > 0 {
					checkRefused(t, err, c.err, before, wh)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				checkAccounts(t, rec)
				inv := rec.Sources[0].Accounts["invoice"]
				if inv.Rejected != len(c.rejected) || inv.Superseded != c.superseded {
					t.Errorf("invoices: %s; want %d rejected, %d superseded", inv, len(c.rejected), c.superseded)
				}
				rows := tableRows(t, wh, "rejected_rows", []string{"entity", "record_id", "error"})
				var got []string
				for _, r := range rows {
					if strings.HasPrefix(r, "invoice,") {
						got = append(got, r)
					}
				}
				if len(got) != len(c.rejected) {
					t.Errorf("rejected invoices %q, want %v", got, c.rejected)
				}
				for _, w := range c.rejected {
					if !slices.ContainsFunc(got, func(r string) bool { return strings.HasPrefix(r, "invoice,"+w[0]+",") && strings.Contains(r, w[1]) }) {
						t.Errorf("no rejected invoice %q saying %q in %q", w[0], w[1], got)
					}
				}
				for _, r := range tableRows(t, wh, "rejected_rows", []string{"raw", "error"}) {
					if !utf8Valid(r) {
						t.Errorf("a rejected row holds invalid UTF-8: %q", r)
					}
				}
			})
		}
	}
}

// checkRefused checks a run that must have been refused: its error says
// each of want, and the published tables are as they were.
func checkRefused(t *testing.T, err error, want []string, before map[string][]byte, wh string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the run succeeded; want it refused with %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if !mapsEqual(before, martBytes(t, wh)) {
		t.Error("a refused delivery changed the published tables")
	}
}

// checkAccounts checks that every source's records add up.
func checkAccounts(t *testing.T, rec *Record) {
	t.Helper()
	for _, s := range rec.Sources {
		for e, a := range s.Accounts {
			if !a.Balanced() {
				t.Errorf("source %s, %s: %s", s.Name, e, a)
			}
		}
		if s.Total().Rejected > rec.Rejected {
			t.Errorf("source %s: %d rejected records, %d rejected rows in the run", s.Name, s.Total().Rejected, rec.Rejected)
		}
	}
}

func mapsEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// The JSON documents of kinds chartmogul and subscriptions, broken or odd
// in the same ways.
func TestHostileDocuments(t *testing.T) {
	cm := `{"customers": [{"external_id": "c1", "name": "One"}],
 "plans": [{"external_id": "p", "name": "P", "interval_count": 1, "interval_unit": "month"}],
 "invoices": [{"external_id": "i1", "date": "2024-01-05 00:00:00", "currency": "USD", "customer_external_id": "c1",
   "line_items": [{"type": "subscription", "amount_in_cents": 5000, "plan_external_id": "p", "subscription_external_id": "s1"}]},
  {"external_id": "i2", "date": "2024-02-05 00:00:00", "currency": "USD", "customer_external_id": "c1",
   "line_items": [{"type": "subscription", "amount_in_cents": 5000, "plan_external_id": "p", "subscription_external_id": "s1"}]}]}
`
	payload := `{"currency": "USD", "subscriptions": [
 {"external_id": "s1", "customer_domain": "a.com", "amount_cents": 1000, "interval": "month", "status": "active", "started_at": "2024-01-01T00:00:00Z"},
 {"external_id": "s2", "customer_domain": "b.com", "amount_cents": 2000, "interval": "month", "status": "active", "started_at": "2024-01-01T00:00:00Z"}]}
`
	for _, c := range []struct {
		name, kind, text string
		shrink           string // max_shrink, when not the default
		allow            bool   // the run has --allow-shrink
		sourceShrink     string // the source's own max_shrink
		err              []string
		rejected         int
		superseded       int
	}{
		{name: "chartmogul", kind: "chartmogul", text: cm},
		{name: "chartmogul BOM CRLF", kind: "chartmogul", text: "\ufeff" + strings.ReplaceAll(cm, "\n", "\r\n")},
		{name: "chartmogul truncated", kind: "chartmogul", text: cm[:len(cm)-30], err: []string{"doc.json:6:", "unexpected end of file"}},
		{name: "chartmogul binary", kind: "chartmogul", text: "\x00\x01\xff PK", err: []string{"doc.json:1:"}},
		{name: "chartmogul Latin-1", kind: "chartmogul", text: strings.Replace(cm, `"One"`, "\"\xd8ne\"", 1), rejected: 1}, // c1 stays as stored
		{name: "chartmogul duplicate invoice", kind: "chartmogul", text: strings.Replace(cm, `"external_id": "i2"`, `"external_id": "i1"`, 1), superseded: 2},
		{name: "chartmogul empty", kind: "chartmogul", text: ""},
		{name: "payload", kind: "subscriptions", text: payload},
		{name: "payload empty", kind: "subscriptions", text: `{"currency": "USD", "subscriptions": []}`, err: []string{"doc.json", "holds no record", "--allow-shrink"}},
		{name: "payload 0 bytes", kind: "subscriptions", text: "", err: []string{"doc.json"}},
		{name: "payload shrinks", kind: "subscriptions", text: strings.Replace(payload, "\"s2\"", "\"s1\"", 1), shrink: "0%",
			err: []string{"it would remove 1 of the 2 stored rows of subscription_events", "max_shrink is 0%", "--allow-shrink"}},
		{name: "payload shrinks, allowed", kind: "subscriptions", text: strings.Replace(payload, "\"s2\"", "\"s1\"", 1), shrink: "0%",
			allow: true, superseded: 1},
		{name: "payload empty, allowed", kind: "subscriptions", text: `{"currency": "USD", "subscriptions": []}`, allow: true},
		{name: "payload shrinks by a rejection", kind: "subscriptions", text: strings.Replace(payload, "2000", "20.00", 1), shrink: "0.4",
			err: []string{"it would remove 1 of the 2 stored rows of customers", "max_shrink is 40%"}},
		{name: "the source's own max_shrink", kind: "subscriptions", text: strings.Replace(payload, "2000", "20.00", 1), shrink: "0.4",
			sourceShrink: "60%", rejected: 1},
		{name: "payload non-integer", kind: "subscriptions", text: strings.Replace(payload, "2000", "20.00", 1), rejected: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, wh := t.TempDir(), t.TempDir()
			extra := ""
			if c.shrink != "" {
				extra = "max_shrink: " + c.shrink + "\n"
			}
			first := map[string]string{"chartmogul": cm, "subscriptions": payload}[c.kind]
			own := ""
			if c.sourceShrink != "" {
				own = ", max_shrink: " + c.sourceShrink
			}
			writeFiles(t, dir, map[string]string{
				"config.yaml": "as_of: 2024-03-31\n" + extra + "sources:\n  - {name: s, kind: " + c.kind + ", path: doc.json" + own + "}\n",
				"doc.json":    first,
			})
			if _, err := runDir(t, dir, wh); err != nil {
				t.Fatal(err)
			}
			before := martBytes(t, wh)
			writeFiles(t, dir, map[string]string{"doc.json": c.text})
			cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			rec, err := Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.Nop(), AllowShrink: c.allow})
			if len(c.err) > 0 {
				checkRefused(t, err, c.err, before, wh)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkAccounts(t, rec)
			if got := rec.Sources[0].Total(); got.Rejected != c.rejected || got.Superseded != c.superseded {
				t.Errorf("%s; want %d rejected, %d superseded", got, c.rejected, c.superseded)
			}
		})
	}
}

// amounts: major reads decimals in the currency's units, exactly, and
// refuses more decimals than the currency has.
func TestAmountsInMajorUnits(t *testing.T) {
	dir, wh := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"config.yaml": "as_of: 2024-03-31\nreporting_currency: usd\nfx_rates: fx.csv\nsources:\n" +
			"  - {name: s, kind: growpanel, amounts: major, plans: plans.json, customers: customers.json, invoices: invoices.csv}\n",
		"fx.csv":         "date,currency,rate\n2024-01-01,jpy,0.0067\n2024-01-01,kwd,3.25\n",
		"plans.json":     `[{"id": "m", "name": "M", "interval": "month", "currency": "usd"}]`,
		"customers.json": `[{"id": "c1", "name": "One"}]`,
		"invoices.csv": "id,customer_id,plan_id,type,date,amount,currency\n" +
			"u,c1,m,subscription,2024-01-01T00:00:00Z,99.50,usd\n" +
			"j,c1,,one-time,2024-01-02T00:00:00Z,1200,jpy\n" +
			"k,c1,,one-time,2024-01-03T00:00:00Z,1.005,kwd\n" +
			"big,c1,,one-time,2024-01-04T00:00:00Z,-0.5,usd\n" +
			"bad,c1,,one-time,2024-01-05T00:00:00Z,9.999,usd\n" +
			"jpyfrac,c1,,one-time,2024-01-06T00:00:00Z,10.5,jpy\n" +
			"text,c1,,one-time,2024-01-07T00:00:00Z,ten,usd\n",
	})
	if _, err := runDir(t, dir, wh); err != nil {
		t.Fatal(err)
	}
	got := tableRows(t, wh, "invoice_lines", []string{"invoice_id", "amount", "currency"})
	want := []string{"big,-50,usd", "j,1200,jpy", "k,1005,kwd", "u,9950,usd"}
	if !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	rejected := tableRows(t, wh, "rejected_rows", []string{"record_id", "error"})
	for _, w := range []string{`bad,field amount: "9.999" has more decimals than USD's 2`, `jpyfrac,field amount: "10.5" has more decimals than JPY's 0`,
		`text,field amount: must be a decimal number of USD (amounts: major), got "ten"`} {
		if !slices.Contains(rejected, w) {
			t.Errorf("no rejected row %s in %v", w, rejected)
		}
	}
}
