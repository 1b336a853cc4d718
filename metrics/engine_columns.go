package metrics

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
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

func strCol(rec arrow.RecordBatch, t *schemas.Table, name string) *array.String {
	return column(rec, t, name).(*array.String)
}

// strs is a string column read plain or as a dictionary (the columns of
// few values: lineDict).
type strs struct {
	plain *array.String
	dict  *array.String
	idx   []int32
}

func (s strs) Value(i int) string {
	if s.dict != nil {
		return s.dict.Value(int(s.idx[i]))
	}
	return s.plain.Value(i)
}

func strsCol(rec arrow.RecordBatch, t *schemas.Table, name string) strs {
	switch a := column(rec, t, name).(type) {
	case *array.Dictionary:
		if idx, ok := a.Indices().(*array.Int32); ok && a.NullN() == 0 {
			return strs{dict: a.Dictionary().(*array.String), idx: idx.Int32Values()}
		}
		// Other index types or nulls: decoded plainly.
		return strs{plain: decodeDict(a)}
	case *array.String:
		return strs{plain: a}
	default:
		panic(fmt.Sprintf("metrics: column %s is %s, not a string", name, a.DataType()))
	}
}

// decodeDict turns a dictionary of strings into a plain string array
// (NULL as ""); the array is freed with the batch's other garbage.
func decodeDict(a *array.Dictionary) *array.String {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	vals := a.Dictionary().(*array.String)
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) {
			b.Append("")
		} else {
			b.Append(vals.Value(a.GetValueIndex(i)))
		}
	}
	return b.NewStringArray()
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
