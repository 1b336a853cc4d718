package extract

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"unsafe"

	"github.com/mrrflow/mrrflow/internal/arena"
)

// Line-oriented files (NDJSON, CSV) are read in chunks of whole records:
// one goroutine reads and cuts, and each chunk can be parsed on its own,
// on any goroutine, so that parsing uses every core.

type chunkKind uint8

const (
	chunkNDJSON chunkKind = iota + 1
	chunkCSV
	chunkJSON
)

// chunkSize is how much of a file a chunk holds (more when one record is
// longer).
var chunkSize = 1 << 20

// maxRecord bounds one record's text. Past it the file is taken as broken
// (for CSV, most likely a quote never closed, which would make the rest of
// the file one record): the run stops naming the line the record starts
// on, instead of holding the rest of the file in memory.
var maxRecord = 256 << 20

// chunk is a run of whole records of one file.
type chunk struct {
	path   string // the file, for its errors
	kind   chunkKind
	data   []byte   // NDJSON, CSV: the records' text, never written once cut
	line   int      // the line data starts on
	header []string // CSV
	raws   [][]byte // JSON: one record each
	lines  []int    // JSON: the line each record starts on
}

// cutChunks reads a file of kind NDJSON or CSV and hands it to emit in
// chunks of whole records, in order.
func cutChunks(ctx context.Context, path string, r io.Reader, kind chunkKind, emit func(*chunk) error) error {
	buf := make([]byte, 0, chunkSize)
	line := 1
	var header []string
	for eof := false; ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		for !eof && len(buf) < cap(buf) {
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				eof = true
			} else if err != nil {
				return &FileError{Path: path, Line: line + bytes.Count(buf, []byte{'\n'}), Err: err}
			}
		}
		if kind == chunkCSV && header == nil {
			h, end, whole, err := csvHeader(buf, eof)
			switch {
			case !whole:
				buf = slices.Grow(buf, max(cap(buf), chunkSize)) // the header is longer than the buffer
				continue
			case err != nil:
				return &FileError{Path: path, Line: line, Err: fmt.Errorf("header: %w", err)}
			case h == nil:
				return nil // an empty file holds no records
			}
			header = h
			line += bytes.Count(buf[:end], []byte{'\n'})
			buf = append(make([]byte, 0, max(chunkSize, len(buf)-end)), buf[end:]...)
			continue
		}
		cut := len(buf)
		if !eof {
			if kind == chunkCSV {
				cut = csvBoundary(buf)
			} else {
				cut = bytes.LastIndexByte(buf, '\n') + 1
			}
			if cut == 0 { // one record longer than the buffer
				if len(buf) >= maxRecord {
					what := "a line"
					if kind == chunkCSV {
						what = "a record (a quoted field not closed?)"
					}
					return &FileError{Path: path, Line: line, Err: fmt.Errorf("%s runs past %d MiB", what, maxRecord>>20)}
				}
				buf = slices.Grow(buf, max(cap(buf), chunkSize))
				continue
			}
		}
		if cut > 0 {
			if err := emit(&chunk{path: path, kind: kind, data: buf[:cut], line: line, header: header}); err != nil {
				return err
			}
			line += bytes.Count(buf[:cut], []byte{'\n'})
		}
		if eof {
			return nil
		}
		next := make([]byte, len(buf)-cut, max(chunkSize, 2*(len(buf)-cut)))
		copy(next, buf[cut:])
		buf = next
	}
}

// text is the chunk's data as a string, at no copy: cutChunks never
// writes a chunk's bytes once it has handed it on, so slices of the text
// may be kept as long as they are needed.
func (c *chunk) text() string {
	if len(c.data) == 0 {
		return ""
	}
	return unsafe.String(&c.data[0], len(c.data))
}

