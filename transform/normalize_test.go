package transform

import (
	"cmp"
	"context"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/gen"
)

// sequential hides an extractor's blocks: its records are read one by one
// on one goroutine.
type sequential struct{ ex extract.Extractor }

func (s sequential) Extract(ctx context.Context, fn func(*extract.Record) error) error {
	return s.ex.Extract(ctx, fn)
}

// Reading a source in blocks on several goroutines gives exactly what
// reading it record by record gives: the same state, the same rejected
// rows in the same order, the same counts.
func TestBlocksNormalizeAsOneReader(t *testing.T) {
	for _, format := range []string{"csv", "ndjson", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			st, err := gen.GrowPanel(dir, gen.Options{Customers: 3000, Months: 24, Seed: 7, Invoices: format, BadRecords: true, EUR: true})
			if err != nil {
				t.Fatal(err)
			}
			src := configs.Source{Name: "billing", Kind: "growpanel", Plans: filepath.Join(dir, "plans.json"),
				Customers: filepath.Join(dir, "customers.ndjson"), Invoices: filepath.Join(dir, "invoices."+format)}
			ex, err := extract.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := ex.(extract.BlockExtractor); !ok {
				t.Fatal("growpanel is not read in blocks")
			}
			blocks, err := Normalize(context.Background(), "r", src, configs.ModeReplace, ex, nil)
			if err != nil {
				t.Fatal(err)
			}
			one, err := Normalize(context.Background(), "r", src, configs.ModeReplace, sequential{ex}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(one.Batch.Lines) < st.Invoices/2 || len(one.Rejected) == 0 {
				t.Fatalf("%d lines and %d rejected rows of %d invoice lines written", len(one.Batch.Lines), len(one.Rejected), st.Invoices)
			}
			blocks.Took, one.Took = 0, 0
			if !reflect.DeepEqual(blocks, one) {
				t.Errorf("read in blocks: %d lines, %d rejected, read %v; one by one: %d lines, %d rejected, read %v",
					len(blocks.Batch.Lines), len(blocks.Rejected), blocks.Read, len(one.Batch.Lines), len(one.Rejected), one.Read)
			}
		})
	}
}

// sortParallel sorts as slices.SortFunc does, sorted input or not.
func TestSortParallel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 10, 1 << 16, 1<<17 + 3} {
		for _, sorted := range []bool{false, true} {
			s := make([]int, n)
			for i := range s {
				s[i] = rng.IntN(n/3 + 1)
			}
			if sorted {
				slices.Sort(s)
			}
			want := slices.Sorted(slices.Values(s))
			sortParallel(s, cmp.Compare[int])
			if !slices.Equal(s, want) {
				t.Fatalf("n=%d sorted=%v: not sorted", n, sorted)
			}
		}
	}
}
