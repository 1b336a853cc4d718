package extract

import (
	"encoding/json"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/mrrflow/mrrflow/schemas"
)

// ValueKind says what a field held in its source.
type ValueKind uint8

// Kinds of values.
const (
	Missing ValueKind = iota
	Null
	Text   // a JSON string, or any CSV cell
	Number // a JSON number, kept as written
	Bool   // a JSON boolean, "true" or "false"
	Object // a JSON object or array, kept as JSON text
)

// Value is one field's value as received.
type Value struct {
	Text string
	Kind ValueKind
}

// Present reports whether the field was given with a non-empty value.
func (v Value) Present() bool {
	return v.Kind != Missing && v.Kind != Null && (v.Kind != Text || strings.TrimSpace(v.Text) != "")
}

type field struct {
	key    uint16 // nameKey(name): most names differ in it, and it is cheap
	name   string // canonical name
	source string // the name it had in the source
	value  Value
}

// nameKey packs a name's length and first and last bytes.
func nameKey(name string) uint16 {
	if name == "" {
		return 0
	}
	return uint16(len(name))<<10 ^ uint16(name[0])<<3 ^ uint16(name[len(name)-1])
}

// Record is one raw record. A record handed to a callback is valid only
// during that call: the reader reuses it.
type Record struct {
	Source string
	Entity schemas.Entity
	// Origin is where the record came from: "path:line", or "table key".
	Origin string
	// Raw is the record as received, as JSON; use RawJSON, which makes it
	// when it was left to be made on demand.
	Raw []byte
	raw func() []byte
	// Err is set when the record could not be read at all (a line that is
	// not JSON, a CSV row with the wrong number of cells); its fields are
	// then empty.
	Err error
	// Attrs are fields kept as customer attributes (custom variables,
	// metadata, company, city, ...).
	Attrs map[string]string
	// Header marks an invoice record that carries no line of its own: its
	// lines arrive as line_item records naming its invoice_id.
	Header bool
	// MajorUnits marks a record of a source whose amounts are in major
	// units (amounts: major); its reader sets it.
	MajorUnits bool

	// spelling names each canonical field as the sender's format spells it,
	// for errors about a field the record lacks.
	spelling map[string]string

	fields []field
	// slots index fields by a hash of their name (index+1; 0 is empty),
	// while there are few enough fields for it.
	slots [64]uint8
}

const maxSlotted = 48

func (r *Record) reset(source string, e schemas.Entity, origin string) {
	r.Source, r.Entity, r.Origin = source, e, origin
	r.Raw, r.raw, r.Err, r.Attrs, r.Header, r.spelling, r.MajorUnits = r.Raw[:0], nil, nil, nil, false, nil, false
	r.fields = r.fields[:0]
	r.slots = [64]uint8{}
}

// RawJSON returns the record as received, as JSON.
func (r *Record) RawJSON() []byte {
	if len(r.Raw) == 0 && r.raw != nil {
		r.Raw = append(r.Raw[:0], r.raw()...)
	}
	return r.Raw
}

// Get returns the value of a canonical field.
func (r *Record) Get(name string) Value {
	if f := r.field(name); f != nil {
		return f.value
	}
	return Value{}
}

func (r *Record) field(name string) *field {
	k := nameKey(name)
	if len(r.fields) < maxSlotted {
		for h := k; ; h++ {
			s := r.slots[h&63]
			if s == 0 {
				return nil
			}
			if f := &r.fields[s-1]; f.key == k && f.name == name {
				return f
			}
		}
	}
	for i := range r.fields {
		if f := &r.fields[i]; f.key == k && f.name == name {
			return f
		}
	}
	return nil
}

// SourceName returns the name the field had in the source, for messages;
// the canonical name when it was not given.
func (r *Record) SourceName(name string) string {
	if f := r.field(name); f != nil {
		return f.source
	}
	if s, ok := r.spelling[name]; ok {
		return s
	}
	return name
}

// spellings inverts a format's field map (its names -> canonical names):
// each canonical name spelled as the format names it, the canonical
// spelling itself when the format has it, else the first alphabetically.
func spellings(fields map[string]string) map[string]string {
	out := make(map[string]string, len(fields))
	for sender, canonical := range fields {
		cur, ok := out[canonical]
		if !ok || cur != canonical && (sender == canonical || sender < cur) {
			out[canonical] = sender
		}
	}
	return out
}

// Set stores a canonical field. When two spellings of one field are given
// with different values, the record gets an error naming both.
func (r *Record) Set(name, sourceName string, v Value) {
	if v.Kind == Missing {
		return
	}
	if f := r.field(name); f != nil {
		if !f.value.Present() {
			f.source, f.value = sourceName, v
		} else if v.Present() && v.Text != f.value.Text && r.Err == nil {
			r.Err = &FieldConflict{A: f.source, B: sourceName, ValueA: f.value.Text, ValueB: v.Text}
		}
		return
	}
	k := nameKey(name)
	r.fields = append(r.fields, field{key: k, name: name, source: sourceName, value: v})
	if len(r.fields) < maxSlotted {
		h := k
		for r.slots[h&63] != 0 {
			h++
		}
		r.slots[h&63] = uint8(len(r.fields))
	}
}

// InvalidUTF8 finds a value (or attribute) that is not valid UTF-8: the
// sender's name of its field and the byte offset of the first bad byte.
func (r *Record) InvalidUTF8() (field string, offset int, bad bool) {
	for i := range r.fields {
		if v := r.fields[i].value.Text; !utf8.ValidString(v) {
			return r.fields[i].source, badByte(v), true
		}
	}
	for k, v := range r.Attrs {
		if !utf8.ValidString(k) {
			return k, badByte(k), true
		}
		if !utf8.ValidString(v) {
			return k, badByte(v), true
		}
	}
	return "", 0, false
}

// badByte is the offset of the first byte of s that is not valid UTF-8.
func badByte(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return i
			}
		}
	}
	return len(s)
}

// SetAttr stores a customer attribute.
func (r *Record) SetAttr(k, v string) {
	if r.Attrs == nil {
		r.Attrs = map[string]string{}
	}
	r.Attrs[k] = v
}

// AttrsJSON returns the attributes as a JSON object with sorted keys.
func (r *Record) AttrsJSON() string {
	if len(r.Attrs) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(r.Attrs))
	for k := range r.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, k)
		b.WriteByte(':')
		writeJSONString(&b, r.Attrs[k])
	}
	b.WriteByte('}')
	return b.String()
}

// writeJSONString writes s as encoding/json writes it: plain printable
// ASCII as is, anything else through encoding/json.
func writeJSONString(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			b.Write(q)
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}

// FieldConflict is two spellings of one field given with different values.
type FieldConflict struct {
	A, B           string
	ValueA, ValueB string
}

func (e *FieldConflict) Error() string {
	return "fields " + e.A + " (" + quote(e.ValueA) + ") and " + e.B + " (" + quote(e.ValueB) + ") disagree"
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