// each parses the chunk's records and hands each to fn, in order; obj is
// reused for every record.
func (c *chunk) each(obj *object, fn func(*object) error) error {
	switch c.kind {
	case chunkNDJSON:
		return c.eachNDJSON(obj, fn)
	case chunkCSV:
		return c.eachCSV(obj, fn)
	}
	for i, raw := range c.raws {
		obj.line = c.lines[i]
		parseObject(raw, obj)
		if err := fn(obj); err != nil {
			return err
		}
	}
	return nil
}

// eachNDJSON parses one JSON object per line; a line that is not one
// becomes a record error.
func (c *chunk) eachNDJSON(obj *object, fn func(*object) error) error {
	var values arena.Arena
	member := func(k string, v Value) {
		obj.keys = append(obj.keys, k)
		obj.vals = append(obj.vals, v)
	}
	return c.eachLine(func(t []byte, line int) error {
		obj.line = line
		obj.raw, obj.text = obj.raw[:0], t
		obj.keys, obj.vals, obj.err, obj.row = obj.keys[:0], obj.vals[:0], nil, nil
		switch {
		case scanValid(string(t), member):
			compactValues(obj.vals, &values)
		case !json.Valid(t):
			obj.keys, obj.vals = obj.keys[:0], obj.vals[:0]
			obj.err = fmt.Errorf("line is not valid JSON: %s", ndjsonProblem(t))
		default: // valid, but not for scanValid: the slower way
			parseObject(t, obj)
		}
		return fn(obj)
	})
}

// eachLine calls fn with each line of an NDJSON chunk that is not blank,
// trimmed, and its number; t is valid only during the call.
func (c *chunk) eachLine(fn func(t []byte, line int) error) error {
	b := c.data
	for line := c.line; len(b) > 0; line++ {
		l := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if t := bytes.TrimSpace(l); len(t) > 0 {
			if err := fn(t, line); err != nil {
				return err
			}
		}
	}
	return nil
}

// eachCSV parses CSV rows against the header; empty cells are missing
// fields. A row that cannot be parsed becomes a record error.
func (c *chunk) eachCSV(obj *object, fn func(*object) error) error {
	b, line := c.data, c.line
	// The chunk is made a string once, and a record's cells are slices of
	// it: one allocation per chunk, not per record (a chunk's records are
	// kept, and let go, together).
	all := string(b)
	var spans []csvSpan
	var cells []string
	for i := 0; i < len(b); {
		if n := emptyLineAt(b, i); n > 0 { // csv skips empty lines
			i += n
			line++
			continue
		}
		lineEnd := len(b)
		if nl := bytes.IndexByte(b[i:], '\n'); nl >= 0 {
			lineEnd = i + nl + 1
		}
		var end int
		var perr error
		if bytes.IndexByte(b[i:lineEnd], '"') < 0 {
			spans, end = csvPlain(b[:lineEnd], i, spans[:0]), lineEnd
		} else {
			end, _, spans, perr = csvRecord(b, i, true, spans[:0])
		}
		text := strings.TrimSuffix(strings.TrimSuffix(all[i:end], "\n"), "\r")
		obj.line = line
		obj.keys, obj.vals, obj.err, obj.row = obj.keys[:0], obj.vals[:0], nil, nil
		obj.raw, obj.text = obj.raw[:0], nil
		lines := strings.Count(text, "\n") + 1
		if ce, ok := perr.(*csvError); ok {
			// A record that cannot be parsed runs to the line of its problem
			// (at the end of the file, its last line's).
			at := min(ce.at, len(b))
			if at == len(b) { // a last line break, or a lone \r at the end, starts no line
				if at > i && b[at-1] == '\r' {
					at--
				}
				if at > i && b[at-1] == '\n' {
					at--
				}
			}
			lines = bytes.Count(b[i:at], []byte{'\n'}) + 1
		}
		if lines > 1 && (perr != nil || len(spans) != len(c.header)) {
			// A quoted field ran over line breaks into a record that is not
			// one: an unclosed quote has swallowed the records after it.
			what := fmt.Sprintf("it makes a record of %d lines and %d cells, and the header has %d", lines, len(spans), len(c.header))
			if perr != nil {
				what = fmt.Sprintf("the %d lines after it do not make a record (%v)", lines-1, perr)
			}
			return &FileError{Path: c.path, Line: line, Err: fmt.Errorf("a quoted field opens on this line and runs over line breaks, but %s: an unclosed quote? The file is refused: the records after it cannot be told apart", what)}
		}
		if perr != nil {
			obj.raw = appendJSONString(obj.raw, text)
			obj.err = fmt.Errorf("CSV row cannot be parsed: %v", perr)
		} else {
			cells = cells[:0]
			for _, s := range spans {
				cell := text[s.start-i : s.end-i]
				if s.escaped {
					cell = strings.ReplaceAll(strings.ReplaceAll(cell, `""`, `"`), "\r\n", "\n")
				}
				cells = append(cells, cell)
			}
			if len(cells) != len(c.header) {
				obj.err = fmt.Errorf("row has %d cells, the header has %d", len(cells), len(c.header))
			}
			for k, cell := range cells {
				if k >= len(c.header) {
					break
				}
				obj.keys = append(obj.keys, c.header[k])
				if cell == "" {
					obj.vals = append(obj.vals, Value{})
				} else {
					obj.vals = append(obj.vals, Value{Text: cell, Kind: Text})
				}
			}
			obj.header, obj.row = c.header, cells
		}
		if err := fn(obj); err != nil {
			return err
		}
		line += bytes.Count(b[i:end], []byte{'\n'})
		i = end
	}
	return nil
}

