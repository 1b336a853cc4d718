package arena

import "unsafe"

// Size is the size of a buffer; a larger string gets a buffer of its own.
const Size = 64 << 10

// Arena is a current buffer. The zero Arena is ready.
type Arena struct{ buf []byte }

// String copies s into the arena.
func (a *Arena) String(s string) string {
	a.Room(len(s))
	start := len(a.buf)
	a.buf = append(a.buf, s...)
	return a.Keep(a.buf, start)
}

// Room makes room for n more bytes in the current buffer.
func (a *Arena) Room(n int) {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(Size, n))
	}
}

// Buf is the current buffer, to append a string's bytes to (after Room
// made room for them) and hand back to Keep.
func (a *Arena) Buf() []byte { return a.buf }

// Keep takes buf (the current buffer with bytes appended) as the current
// buffer and returns the bytes appended from start on as a string.
func (a *Arena) Keep(buf []byte, start int) string {
	a.buf = buf
	if start == len(buf) {
		return ""
	}
	return unsafe.String(&buf[start], len(buf)-start)
}
