package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// lineCounter passes a reader through and keeps the bytes a JSON decoder
// has read but the caller has not yet released, so that a byte offset can
// be turned into a line and column without holding the whole file.
type lineCounter struct {
	r    io.Reader
	buf  []byte // bytes from base on
	base int64  // offset of buf[0] in the stream
	line int    // line number at base, from 1
}

func newLineCounter(r io.Reader) *lineCounter { return &lineCounter{r: r, line: 1} }

func (lc *lineCounter) Read(p []byte) (int, error) {
	n, err := lc.r.Read(p)
	lc.buf = append(lc.buf, p[:n]...)
	return n, err
}

// position returns the line and column (both from 1) of an offset at or
// after the last released one.
func (lc *lineCounter) position(off int64) (line, col int) {
	rel := int(off - lc.base)
	if rel < 0 {
		return lc.line, 1
	}
	if rel > len(lc.buf) {
		rel = len(lc.buf)
	}
	head := lc.buf[:rel]
	line = lc.line + bytes.Count(head, []byte{'\n'})
	col = rel - bytes.LastIndexByte(head, '\n')
	if bytes.LastIndexByte(head, '\n') < 0 && lc.base > 0 {
		col = 0 // the line started before what is kept; the column is unknown
	}
	return line, col
}

// release forgets the bytes before off.
func (lc *lineCounter) release(off int64) {
	rel := int(off - lc.base)
	if rel <= 0 {
		return
	}
	if rel > len(lc.buf) {
		rel = len(lc.buf)
	}
	lc.line += bytes.Count(lc.buf[:rel], []byte{'\n'})
	n := copy(lc.buf, lc.buf[rel:])
	lc.buf = lc.buf[:n]
	lc.base += int64(rel)
}

// syntaxErrorAt finds the offset of the byte where a JSON syntax error
// lies, in the value that starts at or after from. (The decoder's own
// SyntaxError offset is not an offset in the stream.)
func (lc *lineCounter) syntaxErrorAt(from int64) int64 {
	rel := int(from - lc.base)
	if rel < 0 || rel > len(lc.buf) {
		return from
	}
	for rel < len(lc.buf) && bytes.IndexByte([]byte(" \t\r\n,"), lc.buf[rel]) >= 0 {
		rel++
	}
	var v any
	err := json.Unmarshal(lc.buf[rel:], &v)
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset > 0 {
		return lc.base + int64(rel) + se.Offset - 1
	}
	return lc.base + int64(rel)
}
