package extract

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/schemas"
)

// stripeKind reads Stripe API objects from files, exactly as the API
// returns them: list envelopes ({"object": "list", "data": [...]}),
// arrays or one object per line, any mix; each object is routed by its
// "object" field, and the newest version of each wins (by created, then by
// the time of the event that carried it). The objects are mapped to
// canonical records (README, "Stripe"), in both API shapes: up to 2024
// (line.type, line.price, invoice.subscription, tax_amounts) and from 2025
// (line.parent, line.pricing, invoice.parent, taxes), told apart per object.
var stripeKind = Kind{
	Name:        "stripe",
	DefaultMode: configs.ModeUpsert,
	// A subscription's cancellation line is dated when Stripe stopped the
	// service (ended_at, or the cancel_at it is scheduled for), so it takes
	// effect then (README, "Stripe").
	Policies: func(p *configs.Policies) { p.Cancellation = configs.CancelImmediate },
	Open: opener(func(src configs.Source, c *StripeConfig) (Extractor, error) {
		if c.APIKey != "" {
			return &stripeAPI{src: src, key: c.APIKey, base: c.APIBase}, nil
		}
		return &stripeFiles{src: src, path: string(c.Path)}, nil
	}),
}

// StripeConfig is a stripe source's block.
type StripeConfig struct {
	// Path is a JSON or NDJSON file of Stripe objects, or a glob pattern of
	// them.
	Path configs.Path `yaml:"path"`
	// APIKey reads the account through the API instead: a secret or
	// restricted key, usually ${STRIPE_API_KEY}.
	APIKey string `yaml:"api_key"`
	// APIBase overrides the API's address (https://api.stripe.com).
	APIBase string `yaml:"api_base"`
}

// Validate checks that the source reads either files or the API, and the
// files' pattern.
func (c *StripeConfig) Validate(src configs.Source) error {
	if c.APIKey != "" || c.APIBase != "" {
		switch {
		case c.Path != "":
			return src.Errorf("path", "give path (files) or api_key (the API), not both")
		case c.APIKey == "":
			return src.Errorf("api_key", "is required with api_base")
		}
		if c.APIBase != "" {
			if u, err := url.Parse(c.APIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return src.Errorf("api_base", "%q is not an http(s) address", c.APIBase)
			}
		}
		return nil
	}
	if err := checkPattern(src, "path", string(c.Path), "stripe", "JSON or NDJSON files of Stripe API objects"); err != nil {
		return err
	}
	// A pattern may mix JSON and NDJSON files ("*.*json"): each file is
	// then read by its own extension.
	if f := format(string(c.Path)); f != "json" && f != "ndjson" && !strings.ContainsAny(filepath.Ext(string(c.Path)), "*?[") {
		return src.Errorf("path", "%q: kind stripe reads JSON or NDJSON files (.json, .ndjson, .jsonl, optionally .gz)", c.Path)
	}
	return nil
}

type stripeFiles struct {
	src      configs.Source
	path     string
	warnings []string
}

// Warnings says what the read skipped: objects of types mrrflow does not
// map, counted by type.
func (s *stripeFiles) Warnings() []string { return s.warnings }

