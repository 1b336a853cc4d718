package extract

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
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
	ex, err := Open(mustSource(t, "s", "stripe", map[string]any{"path": filepath.Join(dir, "*.*json")}))
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
		`objects.json:8: not a Stripe object: customer cus_1: field created: "yesterday" is not an integer`,
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

// A field of the wrong type anywhere in an object, nested ones too, makes
// the object a rejected row naming the field; nothing of it is mapped.
func TestStripeFieldOfTheWrongType(t *testing.T) {
	lines := []string{
		`{"id": "in_1", "object": "invoice", "customer": "cus_1", "created": 1, "status": "paid", "lines": {"has_more": false, "data": [{"id": "il_1", "amount": 1.5}]}}`,
		`{"id": "in_2", "object": "invoice", "customer": "cus_1", "created": 1, "status": "paid", "lines": {"has_more": "no", "data": []}}`,
		`{"id": "in_3", "object": "invoice", "customer": "cus_1", "created": 1, "status": "paid", "lines": {"data": [{"id": "il_3", "amount": 1, "taxes": [{"amount": "7"}]}]}}`,
		`{"id": "in_4", "object": "invoice", "customer": {"id": 4}, "created": 1, "status": "paid", "lines": {"data": []}}`,
		`{"id": "in_5", "object": "invoice", "customer": "cus_1", "created": 1, "status": "paid", "lines": {"data": [{"id": "il_5", "amount": 1, "price": {"id": "p", "object": "price", "recurring": {"interval_count": "2"}}}]}}`,
		`{"id": "sub_1", "object": "subscription", "customer": "cus_1", "pause_collection": "void"}`,
		`{"id": "cus_1", "object": "customer", "metadata": {"tier": 3}}`,
		`{"id": "in_6", "object": "invoice", "customer": "cus_1", "created": 1, "status": "paid", "lines": {"data": [{"id": "il_6", "amount": 1}]}`,
		`["not", "an", "object"]`,
	}
	got, _ := stripeRecords(t, "o.ndjson", strings.Join(lines, "\n")+"\n")
	want := []string{
		`o.ndjson:1: not a Stripe object: invoice in_1: field lines.data[].amount: 1.5 is not an integer`,
		`o.ndjson:2: not a Stripe object: invoice in_2: field lines.has_more: "no" is not true or false`,
		`o.ndjson:3: not a Stripe object: invoice in_3: field lines.data[].taxes[].amount: "7" is not an integer`,
		`o.ndjson:4: not a Stripe object: invoice in_4: field customer.id: 4 is not a string`,
		`o.ndjson:5: not a Stripe object: invoice in_5: field lines.data[].price.recurring.interval_count: "2" is not an integer`,
		`o.ndjson:6: not a Stripe object: subscription sub_1: field pause_collection: "void" is not an object`,
		`o.ndjson:7: not a Stripe object: customer cus_1: field metadata.tier: 3 is not a string`,
		`o.ndjson:8: not a Stripe object: not valid JSON: unexpected end of JSON input at column 137`,
		`o.ndjson:9: not a Stripe object: not a JSON object: found a JSON array`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A paused subscription's invoices that Stripe issued void, draft or
// uncollectible after its last paid one are its paused periods, at 0; a
// void invoice before that one, or of a subscription not paused, counts
// for nothing. A credit note carries its invoice's subscription and tax.
func TestStripePausedPeriodsAndCreditNotes(t *testing.T) {
	inv := func(id, sub, status string, created int) string {
		return `{"id": "` + id + `", "object": "invoice", "customer": "cus_1", "created": ` + strconv.Itoa(created) + `, "status": "` + status +
			`", "currency": "usd", "subscription": "` + sub + `", "status_transitions": {"paid_at": ` + strconv.Itoa(created+1) + `},
			"lines": {"has_more": false, "data": [{"id": "l_` + id + `", "amount": 900, "type": "subscription", "subscription": "` + sub +
			`", "period": {"start": ` + strconv.Itoa(created) + `, "end": ` + strconv.Itoa(created+100) + `}}]}}`
	}
	doc := strings.Join([]string{
		`{"id": "sub_p", "object": "subscription", "customer": "cus_1", "pause_collection": {"behavior": "mark_uncollectible", "resumes_at": null}}`,
		`{"id": "sub_q", "object": "subscription", "customer": "cus_1", "pause_collection": null}`,
		inv("in_1", "sub_p", "void", 100), inv("in_2", "sub_p", "paid", 200), inv("in_3", "sub_p", "uncollectible", 300),
		inv("in_4", "sub_p", "draft", 400), inv("in_5", "sub_q", "void", 500),
		`{"id": "cn_1", "object": "credit_note", "customer": "cus_1", "invoice": "in_2", "created": 250, "status": "issued", "type": "pre_payment",
		  "total": 1200, "total_excluding_tax": 1000, "currency": "usd"}`,
	}, ",\n")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "o.json"), []byte("["+doc+"]"), 0o644)
	ex, err := Open(mustSource(t, "s", "stripe", map[string]any{"path": filepath.Join(dir, "o.json")}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = ex.Extract(context.Background(), func(r *Record) error {
		if r.Entity == "invoice" && r.Err == nil {
			got = append(got, r.Get("invoice_id").Text+" "+r.Get("subscription_id").Text+" "+r.Get("kind").Text+" "+
				r.Get("amount").Text+" tax "+r.Get("tax").Text+" paid "+r.Get("paid_at").Text)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"in_2 sub_p subscription 900 tax 0 paid 201",
		"in_3 sub_p subscription 0 tax 0 paid 300",
		"in_4 sub_p subscription 0 tax 0 paid 400",
		"in_2 sub_p refund 1200 tax 200 paid ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if w := strings.Join(ex.(*stripeFiles).Warnings(), "\n"); !strings.Contains(w, "skipped 2 Stripe objects (void invoice)") {
		t.Errorf("warnings %q: the 2 void invoices that are no pause should be counted", w)
	}
}

func TestStripeMeteredSetting(t *testing.T) {
	_, err := Open(mustSource(t, "s", "stripe", map[string]any{"path": "x.json", "metered": "smooth"}))
	if err == nil || !strings.Contains(err.Error(), `metered: "smooth" is not exclude or mrr`) {
		t.Errorf("metered: smooth: %v", err)
	}
}
