package transform

import (
	"testing"
	"time"
)

// FuzzFastMicros checks the fast timestamp parser against the time
// package: what it reads is what time.Parse reads with the layout of its
// form, and every string of those forms in its years that time.Parse
// reads, it reads too.
func FuzzFastMicros(f *testing.F) {
	for _, s := range []string{"2024-02-29T10:11:12Z", "2024-02-29", "2023-02-29", "2024-02-30T10:11:12Z", "2024-13-01T00:00:00Z",
		"1970-01-01", "2200-12-31T23:59:59Z", "1969-12-31", "2201-01-01", "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z",
		"2024-1-01", "+024-01-01", "2024-01-01T10:11:12z", "２０２４-01-01", "2024-01-01T10:11:1ZZ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		us, ok := fastMicros(s)
		layout := time.DateOnly
		if len(s) == 20 {
			layout = "2006-01-02T15:04:05Z"
		}
		want, err := time.Parse(layout, s)
		inRange := err == nil && want.Year() >= 1970 && want.Year() <= 2200 && (len(s) == 10 || len(s) == 20)
		switch {
		case ok && !inRange:
			t.Fatalf("fastMicros read %q as %d; time.Parse(%q): %v", s, us, layout, err)
		case ok && us != want.UnixMicro():
			t.Fatalf("fastMicros(%q) = %s, time.Parse reads %s", s, time.UnixMicro(us).UTC(), want)
		case !ok && inRange:
			t.Fatalf("fastMicros refused %q, which time.Parse reads as %s", s, want)
		}
	})
}
