package metrics

import (
	"fmt"
	"github.com/mrrflow/mrrflow/schemas"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/mrrflow/mrrflow/internal/civil"
)

// Rate is one exchange rate: units of the reporting currency per unit of
// Currency, from Day on (until a later rate of the same currency).
type Rate struct {
	Day      time.Time
	Currency string
	// Rate is the decimal as written ("1.10"), kept exact.
	Rate string
}

// fxPoint is a rate from a day on, as an exact fraction of minor units:
// reporting minor units per minor unit of the currency = num/den.
type fxPoint struct {
	day      int32
	num, den uint64
}

// fxTable holds the rates of each currency, by currency code.
type fxTable struct {
	points [][]fxPoint // by currency code; nil for the reporting currency
}

// newFX builds the rate table for the currencies present.
func newFX(rates []Rate, currencies []string, reporting string) (*fxTable, error) {
	fx := &fxTable{points: make([][]fxPoint, len(currencies))}
	for code, cur := range currencies {
		if cur == reporting {
			continue
		}
		for _, r := range rates {
			if strings.ToLower(r.Currency) != cur {
				continue
			}
			q, ok := new(big.Rat).SetString(r.Rate)
			if !ok || q.Sign() <= 0 {
				return nil, fmt.Errorf("rate %q of %s on %s is not a positive decimal", r.Rate, cur, r.Day.Format(time.DateOnly))
			}
			// Minor units: scale by the difference of decimals.
			shift := schemas.MinorDigits(reporting) - schemas.MinorDigits(cur)
			pow := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(shift))), nil))
			if shift >= 0 {
				q.Mul(q, pow)
			} else {
				q.Quo(q, pow)
			}
			if !q.Num().IsUint64() || !q.Denom().IsUint64() || q.Num().Uint64() > 1<<40 || q.Denom().Uint64() > 1<<40 {
				return nil, fmt.Errorf("rate %q of %s has too many digits", r.Rate, cur)
			}
			y, m, d := r.Day.Date()
			fx.points[code] = append(fx.points[code], fxPoint{day: civil.Days(y, m, d), num: q.Num().Uint64(), den: q.Denom().Uint64()})
		}
		if len(fx.points[code]) == 0 {
			return nil, fmt.Errorf("%w: no exchange rate for %s (reporting currency %s): add it to fx_rates", ErrCurrency, cur, reporting)
		}
		slices.SortStableFunc(fx.points[code], func(a, b fxPoint) int { return int(a.day) - int(b.day) })
	}
	return fx, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// rateAt is a currency's rate on a day: the latest on or before it, or the
// first known before any.
func (fx *fxTable) rateAt(cur int16, day int32) fxPoint {
	pts := fx.points[cur]
	i, _ := slices.BinarySearchFunc(pts, day+1, func(p fxPoint, d int32) int { return int(p.day) - int(d) })
	return pts[max(i-1, 0)]
}

// foreign says whether a currency is not the reporting currency.
func (fx *fxTable) foreign(cur int16) bool { return int(cur) < len(fx.points) && fx.points[cur] != nil }

// convert values an amount of minor units of a currency in minor units of
// the reporting currency, at the rate of a day, rounded half away from
// zero.
func (fx *fxTable) convert(amount int64, cur int16, day int32) int64 {
	if !fx.foreign(cur) {
		return amount // the reporting currency
	}
	p := fx.rateAt(cur, day)
	v, _ := mulDivRound(amount, p.num, p.den)
	return v
}

// valueOf values one customer's MRR, amounts[cur] in each currency, as one
// number in the reporting currency at the rates of a day: the exact sum,
// rounded once (docs/RULES.md §4), so that every total is a sum of
// customers' valued numbers.
func (fx *fxTable) valueOf(amounts []int64, day int32) int64 {
	var v int64
	foreign, n := int16(-1), 0
	for cur, x := range amounts {
		switch {
		case x == 0:
		case !fx.foreign(int16(cur)):
			v += x
		default:
			foreign, n = int16(cur), n+1
		}
	}
	switch n {
	case 0:
		return v
	case 1: // an integer plus one rounded product: rounding once
		return v + fx.convert(amounts[foreign], foreign, day)
	}
	sum := new(big.Rat)
	for cur, x := range amounts {
		if x == 0 || !fx.foreign(int16(cur)) {
			continue
		}
		p := fx.rateAt(int16(cur), day)
		num := new(big.Int).Mul(big.NewInt(x), new(big.Int).SetUint64(p.num))
		sum.Add(sum, new(big.Rat).SetFrac(num, new(big.Int).SetUint64(p.den)))
	}
	return v + roundRat(sum)
}

// roundRat rounds a fraction to the nearest integer, half away from zero.
func roundRat(r *big.Rat) int64 {
	num, den := new(big.Int).Abs(r.Num()), r.Denom()
	q, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	if rem.Lsh(rem, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if r.Sign() < 0 {
		q.Neg(q)
	}
	return q.Int64()
}
