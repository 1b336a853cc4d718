package metrics

import (
	"time"

	"github.com/mrrflow/mrrflow/internal/civil"
)

const (
	usPerSecond = int64(time.Second / time.Microsecond)
	usPerDay    = 86400 * usPerSecond
	// never is the end of something that has not ended.
	never = int64(1<<63 - 1)
)

// calendar turns instants (µs since the epoch) into calendar days and
// months of the configured time zone. Days are counted from 1970-01-01;
// months as year*12 + month-1.
type calendar struct {
	loc *time.Location
	utc bool
}

func newCalendar(loc *time.Location) calendar {
	if loc == nil {
		loc = time.UTC
	}
	return calendar{loc: loc, utc: loc == time.UTC}
}

// day returns the local calendar day of an instant.
func (c calendar) day(us int64) int32 {
	if c.utc {
		return int32(floorDiv(us, usPerDay))
	}
	y, m, d := time.UnixMicro(us).In(c.loc).Date()
	return civil.Days(y, m, d)
}

// startOfDay returns the instant a local day begins.
func (c calendar) startOfDay(day int32) int64 {
	y, m, d := civil.Date(day)
	return time.Date(y, m, d, 0, 0, 0, 0, c.loc).UnixMicro()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// shiftMicros moves a UTC instant by k months (clamping the day of month
// to the last day of a shorter month, as schemas.AddInterval does) or by
// days, without the time package.
func shiftMicros(us int64, months, days int) int64 {
	day := floorDiv(us, usPerDay)
	tod := us - day*usPerDay
	if months != 0 {
		y, m, d := civil.Date(int32(day))
		idx := y*12 + int(m) - 1 + months
		ny, nm := floorDivInt(idx, 12), time.Month(idx-floorDivInt(idx, 12)*12+1)
		last := int(civil.Days(ny, nm+1, 1) - civil.Days(ny, nm, 1))
		if nm == 12 {
			last = int(civil.Days(ny+1, 1, 1) - civil.Days(ny, 12, 1))
		}
		day = int64(civil.Days(ny, nm, min(d, last)))
	}
	return (day+int64(days))*usPerDay + tod
}

func floorDivInt(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// monthOfDay returns the month index (year*12 + month-1) of a day.
func monthOfDay(day int32) int32 {
	y, m, _ := civil.Date(day)
	return int32(y*12 + int(m) - 1)
}

// firstDayOfMonth returns the first day of a month index.
func firstDayOfMonth(month int32) int32 {
	return civil.Days(int(month/12), time.Month(month%12+1), 1)
}

// lastDayOfMonth returns the last day of a month index.
func lastDayOfMonth(month int32) int32 { return firstDayOfMonth(month+1) - 1 }
