package extract

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// scanObject walks the members of a JSON object that json.Valid accepted,
// calling fn with each key and its raw value, without building a map. Keys
// and string values with escapes are unescaped; a nested object or array
// comes as its raw text.
func scanObject(b []byte, fn func(key string, v Value)) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errNotObject(b, i)
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for i < len(b) {
		end := stringEnd(b, i)
		key := unquote(b[i:end])
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // ':'
		vend := valueEnd(b, i)
		fn(key, rawValue(b[i:vend]))
		i = skipSpace(b, vend)
		if i < len(b) && b[i] == '}' {
			return nil
		}
		i = skipSpace(b, i+1) // ','
	}
	return errors.New("unexpected end of object")
}

func errNotObject(b []byte, i int) error {
	if i >= len(b) {
		return errors.New("not a JSON object: the record is empty")
	}
	kind := map[byte]string{'[': "array", '"': "string", 't': "bool", 'f': "bool", 'n': "null"}[b[i]]
	if kind == "" {
		kind = "number"
	}
	return errors.New("not a JSON object: found a JSON " + kind)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string starting at b[i] == '"'.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the index after the value starting at b[i].
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	return j
}

// unquote returns a JSON string's text; only strings with escapes go
// through encoding/json.
func unquote(q []byte) string {
	if len(q) < 2 {
		return ""
	}
	body := q[1 : len(q)-1]
	for _, c := range body {
		if c == '\\' {
			var s string
			json.Unmarshal(q, &s)
			return s
		}
	}
	return string(body)
}

func rawValue(v []byte) Value {
	if len(v) == 0 {
		return Value{}
	}
	switch v[0] {
	case '"':
		return Value{Text: unquote(v), Kind: Text}
	case 'n':
		return Value{Kind: Null}
	case 't', 'f':
		return Value{Text: string(v), Kind: Bool}
	case '{', '[':
		return Value{Text: string(v), Kind: Object}
	}
	return Value{Text: string(v), Kind: Number}
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
