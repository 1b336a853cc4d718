package metrics

import (
	"testing"
	"time"

	"github.com/mrrflow/mrrflow/internal/civil"
	"github.com/mrrflow/mrrflow/schemas"
)

// The integer calendar agrees with the time package, and shiftMicros with
// schemas.AddInterval, over centuries of days.
func TestCalendarMatchesTimePackage(t *testing.T) {
	for d := int32(-800000); d < 800000; d += 13 {
		y, m, dd := time.Unix(int64(d)*86400, 0).UTC().Date()
		gy, gm, gd := civil.Date(d)
		if gy != y || gm != m || gd != dd || civil.Days(y, m, dd) != d {
			t.Fatalf("day %d: %d-%d-%d, time says %d-%d-%d", d, gy, gm, gd, y, m, dd)
		}
	}
	base := time.Date(2019, 1, 31, 13, 45, 7, 123000, time.UTC)
	for i := 0; i < 3000; i++ {
		at := base.AddDate(0, 0, i)
		for _, c := range []struct {
			unit  string
			count int64
			n     int
		}{{"month", 1, 1}, {"month", 1, -1}, {"month", 3, 1}, {"year", 1, 1}, {"year", 2, -1}, {"week", 1, 1}, {"day", 10, -1}} {
			end, err := schemas.AddInterval(at, c.unit, c.count, c.n)
			if err != nil {
				t.Fatal(err)
			}
			want := end.UnixMicro()
			k := int(c.count) * c.n
			var got int64
			switch c.unit {
			case "day":
				got = shiftMicros(at.UnixMicro(), 0, k)
			case "week":
				got = shiftMicros(at.UnixMicro(), 0, 7*k)
			case "year":
				got = shiftMicros(at.UnixMicro(), 12*k, 0)
			default:
				got = shiftMicros(at.UnixMicro(), k, 0)
			}
			if got != want {
				t.Fatalf("%s %+v: %s, want %s", at, c, time.UnixMicro(got).UTC(), time.UnixMicro(want).UTC())
			}
		}
	}
}
