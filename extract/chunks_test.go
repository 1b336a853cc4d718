package extract

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mrrflow/mrrflow/internal/arena"
)

// csvRow is what a reader made of one record: its line and cells, or the
// problem.
type csvRow struct {
	line  int
	cells string
	err   string
}

// viaEncodingCSV reads a CSV document with encoding/csv, the reference:
// the header first, then every record.
func viaEncodingCSV(doc string) (header string, rows []csvRow) {
	r := csv.NewReader(strings.NewReader(doc))
	r.FieldsPerRecord = -1
	first, columns := true, 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return header, rows
		}
		var pe *csv.ParseError
		row := csvRow{}
		switch {
		case errors.As(err, &pe):
			row.line, row.err = pe.StartLine, pe.Err.Error()
			if !first && pe.Line > pe.StartLine {
				// A quote ran over line breaks into no record: the file
				// is refused (unclosedQuote).
				return unclosedQuote(pe.StartLine), nil
			}
		case err != nil:
			panic(err)
		default:
			row.line, _ = r.FieldPos(0)
			row.cells = strings.Join(rec, "|")
			// (columns counted on the header's cells: a cell may hold "|")
			if !first && len(rec) != columns && strings.Contains(row.cells, "\n") {
				return unclosedQuote(row.line), nil // a record of lines and cells that are not one
			}
		}
		if first {
			first = false
			if row.err != "" {
				return "error: " + row.err, nil
			}
			for i := range rec {
				rec[i] = strings.TrimSpace(strings.TrimPrefix(rec[i], "\ufeff"))
			}
			header, columns = strings.Join(rec, "|"), len(rec)
			continue
		}
		rows = append(rows, row)
	}
}

// unclosedQuote is how both readers' results say a file was refused for a
// quoted field that ran over line breaks into no record.
func unclosedQuote(line int) string { return fmt.Sprintf("error: unclosed quote at line %d", line) }

