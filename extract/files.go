package extract

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/mrrflow/mrrflow/configs"
)

// object is one record read from a file, before its fields are mapped to
// canonical names. It is valid only during the callback it is passed to.
type object struct {
	keys []string
	vals []Value
	raw  []byte
	// text is the record's own bytes where the reader holds them during
	// the callback (NDJSON): raw JSON at no copy.
	text []byte
	line int
	err  error // the record could not be read
	// header and row of a CSV record, whose raw JSON is made only when
	// asked for (most records are never rejected).
	header, row []string
}

// rawJSON returns the record as received, as JSON.
func (o *object) rawJSON() []byte {
	if len(o.raw) == 0 && o.text != nil {
		return o.text
	}
	if len(o.raw) == 0 && o.row != nil {
		o.raw = csvRaw(o.raw[:0], o.header, o.row)
	}
	return o.raw
}

// FileError is a file that cannot be read on: broken syntax, truncation.
// The run stops with it, since what follows the break cannot be trusted.
type FileError struct {
	Path string
	Line int
	Col  int
	Err  error
}

func (e *FileError) Error() string {
	pos := ""
	if e.Line > 0 {
		pos = fmt.Sprintf(":%d", e.Line)
		if e.Col > 0 {
			pos += fmt.Sprintf(":%d", e.Col)
		}
	}
	return fmt.Sprintf("%s%s: %v", e.Path, pos, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// ErrNoFiles is a glob pattern that matches no file.
var ErrNoFiles = errors.New("no file matches")

// ErrEmptyFile is a file of a replace source that holds no record: a
// suspicious delivery (a failed export, a truncated upload), which stops
// the run before it replaces anything, unless the run allows it
// (--allow-shrink).
var ErrEmptyFile = errors.New("the file holds no record (a failed export? if it really is empty, run with --allow-shrink)")

// emptyFile is the error of a file that yielded no record, or nil when the
// source allows empty files.
func emptyFile(src configs.Source, path string, records int) error {
	if records > 0 || src.AllowEmpty {
		return nil
	}
	return &FileError{Path: path, Err: ErrEmptyFile}
}

// sourceFiles lists the files a pattern of a source names, sorted, less
// those the run leaves out (SkipFiles). A pattern all of whose files are
// left out names none, and that is no error.
func sourceFiles(src configs.Source, pattern string) ([]string, error) {
	paths, err := expandGlob(pattern)
	if err != nil || len(src.SkipFiles) == 0 {
		return paths, err
	}
	return slices.DeleteFunc(paths, func(p string) bool { return src.SkipFiles[p] }), nil
}

// filesOf lists the files the patterns name, sorted, each once.
func filesOf(patterns ...string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		paths, err := expandGlob(p)
		if err != nil {
			return nil, err
		}
		out = append(out, paths...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// expandGlob returns the files a pattern names, sorted.
func expandGlob(pattern string) ([]string, error) {
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern %s: %w", pattern, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w %s", ErrNoFiles, pattern)
	}
	sort.Strings(paths)
	return paths, nil
}

// checkPattern checks a file key of a source: present, and a valid glob
// pattern.
func checkPattern(src configs.Source, key, pattern, kind, what string) error {
	if pattern == "" {
		return src.Errorf(key, "is required for kind %s (%s)", kind, what)
	}
	if _, err := filepath.Match(pattern, ""); err != nil {
		return src.Errorf(key, "bad pattern %q: %v", pattern, err)
	}
	return nil
}

// originPath is how records name the file at path: relative to the
// directory of the source's config when the file is under it (as the
// config names it), else the path itself. The origin then does not depend
// on where the project lies, and is short (it is on every record).
func originPath(src configs.Source, path string) string {
	if src.Dir == "" {
		return path
	}
	rel, err := filepath.Rel(src.Dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return filepath.ToSlash(rel)
}

// format returns the format of a file by its extension, ignoring .gz.
func format(path string) string {
	p := strings.ToLower(strings.TrimSuffix(strings.ToLower(path), ".gz"))
	switch filepath.Ext(p) {
	case ".ndjson", ".jsonl":
		return "ndjson"
	case ".csv":
		return "csv"
	case ".json":
		return "json"
	}
	return ""
}

// readFileRouted streams a file's records: a top-level JSON array, NDJSON
// or CSV to records; the arrays of a top-level JSON object to the handler
// of their key (an object with none of those keys is one record).
func readFileRouted(ctx context.Context, path string, arrays map[string]func(*object) error, records func(*object) error) error {
	handlers := make(map[string]rawHandler, len(arrays))
	for k, fn := range arrays {
		handlers[k] = parsed(fn)
	}
	obj := &object{}
	return cutFile(ctx, path, handlers, parsed(records), func(c *chunk) error { return c.each(obj, records) })
}

// rawHandler takes one JSON record of a document, as text, with the line
// it starts on.
type rawHandler func(raw []byte, line int) error

// parsed makes a raw handler that splits the record into its fields first.
func parsed(fn func(*object) error) rawHandler {
	obj := &object{}
	return func(raw []byte, line int) error {
		obj.line = line
		parseObject(raw, obj)
		return fn(obj)
	}
}

// cutFile reads one file: a JSON document's records go to the handler of
// their array (or to records), one by one; NDJSON and CSV are cut into
// chunks of whole records, handed to emit.
func cutFile(ctx context.Context, path string, arrays map[string]rawHandler, records rawHandler, emit func(*chunk) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		gz, err := gzip.NewReader(bufio.NewReaderSize(f, 256<<10))
		if err != nil {
			return &FileError{Path: path, Err: err}
		}
		defer gz.Close()
		r = gz
	}
	r = skipBOM(r)
	switch format(path) {
	case "json":
		return readJSON(ctx, path, bufio.NewReaderSize(r, 256<<10), arrays, records)
	case "ndjson":
		return cutChunks(ctx, path, r, chunkNDJSON, emit)
	case "csv":
		return cutChunks(ctx, path, r, chunkCSV, emit)
	}
	return &FileError{Path: path, Err: errors.New("unknown format: name it .json, .ndjson, .jsonl or .csv (optionally .gz)")}
}

// utf8BOM is the byte order mark some tools (Excel, PowerShell) write at
// the start of a UTF-8 file.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// skipBOM reads r without a UTF-8 byte order mark at its start.
func skipBOM(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, 256<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, utf8BOM) {
		br.Discard(3)
	}
	return br
}

// readJSON streams a JSON array of objects to records, the arrays of an
// object to the handler of their key (a key in the singular, the one
// record it holds), or a single object to records.
func readJSON(ctx context.Context, path string, r io.Reader, arrays map[string]rawHandler, records rawHandler) error {
	lc := newLineCounter(r)
	dec := json.NewDecoder(lc)
	dec.UseNumber()
	fail := func(err error) error {
		off := dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = lc.syntaxErrorAt(off)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			off = lc.base + int64(len(lc.buf)) // where the file ends
			err = errors.New("unexpected end of file: the file is truncated or a bracket is missing")
		}
		line, col := lc.position(off)
		return &FileError{Path: path, Line: line, Col: col, Err: err}
	}
	emitRaw := func(raw json.RawMessage, fn rawHandler) error {
		end := dec.InputOffset()
		start := end - int64(len(raw))
		line, _ := lc.position(start)
		lc.release(start)
		return fn(raw, line)
	}
	array := func(fn rawHandler) error {
		for i := 0; dec.More(); i++ {
			if i&1023 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return fail(err)
			}
			if err := emitRaw(raw, fn); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return fail(err)
		}
		return nil
	}
	tok, err := dec.Token()
	if err == io.EOF {
		return nil // an empty file holds no records
	}
	if err != nil {
		return fail(err)
	}
	switch tok {
	case json.Delim('['):
		if err := array(records); err != nil {
			return err
		}
	case json.Delim('{'):
		// Either a wrapper {"invoices": [...]} or one record.
		startLine, _ := lc.position(dec.InputOffset() - 1)
		single := map[string]json.RawMessage{}
		wrapped := false
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return fail(err)
			}
			key, _ := kt.(string)
			if fn, ok := arrays[key+"s"]; ok && arrays[key] == nil {
				// The body of an API call that takes one record:
				// {"subscription_event": {...}}.
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return fail(err)
				}
				if err := emitRaw(raw, fn); err != nil {
					return err
				}
				wrapped = true
				continue
			}
			if fn, ok := arrays[key]; ok {
				if t, err := dec.Token(); err != nil {
					return fail(err)
				} else if t != json.Delim('[') {
					return fail(fmt.Errorf("%q must hold an array", key))
				}
				wrapped = true
				if err := array(fn); err != nil {
					return err
				}
				continue
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return fail(err)
			}
			if !wrapped {
				single[key] = raw
			}
		}
		if _, err := dec.Token(); err != nil { // '}'
			return fail(err)
		}
		if !wrapped {
			raw, _ := json.Marshal(single)
			if err := records(raw, startLine); err != nil {
				return err
			}
		}
	default:
		return fail(fmt.Errorf("expected an array or an object of records, found %v", tok))
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("unexpected data after the end of the document")
		}
		return fail(err)
	}
	return nil
}

// parseObject splits a JSON object into its fields, in the order given; a
// value that is not an object becomes a record error.
func parseObject(raw []byte, obj *object) {
	obj.raw, obj.text = append(obj.raw[:0], raw...), nil
	obj.keys, obj.vals, obj.err, obj.row = obj.keys[:0], obj.vals[:0], nil, nil
	err := scanObject(string(raw), func(k string, v Value) {
		obj.keys = append(obj.keys, k)
		obj.vals = append(obj.vals, v)
	})
	if err != nil {
		obj.keys, obj.vals, obj.err = obj.keys[:0], obj.vals[:0], err
	}
}

func ndjsonProblem(b []byte) string {
	var v any
	err := json.Unmarshal(b, &v)
	if err == nil {
		return "unknown problem"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v at column %d", se, se.Offset)
	}
	return err.Error()
}

// csvRaw renders a CSV row as a JSON object of its header names.
func csvRaw(dst []byte, header, row []string) []byte {
	dst = append(dst, '{')
	for i, cell := range row {
		name := fmt.Sprintf("column_%d", i+1)
		if i < len(header) {
			name = header[i]
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, name)
		dst = append(dst, ':')
		dst = appendJSONString(dst, cell)
	}
	return append(dst, '}')
}
