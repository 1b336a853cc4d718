package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/arena"
	"github.com/mrrflow/mrrflow/schemas"
)

// growpanelKind reads GrowPanel exports (seeds 000 and 001): customers,
// plans and invoices as JSON arrays, NDJSON or CSV, with both field
// spellings.
var growpanelKind = Kind{
	Name:        "growpanel",
	DefaultMode: configs.ModeUpsert,
	Open: opener(func(src configs.Source, c *GrowPanelConfig) (Extractor, error) {
		return &growPanel{src: src, cfg: *c}, nil
	}),
}

// GrowPanelConfig is a growpanel source's block: one file or glob pattern
// per entity, relative to the config file.
type GrowPanelConfig struct {
	Customers configs.Path `yaml:"customers"`
	Plans     configs.Path `yaml:"plans"`
	Invoices  configs.Path `yaml:"invoices"`
}

// Validate checks that each entity has a pattern naming a known format.
func (c *GrowPanelConfig) Validate(src configs.Source) error {
	for _, f := range []struct {
		key     string
		pattern configs.Path
	}{
		{"plans", c.Plans}, {"customers", c.Customers}, {"invoices", c.Invoices},
	} {
		if err := checkPattern(src, f.key, string(f.pattern), "growpanel", "a file or glob pattern"); err != nil {
			return err
		}
		if format(string(f.pattern)) == "" {
			return src.Errorf(f.key, "%q: name files .json, .ndjson, .jsonl or .csv (optionally .gz)", f.pattern)
		}
	}
	return nil
}

type growPanel struct {
	src configs.Source
	cfg GrowPanelConfig
}

// The field names of seeds 000 and 001, by canonical name.
var (
	growpanelCustomerFields = map[string]string{
		"id": "customer_id", "name": "name", "email": "email", "country": "country", "state": "state",
		"created": "created_at", "created_date": "created_at", "created_at": "created_at",
		"trial_started": "trial_started_at", "trial_started_at": "trial_started_at", "domain": "domain",
	}
	growpanelPlanFields = map[string]string{
		"id": "plan_id", "name": "name", "interval": "interval_unit", "billing_freq": "interval_unit",
		"interval_count": "interval_count", "billing_freq_count": "interval_count", "currency": "currency",
	}
	growpanelInvoiceFields = map[string]string{
		"id": "invoice_id", "line_id": "line_id", "customer_id": "customer_id", "plan_id": "plan_id",
		"subscription_id": "subscription_id", "type": "kind",
		"invoice_date": "invoice_date", "date": "invoice_date",
		"amount": "amount", "amount_cents": "amount", "currency": "currency",
		"period_start": "period_start", "start_date": "period_start",
		"period_end": "period_end", "end_date": "period_end",
		"payment_date": "paid_at", "paid_at": "paid_at", "quantity": "quantity",
		"proration": "prorated", "prorated": "prorated", "discount": "discount", "tax": "tax",
	}
)

// growpanelRequired are the fields each GrowPanel file must have a column
// for (transform rejects a record without them).
var growpanelRequired = map[schemas.Entity][]string{
	schemas.EntityPlan:     {"plan_id", "interval_unit"},
	schemas.EntityCustomer: {"customer_id"},
	schemas.EntityInvoice:  {"invoice_id", "customer_id", "kind", "invoice_date", "amount", "currency"},
}

