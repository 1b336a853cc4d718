package extract

import (
	"context"
	"encoding/json"
	"os"
	"testing"
)

// Every request the Stripe source makes is one the real API accepts:
// stripe-mock (Stripe's mock, built from its OpenAPI spec) answers each
// one, the lists and an invoice's lines, and every object it returns is
// read; .ci/run starts it and sets MRRFLOW_STRIPE_MOCK.
func TestStripeMockAcceptsEveryRequest(t *testing.T) {
	base := os.Getenv("MRRFLOW_STRIPE_MOCK")
	if base == "" && os.Getenv("CI") != "" {
		t.Fatal("MRRFLOW_STRIPE_MOCK is not set under CI: .ci/run should have started stripe-mock")
	}
	if base == "" {
		t.Skip("MRRFLOW_STRIPE_MOCK is not set: .ci/run starts stripe-mock and sets it")
	}
	ex, err := Open(mustSource(t, "s", "stripe", map[string]any{"api_key": "sk_test_123", "api_base": base}))
	if err != nil {
		t.Fatal(err)
	}
	// stripe-mock's objects are the API's, every field in its type: each
	// is read, none is rejected.
	records := 0
	err = ex.Extract(context.Background(), func(r *Record) error {
		records++
		if r.Err != nil {
			t.Errorf("%s: %v", r.Origin, r.Err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if records == 0 {
		t.Error("stripe-mock's objects gave no record")
	}
	api := ex.(*stripeAPI)
	lines := 0
	err = api.each(context.Background(), api.rawBackend(), "/v1/invoices/in_123/lines", func(o json.RawMessage, _ string) error {
		lines++
		return nil
	})
	if err != nil || lines == 0 {
		t.Errorf("an invoice's lines: %d read, %v", lines, err)
	}
}
