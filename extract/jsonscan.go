package extract

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// scanObject walks the members of a JSON object that json.Valid accepted,
// calling fn with each key and its raw value, without building a map. Keys
// and values are slices of s, so that a record costs one allocation (its
// text); keys and strings with escapes are unescaped into their own. A
// nested object or array comes as its raw text.
func scanObject(s string, fn func(key string, v Value)) error {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return errNotObject(s, i)
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return nil
	}
	for i < len(s) {
		end := stringEnd(s, i)
		key := unquote(s[i:end])
		i = skipSpace(s, end)
		i = skipSpace(s, i+1) // ':'
		vend := valueEnd(s, i)
		fn(key, rawValue(s[i:vend]))
		i = skipSpace(s, vend)
		if i < len(s) && s[i] == '}' {
			return nil
		}
		i = skipSpace(s, i+1) // ','
	}
	return errors.New("unexpected end of object")
}

func errNotObject(s string, i int) error {
	if i >= len(s) {
		return errors.New("not a JSON object: the record is empty")
	}
	kind := map[byte]string{'[': "array", '"': "string", 't': "bool", 'f': "bool", 'n': "null"}[s[i]]
	if kind == "" {
		kind = "number"
	}
	return errors.New("not a JSON object: found a JSON " + kind)
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string starting at s[i] == '"'.
func stringEnd(s string, i int) int {
	for j := i + 1; j < len(s); {
		k := strings.IndexByte(s[j:], '"')
		if k < 0 {
			break
		}
		q := j + k
		// The quote ends the string unless an odd number of
		// backslashes escape it.
		b := q
		for b > i+1 && s[b-1] == '\\' {
			b--
		}
		if (q-b)%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
	return len(s)
}

// valueEnd returns the index after the value starting at s[i].
func valueEnd(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '"':
		return stringEnd(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				j = stringEnd(s, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(s)
	}
	j := i
	for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ']' && s[j] != ' ' && s[j] != '\n' && s[j] != '\t' && s[j] != '\r' {
		j++
	}
	return j
}

// unquote returns a JSON string's text; only strings with escapes go
// through encoding/json.
func unquote(q string) string {
	if len(q) < 2 {
		return ""
	}
	body := q[1 : len(q)-1]
	if strings.IndexByte(body, '\\') >= 0 {
		var s string
		json.Unmarshal([]byte(q), &s)
		return s
	}
	return body
}

func rawValue(v string) Value {
	if len(v) == 0 {
		return Value{}
	}
	switch v[0] {
	case '"':
		return Value{Text: unquote(v), Kind: Text}
	case 'n':
		return Value{Kind: Null}
	case 't', 'f':
		return Value{Text: v, Kind: Bool}
	case '{', '[':
		return Value{Text: v, Kind: Object}
	}
	return Value{Text: v, Kind: Number}
}

// appendJSONString appends s as a JSON string, escaping what JSON needs.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
			i++
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		}
	}
	return append(dst, '"')
}

// scanValid is scanObject for text not yet checked: it checks the JSON
// grammar as it walks (one pass instead of json.Valid's and ours), and
// returns false when s is not one valid JSON object, or is one it leaves
// to encoding/json (very deep nesting). fn may have been called for the
// members before the problem.
func scanValid(s string, fn func(key string, v Value)) bool {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return skipSpace(s, i+1) == len(s)
	}
	for {
		key, end, ok := validText(s, i)
		if !ok {
			return false
		}
		i = skipSpace(s, end)
		if i >= len(s) || s[i] != ':' {
			return false
		}
		i = skipSpace(s, i+1)
		var v Value
		if i < len(s) && s[i] == '"' {
			v.Kind = Text
			if v.Text, end, ok = validText(s, i); !ok {
				return false
			}
		} else {
			if end, ok = validValue(s, i, 0); !ok {
				return false
			}
			v = rawValue(s[i:end])
		}
		fn(key, v)
		i = skipSpace(s, end)
		if i >= len(s) {
			return false
		}
		if s[i] == '}' {
			return skipSpace(s, i+1) == len(s)
		}
		if s[i] != ',' {
			return false
		}
		i = skipSpace(s, i+1)
	}
}

// validText returns the text of the JSON string at s[i] (a slice of s
// when it has no escapes) and the index after it.
func validText(s string, i int) (string, int, bool) {
	end, escaped, ok := validString(s, i)
	switch {
	case !ok:
		return "", 0, false
	case escaped:
		return unquote(s[i:end]), end, true
	}
	return s[i+1 : end-1], end, true
}

// plainByte marks the bytes a JSON string holds as they are: all but
// the quote, the backslash and control characters.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// validString returns the index after the JSON string at s[i], and
// whether it holds escapes.
func validString(s string, i int) (end int, escaped, ok bool) {
	if i >= len(s) || s[i] != '"' {
		return 0, false, false
	}
	for j := i + 1; j < len(s); j++ {
		if plainByte[s[j]] {
			continue
		}
		switch c := s[j]; {
		case c == '"':
			return j + 1, escaped, true
		case c < 0x20:
			return 0, false, false
		case c == '\\':
			escaped = true
			j++
			if j >= len(s) {
				return 0, false, false
			}
			switch s[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s) {
					return 0, false, false
				}
				for _, h := range []byte(s[j+1 : j+5]) {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, false, false
					}
				}
				j += 4
			default:
				return 0, false, false
			}
		}
	}
	return 0, false, false
}

