package schemas

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	pq "github.com/parquet-go/parquet-go"
)

// TestParquetBytesRepeat writes the same customers five times: the bytes
// must not differ. Their ids and creation times are all distinct, too many
// for a dictionary page of the default size: a dictionary that falls back
// to PLAIN mid-chunk makes the writer list the page encodings in a Go
// map's order.
func TestParquetBytesRepeat(t *testing.T) {
	cs := make([]Customer, 200_000)
	for i := range cs {
		cs[i] = Customer{Source: "s", CustomerID: fmt.Sprintf("cus_%09d", i), Name: "n", Country: "de",
			CreatedAt: int64(i) * 1_000_000, TrialStartedAt: NoTime, Attributes: "{}", Origin: fmt.Sprintf("f.csv:%d", i+2)}
	}
	rec := CustomersRecord(memory.DefaultAllocator, cs)
	defer rec.Release()
	var first []byte
	for i := range 5 {
		var buf bytes.Buffer
		if err := WriteParquet(&buf, Customers, rec); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = buf.Bytes()
		} else if !bytes.Equal(buf.Bytes(), first) {
			t.Fatalf("write %d differs from the first", i+1)
		}
	}

	// Another reader takes the dictionary pages larger than the default
	// (created_at's holds 200,000 values): every value of the column.
	gf, err := pq.OpenFile(bytes.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatalf("parquet-go cannot open it: %v", err)
	}
	created, _ := gf.Schema().Lookup("created_at")
	seen := 0
	for _, rg := range gf.RowGroups() {
		pages := rg.ColumnChunks()[created.ColumnIndex].Pages()
		for {
			p, err := pages.ReadPage()
			if err != nil {
				break
			}
			vals := make([]pq.Value, p.NumValues())
			n, _ := p.Values().ReadValues(vals)
			for _, v := range vals[:n] {
				if v.Int64() != int64(seen)*1_000_000 {
					t.Fatalf("parquet-go reads created_at %d as %d", seen, v.Int64())
				}
				seen++
			}
		}
		pages.Close()
	}
	if seen != len(cs) {
		t.Fatalf("parquet-go read %d created_at values of %d", seen, len(cs))
	}

	// Few-valued columns keep their dictionary; ids are PLAIN.
	path := filepath.Join(t.TempDir(), "c.parquet")
	if err := os.WriteFile(path, first, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rg := r.MetaData().RowGroup(0)
	for _, c := range []struct {
		name string
		dict bool
	}{{"source", true}, {"country", true}, {"customer_id", false}, {"origin", false}, {"created_at", true}} {
		cc, err := rg.ColumnChunk(r.MetaData().Schema.ColumnIndexByName(c.name))
		if err != nil {
			t.Fatal(err)
		}
		if got := cc.HasDictionaryPage(); got != c.dict {
			t.Errorf("column %s: dictionary %v, want %v (encodings %v)", c.name, got, c.dict, cc.Encodings())
		}
		for _, s := range cc.EncodingStats() {
			if s.PageType.String() != "DICTIONARY_PAGE" && (s.Encoding == parquet.Encodings.Plain) == c.dict {
				t.Errorf("column %s: pages %v (a dictionary falls back to PLAIN, or PLAIN has one)", c.name, cc.EncodingStats())
			}
		}
	}
}

// A file written before a table gained its last columns still reads: the
// columns it lacks are NULL, whole or read by name; a file with columns the
// table does not have is refused.
func TestReadFileOfAnEarlierTable(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	old := newTable(Table{Name: Transactions.Name, Columns: Transactions.Columns[:len(Transactions.Columns)-1]})
	path := filepath.Join(t.TempDir(), "old.parquet")
	r := NewRows(mem, old)
	r.String("s")
	r.String("t1")
	r.String("i1")
	r.String("refund")
	r.String("successful")
	r.Time(0)
	r.String("x.json:1")
	rec := r.Record()
	r.Release()
	var buf bytes.Buffer
	if err := WriteParquet(&buf, old, rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadParquetFile(context.Background(), mem, path, Transactions)
	if err != nil {
		t.Fatal(err)
	}
	got, err := TransactionsFrom(recs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].TransactionID != "t1" || got[0].Amount != NoAmount {
		t.Errorf("read %+v, want t1 with no amount", got)
	}
	for _, r := range recs {
		r.Release()
	}
	n := 0
	err = ScanParquetColumns(context.Background(), mem, path, Transactions, []string{"transaction_id", "amount"}, func(rec arrow.RecordBatch) error {
		if rec.NumCols() != 2 || rec.Schema().Field(1).Name != "amount" || !rec.Column(1).IsNull(0) {
			return fmt.Errorf("columns %v", rec.Schema())
		}
		n += int(rec.NumRows())
		return nil
	})
	if err != nil || n != 1 {
		t.Errorf("by name: %v, %d rows", err, n)
	}
	// The other way: a file with a column more than the table is refused.
	own, err := ReadParquetFile(context.Background(), mem, path, old)
	if err != nil {
		t.Fatalf("the earlier table reads its own file: %v", err)
	}
	for _, r := range own {
		r.Release()
	}
	newer := filepath.Join(t.TempDir(), "new.parquet")
	buf.Reset()
	tr := TransactionsRecord(mem, []Transaction{{TransactionID: "t2", Amount: 5}})
	if err := WriteParquet(&buf, Transactions, tr); err != nil {
		t.Fatal(err)
	}
	tr.Release()
	os.WriteFile(newer, buf.Bytes(), 0o644)
	if _, err := ReadParquetFile(context.Background(), mem, newer, old); err == nil || !strings.Contains(err.Error(), "has 8 columns, table transactions has 7") {
		t.Errorf("a file of more columns: %v", err)
	}
}
