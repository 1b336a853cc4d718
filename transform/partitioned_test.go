package transform

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/gen"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
)

// Records spilled come back as they went, in the order spilled, each in
// the partition of its id; a file cut short is an error, not fewer
// records.
func TestSpillRoundTrip(t *testing.T) {
	sp, err := newSpill(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	lines := []schemas.InvoiceLine{
		{Source: "s", InvoiceID: "in_1", LineID: "1", CustomerID: "c", Kind: schemas.KindSubscription, InvoiceDate: schemas.NoTime,
			PeriodStart: math.MaxInt64, PeriodEnd: -1, Amount: -500, Tax: 7, Discount: 1, Quantity: 3, Prorated: true, PaidAt: schemas.NoTime,
			Currency: "eur", Origin: "invoices.csv:2"},
		{Source: "s", InvoiceID: "in_2", LineID: "", CustomerID: "Ünïcode ✓", Origin: "invoices.csv:3"},
		{Source: "s", InvoiceID: "in_1", LineID: "2", Origin: "invoices.csv:4"},
	}
	raws := []string{`{"a":1}`, "", "x"}
	for i := range lines {
		if err := put(sp, spillLines, lines[i].InvoiceID, ref(i)-1, &lines[i], raws[i], lineFields); err != nil {
			t.Fatal(err)
		}
	}
	customers := []schemas.Customer{{Source: "s", CustomerID: "c", Name: "N", CreatedAt: 5, TrialStartedAt: schemas.NoTime, Attributes: "{}"}}
	if err := put(sp, spillCustomers, "c", 9, &customers[0], "", customerFields); err != nil {
		t.Fatal(err)
	}
	events := []schemas.SubscriptionEvent{{Source: "s", EventID: "e", CustomerID: "c", EffectiveAt: 3, IntervalCount: 1, Disabled: true}}
	contacts := []schemas.Contact{{Source: "s", Email: "a@b", FirstName: "A", Origin: "o"}}
	if err := errors.Join(put(sp, spillEvents, "e", 2, &events[0], "raw", eventFields), put(sp, spillContacts, "a@b", 1, &contacts[0], "", contactFields),
		sp.flush()); err != nil {
		t.Fatal(err)
	}
	var gotLines []schemas.InvoiceLine
	var gotRefs []ref
	var gotRaws []string
	for k := range sp.parts {
		err := take(sp, spillLines, k, lineFields, func(l *schemas.InvoiceLine, r ref, raw string) {
			if sp.part(l.InvoiceID) != k {
				t.Errorf("line of %s in partition %d, not %d", l.InvoiceID, k, sp.part(l.InvoiceID))
			}
			gotLines, gotRefs, gotRaws = append(gotLines, *l), append(gotRefs, r), append(gotRaws, raw)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// in_1's two lines share a partition and keep their order.
	byRef := map[ref]int{}
	for i, r := range gotRefs {
		byRef[r] = i
	}
	for i := range lines {
		j, ok := byRef[ref(i)-1]
		if !ok || !reflect.DeepEqual(gotLines[j], lines[i]) || gotRaws[j] != raws[i] {
			t.Errorf("line %d came back as %+v (raw %q)", i, gotLines[j], gotRaws[j])
		}
	}
	if byRef[-1] > byRef[1] {
		t.Error("in_1's lines came back out of order")
	}
	check := func(kind string, id string, want any, wantRef ref, visit any) {
		t.Helper()
		var got any
		var gotRef ref = -5
		switch v := visit.(type) {
		case func(fields, *schemas.Customer):
			err = take(sp, kind, sp.part(id), v, func(c *schemas.Customer, r ref, _ string) { got, gotRef = *c, r })
		case func(fields, *schemas.SubscriptionEvent):
			err = take(sp, kind, sp.part(id), v, func(e *schemas.SubscriptionEvent, r ref, _ string) { got, gotRef = *e, r })
		case func(fields, *schemas.Contact):
			err = take(sp, kind, sp.part(id), v, func(c *schemas.Contact, r ref, _ string) { got, gotRef = *c, r })
		}
		if err != nil || !reflect.DeepEqual(got, want) || gotRef != wantRef {
			t.Errorf("%s: got %+v ref %d (%v), want %+v ref %d", kind, got, gotRef, err, want, wantRef)
		}
	}
	check(spillCustomers, "c", customers[0], 9, customerFields)
	check(spillEvents, "e", events[0], 2, eventFields)
	check(spillContacts, "a@b", contacts[0], 1, contactFields)

	// A file cut short.
	if err := put(sp, spillLines, "in_1", 0, &lines[0], "", lineFields); err != nil {
		t.Fatal(err)
	}
	if err := sp.flush(); err != nil {
		t.Fatal(err)
	}
	path := sp.path(spillLines, sp.part("in_1"))
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, b[:len(b)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = take(sp, spillLines, sp.part("in_1"), lineFields, func(*schemas.InvoiceLine, ref, string) { n++ })
	if err == nil || n != 0 {
		t.Errorf("a cut file gave %d records and error %v", n, err)
	}
}

// A seed 002 payload (subscription rows make companies across ids) is not
// normalized in partitions: it is refused, and nothing is staged.
func TestSubscriptionsAreNotNormalizedInParts(t *testing.T) {
	dir := t.TempDir()
	if _, err := gen.Subscriptions(dir, gen.Options{Customers: 20, Months: 6, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	src, err := configs.NewSource("crm", "subscriptions", "", map[string]any{"path": filepath.Join(dir, "payload.json")})
	if err != nil {
		t.Fatal(err)
	}
	w, tx := scratchTx(t)
	_, err = NormalizeInParts(context.Background(), "r", src, configs.ModeUpsert, openSource(t, src), w, tx, InParts{Parts: 3, Dir: filepath.Join(t.TempDir(), "spill")})
	if !errors.Is(err, ErrNotInParts) {
		t.Fatalf("got %v, want ErrNotInParts", err)
	}
	if changed := tx.Changed(); len(changed) > 0 {
		t.Errorf("files staged: %v", changed)
	}
}

// Spilled a few records at a time, so that records of one id (a header
// sent twice, a line sent twice) land in different spills, a delivery
// normalized in partitions accounts for every record as in memory, and
// writes the same rows.
func TestInPartsAcrossSpills(t *testing.T) {
	for _, kind := range []string{"growpanel", "chartmogul"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			var src configs.Source
			var err error
			if kind == "growpanel" {
				if _, err = gen.GrowPanel(dir, gen.Options{Customers: 60, Months: 12, Seed: 5, BadRecords: true}); err != nil {
					t.Fatal(err)
				}
				f, _ := os.OpenFile(filepath.Join(dir, "invoices.csv"), os.O_APPEND|os.O_WRONLY, 0)
				// in_000001_001 again, the later one wins.
				f.WriteString("in_000001_001,cus_000001,pro_m,,subscription,2024-03-01T00:00:00Z,1,usd,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,,\n")
				f.Close()
				src, err = configs.NewSource("billing", "growpanel", "", map[string]any{"plans": filepath.Join(dir, "plans.json"),
					"customers": filepath.Join(dir, "customers.ndjson"), "invoices": filepath.Join(dir, "invoices.csv")})
			} else {
				if _, err = gen.ChartMogul(dir, gen.Options{Customers: 40, Months: 12, Seed: 5}); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, "import.json")
				doc := readImport(t, path)
				// The first invoice's header again, last.
				doc["invoices"] = append(doc["invoices"], gen.Copy(doc["invoices"][0]))
				if err := doc.Write(path); err != nil {
					t.Fatal(err)
				}
				src, err = configs.NewSource("cm", "chartmogul", "", map[string]any{"path": path})
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := Normalize(context.Background(), "r", src, configs.ModeReplace, openSource(t, src), nil)
			if err != nil {
				t.Fatal(err)
			}
			w, tx := scratchTx(t)
			got, err := NormalizeInParts(context.Background(), "r", src, configs.ModeReplace, openSource(t, src), w, tx,
				InParts{Parts: 5, Dir: filepath.Join(t.TempDir(), "spill"), Pending: 7})
			if err != nil {
				t.Fatal(err)
			}
			if len(want.Superseded) == 0 || !reflect.DeepEqual(got.Accounts, want.Accounts) || len(got.Rejected) != len(want.Rejected) ||
				len(got.Superseded) != len(want.Superseded) {
				t.Errorf("in parts: accounts %v, %d rejected, %d superseded; in memory: accounts %v, %d rejected, %d superseded",
					got.Accounts, len(got.Rejected), len(got.Superseded), want.Accounts, len(want.Rejected), len(want.Superseded))
			}
			recs, err := schemas.ReadParquetFiles(context.Background(), memory.DefaultAllocator, StagedFiles(tx, schemas.InvoiceLines, src.Name), schemas.InvoiceLines)
			if err != nil {
				t.Fatal(err)
			}
			var lines []schemas.InvoiceLine
			for _, r := range recs {
				lines, err = schemas.InvoiceLinesFrom(r, lines)
				r.Release()
				if err != nil {
					t.Fatal(err)
				}
			}
			slices.SortFunc(lines, func(a, b schemas.InvoiceLine) int { return byLine(&a, &b) })
			var wantLines []schemas.InvoiceLine
			for _, l := range want.Batch.Lines {
				wantLines = append(wantLines, *l)
			}
			if !reflect.DeepEqual(lines, wantLines) {
				t.Errorf("%d lines written in parts, %d in memory, or they differ", len(lines), len(wantLines))
			}
		})
	}
}

func readImport(t *testing.T, path string) gen.Import {
	t.Helper()
	doc, err := gen.ReadImport(path)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func openSource(t *testing.T, src configs.Source) extract.Extractor {
	t.Helper()
	ex, err := extract.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func scratchTx(t *testing.T) (*store.Warehouse, *store.Tx) {
	t.Helper()
	w, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := w.Begin("r")
	if err != nil {
		t.Fatal(err)
	}
	return w, tx
}

// One transaction id under invoices of two partitions stops the
// normalize, naming the transaction: partitioned by invoice, the later
// record of the id cannot win across them as it does in memory.
func TestInPartsMovedTransaction(t *testing.T) {
	dir := t.TempDir()
	if _, err := gen.ChartMogul(dir, gen.Options{Customers: 10, Months: 6, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "import.json")
	doc := readImport(t, path)
	const parts = 5
	first := doc["transactions"][0]
	var other string
	for _, h := range doc["invoices"] {
		if id := h["external_id"].(string); idHash(id)%parts != idHash(first["invoice_external_id"].(string))%parts {
			other = id
			break
		}
	}
	moved := gen.Copy(first)
	moved["invoice_external_id"], moved["date"] = other, "2029-01-01 00:00:00"
	doc["transactions"] = append(doc["transactions"], moved)
	if err := doc.Write(path); err != nil {
		t.Fatal(err)
	}
	src, err := configs.NewSource("cm", "chartmogul", "", map[string]any{"path": path})
	if err != nil {
		t.Fatal(err)
	}
	w, tx := scratchTx(t)
	_, err = NormalizeInParts(context.Background(), "r", src, configs.ModeReplace, openSource(t, src), w, tx,
		InParts{Parts: parts, Dir: filepath.Join(t.TempDir(), "spill")})
	if !errors.Is(err, ErrMovedTransaction) || !strings.Contains(err.Error(), first["external_id"].(string)) {
		t.Fatalf("got %v, want ErrMovedTransaction naming %s", err, first["external_id"])
	}
}
