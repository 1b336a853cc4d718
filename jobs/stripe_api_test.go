package jobs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/schemas"
)

// fakeStripe serves a Stripe account the way the API does: list endpoints
// in pages (at most 2 objects, whatever the limit asked, so every list
// pages), invoices whose embedded lines are truncated with their lines
// endpoint, a 429 with Retry-After before the first customers page and a
// 500 before the second invoices page. It records what it was asked.
type fakeStripe struct {
	lists    map[string][]json.RawMessage // by path
	lines    map[string][]json.RawMessage // by invoice id
	events   []json.RawMessage            // newest first, as Stripe lists them
	mu       sync.Mutex
	requests []string
	failed   map[string]bool
	problems []string
	// refuseEvents answers the events since a cursor with a 400.
	refuseEvents bool
}

func (f *fakeStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	if r.Method != http.MethodGet || r.Header.Get("Authorization") != "Bearer sk_test_mrrflow" || r.Header.Get("Stripe-Version") == "" {
		f.problems = append(f.problems, fmt.Sprintf("%s %s: method, key %q or Stripe-Version %q", r.Method, r.URL, r.Header.Get("Authorization"), r.Header.Get("Stripe-Version")))
	}
	q := r.URL.Query()
	switch key := r.URL.Path + "?" + q.Get("starting_after"); {
	case key == "/v1/customers?" && !f.failed[key]:
		f.failed[key] = true
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests"}}`))
		return
	case r.URL.Path == "/v1/invoices" && q.Get("starting_after") != "" && !f.failed["/v1/invoices"]:
		f.failed["/v1/invoices"] = true
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error": {"type": "api_error", "message": "An unknown error occurred"}}`))
		return
	}
	if f.refuseEvents && r.URL.Path == "/v1/events" && q.Get("created[gte]") != "" {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error": {"type": "invalid_request_error", "message": "Invalid timestamp"}}`))
		return
	}
	if r.URL.Path == "/v1/subscriptions" && q.Get("status") != "all" {
		f.problems = append(f.problems, "subscriptions listed without status=all: canceled ones are left out")
	}
	if id, found := strings.CutPrefix(r.URL.Path, "/v1/prices/"); found {
		for _, o := range f.lists["/v1/prices"] {
			if idOf(o) == id {
				w.Write(o)
				return
			}
		}
	}
	all, ok := f.lists[r.URL.Path]
	if r.URL.Path == "/v1/events" {
		all, ok = nil, true
		gte, _ := strconv.ParseInt(q.Get("created[gte]"), 10, 64)
		for _, e := range f.events {
			var v struct{ Created int64 }
			json.Unmarshal(e, &v)
			if v.Created >= gte {
				all = append(all, e)
			}
		}
	}
	if id, found := strings.CutPrefix(r.URL.Path, "/v1/invoices/"); found {
		all, ok = f.lines[strings.TrimSuffix(id, "/lines")]
	}
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}`))
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit < 1 || limit > 100 {
		f.problems = append(f.problems, fmt.Sprintf("%s: limit %q", r.URL, q.Get("limit")))
	}
	start := 0
	if after := q.Get("starting_after"); after != "" {
		start = slices.IndexFunc(all, func(o json.RawMessage) bool { return idOf(o) == after }) + 1
		if start == 0 {
			f.problems = append(f.problems, "starting_after an unknown id: "+after)
		}
	}
	end := min(start+min(limit, 2), len(all))
	page, _ := json.Marshal(map[string]any{"object": "list", "url": r.URL.Path, "data": all[start:end], "has_more": end < len(all)})
	w.Write(page)
}

// event makes an event about an object, created at t.
func (f *fakeStripe) event(t *testing.T, id, typ string, at time.Time, object string) {
	t.Helper()
	e := fmt.Sprintf(`{"id": %q, "object": "event", "type": %q, "created": %d, "data": {"object": %s}}`, id, typ, at.Unix(), object)
	if !json.Valid([]byte(e)) {
		t.Fatalf("event %s is not JSON", id)
	}
	f.mu.Lock()
	f.events = append([]json.RawMessage{json.RawMessage(e)}, f.events...)
	f.requests = nil
	f.mu.Unlock()
}

func idOf(o json.RawMessage) string {
	var v struct{ ID string }
	json.Unmarshal(o, &v)
	return v.ID
}

// newFakeStripe serves the objects of a scenario's files as the account's
// current state: an event's object replaces the one it is about, and each
// invoice lists only its first line, the rest left to its lines endpoint.
func newFakeStripe(t *testing.T, dir string) *fakeStripe {
	t.Helper()
	byType := map[string]map[string]json.RawMessage{}
	put := func(o json.RawMessage) {
		var v struct {
			ID, Object string
			Data       *struct{ Object json.RawMessage }
		}
		if err := json.Unmarshal(o, &v); err != nil {
			t.Fatal(err)
		}
		if v.Object == "event" {
			o = v.Data.Object
			json.Unmarshal(o, &v)
		}
		if byType[v.Object] == nil {
			byType[v.Object] = map[string]json.RawMessage{}
		}
		byType[v.Object][v.ID] = o
	}
	for _, name := range []string{"customers.json", "invoices.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var list struct{ Data []json.RawMessage }
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Data {
			put(o)
		}
	}
	f, err := os.Open(filepath.Join(dir, "objects.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		put(slices.Clone(sc.Bytes()))
	}
	fake := &fakeStripe{lists: map[string][]json.RawMessage{}, lines: map[string][]json.RawMessage{}, failed: map[string]bool{}}
	paths := map[string]string{"product": "/v1/products", "price": "/v1/prices", "customer": "/v1/customers",
		"subscription": "/v1/subscriptions", "invoice": "/v1/invoices", "credit_note": "/v1/credit_notes"}
	for typ, path := range paths {
		ids := slices.Sorted(func(yield func(string) bool) {
			for id := range byType[typ] {
				if !yield(id) {
					return
				}
			}
		})
		for _, id := range ids {
			o := byType[typ][id]
			if typ == "invoice" {
				var inv map[string]any
				json.Unmarshal(o, &inv)
				lines := inv["lines"].(map[string]any)
				data := lines["data"].([]any)
				for _, l := range data {
					b, _ := json.Marshal(l)
					fake.lines[id] = append(fake.lines[id], b)
				}
				if len(data) > 1 {
					lines["data"], lines["has_more"] = data[:1], true
				}
				o, _ = json.Marshal(inv)
			}
			fake.lists[path] = append(fake.lists[path], o)
		}
	}
	return fake
}

// Read through the API (stripe-go against a local server that pages,
// throttles, fails once and truncates invoice lines), the stripe_2025
// account gives the tables its files give, to the row: only where each row
// came from differs.
func TestStripeAPIReadsWhatTheFilesHold(t *testing.T) {
	scenario := filepath.Join("testdata", "scenarios", "stripe_2025")
	fake := newFakeStripe(t, scenario)
	srv := httptest.NewServer(fake)
	defer srv.Close()

	fake.event(t, "evt_0", "customer.created", time.Now().Add(-24*time.Hour), `{"id": "cus_A", "object": "customer", "created": 1}`)
	cfg := stripeAPIConfig(t, scenario, srv.URL)
	wh := t.TempDir()
	if _, err := Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	for _, p := range fake.problems {
		t.Error(p)
	}
	asked := strings.Join(fake.requests, "\n")
	for _, want := range []string{"/v1/invoices/in_A4/lines", "starting_after=", "status=all", "/v1/credit_notes", "/v1/prices"} {
		if !strings.Contains(asked, want) {
			t.Errorf("no request for %s; the requests:\n%s", want, asked)
		}
	}
	if !fake.failed["/v1/customers?"] || !fake.failed["/v1/invoices"] {
		t.Errorf("the 429 and the 500 were not both served")
	}
	for _, tbl := range schemas.All() {
		got := withoutOrigins(t, tableCSV(t, wh, tbl))
		want, err := os.ReadFile(filepath.Join(scenario, "expected", tbl.Name+".csv"))
		if os.IsNotExist(err) {
			want = nil
		}
		if !bytes.Equal(got, withoutOrigins(t, want)) {
			t.Errorf("table %s read through the API differs from the files':\n got:\n%s\nwant:\n%s", tbl.Name, got, withoutOrigins(t, want))
		}
	}
}

// stripeAPIConfig is a config reading the account at base through the API
// (the key from the environment), with the scenario's rates.
func stripeAPIConfig(t *testing.T, scenario, base string) *configs.Config {
	t.Helper()
	dir := t.TempDir()
	rates, err := os.ReadFile(filepath.Join(scenario, "rates.csv"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "rates.csv"), rates, 0o644)
	t.Setenv("MRRFLOW_TEST_STRIPE_KEY", "sk_test_mrrflow")
	config := fmt.Sprintf(`as_of: 2024-04-30