// viaChunks reads it with the chunked reader, in chunks of size bytes.
func viaChunks(t *testing.T, doc string, size int) (header string, rows []csvRow) {
	t.Helper()
	defer func(old int) { chunkSize = old }(chunkSize)
	chunkSize = size
	obj := &object{}
	err := cutChunks(context.Background(), "doc.csv", strings.NewReader(doc), chunkCSV, func(c *chunk) error {
		header = strings.Join(c.header, "|")
		return c.each(obj, func(o *object) error {
			row := csvRow{line: o.line}
			if o.row == nil {
				row.err = strings.TrimPrefix(o.err.Error(), "CSV row cannot be parsed: ")
			} else {
				row.cells = strings.Join(o.row, "|")
			}
			rows = append(rows, row)
			return nil
		})
	})
	var fe *FileError
	if errors.As(err, &fe) {
		if strings.Contains(fe.Err.Error(), "a quoted field opens on this line") {
			return unclosedQuote(fe.Line), nil
		}
		return "error: " + strings.TrimPrefix(fe.Err.Error(), "header: "), nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return header, rows
}

// The chunked CSV reader reads every document as encoding/csv does (cells,
// lines, and which records cannot be parsed), however the file is cut.
func TestChunkedCSVReadsAsEncodingCSV(t *testing.T) {
	docs := []string{
		"",
		"a,b\n",
		"a,b\n1,2\n3,4",
		"a,b\r\n1,2\r\n\r\n\n3,\"x\r\ny\"\r\n",
		"\ufeff a ,b\n\"q\"\"uote\",2\n",
		"a,b\n1,\"multi\nline\",3\n4,5\n",
		"a,b\n1,b\"are\n2,3\n",
		"a,b\n\"open,2\n3,4\n",
		"a,b\n\"x\"y,2\n3,4\n",
		"a,b\n\"x\"\r",
		"a,b\n1,2\r",
		"\n\na,b\n1,2\n",
		"a\n\"\"\n\"\",\"\"\n",
		"|\n\"\n\"", // found by FuzzCSV: a header cell holding the test's own separator
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "bc", ",", ",", "\n", "\n", "\r\n", "\"", "\"\"", " ", "é", "\r"}
	for range 400 {
		var b strings.Builder
		n := rng.IntN(60)
		for range n {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		docs = append(docs, b.String())
	}
	// Well-formed documents with quoted cells, long enough to cut.
	for range 20 {
		var b strings.Builder
		b.WriteString("id,name,note\n")
		for i := range 200 {
			switch rng.IntN(4) {
			case 0:
				fmt.Fprintf(&b, "%d,plain,x\n", i)
			case 1:
				fmt.Fprintf(&b, "%d,\"quoted, with comma\",\"and \"\"quotes\"\"\"\n", i)
			case 2:
				fmt.Fprintf(&b, "%d,\"two\nlines\",\r\n", i)
			default:
				fmt.Fprintf(&b, "\n%d,,\n", i)
			}
		}
		docs = append(docs, b.String())
	}
	for i, doc := range docs {
		wantHeader, want := viaEncodingCSV(doc)
		for _, size := range []int{1, 7, 64, 1 << 20} {
			gotHeader, got := viaChunks(t, doc, size)
			if len(got) == 0 && gotHeader == "" && !strings.HasPrefix(wantHeader, "error") {
				gotHeader = wantHeader // no chunk was cut: the header was read, and no row follows
			}
			if gotHeader != wantHeader || !slices.Equal(got, want) {
				t.Fatalf("doc %d %q in chunks of %d:\nheader %q, want %q\nrows %v\nwant %v", i, doc, size, gotHeader, wantHeader, got, want)
			}
		}
	}
}

// NDJSON read in chunks of any size gives the same records and lines.
func TestChunkedNDJSONKeepsLines(t *testing.T) {
	var b bytes.Buffer
	for i := range 300 {
		switch i % 5 {
		case 0:
			b.WriteString("\n")
		case 1:
			fmt.Fprintf(&b, "{\"id\": \"c%d\", \"note\": \"a \\\"quoted\\\" word\"}\n", i)
		case 2:
			fmt.Fprintf(&b, "{\"id\": \"c%d\", \"meta\": {\"k\": [1, 2]}}\r\n", i)
		case 3:
			fmt.Fprintf(&b, "{\"id\": \"c%d\"\n", i) // broken
		default:
			fmt.Fprintf(&b, "   {\"id\":\"c%d\",\"n\":%d}", i, i)
			b.WriteString("\n")
		}
	}
	read := func(size int) []string {
		defer func(old int) { chunkSize = old }(chunkSize)
		chunkSize = size
		var out []string
		obj := &object{}
		err := cutChunks(context.Background(), "x.ndjson", bytes.NewReader(b.Bytes()), chunkNDJSON, func(c *chunk) error {
			return c.each(obj, func(o *object) error {
				s := fmt.Sprintf("%d %v %v %v", o.line, o.keys, o.vals, o.err)
				out = append(out, s)
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	whole := read(1 << 20)
	if len(whole) != 240 || !strings.HasPrefix(whole[0], "2 [id note] [{c1 2} {a \"quoted\" word 2}]") {
		t.Fatalf("read %d records, first %q", len(whole), whole[0])
	}
	for _, size := range []int{1, 13, 100} {
		if got := read(size); !slices.Equal(got, whole) {
			t.Fatalf("chunks of %d differ:\n%v\n%v", size, got[:5], whole[:5])
		}
	}
}

// scanValid accepts only valid JSON objects, and reads them as scanObject
// does; what it leaves, json.Valid and scanObject still read.
func TestScanValidIsSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"{", "}", "[", "]", ",", ":", `"k"`, `"v\"x"`, `"\u00e9"`, `"\x"`, "1", "-0.5e+3", "01", "1.", "true", "nul", "null", " ", "\t", "\x01", `"a` + "\n" + `"`}
	docs := []string{`{}`, ` {"a":1} `, `{"a":{"b":[1,{"c":null}]},"d":"\ud83d\ude00"}`, `{"a":1,}`, `{"a" 1}`, `{"a":-}`, `{"a":1e}`, `{"a":"\u12g4"}`}
	values := []string{"0", "01", "-0", "-", "1.", "1.5", ".5", "+1", "1e", "1e+", "1E-7", "-12.5e3", "tru", "true", "nulll", "false",
		`"\u12"`, `"\u12ab"`, `"\q"`, `"\/"`, "\"a\x01\"", "[1,]", "[,1]", "[]", "[1,[2,[3]]]", `{"a"}`, `{1:2}`, `{"a":1,"b":{}}`, `{"a":1 "b":2}`}
	for _, v := range values {
		docs = append(docs, `{"k":`+v+`}`, `{"k": `+v+` , "z": [`+v+`]}`)
	}
	for range 3000 {
		var b strings.Builder
		b.WriteString("{")
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		if rng.IntN(2) == 0 {
			b.WriteString("}")
		}
		docs = append(docs, b.String())
	}
	for _, doc := range docs {
		var got, want []string
		ok := scanValid(doc, func(k string, v Value) { got = append(got, fmt.Sprint(k, v)) })
		valid := json.Valid([]byte(doc))
		if ok && !valid {
			t.Fatalf("scanValid accepted %q, which is not JSON", doc)
		}
		if !ok {
			continue
		}
		scanObject(doc, func(k string, v Value) { want = append(want, fmt.Sprint(k, v)) })
		if !slices.Equal(got, want) {
			t.Fatalf("%q: scanValid read %v, scanObject %v", doc, got, want)
		}
	}
	// Every object encoding/json writes, it reads.
	for i := range 200 {
		m := map[string]any{"id": fmt.Sprint("x", i), "n": rng.Float64() * 1e6, "neg": -i, "s": "q\"\\\n\u00e9\t", "nested": map[string]any{"l": []any{1, "two", nil, true}}}
		raw, _ := json.Marshal(m)
		if !scanValid(string(raw), func(string, Value) {}) {
			t.Fatalf("scanValid refused %s", raw)
		}
	}
}

// Attributes read the fast way are those read through encoding/json,
// written as encoding/json writes them.
func TestAttributesAsEncodingJSON(t *testing.T) {
	for _, obj := range []string{`{"b":"x","a":"y"}`, `{"k":"<&>","é":"\u00e9\n","q":"\"\\"}`, `{"n":null,"s":"v"}`, `{"a":"1","a":"2"}`,
		`{"num":1.50,"s":"v"}`, `{"o":{"x":1}}`, `[1]`, `{}`} {
		fast := &Record{}
		mapField(fast, "customer", growpanelCustomerFields, "metadata", Value{Text: obj, Kind: Object})
		slow := &Record{}
		if jsonMembers(slow, "metadata", obj); slow.Err != nil {
			if fast.Err == nil {
				t.Errorf("%s: no error", obj)
			}
			continue
		}
		var want bytes.Buffer
		want.WriteByte('{')
		keys := slices.Sorted(maps.Keys(slow.Attrs))
		for i, k := range keys {
			if i > 0 {
				want.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			vb, _ := json.Marshal(slow.Attrs[k])
			want.Write(kb)
			want.WriteByte(':')
			want.Write(vb)
		}
		want.WriteByte('}')
		if got := fast.AttrsJSON(); got != want.String() && !(got == "{}" && want.String() == "{}") {
			t.Errorf("%s: attributes %s, want %s", obj, got, want.String())
		}
	}
}

// Values compacted into an arena keep their texts.
func TestCompactValues(t *testing.T) {
	var a arena.Arena
	vals := []Value{{Text: "a"}, {}, {Text: "bcd"}}
	compactValues(vals, &a)
	if vals[0].Text != "a" || vals[1].Text != "" || vals[2].Text != "bcd" {
		t.Fatalf("compacted values %q", vals)
	}
}

// A CSV quote that is never closed, or an NDJSON line without end, stops
// the read once the record passes maxRecord, naming the line it starts on
// (not holding the rest of the file).
func TestRecordTooLong(t *testing.T) {
	defer func(m int) { maxRecord = m }(maxRecord)
	maxRecord = 2 << 20
	var csv, ndjson bytes.Buffer
	csv.WriteString("a,b\n1,2\n3,\"open\n")
	ndjson.WriteString("{\"a\":1}\n{\"a\":\"")
	for csv.Len() < 8<<20 {
		csv.WriteString("5,6\n")
		ndjson.WriteString("xxxxxxxxxxxxxxxx")
	}
	for _, c := range []struct {
		kind chunkKind
		data []byte
		want string
	}{
		{chunkCSV, csv.Bytes(), "f:3: a record (a quoted field not closed?) runs past 2 MiB"},
		{chunkNDJSON, ndjson.Bytes(), "f:2: a line runs past 2 MiB"},
	} {
		records := 0
		err := cutChunks(context.Background(), "f", bytes.NewReader(c.data), c.kind, func(ch *chunk) error {
			records += bytes.Count(ch.data, []byte{'\n'})
			return nil
		})
		if err == nil || err.Error() != c.want {
			t.Errorf("kind %v: error %v, want %s", c.kind, err, c.want)
		}
		if records != 1 {
			t.Errorf("kind %v: %d lines handed on before the long record, want 1", c.kind, records)
		}
	}
}
