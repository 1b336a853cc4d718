package metrics

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/mrrflow/mrrflow/schemas"
)

// Typed access to the columns of input batches, whole or projected.

// column is a batch's column of table t by name; the batch holds all the
// table's columns, or some of them under their names.
func column(rec arrow.RecordBatch, t *schemas.Table, name string) arrow.Array {
	if int(rec.NumCols()) == len(t.Columns) {
		return rec.Column(t.Index(name))
	}
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

func strCol(rec arrow.RecordBatch, t *schemas.Table, name string) *array.String {
	return column(rec, t, name).(*array.String)
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

func strsCol(rec arrow.RecordBatch, t *schemas.Table, name string) strs {
	switch a := column(rec, t, name).(type) {
	case *array.Dictionary:
		s := strs{vals: a.Dictionary().(*array.String), dict: a}
		if idx, ok := a.Indices().(*array.Int32); ok && a.NullN() == 0 {
			s.idx = idx.Int32Values()
		}
		return s
	case *array.String:
		return strs{plain: a}
	default:
		panic(fmt.Sprintf("metrics: column %s is %s, not a string", name, a.DataType()))
	}
}

func i64Col(rec arrow.RecordBatch, t *schemas.Table, name string) *array.Int64 {
	return column(rec, t, name).(*array.Int64)
}

func tsCol(rec arrow.RecordBatch, t *schemas.Table, name string) *array.Timestamp {
	return column(rec, t, name).(*array.Timestamp)
}

func boolCol(rec arrow.RecordBatch, t *schemas.Table, name string) *array.Boolean {
	return column(rec, t, name).(*array.Boolean)
}

func ts(a *array.Timestamp, i int) int64 {
	if a.IsNull(i) {
		return schemas.NoTime
	}
	return int64(a.Value(i))
}
