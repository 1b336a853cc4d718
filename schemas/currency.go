package schemas

import (
	"strconv"
	"strings"
)

// Currencies whose minor unit is not the hundredth (ISO 4217): none, and
// the thousandth. The others have two decimals.
var (
	ZeroDecimalCurrencies  = []string{"bif", "clp", "djf", "gnf", "isk", "jpy", "kmf", "krw", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
	ThreeDecimalCurrencies = []string{"bhd", "iqd", "jod", "kwd", "lyd", "omr", "tnd"}
)

// MinorDigits is the number of decimals of a currency's minor unit (cur in
// lower case): 2 for most, 0 for JPY, 3 for KWD.
func MinorDigits(cur string) int {
	for _, c := range ZeroDecimalCurrencies {
		if c == cur {
			return 0
		}
	}
	for _, c := range ThreeDecimalCurrencies {
		if c == cur {
			return 3
		}
	}
	return 2
}

// FormatMajor writes an amount of minor units in major units of its
// currency, with thousands separators: 123456 USD is "1,234.56", 1200 JPY
// "1,200".
func FormatMajor(amount int64, currency string) string {
	digits := MinorDigits(currency)
	neg := amount < 0
	u := uint64(amount)
	if neg {
		u = uint64(-amount)
	}
	s := strconv.FormatUint(u, 10)
	for len(s) <= digits {
		s = "0" + s
	}
	whole, frac := s[:len(s)-digits], s[len(s)-digits:]
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if digits > 0 {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}
