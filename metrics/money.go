package metrics

import (
	"math/bits"

	"github.com/mrrflow/mrrflow/schemas"
)

// mulDivRound returns round(x * n / d), half away from zero, for n, d > 0,
// exact through a 128-bit intermediate. ok is false when the result does
// not fit in an int64.
func mulDivRound(x int64, n, d uint64) (v int64, ok bool) {
	neg := x < 0
	ux := uint64(x)
	if neg {
		ux = uint64(-x)
	}
	hi, lo := bits.Mul64(ux, n)
	if hi >= d {
		return 0, false
	}
	q, r := bits.Div64(hi, lo, d)
	// Round half away from zero: up when 2r >= d.
	if r >= d-r {
		q++
	}
	if q > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(q), true
	}
	return int64(q), true
}

// monthFactor is the factor that turns one plan interval's amount into a
// month's, as a fraction num/den (docs/RULES.md §2): month 1/n, year
// 1/(12n), week (52/12)/n, day (365/12)/n.
func monthFactor(unit string, count int64) (num, den uint64) {
	n := uint64(count)
	switch unit {
	case schemas.UnitYear:
		return 1, 12 * n
	case schemas.UnitWeek:
		return 52, 12 * n
	case schemas.UnitDay:
		return 365, 12 * n
	}
	return 1, n
}
