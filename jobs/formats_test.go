package jobs

import (
	"slices"
	"strings"
	"testing"
)

// ChartMogul's per-customer payload: nested line items and transactions,
// plan_uuid resolved against the plans sent, cancelled_at, and payment
// state from transactions under require_payment.
func TestChartMogulPerCustomerPayload(t *testing.T) {
	dir, wh := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"config.yaml": `as_of: 2023-08-15
policies: {require_payment: true}
sources:
  - {name: cm, kind: chartmogul, path: "*.json"}
`,
		"a_plans.json": `{"customers": [{"external_id": "c1", "name": "One"}],
 "plans": [{"external_id": "silver", "uuid": "pl_123", "name": "Silver", "interval_count": 1, "interval_unit": "month"}]}`,
		"b_invoices.json": `{"invoices": [
  {"external_id": "i1", "date": "2023-05-01T00:00:00Z", "currency": "USD", "customer_external_id": "c1",
   "line_items": [{"type": "subscription", "amount_in_cents": 5000, "plan_uuid": "pl_123", "subscription_external_id": "s1",
                   "service_period_start": "2023-05-01 00:00:00", "service_period_end": "2023-06-01 00:00:00"},
                  {"type": "one_time", "amount_in_cents": 700, "description": "setup"}],
   "transactions": [{"external_id": "t1", "type": "payment", "result": "successful", "date": "2023-05-02 00:00:00"}]},
  {"external_id": "i2", "date": "2023-06-01 00:00:00", "currency": "USD", "customer_external_id": "c1",
   "line_items": [{"type": "subscription", "amount_in_cents": 9000, "plan_external_id": "silver", "subscription_external_id": "s1",
                   "service_period_start": "2023-06-01 00:00:00", "service_period_end": "2023-07-01 00:00:00"}],
   "transactions": [{"external_id": "t2", "type": "payment", "result": "failed", "date": "2023-06-02 00:00:00"}]},
  {"external_id": "i3", "date": "2023-07-01 00:00:00", "currency": "USD", "customer_external_id": "c1",
   "line_items": [{"type": "subscription", "amount_in_cents": 5000, "plan_uuid": "pl_123", "subscription_external_id": "s1",
                   "service_period_start": "2023-07-01 00:00:00", "service_period_end": "2023-08-01 00:00:00",
                   "cancelled_at": "2023-07-20 00:00:00"}],
   "transactions": [{"external_id": "t3", "type": "payment", "result": "successful", "date": "2023-07-01 01:00:00"}]}
]}`,
	})
	if _, err := runDir(t, dir, wh); err != nil {
		t.Fatal(err)
	}
	// i2 was never paid: under require_payment it does not count, and the
	// June gap is bridged by i1's rate; i3 is cancelled on the 20th, and
	// ChartMogul churns a cancelled subscription then (its default policy).
	got := tableRows(t, wh, "mrr_movements", []string{"date", "movement", "amount", "invoice_ids"})
	want := []string{`2023-05-01,new,5000,["i1/1"]`, `2023-07-20,churn,5000,["i3/1/cancelled"]`}
	if !slices.Equal(got, want) {
		t.Errorf("movements = %v, want %v", got, want)
	}
	lines := tableRows(t, wh, "invoice_lines", []string{"invoice_id", "line_id", "kind", "plan_id", "paid_at"})
	for _, w := range []string{"i1,1,subscription,silver,2023-05-02T00:00:00Z", "i1,2,one_time,,2023-05-02T00:00:00Z", "i2,1,subscription,silver,", "i3,1/cancelled,cancellation,,2023-07-01T01:00:00Z"} {
		if !slices.Contains(lines, w) {
			t.Errorf("no invoice line %q in %v", w, lines)
		}
	}
}

