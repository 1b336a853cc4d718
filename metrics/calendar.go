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

// daysFromCivil counts days from 1970-01-01 to a proleptic Gregorian date
// (integer arithmetic: H. Hinnant's days_from_civil).
func daysFromCivil(y int, m time.Month, d int) int32 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (int(m) + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int32(era*146097 + doe - 719468)
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(day int32) (int, time.Month, int) {
	z := int(day) + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, time.Month(m), d
}

// shiftMicros moves a UTC instant by k months (clamping the day of month
// to the last day of a shorter month, as schemas.AddInterval does) or by
// days, without the time package.
func shiftMicros(us int64, months, days int) int64 {
	day := floorDiv(us, usPerDay)
	tod := us - day*usPerDay
	if months != 0 {
		y, m, d := civilFromDays(int32(day))
		idx := y*12 + int(m) - 1 + months
		ny, nm := floorDivInt(idx, 12), time.Month(idx-floorDivInt(idx, 12)*12+1)
		last := int(daysFromCivil(ny, nm+1, 1) - daysFromCivil(ny, nm, 1))
		if nm == 12 {
			last = int(daysFromCivil(ny+1, 1, 1) - daysFromCivil(ny, 12, 1))
		}
		day = int64(daysFromCivil(ny, nm, min(d, last)))
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
	y, m, _ := civilFromDays(day)
	return int32(y*12 + int(m) - 1)
}

// firstDayOfMonth returns the first day of a month index.
func firstDayOfMonth(month int32) int32 {
	return daysFromCivil(int(month/12), time.Month(month%12+1), 1)
}

// lastDayOfMonth returns the last day of a month index.
func lastDayOfMonth(month int32) int32 { return firstDayOfMonth(month+1) - 1 }
