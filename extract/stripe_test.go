package extract

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stripeRead runs a stripe source over one file and returns what it
// passed on, one line per record: the invoice and line ids, or the error.
func stripeRecords(t *testing.T, name, content string) ([]string, []string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	ex, err := Open(mustSource(t, "s", "stripe", map[string]any{"path": filepath.Join(dir, "*.json")}))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = ex.Extract(context.Background(), func(r *Record) error {
		if r.Err != nil {
			out = append(out, filepath.Base(r.Origin)+": "+r.Err.Error())
			return nil
		}
		out = append(out, string(r.Entity)+" "+r.Get("invoice_id").Text+"/"+r.Get("line_id").Text+" "+r.Get("amount").Text)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, ex.(*stripeFiles).Warnings()
}

func TestStripeObjectsThatCannotBeMapped(t *testing.T) {
	const doc = `{"object": "list", "has_more": false, "data": [
 {"id": "in_1", "object": "invoice", "customer": "cus_1", "created": 1704067200, "status": "paid", "currency": "usd",
  "lines": {"object": "list", "has_more": true, "data": [{"id": "il_1", "object": "line_item", "amount": 100, "period": {"start": 1704067200, "end": 1706745600}}]}},
 {"id": "in_2", "object": "invoice", "customer": "cus_1", "created": 1704067200, "status": "open", "currency": "usd",
  "lines": {"object": "list", "has_more": true, "data": [{"id": "il_2a", "object": "line_item", "amount": 100, "period": {"start": 1704067200, "end": 1706745600}}]}},
 {"id": "il_2b", "object": "line_item", "invoice": "in_2", "amount": 250, "period": {"start": 1704067200, "end": 1706745600}},
 {"id": "il_9", "object": "line_item", "invoice": "in_9", "amount": 1},
 {"id": "cus_1", "object": "customer", "created": "yesterday"},
 {"id": "txn_1", "object": "balance_transaction"},
 {"id": "txn_2", "object": "balance_transaction"},
 {"object": "customer", "name": "No Id"},
 {"id": "x_1", "amount": 5}
]}`
	got, warnings := stripeRecords(t, "objects.json", doc)
	want := []string{
		`objects.json:8: not a Stripe object: json: cannot unmarshal string into Go struct field stripeObject.created of type int64`,
		`objects.json:11: not a Stripe object: field id: a customer without an id`,
		`objects.json:7: line item il_9: field invoice: invoice "in_9" was not read; export it with the line`,
		`objects.json:2: invoice in_1: lines are missing or truncated (lines.has_more): export the invoice with all its lines`,
		`invoice in_2/il_2a 100`,
		`invoice in_2/il_2b 250`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "skipped 2 Stripe objects (balance_transaction)") ||
		!strings.Contains(warnings[1], "skipped 1 Stripe objects (no object field)") {
		t.Errorf("warnings = %q, want one counting the 2 balance transactions, one the object without a type", warnings)
	}
}

func TestStripeNewestVersionWins(t *testing.T) {
	const doc = `{"id": "cus_1", "object": "customer", "created": 10, "email": "new@x.test"}
{"id": "evt_1", "object": "event", "created": 50, "data": {"object": {"id": "cus_1", "object": "customer", "created": 10, "email": "newest@x.test"}}}
{"id": "evt_0", "object": "event", "created": 20, "data": {"object": {"id": "cus_1", "object": "customer", "created": 10, "email": "older@x.test"}}}
not json
`
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "o.ndjson"), []byte(doc), 0o644)
	ex, err := Open(mustSource(t, "s", "stripe", map[string]any{"path": filepath.Join(dir, "o.ndjson")}))
	if err != nil {
		t.Fatal(err)
	}
	var emails, errs []string
	ex.Extract(context.Background(), func(r *Record) error {
		if r.Err != nil {
			errs = append(errs, filepath.Base(r.Origin))
		} else {
			emails = append(emails, r.Get("email").Text)
		}
		return nil
	})
	if strings.Join(emails, ",") != "newest@x.test" || strings.Join(errs, ",") != "o.ndjson:4" {
		t.Errorf("emails %q, rejected %q: want the newest event's version, and line 4 rejected", emails, errs)
	}
}

// A customer with neither name nor email (Stripe needs neither) is named
// by its description, else its id, so that it is kept.
func TestStripeCustomerWithoutNameOrEmail(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "c.ndjson"), []byte(`{"id": "cus_1", "object": "customer", "created": 1}
{"id": "cus_2", "object": "customer", "created": 1, "description": "Acme (API)"}
`), 0o644)
	ex, err := Open(mustSource(t, "s", "stripe", map[string]any{"path": filepath.Join(dir, "c.ndjson")}))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ex.Extract(context.Background(), func(r *Record) error {
		names = append(names, r.Get("name").Text)
		return nil
	})
	if strings.Join(names, ",") != "cus_1,Acme (API)" {
		t.Errorf("names %q, want the id, then the description", names)
	}
}
