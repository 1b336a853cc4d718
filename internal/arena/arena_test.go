package arena

import (
	"strconv"
	"strings"
	"testing"
)

// Strings made in an arena stay as they were while more are made: a full
// buffer is left for a new one, never written again or moved; strings
// built in place with Buf and Keep too.
func TestStringsStay(t *testing.T) {
	var a Arena
	var got, want []string
	for i := range 20_000 {
		s := strings.Repeat(string(rune('a'+i%26)), i%97) + strconv.Itoa(i)
		if i%1000 == 0 {
			s = strings.Repeat("x", Size+i) // larger than a buffer
		}
		got, want = append(got, a.String(s)), append(want, s)
		a.Room(20)
		buf := a.Buf()
		start := len(buf)
		buf = strconv.AppendInt(append(buf, "line:"...), int64(i), 10)
		got, want = append(got, a.Keep(buf, start)), append(want, "line:"+strconv.Itoa(i))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("string %d changed: %.20q, want %.20q", i, got[i], want[i])
		}
	}
	if s := a.String(""); s != "" {
		t.Errorf("empty string: %q", s)
	}
}
