package schemas

import (
	"fmt"
	"time"
)

// Interval units of plans.
const (
	UnitDay   = "day"
	UnitWeek  = "week"
	UnitMonth = "month"
	UnitYear  = "year"
)

// AddInterval moves t by n plan intervals of count units (n may be
// negative). Months and years keep the day of month, clamped to the last
// day of a shorter month, as billing systems do (Jan 31 + 1 month is
// Feb 29 in a leap year). An unknown unit is an error.
func AddInterval(t time.Time, unit string, count int64, n int) (time.Time, error) {
	k := int(count) * n
	switch unit {
	case UnitDay:
		return t.AddDate(0, 0, k), nil
	case UnitWeek:
		return t.AddDate(0, 0, 7*k), nil
	case UnitMonth:
		return addMonths(t, k), nil
	case UnitYear:
		return addMonths(t, 12*k), nil
	}
	return t, fmt.Errorf("unknown interval unit %q (day, week, month or year)", unit)
}

func addMonths(t time.Time, k int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(k), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	if d > last {
		d = last
	}
	return first.AddDate(0, 0, d-1)
}
