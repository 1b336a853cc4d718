package transform

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/gen"
)

// BenchmarkNormalize reads and normalizes generated GrowPanel exports,
// invoices as CSV and as NDJSON; bytes/s is invoice lines per second.
func BenchmarkNormalize(b *testing.B) {
	for _, format := range []string{"csv", "ndjson"} {
		for _, customers := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/customers=%d", format, customers), func(b *testing.B) {
				dir := b.TempDir()
				st, err := gen.GrowPanel(dir, gen.Options{Customers: customers, Months: 24, Seed: 1, Invoices: format})
				if err != nil {
					b.Fatal(err)
				}
				src, err := configs.NewSource("billing", "growpanel", "", map[string]any{"plans": filepath.Join(dir, "plans.json"),
					"customers": filepath.Join(dir, "customers.ndjson"), "invoices": filepath.Join(dir, "invoices."+format)})
				if err != nil {
					b.Fatal(err)
				}
				normalizeEach(b, src, st.Invoices)
			})
		}
	}
}

// BenchmarkNormalizeStripe reads and normalizes generated Stripe API
// objects (both API shapes); bytes/s is invoices per second.
func BenchmarkNormalizeStripe(b *testing.B) {
	for _, customers := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("customers=%d", customers), func(b *testing.B) {
			dir := b.TempDir()
			st, err := gen.Stripe(dir, gen.Options{Customers: customers, Months: 24, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			src, err := configs.NewSource("stripe", "stripe", "", map[string]any{"path": filepath.Join(dir, "*.*json")})
			if err != nil {
				b.Fatal(err)
			}
			normalizeEach(b, src, st.Invoices)
		})
	}
}

// normalizeEach reads and normalizes src b.N times, counting invoices as
// the bytes of each.
func normalizeEach(b *testing.B, src configs.Source, invoices int) {
	b.ReportAllocs()
	b.SetBytes(int64(invoices))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ex, _ := extract.Open(src)
		if _, err := Normalize(context.Background(), "bench", src, configs.ModeReplace, ex, nil); err != nil {
			b.Fatal(err)
		}
	}
}
