package transform

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/gen"
	"github.com/mrrflow/mrrflow/schemas"
)

// BenchmarkNormalize reads and normalizes generated GrowPanel exports,
// invoices as CSV and as NDJSON.
func BenchmarkNormalize(b *testing.B) {
	for _, format := range []string{"csv", "ndjson"} {
		for _, customers := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/customers=%d", format, customers), func(b *testing.B) {
				dir := b.TempDir()
				_, err := gen.GrowPanel(dir, gen.Options{Customers: customers, Months: 24, Seed: 1, Invoices: format})
				if err != nil {
					b.Fatal(err)
				}
				src, err := configs.NewSource("billing", "growpanel", "", map[string]any{"plans": filepath.Join(dir, "plans.json"),
					"customers": filepath.Join(dir, "customers.ndjson"), "invoices": filepath.Join(dir, "invoices."+format)})
				if err != nil {
					b.Fatal(err)
				}
				normalizeEach(b, src)
			})
		}
	}
}

// BenchmarkNormalizeStripe reads and normalizes generated Stripe API
// objects (both API shapes).
func BenchmarkNormalizeStripe(b *testing.B) {
	for _, customers := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("customers=%d", customers), func(b *testing.B) {
			dir := b.TempDir()
			_, err := gen.Stripe(dir, gen.Options{Customers: customers, Months: 24, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			src, err := configs.NewSource("stripe", "stripe", "", map[string]any{"path": filepath.Join(dir, "*.*json")})
			if err != nil {
				b.Fatal(err)
			}
			normalizeEach(b, src)
		})
	}
}

// normalizeEach reads and normalizes src b.N times, and reports invoice
// lines (records read as invoice lines: cancellations and refunds among
// them) per second. It runs with the collector set as the mrrflow command
// sets it when GOGC is not set (cmd/mrrflow, defaultGCPercent), so that
// the figure is the one a run gets.
func normalizeEach(b *testing.B, src configs.Source) {
	defer debug.SetGCPercent(debug.SetGCPercent(300))
	b.ReportAllocs()
	lines := 0
	for b.Loop() {
		ex, _ := extract.Open(src)
		res, err := Normalize(context.Background(), "bench", src, configs.ModeReplace, ex, nil)
		if err != nil {
			b.Fatal(err)
		}
		lines = res.Read[schemas.EntityInvoice]
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
