package metrics

import (
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/mrrflow/mrrflow/schemas"
)

// Typed access to the columns of input batches, whole or projected. Every
// batch is checked at the door (checkBatch) before a column is taken: the
// accessors below then find each column by name with its type.

// inputColumns are the columns the engine reads of each input table.
var inputColumns = map[*schemas.Table][]string{
	schemas.Customers:          {"source", "customer_id", "name", "country", "created_at", "trial_started_at"},
	schemas.Plans:              {"source", "plan_id", "interval_unit", "interval_count", "currency"},
	schemas.InvoiceLines:       lineFields,
	schemas.SubscriptionEvents: {"source", "event_id", "customer_id", "subscription_id", "plan_id", "type", "effective_at", "amount", "interval_unit", "interval_count", "currency", "disabled"},
}

// checkInput checks every batch of the input held in memory; the batches
// of the line files are checked as they are read.
func (in *Input) check() error {
	for _, set := range []struct {
		t    *schemas.Table
		recs []arrow.RecordBatch
	}{{schemas.Customers, in.Customers}, {schemas.Plans, in.Plans}, {schemas.InvoiceLines, in.Lines}, {schemas.SubscriptionEvents, in.Events}} {
		for _, rec := range set.recs {
			if err := checkBatch(rec.Schema(), set.t, inputColumns[set.t], nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBatch checks a batch's schema against the columns of table t the
// engine reads: each is there by name, with the table's type; a string
// column named in dict may also be dictionary-encoded strings. The error
// names the table and the column, as arrow-go's record readers do.
func checkBatch(sc *arrow.Schema, t *schemas.Table, columns, dict []string) error {
	for _, name := range columns {
		idx := sc.FieldIndices(name)
		if len(idx) == 0 {
			return fmt.Errorf("input batch of table %s has no column %s", t.Name, name)
		}
		if len(idx) > 1 {
			return fmt.Errorf("input batch of table %s has %d columns named %s", t.Name, len(idx), name)
		}
		want := t.Columns[t.Index(name)].Type
		got := sc.Field(idx[0]).Type
		if arrow.TypeEqual(got, want) {
			continue
		}
		if d, ok := got.(*arrow.DictionaryType); ok && want.ID() == arrow.STRING && slices.Contains(dict, name) &&
			d.ValueType.ID() == arrow.STRING && d.IndexType.ID() == arrow.INT32 {
			continue
		}
		return fmt.Errorf("input batch of table %s: column %s is %s, not %s", t.Name, name, got, want)
	}
	return nil
}

// column is a batch's column by name (checkBatch made sure it is there).
func column(rec arrow.RecordBatch, name string) arrow.Array {
	return rec.Column(rec.Schema().FieldIndices(name)[0])
}

// stringBytes is the size of a string column's values.
func stringBytes(a *array.String) int {
	offs := a.ValueOffsets()
	if len(offs) == 0 {
		return 0
	}
	return int(offs[len(offs)-1] - offs[0])
}

func strCol(rec arrow.RecordBatch, name string) *array.String {
	return column(rec, name).(*array.String)
}

// strs is a string column read plain or as a dictionary (the columns of
// few values: lineDict); NULL reads as "".
type strs struct {
	plain *array.String
	// A dictionary: its values, and its int32 indices when it has no
	// NULL (the fast case, which Parquet reads give), else the array.
	vals *array.String
	idx  []int32
	dict *array.Dictionary
}

func (s strs) Value(i int) string {
	switch {
	case s.idx != nil:
		return s.vals.Value(int(s.idx[i]))
	case s.dict != nil:
		if s.dict.IsNull(i) {
			return ""
		}
		return s.vals.Value(s.dict.GetValueIndex(i))
	}
	return s.plain.Value(i)
}

// strsCol is a string column, plain or dictionary-encoded (checkBatch
// allows nothing else).
func strsCol(rec arrow.RecordBatch, name string) strs {
	if a, ok := column(rec, name).(*array.Dictionary); ok {
		s := strs{vals: a.Dictionary().(*array.String), dict: a}
		if idx, ok := a.Indices().(*array.Int32); ok && a.NullN() == 0 {
			s.idx = idx.Int32Values()
		}
		return s
	}
	return strs{plain: column(rec, name).(*array.String)}
}

func i64Col(rec arrow.RecordBatch, name string) *array.Int64 {
	return column(rec, name).(*array.Int64)
}

func tsCol(rec arrow.RecordBatch, name string) *array.Timestamp {
	return column(rec, name).(*array.Timestamp)
}

func boolCol(rec arrow.RecordBatch, name string) *array.Boolean {
	return column(rec, name).(*array.Boolean)
}

func ts(a *array.Timestamp, i int) int64 {
	if a.IsNull(i) {
		return schemas.NoTime
	}
	return int64(a.Value(i))
}
