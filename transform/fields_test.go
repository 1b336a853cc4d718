package transform

import (
	"testing"
	"time"

	"github.com/mrrflow/mrrflow/schemas"
)

func TestParseTime(t *testing.T) {
	for in, want := range map[string]string{
		"2024-02-29T10:11:12Z":      "2024-02-29T10:11:12Z",
		"2024-02-29T10:11:12+02:00": "2024-02-29T08:11:12Z",
		"2024-02-29 10:11:12":       "2024-02-29T10:11:12Z",
		"2024-02-29":                "2024-02-29T00:00:00Z",
		" 2023-04-02 21:37:00 ":     "2023-04-02T21:37:00Z",
		// Every spelling ChartMogul's import API takes (README, "Dates and times").
		"2016-01-01 12:00:00 UTC":          "2016-01-01T12:00:00Z",
		"2016-01-01 12:00:00Z":             "2016-01-01T12:00:00Z",
		"2016-01-01T12:00:00.123Z":         "2016-01-01T12:00:00Z",
		"2016-01-01T12:00:00.123456+01:00": "2016-01-01T11:00:00Z",
		"2016-01-01T12:00:00":              "2016-01-01T12:00:00Z",
		"2016-01-01T12:00:00+0130":         "2016-01-01T10:30:00Z",
		"2016-01-01 12:00:00 +02:00":       "2016-01-01T10:00:00Z",
		"2016-01-01 12:00:00+02:00":        "2016-01-01T10:00:00Z",
		"2016-01-01 12:00":                 "2016-01-01T12:00:00Z",
		"2016-01-01T12:00Z":                "2016-01-01T12:00:00Z",
		"1451649600":                       "2016-01-01T12:00:00Z",
		"12":                               "",
		"2024-02-30T10:11:12Z":             "",
		"2024-13-01T00:00:00Z":             "",
		"yesterday":                        "",
	} {
		got, ok := ParseTime(in)
		if (want == "") == ok || (ok && got.Format(time.RFC3339) != want) {
			t.Errorf("ParseTime(%q) = %v %v, want %q", in, got, ok, want)
		}
	}
}

// The fast path of dates agrees with time.Parse on every day from 1970 to
// 2200, and leaves what it does not read to ParseTime.
func TestFastMicrosAgreesWithTime(t *testing.T) {
	for d := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() <= 2200; d = d.AddDate(0, 0, 1) {
		at := d.Add(time.Duration(d.YearDay()%24)*time.Hour + 17*time.Minute + 3*time.Second)
		for _, s := range []string{d.Format(time.DateOnly), at.Format(time.RFC3339)} {
			want, _ := ParseTime(s)
			got, ok := fastMicros(s)
			if !ok || got != schemas.Micros(want) {
				t.Fatalf("fastMicros(%q) = %d, %v; want %d", s, got, ok, schemas.Micros(want))
			}
		}
	}
	for _, s := range []string{"2023-02-29", "2023-13-01", "1969-12-31", "2201-01-01", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00+01:00", "2024-1-01", "2024-01-01T00:00:60Z"} {
		if _, ok := fastMicros(s); ok {
			t.Errorf("fastMicros(%q) read it", s)
		}
	}
}
