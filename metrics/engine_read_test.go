package metrics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/schemas"
)

// prefetched hands every batch to fn in order, stops the scan at fn's
// error, passes the scan's error on, and leaks no batch either way.
func TestPrefetched(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	scanErr := errors.New("broken file")
	scan := func(n int, fail error) func(context.Context, func(arrow.RecordBatch) error) error {
		return func(ctx context.Context, fn func(arrow.RecordBatch) error) error {
			for i := range n {
				b := array.NewRecordBuilder(mem, schema)
				b.Field(0).(*array.Int64Builder).Append(int64(i))
				rec := b.NewRecordBatch()
				b.Release()
				err := fn(rec) // the batch is valid during fn only
				rec.Release()
				if err != nil {
					return err
				}
			}
			return fail
		}
	}
	var got []int64
	each := func(stopAt int64) func(arrow.RecordBatch) error {
		return func(rec arrow.RecordBatch) error {
			v := rec.Column(0).(*array.Int64).Value(0)
			got = append(got, v)
			if v == stopAt {
				return errors.New("stop")
			}
			return nil
		}
	}
	if err := prefetched(context.Background(), scan(50, nil), each(-1)); err != nil || len(got) != 50 || got[49] != 49 {
		t.Fatalf("err %v, got %d batches", err, len(got))
	}
	got = nil
	if err := prefetched(context.Background(), scan(50, nil), each(3)); err == nil || err.Error() != "stop" || len(got) != 4 {
		t.Fatalf("err %v after %d batches, want stop after 4", err, len(got))
	}
	got = nil
	if err := prefetched(context.Background(), scan(5, scanErr), each(-1)); !errors.Is(err, scanErr) || len(got) != 5 {
		t.Fatalf("err %v after %d batches, want the scan's", err, len(got))
	}
	mem.AssertSize(t, 0)
}

// A string column reads the same plain, as a dictionary, and as a
// dictionary with nulls or narrow indices (read index by index, NULL as "").
func TestStringColumnsPlainOrDictionary(t *testing.T) {
	mem := memory.NewGoAllocator()
	values := []string{"usd", "eur", "usd", "", "jpy", "usd"}
	plain := array.NewStringBuilder(mem)
	plain.AppendValues(values, nil)
	schema := func(dt arrow.DataType) *arrow.Schema {
		return arrow.NewSchema([]arrow.Field{{Name: "currency", Type: dt}}, nil)
	}
	batches := map[string]arrow.RecordBatch{"plain": array.NewRecordBatch(schema(arrow.BinaryTypes.String), []arrow.Array{plain.NewArray()}, 6)}
	for _, idx := range []arrow.DataType{arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int8} {
		for _, nulls := range []bool{false, true} {
			dt := &arrow.DictionaryType{IndexType: idx, ValueType: arrow.BinaryTypes.String}
			b := array.NewDictionaryBuilder(mem, dt).(*array.BinaryDictionaryBuilder)
			for i, v := range values {
				if nulls && v == "" && i == 3 {
					b.AppendNull()
					continue
				}
				b.AppendString(v)
			}
			batches[fmt.Sprintf("dictionary %s nulls=%v", idx, nulls)] = array.NewRecordBatch(schema(dt), []arrow.Array{b.NewArray()}, 6)
		}
	}
	for name, rec := range batches {
		col := strsCol(rec, "currency")
		for i, want := range values {
			if got := col.Value(i); got != want {
				t.Errorf("%s: row %d = %q, want %q", name, i, got, want)
			}
		}
	}
}

// Strings read from texts without a copy stay as they were while more are
// added (the buffer moves, the old bytes are not written), and a batch's
// room and the expected total do not change what is read.
func TestTextsStay(t *testing.T) {
	var n lineNames
	var inv, lid []string
	for i := range 50_000 {
		a, b := fmt.Sprintf("in_%d", i), fmt.Sprintf("l%d", i%7)
		if i%9 == 0 {
			b = ""
		}
		n.add(a, b)
		inv, lid = append(inv, n.inv(int32(i))), append(lid, n.lid(int32(i)))
		switch i {
		case 10:
			n.expect(40_000)
		case 30_000:
			n.room(1 << 20)
		}
	}
	for i := range inv {
		a, b := fmt.Sprintf("in_%d", i), fmt.Sprintf("l%d", i%7)
		if i%9 == 0 {
			b = ""
		}
		if inv[i] != a || lid[i] != b || n.inv(int32(i)) != a || n.lid(int32(i)) != b {
			t.Fatalf("line %d: %q/%q then %q/%q, want %q/%q", i, inv[i], lid[i], n.inv(int32(i)), n.lid(int32(i)), a, b)
		}
	}
}

// Batches are checked at the engine's door: a missing column, a column of
// another type, or one named twice is an error naming the table and the
// column, never a panic; the batches schemas builds pass.
func TestInputCheckedAtTheDoor(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	good := schemas.InvoiceLinesRecord(mem, nil)
	defer good.Release()
	if err := checkBatch(good.Schema(), schemas.InvoiceLines, lineFields, nil); err != nil {
		t.Fatalf("the table's own batch: %v", err)
	}
	replace := func(name string, typ arrow.DataType) *arrow.Schema {
		fields := slices.Clone(good.Schema().Fields())
		for i, f := range fields {
			if f.Name == name {
				fields[i].Type = typ
			}
		}
		return arrow.NewSchema(fields, nil)
	}
	dropped := arrow.NewSchema(good.Schema().Fields()[1:], nil) // no "source"
	dict := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	dup := arrow.NewSchema(append(slices.Clone(good.Schema().Fields()), arrow.Field{Name: "amount", Type: arrow.PrimitiveTypes.Int64}), nil)
	for _, c := range []struct {
		name   string
		schema *arrow.Schema
		dict   []string
		want   string
	}{
		{"missing", dropped, nil, "input batch of table invoice_lines has no column source"},
		{"wrong type", replace("amount", arrow.BinaryTypes.String), nil, "input batch of table invoice_lines: column amount is utf8, not int64"},
		{"dictionary not allowed", replace("kind", dict), nil, "column kind is dictionary<values=utf8, indices=int32"},
		{"named twice", dup, nil, "has 2 columns named amount"},
	} {
		err := checkBatch(c.schema, schemas.InvoiceLines, lineFields, c.dict)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if err := checkBatch(replace("kind", dict), schemas.InvoiceLines, lineFields, lineDict); err != nil {
		t.Errorf("a dictionary column where the scan makes one: %v", err)
	}

	// Through Compute: a batch of the wrong table is refused with an error.
	cust := schemas.CustomersRecord(mem, nil)
	defer cust.Release()
	_, err := Compute(context.Background(), mem, Input{Customers: []arrow.RecordBatch{cust}, Lines: []arrow.RecordBatch{cust}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "input batch of table invoice_lines has no column invoice_id") {
		t.Errorf("customers given as lines: %v", err)
	}
}
