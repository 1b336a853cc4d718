package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzScanValid checks the JSON record scanner against encoding/json: what
// it accepts is valid JSON, and each member it reads is the one
// encoding/json reads, in order, with the same value; a valid object of
// modest depth it does not refuse.
func FuzzScanValid(f *testing.F) {
	for _, s := range []string{`{}`, ` {"a":1} `, `{"a":{"b":[1,{"c":null}]},"d":"\ud83d\ude00"}`, `{"a":1,}`, `{"a" 1}`,
		`{"k":"v\"x","n":-0.5e+3,"t":true,"f":false,"z":null}`, `{"a":"\u00e9\n"}`, `{"a":01}`, `{"a":[1,]}`, `{"a":"x` + "\x01" + `"}`,
		`{"id":"c1","amount":9900,"meta":{"tier":"gold"}}`, `[1]`, `{"a":1}{"b":2}`, `{"dup":1,"dup":2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		if !utf8.ValidString(doc) {
			// encoding/json replaces invalid UTF-8; the scanner keeps the
			// bytes for the record's own check to refuse.
			return
		}
		type member struct {
			key string
			val Value
		}
		var got []member
		ok := scanValid(doc, func(k string, v Value) { got = append(got, member{k, v}) })
		want, valid := membersOf(doc)
		if ok && !valid {
			t.Fatalf("scanValid accepted %q, which encoding/json refuses", doc)
		}
		if !ok {
			if valid && depthOf(doc) < 90 {
				t.Fatalf("scanValid refused %q, a valid object", doc)
			}
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%q: scanValid read %d members, encoding/json %d", doc, len(got), len(want))
		}
		for i, m := range got {
			if m.key != want[i].key {
				t.Fatalf("%q: member %d key %q, encoding/json %q", doc, i, m.key, want[i].key)
			}
			if !sameValue(m.val, want[i].raw) {
				t.Fatalf("%q: member %q = %+v, encoding/json reads %s", doc, m.key, m.val, want[i].raw)
			}
		}
	})
}

type rawMember struct {
	key string
	raw json.RawMessage
}

// membersOf reads a JSON object's members in order with encoding/json;
// false when doc is not exactly one object.
func membersOf(doc string) ([]rawMember, bool) {
	if !json.Valid([]byte(doc)) {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var out []rawMember
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		out = append(out, rawMember{key: tok.(string), raw: raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return out, true
}

// sameValue says whether a scanned value is what encoding/json read.
func sameValue(v Value, raw json.RawMessage) bool {
	switch v.Kind {
	case Text:
		var s string
		return json.Unmarshal(raw, &s) == nil && s == v.Text
	case Null:
		return string(raw) == "null"
	case Bool, Number:
		return string(raw) == v.Text
	case Object:
		var a, b bytes.Buffer
		return json.Compact(&a, raw) == nil && json.Compact(&b, []byte(v.Text)) == nil && a.String() == b.String()
	}
	return false
}

// depthOf is the deepest nesting of brackets in doc, strings aside.
func depthOf(doc string) int {
	depth, most, inString := 0, 0, false
	for i := 0; i < len(doc); i++ {
		switch c := doc[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			most = max(most, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return most
}

// FuzzCSV checks the CSV cell parser against encoding/csv: the header,
// every record's line and cells, and which records cannot be parsed, read
// whole and cut into chunks of a few bytes.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{"", "a,b\n", "a,b\n1,2\n3,4", "a,b\r\n1,2\r\n\r\n\n3,\"x\r\ny\"\r\n", "\ufeff a ,b\n\"q\"\"uote\",2\n",
		"a,b\n1,\"multi\nline\",3\n4,5\n", "a,b\n1,b\"are\n2,3\n", "a,b\n\"open,2\n3,4\n", "a,b\n\"x\"y,2\n3,4\n", "a,b\n\"x\"\r",
		"a,b\n1,2\r", "\n\na,b\n1,2\n", "a\n\"\"\n\"\",\"\"\n", "id,amount\ni1,9900\ni2,\"1,000\"\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		wantHeader, want := viaEncodingCSV(doc)
		for _, size := range []int{3, 1 << 20} {
			gotHeader, got := viaChunks(t, doc, size)
			if len(got) == 0 && gotHeader == "" && !strings.HasPrefix(wantHeader, "error") {
				gotHeader = wantHeader // no chunk was cut: the header was read, and no row follows
			}
			if gotHeader != wantHeader || !equalRows(got, want) {
				t.Fatalf("%q in chunks of %d:\nheader %q, want %q\nrows %v\nwant %v", doc, size, gotHeader, wantHeader, got, want)
			}
		}
	})
}

func equalRows(a, b []csvRow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzStripeDecode checks the Stripe object reader against encoding/json:
// text that is not JSON is refused, never read; an object it reads without
// a fault has the id, type, creation time and number of lines that
// encoding/json reads.
func FuzzStripeDecode(f *testing.F) {
	for _, s := range []string{`{"id":"in_1","object":"invoice","created":5,"lines":{"data":[{"id":"l","amount":3}]}}`,
		`{"id":"p","object":"price","recurring":{"interval":"month","interval_count":2}}`, `{"id":1}`, `{"created":1.5}`,
		`{"object":"event","data":{"object":{"id":"cus_1","object":"customer"}}}`, `{"lines":{"data":[1]}}`, `{"id":"a"`, `[]`,
		`{"id":"a","id":"b"}`, `{"lines":{"data":[{}]},"lines":{"data":[{},{}]}}`, `{"lines":{"data":[{}],"data":[]}}`, `{"lines":{"data":[{}]},"lines":{}}`, `{"lines":{"data":[{"price":{"id":"x","recurring":null}}]}} x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		if !utf8.ValidString(doc) {
			return
		}
		var o stripeObject
		err := decodeStripe(doc, &o)
		if !json.Valid([]byte(doc)) {
			if err == nil {
				t.Fatalf("%q is not JSON, and was read", doc)
			}
			return
		}
		if err != nil {
			return // a field of the wrong type, or not an object
		}
		// Stripe's keys are exact (encoding/json's struct fields are
		// not): the reference reads the members by their exact keys.
		var want struct {
			ID, Object string
			Created    int64
		}
		var top map[string]json.RawMessage
		if jerr := json.Unmarshal([]byte(doc), &top); jerr != nil {
			t.Fatalf("%q: read, but it is no object for encoding/json: %v", doc, jerr)
		}
		json.Unmarshal(top["id"], &want.ID)
		json.Unmarshal(top["object"], &want.Object)
		json.Unmarshal(top["created"], &want.Created)
		lines := 0
		var list map[string]json.RawMessage
		if json.Unmarshal(top["lines"], &list) == nil {
			var data []json.RawMessage
			json.Unmarshal(list["data"], &data)
			for _, l := range data {
				if string(l) != "null" {
					lines++
				}
			}
		}
		if o.ID != want.ID || o.Object != want.Object || o.Created != want.Created || len(o.Lines) != lines {
			t.Fatalf("%q: read id %q object %q created %d lines %d; encoding/json: %q %q %d %d",
				doc, o.ID, o.Object, o.Created, len(o.Lines), want.ID, want.Object, want.Created, lines)
		}
	})
}
