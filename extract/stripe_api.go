package extract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/stripe/stripe-go/v83"
)

// stripeLists are the API's list endpoints a full read walks, in the order
// their objects are needed.
var stripeLists = []string{"/v1/products", "/v1/prices", "/v1/customers", "/v1/subscriptions?status=all", "/v1/invoices", "/v1/credit_notes"}

// stripeAPI reads a Stripe account through the official client: every list
// endpoint page by page (limit 100, starting_after the last id), and the
// lines of each invoice whose embedded lines are truncated.
type stripeAPI struct {
	src      configs.Source
	key      string
	base     string
	metered  string
	warnings []string
	// wait is how long to wait before retrying a throttled request when
	// Stripe does not say (Retry-After); tests shorten it.
	wait time.Duration
	// since is the stored cursor: the time of the newest event read by
	// the last successful run; zero lists everything.
	since, next time.Time
	// now is the clock, for the events' retention.
	now func() time.Time
}

// stripeEventRetention is how long Stripe keeps events: a cursor older
// than this (less a margin) cannot be caught up from events.
const stripeEventRetention = 30*24*time.Hour - time.Hour

// From sets the cursor: the events after it are read instead of every
// list. A backfill's rewound cursor has no "events" key: it lists all.
func (s *stripeAPI) From(c Cursor) {
	s.since = time.Time{}
	if t, err := time.Parse(time.RFC3339Nano, c["events"]); err == nil {
		s.since = t
	}
}

// Cursor is the time of the newest event when the read began.
func (s *stripeAPI) Cursor() Cursor {
	if s.next.IsZero() {
		return nil
	}
	return Cursor{"events": s.next.UTC().Format(time.RFC3339)}
}

// CursorColumn names what the cursor keeps.
func (s *stripeAPI) CursorColumn() string { return "events.created" }

// Warnings says what the read skipped.
func (s *stripeAPI) Warnings() []string { return s.warnings }

// rawBackend is the official client, reading objects as the API's JSON.
func (s *stripeAPI) rawBackend() stripe.RawRequestBackend {
	cfg := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Timeout: 80 * time.Second, Transport: &stripeThrottle{next: http.DefaultTransport, wait: s.wait}},
		MaxNetworkRetries: stripe.Int64(3), // network errors, with the client's backoff
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if s.base != "" {
		cfg.URL = stripe.String(s.base)
	}
	return stripe.GetBackendWithConfig(stripe.APIBackend, cfg).(stripe.RawRequestBackend)
}

