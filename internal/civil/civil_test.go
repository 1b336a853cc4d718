package civil

import (
	"testing"
	"time"
)

// Days and Date agree with the time package on every day from 1600 to
// 2400, and DaysIn with the days the time package counts.
func TestAgainstTimePackage(t *testing.T) {
	for at := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC); at.Year() < 2400; at = at.AddDate(0, 0, 1) {
		y, m, d := at.Date()
		want := int32(at.Unix() / 86400)
		if at.Unix() < 0 && at.Unix()%86400 != 0 {
			want--
		}
		if got := Days(y, m, d); got != want {
			t.Fatalf("Days(%d, %d, %d) = %d, want %d", y, m, d, got, want)
		}
		if gy, gm, gd := Date(want); gy != y || gm != m || gd != d {
			t.Fatalf("Date(%d) = %d-%d-%d, want %s", want, gy, gm, gd, at.Format(time.DateOnly))
		}
		if d == 1 {
			if got, want := DaysIn(y, m), at.AddDate(0, 1, -1).Day(); got != want {
				t.Fatalf("DaysIn(%d, %d) = %d, want %d", y, m, got, want)
			}
		}
	}
}
