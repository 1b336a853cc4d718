package transform

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/gen"
	"github.com/mrrflow/mrrflow/schemas"
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
			src, err := configs.NewSource("billing", "growpanel", "", map[string]any{"plans": filepath.Join(dir, "plans.json"),
				"customers": filepath.Join(dir, "customers.ndjson"), "invoices": filepath.Join(dir, "invoices."+format)})
			if err != nil {
				t.Fatal(err)
			}
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

// upsertLines after lastOfEach: the last of a line sent twice wins (the
// earlier is superseded, and named), an invoice sent again replaces all
// its prior lines, and the result is sorted by id, whether the lines come
// in order or not.
func TestUpsertLines(t *testing.T) {
	l := func(inv, line string, amount int64) schemas.InvoiceLine {
		return schemas.InvoiceLine{InvoiceID: inv, LineID: line, Amount: amount}
	}
	ptrs := func(ls ...schemas.InvoiceLine) []*schemas.InvoiceLine { return schemas.Refs(ls) }
	prior := ptrs(l("a", "1", 1), l("b", "1", 1), l("b", "2", 1), l("d", "1", 1))
	show := func(ls []*schemas.InvoiceLine) string {
		var s []string
		for _, x := range ls {
			s = append(s, fmt.Sprintf("%s/%s=%d", x.InvoiceID, x.LineID, x.Amount))
		}
		return strings.Join(s, " ")
	}
	for _, c := range []struct {
		incoming []*schemas.InvoiceLine
		want     string
	}{
		{ptrs(l("b", "1", 2), l("c", "1", 2)), "a/1=1 b/1=2 c/1=2 d/1=1"},
		{ptrs(l("c", "1", 2), l("b", "3", 2), l("b", "3", 3)), "a/1=1 b/3=3 c/1=2 d/1=1"},
		{ptrs(l("e", "1", 2), l("0", "1", 2)), "0/1=2 a/1=1 b/1=1 b/2=1 d/1=1 e/1=2"},
		{nil, "a/1=1 b/1=1 b/2=1 d/1=1"},
	} {
		n := newNormalizer("test")
		pending := make([]*pendingLine, len(c.incoming))
		for i, l := range c.incoming {
			pending[i] = &pendingLine{line: *l, ref: n.ledger.open(schemas.EntityInvoice)}
		}
		fresh := n.lastOfEach(pending)
		lines := make([]*schemas.InvoiceLine, len(fresh))
		for i, p := range fresh {
			lines[i] = &p.line
		}
		if got := show(upsertLines(prior, lines)); got != c.want {
			t.Errorf("got %s, want %s", got, c.want)
		}
		if dups := len(c.incoming) - len(fresh); len(n.res.Superseded) != dups {
			t.Errorf("%d lines superseded, %d named: %v", dups, len(n.res.Superseded), n.res.Superseded)
		}
	}
}

// upsert: records in id order with nothing before them come back as they
// are; otherwise the last of an id wins and the result is sorted by id.
func TestUpsert(t *testing.T) {
	type rec struct{ id, v string }
	id := func(r *rec) string { return r.id }
	show := func(rs []rec) string { return fmt.Sprint(rs) }
	for _, c := range []struct {
		prior, incoming []rec
		want            string
	}{
		{nil, []rec{{"a", "1"}, {"b", "1"}}, "[{a 1} {b 1}]"},
		{nil, []rec{{"b", "1"}, {"a", "1"}, {"b", "2"}}, "[{a 1} {b 2}]"},
		{nil, []rec{{"a", "1"}, {"a", "2"}}, "[{a 2}]"},
		{[]rec{{"a", "0"}, {"c", "0"}}, []rec{{"b", "1"}, {"c", "1"}}, "[{a 0} {b 1} {c 1}]"},
	} {
		if got := show(upsert(c.prior, c.incoming, id)); got != c.want {
			t.Errorf("upsert(%v, %v) = %s, want %s", c.prior, c.incoming, got, c.want)
		}
	}
}
