package extract

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/mrrflow/mrrflow/configs"
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
		metered := cmp.Or(c.Metered, MeteredExclude)
		if c.APIKey != "" {
			return &stripeAPI{src: src, key: c.APIKey, base: c.APIBase, metered: metered}, nil
		}
		return &stripeFiles{src: src, path: string(c.Path), metered: metered}, nil
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
	// Metered says what a metered price's lines are: exclude (the
	// default: one-time revenue, no MRR) or mrr (each invoice's usage is
	// the MRR from that invoice until the next, a run rate).
	Metered string `yaml:"metered"`
}

// Values of metered.
const (
	MeteredExclude = "exclude"
	MeteredMRR     = "mrr"
)

// Validate checks that the source reads either files or the API, and the
// files' pattern.
func (c *StripeConfig) Validate(src configs.Source) error {
	switch c.Metered {
	case "", MeteredExclude, MeteredMRR:
	default:
		return src.Errorf("metered", "%q is not exclude or mrr", c.Metered)
	}
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
	metered  string
	warnings []string
}

// Warnings says what the read skipped: objects of types mrrflow does not
// map, counted by type.
func (s *stripeFiles) Warnings() []string { return s.warnings }

// stripeVersion is the newest version of an object read, and where.
type stripeVersion struct {
	obj    stripeObject
	raw    string // the object's text; obj's strings are slices of it
	origin string
	at     [2]int64 // created, then the carrying event's time
	err    error    // the object's fields could not be read
	skip   string   // why the object is not mapped, when it is not
}

// stripeMapped says whether mrrflow maps objects of a type.
func stripeMapped(object string) bool {
	switch object {
	case "customer", "product", "price", "plan", "subscription", "invoice", "line_item", "credit_note", "event":
		return true
	}
	return false
}

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
	return s.ExtractBlocks(ctx, func(b Block) error { return b.Each(fn) })
}

// ExtractBlocks reads every file, then hands on the records in blocks that
// can be passed on at once: the invoices' lines a few thousand invoices a
// block.
func (s *stripeFiles) ExtractBlocks(ctx context.Context, fn func(Block) error) error {
	// Every file, every run (a stripe source is no FileLister): its
	// objects refer to each other across files (an invoice's prices and
	// subscription, a credit note's invoice), and the mapping needs them
	// all at once.
	paths, err := expandGlob(s.path)
	if err != nil {
		return fmt.Errorf("source %s: %w", s.src.Name, err)
	}
	st := newStripeState(s.metered)
	for _, path := range paths {
		if err := st.readFile(ctx, s.src, path); err != nil {
			return fmt.Errorf("read %s: %w", s.src.Name, err)
		}
	}
	parts := st.parts(s.src)
	s.warnings = st.warnings()
	for _, part := range parts {
		if err := fn(part); err != nil {
			return err
		}
	}
	return nil
}

// readFile reads one file's objects. The lines of NDJSON are decoded on
// several goroutines, a chunk of lines each, and kept in the file's order.
func (st *stripeState) readFile(ctx context.Context, src configs.Source, path string) error {
	file := originPath(src, path)
	records := 0
	// A type first met in this file gets room for as many objects as a
	// file of its size holds at a few hundred bytes each.
	if info, err := os.Stat(path); err == nil {
		st.room = int(min(info.Size()/512, 1<<22))
	}
	take := func(raw []byte, line int) error {
		records++
		st.keep(decodeObject(string(raw), file+":"+strconv.Itoa(line), [2]int64{}, nil))
		return nil
	}
	// A file is JSON (take, on this goroutine) or NDJSON (chunks,
	// decoded on others and kept in order on one), never both.
	type part struct {
		versions []*stripeVersion
		records  int
	}
	decoded := make(chan chan part, 2*runtime.GOMAXPROCS(0))
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		for out := range decoded {
			p := <-out
			st.keep(p.versions)
			records += p.records
		}
	}()
	chunks := func(c *chunk) error {
		out := make(chan part, 1)
		select {
		case decoded <- out:
		case <-ctx.Done():
			return ctx.Err()
		}
		go func() {
			all := c.text() // the chunk's objects keep slices of it
			var p part
			c.eachLine(func(t []byte, line int) error {
				off := cap(c.data) - cap(t) // t is a slice of c.data
				p.versions = decodeObject(all[off:off+len(t)], file+":"+strconv.Itoa(line), [2]int64{}, p.versions)
				p.records++
				return nil
			})
			out <- p
		}()
		return nil
	}
	err := cutFile(ctx, path, map[string]rawHandler{"data": take}, take, chunks)
	close(decoded)
	<-kept
	if err == nil {
		err = emptyFile(src, path, records)
	}
	return err
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
	objects map[string]*stripeKindState // by object type
	bad     []*stripeVersion            // objects whose fields could not be read
	skipped map[string]int
	lines   map[string][]stripeLine // listed on their own, by invoice id
	room    int                     // how many objects a type first met may hold
	metered string                  // what metered prices' lines are
}

