package transform

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	for in, want := range map[string]string{
		"2024-02-29T10:11:12Z":      "2024-02-29T10:11:12Z",
		"2024-02-29T10:11:12+02:00": "2024-02-29T08:11:12Z",
		"2024-02-29 10:11:12":       "2024-02-29T10:11:12Z",
		"2024-02-29":                "2024-02-29T00:00:00Z",
		" 2023-04-02 21:37:00 ":     "2023-04-02T21:37:00Z",
		"2024-02-30T10:11:12Z":      "",
		"2024-13-01T00:00:00Z":      "",
		"yesterday":                 "",
	} {
		got, ok := ParseTime(in)
		if (want == "") == ok || (ok && got.Format(time.RFC3339) != want) {
			t.Errorf("ParseTime(%q) = %v %v, want %q", in, got, ok, want)
		}
	}
}