// compactValues copies the values' texts into the arena: what is kept of a
// record (its values, in the records made from it) then does not hold its
// whole text, keys and punctuation included.
func compactValues(vals []Value, a *arena.Arena) {
	n := 0
	for _, v := range vals {
		n += len(v.Text)
	}
	a.Room(n)
	for i := range vals {
		buf := a.Buf()
		start := len(buf)
		vals[i].Text = a.Keep(append(buf, vals[i].Text...), start)
	}
}

// newlineAt returns the length of the line break at b[i] ("\n" or
// "\r\n"), or 0.
func newlineAt(b []byte, i int) int {
	switch {
	case i < len(b) && b[i] == '\n':
		return 1
	case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
		return 2
	}
	return 0
}

// emptyLineAt is newlineAt, and also a lone "\r" that ends the data:
// encoding/csv drops a "\r" before the end of the file.
func emptyLineAt(b []byte, i int) int {
	if i+1 == len(b) && b[i] == '\r' {
		return 1
	}
	return newlineAt(b, i)
}

func trimNewline(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}

// csvHeader parses the first record of a CSV file (after empty lines):
// its cells trimmed, without a byte order mark. It returns nil for a file
// without records, and whole false when buf ends inside the header.
func csvHeader(buf []byte, eof bool) (header []string, end int, whole bool, err error) {
	i := 0
	for n := emptyLineAt(buf, i); n > 0; n = emptyLineAt(buf, i) {
		i += n
	}
	if i == len(buf) {
		return nil, i, eof, nil
	}
	end, whole, spans, err := csvRecord(buf, i, eof, nil)
	if !whole || err != nil {
		return nil, end, whole, err
	}
	header = make([]string, len(spans))
	for k, s := range spans {
		cell := string(buf[s.start:s.end])
		if s.escaped {
			cell = strings.ReplaceAll(strings.ReplaceAll(cell, `""`, `"`), "\r\n", "\n")
		}
		header[k] = strings.TrimSpace(strings.TrimPrefix(cell, "\ufeff"))
	}
	return header, end, true, nil
}