func newStripeState(metered string) *stripeState {
	return &stripeState{metered: metered, objects: map[string]*stripeKindState{}, skipped: map[string]int{}, lines: map[string][]stripeLine{}}
}

// add reads one object from its text (raw, owned by the state from now on)
// and keeps it when it is the newest version of its id read so far.
func (st *stripeState) add(raw string, origin string, event [2]int64) {
	st.keep(decodeObject(raw, origin, event, nil))
}

// decodeObject reads one object from its text (raw, kept by the versions
// made) and appends what it is to out: a version of an object mapped (an
// event's object for an event), one that could not be read (err), or one
// skipped (skip, the reason). It touches no state: chunks of a file are
// decoded at once.
func decodeObject(raw, origin string, event [2]int64, out []*stripeVersion) []*stripeVersion {
	v := &stripeVersion{raw: raw, origin: origin}
	o := &v.obj
	err := decodeStripe(raw, o)
	if err == nil && o.ID == "" && o.Object != "" && stripeMapped(o.Object) {
		err = fmt.Errorf("field id: a %s without an id", o.Object)
	}
	switch {
	case err != nil:
		if o.ID != "" { // the walk goes on past a field of the wrong type
			err = fmt.Errorf("%s %s: %w", cmp.Or(o.Object, "object"), o.ID, err)
		}
		*v = stripeVersion{raw: raw, origin: origin, err: fmt.Errorf("not a Stripe object: %w", err)}
	case o.Object == "event":
		if o.DataObject == "" {
			v.skip = "event without data.object"
			break
		}
		return decodeObject(o.DataObject, origin+"#/data/object", [2]int64{o.Created, o.Created}, out)
	case o.Object == "":
		v.skip = "no object field"
	case !stripeMapped(o.Object):
		v.skip = o.Object
	}
	v.at = [2]int64{o.Created, event[1]}
	return append(out, v)
}

// keep takes decoded objects into the state, in the order read: each
// object's newest version wins (by created, then by the time of the event
// that carried it; the later read of equals).
func (st *stripeState) keep(vs []*stripeVersion) {
	for _, v := range vs {
		switch {
		case v.err != nil:
			st.bad = append(st.bad, v)
			continue
		case v.skip != "":
			st.skipped[v.skip]++
			continue
		}
		kind := st.objects[v.obj.Object]
		if kind == nil {
			kind = &stripeKindState{byID: make(map[string]int, st.room), order: make([]*stripeVersion, 0, st.room)}
			st.objects[v.obj.Object] = kind
		}
		k, ok := kind.byID[v.obj.ID]
		if !ok {
			kind.byID[v.obj.ID] = len(kind.order)
			kind.order = append(kind.order, v)
			continue
		}
		st.skipped["older version"]++
		if have := kind.order[k]; have.at[0] < v.at[0] || (have.at[0] == v.at[0] && have.at[1] <= v.at[1]) {
			kind.order[k] = v
		}
	}
}

// stripeKindState is the newest version of each object of one type.
type stripeKindState struct {
	byID  map[string]int   // the place of each id in order
	order []*stripeVersion // in the order their ids were first read
}

// version is the newest version read of an object; nil if none was.
func (st *stripeState) version(object, id string) *stripeVersion {
	if kind := st.objects[object]; kind != nil {
		if k, ok := kind.byID[id]; ok {
			return kind.order[k]
		}
	}
	return nil
}

// of lists the newest versions of one object type, in the order their
// ids were first read.
func (st *stripeState) of(object string) []*stripeVersion {
	if kind := st.objects[object]; kind != nil {
		return kind.order
	}
	return nil
}
