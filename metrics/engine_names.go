package metrics

import "unsafe"

// texts holds strings copied into one buffer: the k-th ends at ends[k].
// Holding many short strings this way costs no allocation and no pointer
// per string, for the collector to scan.
type texts struct {
	buf  []byte
	ends []int
}

func (t *texts) add(s string) {
	t.buf = append(t.buf, s...)
	t.ends = append(t.ends, len(t.buf))
}

// room makes room for n more bytes, at least doubling the buffer when it
// must move.
func (t *texts) room(n int) {
	if cap(t.buf)-len(t.buf) < n {
		t.buf = append(make([]byte, 0, max(len(t.buf)+n, 2*cap(t.buf))), t.buf...)
	}
}

// expect makes room for n strings in all, at the mean length of those
// held so far (plus an eighth), so that the buffer is not moved again and
// again as it grows.
func (t *texts) expect(n int) {
	held := len(t.ends)
	if held == 0 || n <= held {
		return
	}
	want := len(t.buf) / held * n
	want += want / 8
	if cap(t.buf) < want {
		t.buf = append(make([]byte, 0, want), t.buf...)
	}
}

// at is the k-th string, without a copy. It stays as it was until the
// texts are truncated: the bytes of buf below its length are not written
// again before that (appends write past it, or move it). Whoever keeps a
// string beyond that clones it.
func (t *texts) at(k int) string {
	start := 0
	if k > 0 {
		start = t.ends[k-1]
	}
	if start == t.ends[k] {
		return ""
	}
	return unsafe.String(&t.buf[start], t.ends[k]-start)
}

// lineNames holds the invoice and line ids of the lines, copied (so that
// the batches they were read from need not be kept): two texts per line.
type lineNames struct{ texts }

func (n *lineNames) add(inv, lid string) {
	n.texts.add(inv)
	n.texts.add(lid)
}

// expect makes room for the ids of lines lines in all.
func (n *lineNames) expect(lines int) { n.texts.expect(2 * lines) }

// inv is line i's invoice id.
func (n *lineNames) inv(i int32) string { return n.at(2 * int(i)) }

// lid is line i's line id.
func (n *lineNames) lid(i int32) string { return n.at(2*int(i) + 1) }
