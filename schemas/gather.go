package schemas

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// RowRef names one row of one of several batches.
type RowRef struct {
	Batch int32
	Row   int32
}

// Gather builds a batch of the table from rows of batches of it, in the
// order of rows. The caller releases it.
func Gather(mem memory.Allocator, t *Table, batches []arrow.RecordBatch, rows []RowRef) arrow.RecordBatch {
	fill := make([]func(array.Builder), len(t.Columns))
	for c := range fill {
		cols := make([]arrow.Array, len(batches))
		for b, rec := range batches {
			cols[b] = rec.Column(c)
		}
		fill[c] = func(b array.Builder) {
			for _, r := range rows {
				appendValue(b, cols[r.Batch], int(r.Row))
			}
		}
	}
	return ColumnsRecord(mem, t, len(rows), fill)
}

// appendValue appends value i of col to b, a builder of the same type.
func appendValue(b array.Builder, col arrow.Array, i int) {
	if col.IsNull(i) {
		b.AppendNull()
		return
	}
	switch col := col.(type) {
	case *array.String:
		b.(*array.StringBuilder).Append(col.Value(i))
	case *array.Int64:
		b.(*array.Int64Builder).Append(col.Value(i))
	case *array.Float64:
		b.(*array.Float64Builder).Append(col.Value(i))
	case *array.Boolean:
		b.(*array.BooleanBuilder).Append(col.Value(i))
	case *array.Date32:
		b.(*array.Date32Builder).Append(col.Value(i))
	case *array.Timestamp:
		b.(*array.TimestampBuilder).Append(col.Value(i))
	case *array.List:
		lb := b.(*array.ListBuilder)
		lb.Append(true)
		vb := lb.ValueBuilder().(*array.StringBuilder)
		values := col.ListValues().(*array.String)
		start, end := col.ValueOffsets(i)
		for k := start; k < end; k++ {
			vb.Append(values.Value(int(k)))
		}
	default:
		panic(fmt.Sprintf("schemas: Gather: a column of type %s", col.DataType()))
	}
}