// checkHeader refuses a CSV header that lacks a column for a required
// field: every row would be rejected for it. Names match exactly, as in
// the export formats; the error names what is missing and what is there.
func checkHeader(header []string, st growpanelStep) error {
	has := map[string]bool{}
	for _, h := range header {
		if c, ok := st.fields[h]; ok {
			has[c] = true
		}
	}
	var missing []string
	for _, req := range growpanelRequired[st.entity] {
		if has[req] {
			continue
		}
		var names []string
		for sender, c := range st.fields {
			if c == req {
				names = append(names, sender)
			}
		}
		slices.Sort(names)
		missing = append(missing, strings.Join(names, " or "))
	}
	if len(missing) == 0 {
		return nil
	}
	hint := ""
	for _, h := range header {
		if _, ok := st.fields[strings.ToLower(h)]; ok && h != strings.ToLower(h) {
			hint = fmt.Sprintf(" (column names are lower case: %q is not %q)", h, strings.ToLower(h))
			break
		}
	}
	return fmt.Errorf("the header of %s lacks the columns %s; it has %s%s", st.plural, strings.Join(missing, ", "), strings.Join(header, ", "), hint)
}

// growpanelStep is one of the three files of a GrowPanel export.
type growpanelStep struct {
	pattern, plural string
	entity          schemas.Entity
	fields          map[string]string
	spelling        map[string]string
}

func (g *growPanel) steps() []growpanelStep {
	return []growpanelStep{
		{string(g.cfg.Plans), "plans", schemas.EntityPlan, growpanelPlanFields, spellings(growpanelPlanFields)},
		{string(g.cfg.Customers), "customers", schemas.EntityCustomer, growpanelCustomerFields, spellings(growpanelCustomerFields)},
		{string(g.cfg.Invoices), "invoices", schemas.EntityInvoice, growpanelInvoiceFields, spellings(growpanelInvoiceFields)},
	}
}

// Files lists the files the source reads, of all its keys.
func (g *growPanel) Files() ([]string, error) {
	var patterns []string
	for _, st := range g.steps() {
		patterns = append(patterns, st.pattern)
	}
	return filesOf(patterns...)
}

func (g *growPanel) Extract(ctx context.Context, fn func(*Record) error) error {
	return g.ExtractBlocks(ctx, func(b Block) error { return b.Each(fn) })
}

// ExtractBlocks cuts the files into blocks of records: CSV and NDJSON in
// chunks of whole lines, JSON documents in runs of records decoded one by
// one (a JSON document is read by one goroutine; its records are parsed
// by any).
func (g *growPanel) ExtractBlocks(ctx context.Context, fn func(Block) error) error {
	for _, st := range g.steps() {
		paths, err := sourceFiles(g.src, st.pattern)
		if err != nil {
			return fmt.Errorf("source %s %s: %w", g.src.Name, st.plural, err)
		}
		for _, path := range paths {
			origin := originPath(g.src, path)
			checked, records := false, 0
			emit := func(c *chunk) error {
				if c.kind == chunkCSV && !checked {
					checked = true
					if err := checkHeader(c.header, st); err != nil {
						return &FileError{Path: path, Line: 1, Err: err}
					}
				}
				if len(c.raws) > 0 || len(bytes.TrimSpace(c.data)) > 0 {
					records++
				}
				return fn(&growpanelBlock{source: g.src.Name, path: origin, step: st, chunk: c})
			}
			// A JSON document's records go out 1,024 at a time.
			pending := &chunk{kind: chunkJSON}
			batch := func(raw []byte, line int) error {
				pending.raws, pending.lines = append(pending.raws, raw), append(pending.lines, line)
				if len(pending.raws) < 1024 {
					return nil
				}
				c := pending
				pending = &chunk{kind: chunkJSON}
				return emit(c)
			}
			err := cutFile(ctx, path, map[string]rawHandler{st.plural: batch}, batch, emit)
			if err == nil && len(pending.raws) > 0 {
				err = emit(pending)
			}
			if err == nil {
				err = emptyFile(g.src, path, records)
			}
			if err != nil {
				return fmt.Errorf("read %s %s: %w", g.src.Name, st.plural, err)
			}
		}
	}
	return nil
}

// growpanelBlock is a chunk of one GrowPanel file.
type growpanelBlock struct {
	source, path string
	step         growpanelStep
	chunk        *chunk
}

