package transform

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
)

// A large normalized table is written in several files, read back whole
// and in order; when it shrinks, the files beyond its new end go.
func TestStageInParts(t *testing.T) {
	defer func(old int) { partRows = old }(partRows)
	partRows = 4
	w, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lines := func(n int) []*schemas.InvoiceLine {
		var out []schemas.InvoiceLine
		for i := range n {
			id := fmt.Sprintf("in_%03d", i)
			out = append(out, schemas.InvoiceLine{Source: "s", InvoiceID: id, LineID: id, CustomerID: "c", Kind: schemas.KindOneTime,
				InvoiceDate: int64(i) * 86_400_000_000, PeriodStart: int64(i) * 86_400_000_000, PeriodEnd: int64(i) * 86_400_000_000,
				Amount: int64(i), Quantity: 1, PaidAt: schemas.NoTime, Currency: "usd", Origin: "f:" + id})
		}
		return schemas.Refs(out)
	}
	for run, n := range []int{10, 13, 5, 0} {
		b := &Batch{Source: "s", Lines: lines(n)}
		tx, err := w.Begin(fmt.Sprint("run", run))
		if err != nil {
			t.Fatal(err)
		}
		st := Stage(tx, b)
		if _, err := st.Wait(); err != nil {
			t.Fatal(err)
		}
		st.Release()
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		files := TableFiles(w, schemas.InvoiceLines, "s")
		if want := max(1, (n+3)/4); len(files) != want {
			t.Fatalf("%d lines: %d files, want %d", n, len(files), want)
		}
		back, err := Load(context.Background(), w, "s")
		if err != nil {
			t.Fatal(err)
		}
		if len(back.Lines) != n || (n > 0 && !reflect.DeepEqual(back.Lines, b.Lines)) {
			t.Fatalf("%d lines written, %d read back", n, len(back.Lines))
		}
	}
}