// csvBoundary returns how many bytes at the start of buf are whole CSV
// records (buf starts with a record). Lines without quotes are records of
// their own; only records with quotes are parsed to find where they end.
func csvBoundary(buf []byte) int {
	pos := 0
	for {
		q := bytes.IndexByte(buf[pos:], '"')
		if q < 0 {
			return pos + bytes.LastIndexByte(buf[pos:], '\n') + 1
		}
		q += pos
		start := pos + bytes.LastIndexByte(buf[pos:q], '\n') + 1
		end, whole, _, _ := csvRecord(buf, start, false, nil)
		if !whole {
			return start
		}
		pos = end
	}
}

// csvError is a record that cannot be parsed (csv.ErrQuote or
// csv.ErrBareQuote), and where in the text its problem is.
type csvError struct {
	err error
	at  int
}

func (e *csvError) Error() string { return e.err.Error() }
func (e *csvError) Unwrap() error { return e.err }

// csvSpan is one cell of a record: its bytes, and whether they hold
// escaped quotes or line breaks to undo.
type csvSpan struct {
	start, end int
	escaped    bool
}

// csvPlain splits a line without quotes at its commas.
func csvPlain(b []byte, i int, spans []csvSpan) []csvSpan {
	end := len(trimNewline(b))
	for {
		c := bytes.IndexByte(b[i:end], ',')
		if c < 0 {
			return append(spans, csvSpan{start: i, end: end})
		}
		spans = append(spans, csvSpan{start: i, end: i + c})
		i += c + 1
	}
}

// csvRecord parses the record that starts at b[i] as encoding/csv does
// (RFC 4180, quotes not lazy): it returns the index after the record and
// its line break, and its cells. whole is false when b ends before the
// record does and more may follow (at EOF a record always ends). A record
// that cannot be parsed gets err (csv.ErrQuote or csv.ErrBareQuote) and
// ends at the end of the line where its problem lies, where encoding/csv
// reads on.
func csvRecord(b []byte, i int, eof bool, spans []csvSpan) (end int, whole bool, _ []csvSpan, err error) {
	lineEnd := func(j int) (int, bool) {
		if nl := bytes.IndexByte(b[j:], '\n'); nl >= 0 {
			return j + nl + 1, true
		}
		return len(b), eof
	}
	for {
		if i < len(b) && b[i] == '"' {
			start, j, escaped := i+1, i+1, false
			for {
				q := bytes.IndexByte(b[j:], '"')
				if q < 0 { // not closed: encoding/csv reads to the end
					return len(b), eof, spans, &csvError{csv.ErrQuote, len(b)}
				}
				j += q
				if !escaped && bytes.IndexByte(b[start:j], '\r') >= 0 {
					escaped = true
				}
				if j+1 < len(b) && b[j+1] == '"' {
					escaped = true
					j += 2
					continue
				}
				spans = append(spans, csvSpan{start: start, end: j, escaped: escaped})
				if n := newlineAt(b, j+1); n > 0 {
					return j + 1 + n, true, spans, nil
				}
				switch {
				case j+1 == len(b) || (j+2 == len(b) && b[j+1] == '\r'):
					return len(b), eof, spans, nil
				case b[j+1] == ',':
					i = j + 2
				default:
					end, whole := lineEnd(j + 1)
					return end, whole, spans, &csvError{csv.ErrQuote, j + 1}
				}
				break
			}
			continue
		}
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '\n' {
			if b[j] == '"' {
				end, whole := lineEnd(j)
				return end, whole, spans, &csvError{csv.ErrBareQuote, j}
			}
			j++
		}
		switch {
		case j == len(b):
			spans = append(spans, csvSpan{start: i, end: len(trimNewline(b[:j]))})
			return len(b), eof, spans, nil
		case b[j] == '\n':
			e := j
			if e > i && b[e-1] == '\r' {
				e--
			}
			spans = append(spans, csvSpan{start: i, end: e})
			return j + 1, true, spans, nil
		}
		spans = append(spans, csvSpan{start: i, end: j})
		i = j + 1
	}
}