// stripeObject is the fields mrrflow reads of any Stripe object.
type stripeObject struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Created  int64  `json:"created"`
	Currency string `json:"currency"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	// Description is a customer's free text, its name when it has none.
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
	Address     *struct {
		Country string `json:"country"`
		State   string `json:"state"`
	} `json:"address"`
	Customer json.RawMessage `json:"customer"` // an id, or the object expanded

	// price, plan
	Nickname   string           `json:"nickname"`
	Product    json.RawMessage  `json:"product"`
	UnitAmount *int64           `json:"unit_amount"`
	Amount     *int64           `json:"amount"`
	Interval   string           `json:"interval"`       // plan
	IntCount   int64            `json:"interval_count"` // plan
	UsageType  string           `json:"usage_type"`     // plan
	Recurring  *stripeRecurring `json:"recurring"`

	// subscription
	Status            string `json:"status"`
	CanceledAt        *int64 `json:"canceled_at"`
	CancelAt          *int64 `json:"cancel_at"`
	EndedAt           *int64 `json:"ended_at"`
	CancelAtPeriodEnd bool   `json:"cancel_at_period_end"`

	// invoice
	Subscription      json.RawMessage `json:"subscription"`
	Parent            *stripeParent   `json:"parent"`
	StatusTransitions *struct {
		PaidAt *int64 `json:"paid_at"`
	} `json:"status_transitions"`
	Lines *struct {
		Data    []stripeLine `json:"data"`
		HasMore bool         `json:"has_more"`
	} `json:"lines"`

	// credit note
	Invoice json.RawMessage `json:"invoice"`
	Total   *int64          `json:"total"`

	// event
	Type string `json:"type"`
	Data *struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

type stripeRecurring struct {
	Interval  string `json:"interval"`
	IntCount  int64  `json:"interval_count"`
	UsageType string `json:"usage_type"`
}

type stripeParent struct {
	Type                string `json:"type"`
	SubscriptionDetails *struct {
		Subscription json.RawMessage `json:"subscription"`
	} `json:"subscription_details"`
	SubscriptionItemDetails *struct {
		Subscription string `json:"subscription"`
		Proration    bool   `json:"proration"`
	} `json:"subscription_item_details"`
	InvoiceItemDetails *struct {
		Subscription string `json:"subscription"`
		Proration    bool   `json:"proration"`
	} `json:"invoice_item_details"`
}

// stripeLine is an invoice line item, in either API shape.
type stripeLine struct {
	ID           string          `json:"id"`
	Amount       int64           `json:"amount"`
	Currency     string          `json:"currency"`
	Type         string          `json:"type"` // up to 2024: subscription, invoiceitem
	Proration    bool            `json:"proration"`
	Quantity     *int64          `json:"quantity"`
	Subscription string          `json:"subscription"`
	Price        json.RawMessage `json:"price"` // up to 2024: the price object
	Plan         json.RawMessage `json:"plan"`
	Invoice      string          `json:"invoice"` // a line item listed on its own
	Period       struct {
		Start int64 `json:"start"`
		End   int64 `json:"end"`
	} `json:"period"`
	Parent  *stripeParent `json:"parent"` // from 2025
	Pricing *struct {
		PriceDetails *struct {
			Price json.RawMessage `json:"price"`
		} `json:"price_details"`
	} `json:"pricing"`
	DiscountAmounts []struct {
		Amount int64 `json:"amount"`
	} `json:"discount_amounts"`
	TaxAmounts []struct { // up to 2024
		Amount    int64 `json:"amount"`
		Inclusive bool  `json:"inclusive"`
	} `json:"tax_amounts"`
	Taxes []struct { // from 2025
		Amount      int64  `json:"amount"`
		TaxBehavior string `json:"tax_behavior"`
	} `json:"taxes"`
}

// stripeVersion is the newest version of an object read, and where.
type stripeVersion struct {
	obj    stripeObject
	raw    []byte
	origin string
	at     [2]int64 // created, then the carrying event's time
	err    error    // the object's fields could not be read
}

// stripeMapped are the object types mrrflow maps.
var stripeMapped = map[string]bool{"customer": true, "product": true, "price": true, "plan": true, "subscription": true,
	"invoice": true, "line_item": true, "credit_note": true, "event": true}

// stripeRead are the object types read for what other objects already
// carry, with why they add no record of their own.
var stripeRead = map[string]string{
	"coupon":          "their effect is in the invoice lines' discount_amounts",
	"refund":          "refunds are read from credit notes; a refund without one is not counted",
	"draft invoice":   "a draft is not issued yet",
	"void invoice":    "a voided invoice was never owed",
	"older version":   "a newer version of the same object replaced each",
	"no object field": "without their \"object\" field they are not Stripe API objects",
}

// Extract reads every file, keeps the newest version of each object, and
// passes on the records they map to: plans, customers, then invoice lines
// (cancellations and refunds among them).
func (s *stripeFiles) Extract(ctx context.Context, fn func(*Record) error) error {
	paths, err := expandGlob(s.path)
	if err != nil {
		return fmt.Errorf("source %s: %w", s.src.Name, err)
	}
	st := newStripeState()
	rec := &Record{}
	for _, path := range paths {
		file := originPath(s.src, path)
		records := 0
		take := func(o *object) error {
			records++
			origin := file + ":" + strconv.Itoa(o.line)
			if o.err != nil { // an NDJSON line that is not JSON
				rec.reset(s.src.Name, schemas.EntityInvoice, origin)
				rec.raw, rec.Err = o.rawJSON, o.err
				return fn(rec)
			}
			return st.add(o.rawJSON(), origin, [2]int64{})
		}
		err := readFileRouted(ctx, path, map[string]func(*object) error{"data": take}, take)
		if err == nil {
			err = emptyFile(s.src, path, records)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", s.src.Name, err)
		}
	}
	if err := st.emit(s.src, rec, fn); err != nil {
		return err
	}
	s.warnings = st.warnings()
	return nil
}

// warnings counts the objects read and not mapped, by type, with why.
func (st *stripeState) warnings() []string {
	var out []string
	for _, t := range slices.Sorted(maps.Keys(st.skipped)) {
		why := stripeRead[t]
		if why == "" {
			why = "mrrflow counts none of them"
		}
		out = append(out, fmt.Sprintf("skipped %d Stripe objects (%s): %s", st.skipped[t], t, why))
	}
	return out
}

// stripeState holds the newest version of each object read.
type stripeState struct {
	objects map[string]map[string]*stripeVersion // by object type, then id
	bad     []*stripeVersion                     // objects whose fields could not be read
	skipped map[string]int
	lines   map[string][]stripeLine // listed on their own, by invoice id
}

func newStripeState() *stripeState {
	return &stripeState{objects: map[string]map[string]*stripeVersion{}, skipped: map[string]int{}, lines: map[string][]stripeLine{}}
}

func (st *stripeState) add(raw []byte, origin string, event [2]int64) error {
	var o stripeObject
	err := json.Unmarshal(raw, &o)
	if err == nil && o.ID == "" && o.Object != "" && stripeMapped[o.Object] {
		err = fmt.Errorf("field id: a %s without an id", o.Object)
	}
	if err != nil {
		st.bad = append(st.bad, &stripeVersion{raw: slices.Clone(raw), origin: origin, err: err})
		return nil
	}
	switch {
	case o.Object == "event":
		if o.Data == nil || len(o.Data.Object) == 0 {
			st.skipped["event without data.object"]++
			return nil
		}
		return st.add(o.Data.Object, origin+"#/data/object", [2]int64{o.Created, o.Created})
	case o.Object == "":
		st.skipped["no object field"]++
		return nil
	case !stripeMapped[o.Object]:
		st.skipped[o.Object]++
		return nil
	}
	at := [2]int64{o.Created, event[1]}
	byID := st.objects[o.Object]
	if byID == nil {
		byID = map[string]*stripeVersion{}
		st.objects[o.Object] = byID
	}
	if have, ok := byID[o.ID]; ok {
		st.skipped["older version"]++
		if have.at[0] > at[0] || (have.at[0] == at[0] && have.at[1] > at[1]) {
			return nil
		}
	}
	byID[o.ID] = &stripeVersion{obj: o, raw: slices.Clone(raw), origin: origin, at: at}
	return nil
}

// of lists the newest versions of one object type, by id.
func (st *stripeState) of(object string) []*stripeVersion {
	out := slices.Collect(maps.Values(st.objects[object]))
	slices.SortFunc(out, func(a, b *stripeVersion) int { return strings.Compare(a.obj.ID, b.obj.ID) })
	return out
}

// idOf reads a reference: an id, or an expanded object's id.
func idOf(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id
	}
	var o struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &o)
	return o.ID
}