// Extract lists every object, keeps the newest version of each, and
// passes on the records they map to, as the files do.
func (s *stripeAPI) Extract(ctx context.Context, fn func(*Record) error) error {
	raw := s.rawBackend()
	st := newStripeState(s.metered)
	// The newest event before anything is read: the next run reads the
	// events from it on, so nothing that changes during this read is lost.
	newest, err := s.newestEvent(ctx, raw)
	if err != nil {
		return fmt.Errorf("read %s: %w", s.src.Name, err)
	}
	lists := stripeLists
	var notes []string
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	switch {
	case s.since.IsZero():
	case now().Sub(s.since) > stripeEventRetention:
		notes = append(notes, fmt.Sprintf("the cursor (%s) is older than Stripe keeps events (30 days): every object listed again",
			s.since.UTC().Format(time.RFC3339)))
	default:
		lists = []string{"/v1/events?created[gte]=" + strconv.FormatInt(s.since.Unix(), 10)}
	}
	for _, list := range lists {
		err := s.each(ctx, raw, list, func(obj json.RawMessage, origin string) error {
			st.add(string(obj), origin, [2]int64{})
			if event, ok := eventObject(obj); ok {
				obj = event
			}
			var inv struct {
				ID     string `json:"id"`
				Object string `json:"object"`
				Lines  *struct {
					HasMore bool `json:"has_more"`
				} `json:"lines"`
			}
			if json.Unmarshal(obj, &inv) != nil || inv.Object != "invoice" || inv.Lines == nil || !inv.Lines.HasMore {
				return nil
			}
			// The list embeds the first lines only: list them all.
			return s.each(ctx, raw, "/v1/invoices/"+url.PathEscape(inv.ID)+"/lines", func(line json.RawMessage, _ string) error {
				l, err := decodeLine(string(line))
				if err != nil {
					return fmt.Errorf("invoice %s: a line: %w", inv.ID, err)
				}
				st.lines[inv.ID] = append(st.lines[inv.ID], l)
				return nil
			})
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", s.src.Name, err)
		}
	}
	// Lines of the 2025 shape name their price by id: fetch those not
	// read (events carry no prices; the prices list may leave out
	// archived ones).
	if err := s.fetchPrices(ctx, raw, st); err != nil {
		return fmt.Errorf("read %s: %w", s.src.Name, err)
	}
	parts := st.parts(s.src)
	s.warnings = append(notes, st.warnings()...)
	for _, part := range parts {
		if err := part.Each(fn); err != nil {
			return err
		}
	}
	s.next = newest
	if s.since.After(newest) {
		s.next = s.since
	}
	return nil
}

// newestEvent is the time of the account's newest event; zero without any.
func (s *stripeAPI) newestEvent(ctx context.Context, b stripe.RawRequestBackend) (time.Time, error) {
	params := &stripe.RawParams{}
	params.Context = ctx
	resp, err := b.RawRequest(http.MethodGet, "/v1/events?limit=1", s.key, "", params)
	if err != nil {
		return time.Time{}, fmt.Errorf("GET /v1/events?limit=1: %w", err)
	}
	var body struct {
		Data []struct {
			Created int64 `json:"created"`
		} `json:"data"`
	}
	if err := json.Unmarshal(resp.RawJSON, &body); err != nil {
		return time.Time{}, fmt.Errorf("GET /v1/events?limit=1: %w", err)
	}
	if len(body.Data) == 0 {
		return time.Time{}, nil
	}
	return time.Unix(body.Data[0].Created, 0).UTC(), nil
}

// eventObject is an event's data.object.
func eventObject(raw json.RawMessage) (json.RawMessage, bool) {
	var e struct {
		Object string `json:"object"`
		Data   *struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Object != "event" || e.Data == nil {
		return nil, false
	}
	return e.Data.Object, true
}

// fetchPrices reads the prices the invoices read name and no event
// carried, one request each.
func (s *stripeAPI) fetchPrices(ctx context.Context, b stripe.RawRequestBackend, st *stripeState) error {
	want := map[string]bool{}
	for _, inv := range st.of("invoice") {
		for _, l := range inv.obj.Lines {
			embedded := slices.ContainsFunc(l.Prices, func(p stripePrice) bool { return p.id == l.PriceID })
			if l.PriceID != "" && !embedded && st.version("price", l.PriceID) == nil && st.version("plan", l.PriceID) == nil {
				want[l.PriceID] = true
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		params := &stripe.RawParams{}
		params.Context = ctx
		path := "/v1/prices/" + url.PathEscape(id)
		resp, err := b.RawRequest(http.MethodGet, path, s.key, "", params)
		var serr *stripe.Error
		if errors.As(err, &serr) && serr.HTTPStatusCode == http.StatusNotFound {
			continue // a deleted plan: its lines are rejected naming it
		}
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		st.add(string(resp.RawJSON), "GET "+path, [2]int64{})
	}
	return nil
}

// each walks one list endpoint page by page, passing on each object with
// its origin (the page's request and the object's place in it).
func (s *stripeAPI) each(ctx context.Context, b stripe.RawRequestBackend, list string, fn func(json.RawMessage, string) error) error {
	after := ""
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		u, err := url.Parse(list)
		if err != nil {
			return err
		}
		q := u.Query()
		q.Set("limit", "100")
		if after != "" {
			q.Set("starting_after", after)
		}
		u.RawQuery = q.Encode()
		path := u.String()
		params := &stripe.RawParams{}
		params.Context = ctx
		resp, err := b.RawRequest(http.MethodGet, path, s.key, "", params)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		var body struct {
			Object  string            `json:"object"`
			Data    []json.RawMessage `json:"data"`
			HasMore bool              `json:"has_more"`
		}
		if err := json.Unmarshal(resp.RawJSON, &body); err != nil || body.Object != "list" {
			return fmt.Errorf("GET %s: not a Stripe list (%v)", path, err)
		}
		for k, obj := range body.Data {
			if err := fn(obj, "GET "+path+"#/data/"+strconv.Itoa(k)); err != nil {
				return err
			}
		}
		if !body.HasMore || len(body.Data) == 0 {
			return nil
		}
		var last struct {
			ID string `json:"id"`
		}
		json.Unmarshal(body.Data[len(body.Data)-1], &last)
		if last.ID == "" {
			return fmt.Errorf("GET %s: has_more, but the last object has no id to go on from", path)
		}
		after = last.ID
	}
}

// stripeThrottle retries a GET that Stripe throttled (429) or failed
// (5xx), up to 5 times, after the Retry-After it sends or a doubling
// backoff from half a second. stripe-go retries network errors, but not an
// error status with a JSON body, nor after Retry-After. Only GETs are
// retried: they change nothing.
type stripeThrottle struct {
	next http.RoundTripper
	wait time.Duration
}

func (t *stripeThrottle) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if err != nil || req.Method != http.MethodGet || attempt == 5 ||
			(resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < http.StatusInternalServerError) {
			return resp, err
		}
		wait := t.wait
		if wait == 0 {
			wait = time.Duration(500<<attempt) * time.Millisecond
		}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			wait = time.Duration(secs) * time.Second
		}
		resp.Body.Close()
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(wait):
		}
	}
}