func (b *growpanelBlock) Each(fn func(*Record) error) error {
	rec := &Record{}
	names := &fieldNames{fields: b.step.fields}
	obj := &object{}
	raw := obj.rawJSON
	prefix := b.path + ":"
	var origins arena.Arena
	return b.chunk.each(obj, func(o *object) error {
		origins.Room(len(prefix) + 20)
		buf := origins.Buf()
		start := len(buf)
		buf = strconv.AppendInt(append(buf, prefix...), int64(o.line), 10)
		rec.reset(b.source, b.step.entity, origins.Keep(buf, start))
		rec.spelling = b.step.spelling
		rec.raw = raw
		rec.Err = o.err
		names.resolve(o.keys)
		for i, k := range o.keys {
			if name := names.canonical[i]; name != "" {
				rec.Set(name, k, o.vals[i])
			} else {
				mapField(rec, b.step.entity, b.step.fields, k, o.vals[i])
			}
		}
		return fn(rec)
	})
}

// mapField stores one source field under its canonical name; customers keep
// custom variables, metadata and unknown fields as attributes.
func mapField(rec *Record, e schemas.Entity, fields map[string]string, key string, v Value) {
	if name, ok := fields[key]; ok {
		rec.Set(name, key, v)
		return
	}
	if e != schemas.EntityCustomer || !v.Present() {
		return
	}
	if v.Kind == Object && (key == "custom_variables" || key == "metadata") {
		if !stringMembers(rec, v.Text) {
			jsonMembers(rec, key, v.Text)
		}
		return
	}
	if v.Kind == Object {
		// A nested object or array (address, custom, tags) is kept as
		// compact JSON with sorted keys: the same data formatted
		// differently is the same record.
		rec.SetAttr(key, canonicalJSON(v.Text))
		return
	}
	rec.SetAttr(key, v.Text)
}

// canonicalJSON is a JSON value compacted, its objects' keys sorted, its
// numbers as written; text that is not JSON is kept as it is.
func canonicalJSON(text string) string {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return text
	}
	b, err := json.Marshal(v)
	if err != nil {
		return text
	}
	return string(b)
}

// jsonMembers keeps the members of a JSON object as attributes: strings
// as they are, other values as JSON; a value that is not an object is a
// record error.
func jsonMembers(rec *Record, key, obj string) {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(obj))
	dec.UseNumber() // numbers as written, not through float64
	if err := dec.Decode(&m); err != nil {
		if rec.Err == nil {
			rec.Err = fmt.Errorf("field %s must be an object of strings", key)
		}
		return
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch x := m[k].(type) {
		case string:
			rec.SetAttr(k, x)
		case nil:
		default:
			b, _ := json.Marshal(x)
			rec.SetAttr(k, canonicalJSON(string(b)))
		}
	}
}

// stringMembers keeps the members of a JSON object of strings (and
// nulls) as attributes; false, keeping nothing, for anything else, which
// encoding/json then reads.
func stringMembers(rec *Record, obj string) bool {
	plain := true
	err := scanObject(obj, func(_ string, m Value) { plain = plain && (m.Kind == Text || m.Kind == Null) })
	if err != nil || !plain {
		return false
	}
	scanObject(obj, func(k string, m Value) {
		if m.Kind == Text {
			rec.SetAttr(k, m.Text)
		}
	})
	return true
}

// fieldNames caches the canonical name of each key of the last record:
// the rows of a CSV file (and most JSON records of one file) repeat their
// keys, so the map is consulted once per new key, not once per cell.
type fieldNames struct {
	fields    map[string]string
	keys      []string
	canonical []string
}

func (f *fieldNames) resolve(keys []string) {
	if len(f.keys) != len(keys) {
		f.keys, f.canonical = make([]string, len(keys)), make([]string, len(keys))
		for i, k := range keys {
			f.keys[i], f.canonical[i] = k, f.fields[k]
		}
		return
	}
	for i, k := range keys {
		if f.keys[i] != k {
			f.keys[i], f.canonical[i] = k, f.fields[k]
		}
	}
}