reporting_currency: usd
fx_rates: rates.csv
sources:
  - name: stripe
    kind: stripe
    api_key: ${MRRFLOW_TEST_STRIPE_KEY}
    api_base: %s
`, base)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(config), 0o644)
	cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// After a full read, the next run reads only the events since the cursor
// (the newest event when the last successful run began) and merges the
// objects they carry: an invoice of a second subscription, with the price
// it names fetched, and a customer's new email. A cursor older than Stripe keeps
// events lists everything again, and says so.
func TestStripeAPIReadsEventsSinceTheCursor(t *testing.T) {
	scenario := filepath.Join("testdata", "scenarios", "stripe_2025")
	fake := newFakeStripe(t, scenario)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := stripeAPIConfig(t, scenario, srv.URL)
	wh := t.TempDir()
	run := func() string {
		t.Helper()
		var log bytes.Buffer
		if _, err := Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.New(&log)}); err != nil {
			t.Fatal(err)
		}
		return log.String()
	}
	fake.event(t, "evt_0", "customer.created", time.Now().Add(-24*time.Hour), `{"id": "cus_A", "object": "customer", "created": 1}`)
	run()

	fake.event(t, "evt_1", "customer.updated", time.Now().Add(-time.Hour),
		`{"id": "cus_B", "object": "customer", "created": 1705276800, "name": "Bolt GmbH", "email": "new@bolt.test", "address": {"country": "DE"}}`)
	fake.event(t, "evt_2", "invoice.paid", time.Now().Add(-time.Minute), `{"id": "in_A6", "object": "invoice", "customer": "cus_A",
		"created": 1712707200, "currency": "usd", "status": "paid", "status_transitions": {"paid_at": 1712710800},
		"parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_A2"}},
		"lines": {"object": "list", "has_more": false, "data": [{"id": "il_A6", "object": "line_item", "amount": 10000, "currency": "usd",
			"period": {"start": 1712707200, "end": 1715299200}, "quantity": 1,
			"parent": {"type": "subscription_item_details", "subscription_item_details": {"subscription": "sub_A2", "proration": false}},
			"pricing": {"type": "price_details", "price_details": {"price": "price_pro", "product": "prod_pro"}}}]}}`)
	// A run that fails leaves the cursor where it was: the next reads the
	// same events again.
	fake.refuseEvents = true
	if _, err := Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.Nop()}); err == nil || !strings.Contains(err.Error(), "Invalid timestamp") {
		t.Fatalf("the run with its events refused: %v", err)
	}
	var cursorAsked string
	for _, r := range fake.requests {
		if _, after, ok := strings.Cut(r, "created%5Bgte%5D="); ok {
			cursorAsked, _, _ = strings.Cut(after, "&")
		}
	}
	fake.refuseEvents, fake.requests = false, nil
	logged := run()
	asked := strings.Join(fake.requests, "\n")
	if cursorAsked == "" || !strings.Contains(asked, "created%5Bgte%5D="+cursorAsked) {
		t.Errorf("after a failed run the events from %q should be read again; asked:\n%s", cursorAsked, asked)
	}
	if !strings.Contains(asked, "/v1/events?created%5Bgte%5D=") || strings.Contains(asked, "/v1/customers?") || !strings.Contains(asked, "/v1/prices/price_pro") {
		t.Errorf("the second run should read the events since the cursor and fetch the price they name, and list nothing; it asked:\n%s", asked)
	}
	customers := string(tableCSV(t, wh, schemas.Customers))
	if !strings.Contains(customers, "cus_B,Bolt GmbH,new@bolt.test") || strings.Count(customers, "\n") != 9 {
		t.Errorf("customers after the events: cus_B's new email, and all 8 kept:\n%s", customers)
	}
	movements := string(tableCSV(t, wh, schemas.MRRMovements))
	if !strings.Contains(movements, "2024-04-10,stripe,cus_A,expansion,10000,") {
		t.Errorf("no expansion of 10000 on 2024-04-10 from the second subscription the event brought:\n%s", movements)
	}
	if strings.Contains(logged, "older than Stripe keeps events") {
		t.Errorf("a fresh cursor was taken for an old one:\n%s", logged)
	}

	// A cursor past the events' retention: everything is listed again.
	fake.mu.Lock()
	old, _ := json.Marshal(map[string]any{"id": "evt_old", "object": "event", "type": "customer.updated", "created": time.Now().Add(-40 * 24 * time.Hour).Unix(),
		"data": map[string]any{"object": map[string]any{"id": "cus_D", "object": "customer", "created": 1706745600, "name": "Dune", "email": "d@dune.test", "address": map[string]any{"country": "FR"}}}})
	fake.events = []json.RawMessage{old} // as if no event came for 40 days
	fake.mu.Unlock()
	wh = t.TempDir()
	run() // the cursor is now 40 days old
	fake.requests = nil
	logged = run()
	if asked := strings.Join(fake.requests, "\n"); !strings.Contains(asked, "/v1/customers?") || !strings.Contains(logged, "older than Stripe keeps events") {
		t.Errorf("a cursor of 40 days should list everything again, with a warning; asked:\n%s\nlogged:\n%s", asked, logged)
	}
}

// withoutOrigins drops the origin column of a table as CSV.
func withoutOrigins(t *testing.T, table []byte) []byte {
	t.Helper()
	if table == nil {
		return nil
	}
	rows, err := csv.NewReader(bytes.NewReader(table)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(rows[0], "origin")
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for _, r := range rows {
		if col >= 0 {
			r = slices.Delete(r, col, col+1)
		}
		w.Write(r)
	}
	w.Flush()
	return buf.Bytes()
}
