package transform

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/gen"
)

// Generated Stripe objects, in both API shapes, normalize with nothing
// rejected or skipped: every invoice line in the files is a row, with the
// amount the invoice charged for it.
func TestGeneratedStripeNormalizes(t *testing.T) {
	dir := t.TempDir()
	if _, err := gen.Stripe(dir, gen.Options{Customers: 200, Months: 18, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	// What the files say: each line's charge (amount - discounts +
	// exclusive tax), and how many lines of each shape.
	charged := map[string]int64{}
	shapes := map[string]int{}
	f, err := os.Open(filepath.Join(dir, "invoices.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var inv struct {
			ID    string
			Lines struct {
				Data []struct {
					ID              string
					Amount          int64
					Type            string
					DiscountAmounts []struct{ Amount int64 } `json:"discount_amounts"`
					TaxAmounts      []struct{ Amount int64 } `json:"tax_amounts"`
					Taxes           []struct{ Amount int64 }
				}
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &inv); err != nil {
			t.Fatal(err)
		}
		for _, l := range inv.Lines.Data {
			c := l.Amount
			for _, d := range l.DiscountAmounts {
				c -= d.Amount
			}
			for _, x := range append(l.TaxAmounts, l.Taxes...) {
				c += x.Amount
			}
			charged[inv.ID+"/"+l.ID] = c
			if l.Type != "" {
				shapes["2024"]++
			} else {
				shapes["2025"]++
			}
		}
	}
	if shapes["2024"] == 0 || shapes["2025"] == 0 {
		t.Fatalf("lines by shape %v: want both", shapes)
	}
	src, err := configs.NewSource("stripe", "stripe", "", map[string]any{"path": filepath.Join(dir, "*.*json")})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := extract.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Normalize(context.Background(), "t", src, configs.ModeReplace, ex, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) > 0 || len(res.Warnings) > 0 {
		t.Fatalf("rejected %v, warnings %v", res.Rejected, res.Warnings)
	}
	got := 0
	for _, l := range res.Batch.Lines {
		if l.Kind == "cancellation" || l.Kind == "refund" {
			continue
		}
		got++
		want, ok := charged[l.InvoiceID+"/"+l.LineID]
		if !ok || l.Amount != want {
			t.Errorf("%s/%s: amount %d, the file charged %d (found %v)", l.InvoiceID, l.LineID, l.Amount, want, ok)
		}
	}
	if got != len(charged) {
		t.Errorf("%d invoice lines normalized, the files have %d", got, len(charged))
	}
}
