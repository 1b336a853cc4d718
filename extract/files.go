package extract

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// object is one record read from a file, before its fields are mapped to
// canonical names. It is valid only during the callback it is passed to.
type object struct {
	keys []string
	vals []Value
	raw  []byte
	line int
	err  error // the record could not be read
	// header and row of a CSV record, whose raw JSON is made only when
	// asked for (most records are never rejected).
	header, row []string
}

// rawJSON returns the record as received, as JSON.
func (o *object) rawJSON() []byte {
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

// readFile streams the records of one file to fn. plural is the key under
// which a JSON object may wrap the array ({"invoices": [...]}).
func readFile(ctx context.Context, path, plural string, fn func(*object) error) error {
	return readFileRouted(ctx, path, map[string]func(*object) error{plural: fn}, fn)
}

// readFileRouted streams a file's records: a top-level JSON array, NDJSON
// or CSV to records; the arrays of a top-level JSON object to the handler
// of their key (an object with none of those keys is one record).
func readFileRouted(ctx context.Context, path string, arrays map[string]func(*object) error, records func(*object) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 256<<10)
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return &FileError{Path: path, Err: err}
		}
		defer gz.Close()
		r = gz
	}
	switch format(path) {
	case "json":
		return readJSON(ctx, path, r, arrays, records)
	case "ndjson":
		return readNDJSON(ctx, path, r, records)
	case "csv":
		return readCSV(ctx, path, r, records)
	}
	return &FileError{Path: path, Err: errors.New("unknown format: name it .json, .ndjson, .jsonl or .csv (optionally .gz)")}
}

// readJSON streams a JSON array of objects to records, the arrays of an
// object to the handler of their key, or a single object to records.
func readJSON(ctx context.Context, path string, r io.Reader, arrays map[string]func(*object) error, records func(*object) error) error {
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
	obj := &object{}
	emitRaw := func(raw json.RawMessage, fn func(*object) error) error {
		end := dec.InputOffset()
		start := end - int64(len(raw))
		obj.line, _ = lc.position(start)
		lc.release(start)
		parseObject(raw, obj)
		return fn(obj)
	}
	array := func(fn func(*object) error) error {
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
			obj.line = startLine
			parseObject(raw, obj)
			if err := records(obj); err != nil {
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
	obj.raw = append(obj.raw[:0], raw...)
	obj.keys, obj.vals, obj.err = obj.keys[:0], obj.vals[:0], nil
	err := scanObject(obj.raw, func(k string, v Value) {
		obj.keys = append(obj.keys, k)
		obj.vals = append(obj.vals, v)
	})
	if err != nil {
		obj.keys, obj.vals, obj.err = obj.keys[:0], obj.vals[:0], err
	}
}

// readNDJSON streams one JSON object per line; a line that is not one
// becomes a record error, and reading goes on.
func readNDJSON(ctx context.Context, path string, r io.Reader, fn func(*object) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	obj := &object{}
	var long []byte
	for line := 1; ; line++ {
		if line&1023 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], b...)
			for err == bufio.ErrBufferFull {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if err != nil && err != io.EOF {
			return &FileError{Path: path, Line: line, Err: err}
		}
		if t := bytes.TrimSpace(b); len(t) > 0 {
			obj.line = line
			if !json.Valid(t) {
				obj.raw = append(obj.raw[:0], t...)
				obj.keys, obj.vals = obj.keys[:0], obj.vals[:0]
				obj.err = fmt.Errorf("line is not valid JSON: %s", ndjsonProblem(t))
			} else {
				parseObject(t, obj)
			}
			if ferr := fn(obj); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
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

// readCSV streams the rows of a CSV file with a header row; empty cells are
// missing fields. A row that cannot be parsed becomes a record error.
func readCSV(ctx context.Context, path string, r io.Reader, fn func(*object) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return &FileError{Path: path, Line: 1, Err: fmt.Errorf("header: %w", err)}
	}
	header = append([]string(nil), header...)
	for i := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
	}
	obj := &object{}
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		obj.keys, obj.vals, obj.err, obj.row = obj.keys[:0], obj.vals[:0], nil, nil
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			obj.line = pe.StartLine
			obj.raw = appendJSONString(obj.raw[:0], strings.Join(row, ","))
			obj.err = fmt.Errorf("CSV row cannot be parsed: %v", pe.Err)
		case err != nil:
			return &FileError{Path: path, Err: err}
		default:
			obj.line, _ = cr.FieldPos(0)
			if len(row) != len(header) {
				obj.err = fmt.Errorf("row has %d cells, the header has %d", len(row), len(header))
			}
			for i, cell := range row {
				if i >= len(header) {
					break
				}
				obj.keys = append(obj.keys, header[i])
				if cell == "" {
					obj.vals = append(obj.vals, Value{})
				} else {
					obj.vals = append(obj.vals, Value{Text: cell, Kind: Text})
				}
			}
			obj.raw = obj.raw[:0]
			obj.header, obj.row = header, row
		}
		if err := fn(obj); err != nil {
			return err
		}
	}
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