// validValue returns the index after the JSON value at s[i].
func validValue(s string, i, depth int) (int, bool) {
	if i >= len(s) || depth > 100 {
		return 0, false
	}
	switch c := s[i]; {
	case c == '"':
		end, _, ok := validString(s, i)
		return end, ok
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		j := skipSpace(s, i+1)
		if j < len(s) && s[j] == closer {
			return j + 1, true
		}
		for {
			var ok bool
			if c == '{' {
				if j, _, ok = validString(s, j); !ok {
					return 0, false
				}
				if j = skipSpace(s, j); j >= len(s) || s[j] != ':' {
					return 0, false
				}
				j = skipSpace(s, j+1)
			}
			if j, ok = validValue(s, j, depth+1); !ok {
				return 0, false
			}
			if j = skipSpace(s, j); j >= len(s) {
				return 0, false
			}
			if s[j] == closer {
				return j + 1, true
			}
			if s[j] != ',' {
				return 0, false
			}
			j = skipSpace(s, j+1)
		}
	case c == 't':
		return literal(s, i, "true")
	case c == 'f':
		return literal(s, i, "false")
	case c == 'n':
		return literal(s, i, "null")
	case c == '-' || '0' <= c && c <= '9':
		return validNumber(s, i)
	}
	return 0, false
}

func literal(s string, i int, lit string) (int, bool) {
	if len(s)-i >= len(lit) && s[i:i+len(lit)] == lit {
		return i + len(lit), true
	}
	return 0, false
}

// validNumber returns the index after the JSON number at s[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(s string, i int) (int, bool) {
	digitsFrom := func(j int) int {
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		return j
	}
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = digitsFrom(i)
	default:
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		j := digitsFrom(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digitsFrom(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

// jsonCursor reads JSON text in one pass, checking it as it goes: a
// reader of a known shape takes the values it wants where they are, and
// skips (checking) the others, so that nested objects are not walked once
// per level. Any fault of the text sets bad and ends the walk.
type jsonCursor struct {
	s   string
	i   int
	bad bool
	// trusted text (checked by encoding/json) is walked without checks:
	// nesting deeper than validValue goes is valid JSON too.
	trusted bool
}

// peek is the first byte of the value at the cursor; 0 at the end.
func (c *jsonCursor) peek() byte {
	c.i = skipSpace(c.s, c.i)
	if c.i >= len(c.s) {
		c.bad = true
		return 0
	}
	return c.s[c.i]
}

// skip passes the value at the cursor and returns its text.
func (c *jsonCursor) skip() string {
	start := skipSpace(c.s, c.i)
	end, ok := 0, true
	if c.trusted {
		end = valueEnd(c.s, start)
	} else {
		end, ok = validValue(c.s, start, 0)
	}
	if !ok {
		c.bad, c.i = true, len(c.s)
		return ""
	}
	c.i = end
	return c.s[start:end]
}

// text reads the string at the cursor (peek said '"').
func (c *jsonCursor) text() string {
	end, escaped, ok := validString(c.s, c.i)
	if !ok {
		c.bad, c.i = true, len(c.s)
		return ""
	}
	q := c.s[c.i:end]
	c.i = end
	if escaped {
		return unquote(q)
	}
	return q[1 : len(q)-1]
}

// number reads the number at the cursor (peek said '-' or a digit), as
// written.
func (c *jsonCursor) number() string {
	end, ok := validNumber(c.s, c.i)
	if !ok {
		c.bad, c.i = true, len(c.s)
		return ""
	}
	n := c.s[c.i:end]
	c.i = end
	return n
}

// literal reads true, false or null at the cursor.
func (c *jsonCursor) literal(lit string) {
	end, ok := literal(c.s, c.i, lit)
	if !ok {
		c.bad, c.i = true, len(c.s)
		return
	}
	c.i = end
}

// members walks the object at the cursor (peek said '{'), calling fn with
// each key and the cursor at its value; a value fn does not take is
// skipped.
func (c *jsonCursor) members(fn func(key string, c *jsonCursor)) {
	c.i = skipSpace(c.s, c.i+1)
	if c.i < len(c.s) && c.s[c.i] == '}' {
		c.i++
		return
	}
	for !c.bad {
		if c.peek() != '"' {
			c.bad = true
			return
		}
		key := c.text()
		if c.peek() != ':' {
			c.bad = true
			return
		}
		c.i++
		at := skipSpace(c.s, c.i)
		c.i = at
		fn(key, c)
		if c.i == at {
			c.skip()
		}
		switch c.peek() {
		case ',':
			c.i++
		case '}':
			c.i++
			return
		default:
			c.bad = true
		}
	}
}

// elements walks the array at the cursor (peek said '['), calling fn with
// the cursor at each element; an element fn does not take is skipped.
func (c *jsonCursor) elements(fn func(c *jsonCursor)) {
	c.i = skipSpace(c.s, c.i+1)
	if c.i < len(c.s) && c.s[c.i] == ']' {
		c.i++
		return
	}
	for !c.bad {
		at := skipSpace(c.s, c.i)
		c.i = at
		fn(c)
		if c.i == at {
			c.skip()
		}
		switch c.peek() {
		case ',':
			c.i++
		case ']':
			c.i++
			return
		default:
			c.bad = true
		}
	}
}
