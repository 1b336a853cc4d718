package metrics

import "time"

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
	return daysFromCivil(y, m, d)
}

// startOfDay returns the instant a local day begins.
func (c calendar) startOfDay(day int32) int64 {
	y, m, d := civilFromDays(day)
	return time.Date(y, m, d, 0, 0, 0, 0, c.loc).UnixMicro()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// daysFromCivil counts days from 1970-01-01 to a proleptic Gregorian date.
func daysFromCivil(y int, m time.Month, d int) int32 {
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(day int32) (int, time.Month, int) {
	return time.Unix(int64(day)*86400, 0).UTC().Date()
}

// monthOfDay returns the month index (year*12 + month-1) of a day.
func monthOfDay(day int32) int32 {
	y, m, _ := civilFromDays(day)
	return int32(y*12 + int(m) - 1)
}

// firstDayOfMonth returns the first day of a month index.
func firstDayOfMonth(month int32) int32 {
	return daysFromCivil(int(month/12), time.Month(month%12+1), 1)
}

// lastDayOfMonth returns the last day of a month index.
func lastDayOfMonth(month int32) int32 { return firstDayOfMonth(month+1) - 1 }
