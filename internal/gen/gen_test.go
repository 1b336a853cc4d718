package gen

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The same seed gives the same bytes; another seed, other data.
func TestGrowPanelDeterministic(t *testing.T) {
	read := func(dir string) []byte {
		var all []byte
		for _, f := range []string{"plans.json", "customers.ndjson", "invoices.csv", "config.yaml"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	opt := Options{Customers: 50, Months: 12, Seed: 5, BadRecords: true}
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	st, err := GrowPanel(a, opt)
	if err != nil {
		t.Fatal(err)
	}
	GrowPanel(b, opt)
	opt.Seed = 6
	GrowPanel(c, opt)
	if !bytes.Equal(read(a), read(b)) {
		t.Error("the same seed gave different data")
	}
	if bytes.Equal(read(a), read(c)) {
		t.Error("another seed gave the same data")
	}
	inv, _ := os.ReadFile(filepath.Join(a, "invoices.csv"))
	if got := strings.Count(string(inv), "\n") - 1; got != st.Invoices {
		t.Errorf("stats say %d invoices, the file has %d", st.Invoices, got)
	}
	for _, kind := range []string{"subscription", "one-time", "refund", "cancellation", "true"} {
		if !strings.Contains(string(inv), ","+kind+",") {
			t.Errorf("no %s in the generated invoices", kind)
		}
	}
}
