package schemas

import "testing"

func TestFormatMajor(t *testing.T) {
	for _, c := range []struct {
		amount   int64
		currency string
		want     string
	}{
		{123456, "usd", "1,234.56"}, {5, "usd", "0.05"}, {0, "eur", "0.00"}, {-100000, "usd", "-1,000.00"},
		{1200, "jpy", "1,200"}, {1234567, "kwd", "1,234.567"}, {99, "jpy", "99"}, {-5, "eur", "-0.05"},
		{123456789012, "usd", "1,234,567,890.12"},
	} {
		if got := FormatMajor(c.amount, c.currency); got != c.want {
			t.Errorf("FormatMajor(%d, %s) = %q, want %q", c.amount, c.currency, got, c.want)
		}
	}
	if !MRRMonthly.Columns[MRRMonthly.Index("mrr_end")].IsMoney() || MRRMonthly.Columns[MRRMonthly.Index("customers_end")].IsMoney() {
		t.Error("IsMoney: mrr_end is money, customers_end is not")
	}
}