// The subscriptions payload: paused and trialing rows carry no MRR, a
// canceled row without ended_at ends at canceled_at, contacts upsert by
// email, and an invoice in another currency counts in cash flow, converted.
func TestSubscriptionsPayloadFeatures(t *testing.T) {
	dir, wh := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"config.yaml": "as_of: 2024-03-31\nreporting_currency: usd\nfx_rates: fx.csv\nsources:\n  - {name: crm, kind: subscriptions, path: payload.json}\n",
		"fx.csv":      "date,currency,rate\n2024-01-01,gbp,1.25\n",
		"payload.json": `{"currency": "USD",
 "subscriptions": [
  {"external_id": "s1", "customer_domain": "Acme.com", "amount_cents": 30000, "interval": "quarter", "status": "canceled", "started_at": "2024-01-01T00:00:00Z", "canceled_at": "2024-02-15T00:00:00Z"},
  {"external_id": "s2", "customer_domain": "paused.io", "customer_name": "Paused", "amount_cents": 5000, "interval": "month", "status": "paused", "started_at": "2024-01-01T00:00:00Z"},
  {"external_id": "s3", "customer_domain": "bad.io", "amount_cents": 5000, "interval": "week", "status": "active", "started_at": "2024-01-01T00:00:00Z"}
 ],
 "invoices": [{"external_id": "in1", "subscription_external_id": "s1", "amount_cents": 30000, "currency": "GBP", "issued_at": "2024-01-02T00:00:00Z"}],
 "contacts": [{"email": "A@Acme.com", "first_name": "Ann"}, {"email": "a@acme.com", "first_name": "Anna"}, {"email": "nobody"}]}`,
	})
	if _, err := runDir(t, dir, wh); err != nil {
		t.Fatal(err)
	}
	if got := tableRows(t, wh, "mrr_movements", []string{"date", "customer_id", "movement", "amount"}); !slices.Equal(got,
		[]string{"2024-01-01,acme.com,new,10000", "2024-02-15,acme.com,churn,10000"}) {
		t.Errorf("movements = %v", got)
	}
	if got := tableRows(t, wh, "mrr_monthly", []string{"month", "subscription_billed"}); got[0] != "2024-01-01,37500" {
		t.Errorf("cash flow = %v, want 30000 GBP at 1.25 in January", got)
	}
	if got := tableRows(t, wh, "contacts", []string{"email", "first_name"}); !slices.Equal(got, []string{"a@acme.com,Anna"}) {
		t.Errorf("contacts = %v", got)
	}
	rejected := strings.Join(tableRows(t, wh, "rejected_rows", []string{"entity", "record_id", "error"}), "\n")
	for _, w := range []string{`subscription,s3,field interval: "week" is not one of month, quarter, year`, `contact,nobody,field email: "nobody" is not an email address`} {
		if !strings.Contains(rejected, w) {
			t.Errorf("no rejection %q in\n%s", w, rejected)
		}
	}
	if got := tableRows(t, wh, "customer_snapshot", []string{"customer_id", "status"}); !slices.Contains(got, "paused.io,lead") {
		t.Errorf("snapshot = %v", got)
	}
}

// The same ChartMogul data sent again, formatted differently (indentation,
// key order of nested attributes), is the same record: the second run
// accounts every record unchanged, and says the source is unchanged.
func TestSameDataFormattedDifferentlyIsUnchanged(t *testing.T) {
	dir, wh := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"config.yaml": "as_of: 2024-03-31\nsources:\n  - {name: cm, kind: chartmogul, path: doc.json}\n",
		"doc.json": `{"customers": [{"external_id": "c1", "name": "Adam", "attributes": {"tags": ["a", "b"], "custom": [{"key": "k", "value": 1}]},
  "address": {"zip": "1", "city": "Oslo"}}],
 "plans": [{"external_id": "p", "name": "P", "interval_count": 1, "interval_unit": "month"}],
 "invoices": [{"external_id": "i1", "date": "2024-01-01 00:00:00", "currency": "USD", "customer_external_id": "c1",
   "line_items": [{"type": "subscription", "amount_in_cents": 5000, "plan_external_id": "p", "subscription_external_id": "s"}],
   "transactions": [{"type": "payment", "result": "successful", "date": "2024-01-02 00:00:00"}]}]}`,
	})
	first, err := runDir(t, dir, wh)
	if err != nil {
		t.Fatal(err)
	}
	if a := first.Sources[0].Total(); a.Inserted != a.Read || a.Read != 5 {
		t.Fatalf("first run: %s, want 5 inserted", a)
	}
	writeFiles(t, dir, map[string]string{"doc.json": `{
  "plans": [ { "interval_unit": "month", "interval_count": 1, "name": "P", "external_id": "p" } ],
  "customers": [
    {
      "address": { "city": "Oslo", "zip": "1" },
      "attributes": { "custom": [ { "value": 1, "key": "k" } ], "tags": [ "a", "b" ] },
      "name": "Adam",
      "external_id": "c1"
    }
  ],
  "invoices": [
    {
      "customer_external_id": "c1", "currency": "USD", "date": "2024-01-01T00:00:00Z", "external_id": "i1",
      "line_items": [ { "subscription_external_id": "s", "plan_external_id": "p", "amount_in_cents": 5000, "type": "subscription" } ],
      "transactions": [ { "date": "2024-01-02 00:00:00 UTC", "result": "successful", "type": "payment" } ]
    }
  ]
}`})
	second, err := runDir(t, dir, wh)
	if err != nil {
		t.Fatal(err)
	}
	if a := second.Sources[0].Total(); a.Unchanged != a.Read || a.Read != 5 || !second.Sources[0].Unchanged {
		t.Errorf("second run: %s, unchanged %v; want every record unchanged", a, second.Sources[0].Unchanged)
	}
	for _, tbl := range second.Tables {
		if len(tbl.FilesChanged) > 0 {
			t.Errorf("table %s: files changed %v", tbl.Name, tbl.FilesChanged)
		}
	}
}
