package schemas

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
