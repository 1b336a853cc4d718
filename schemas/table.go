package schemas

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Column is one column of a table.
type Column struct {
	Name     string
	Type     arrow.DataType
	Nullable bool
	Doc      string
}

// Table is the definition of one table: the contract with the analyst.
type Table struct {
	Name string
	Doc  string
	// PartitionBy names the DATE column the table is partitioned by month
	// on, or is empty.
	PartitionBy string
	// ClusterBy names the columns a warehouse clusters the table by.
	ClusterBy []string
	Columns   []Column

	schema *arrow.Schema
}

// DescriptionKey is the Arrow field metadata key that carries a column's
// description into Parquet files (through the stored Arrow schema).
const DescriptionKey = "description"

func newTable(t Table) *Table {
	fields := make([]arrow.Field, len(t.Columns))
	for i, c := range t.Columns {
		fields[i] = arrow.Field{
			Name:     c.Name,
			Type:     c.Type,
			Nullable: c.Nullable,
			Metadata: arrow.NewMetadata([]string{DescriptionKey}, []string{c.Doc}),
		}
	}
	md := arrow.NewMetadata([]string{DescriptionKey, "table"}, []string{t.Doc, t.Name})
	t.schema = arrow.NewSchema(fields, &md)
	return &t
}

// Schema is the table's Arrow schema, with each column's description in
// its field metadata.
func (t *Table) Schema() *arrow.Schema { return t.schema }

// Index returns the position of the named column; it panics on a name that
// is not a column, which is a programming error.
func (t *Table) Index(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	panic(fmt.Sprintf("schemas: table %s has no column %q", t.Name, name))
}

// Column types used across the tables.
var (
	typeString    = arrow.BinaryTypes.String
	typeInt64     = arrow.PrimitiveTypes.Int64
	typeFloat64   = arrow.PrimitiveTypes.Float64
	typeBool      = arrow.FixedWidthTypes.Boolean
	typeDate      = arrow.FixedWidthTypes.Date32
	typeTimestamp = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	// typeStringList names its element "element", as the Parquet LIST
	// specification does, so that other readers see a standard list.
	typeStringList = arrow.ListOfField(arrow.Field{Name: "element", Type: arrow.BinaryTypes.String, Nullable: false})
)

func col(name string, t arrow.DataType, doc string) Column {
	return Column{Name: name, Type: t, Doc: doc}
}

func nullable(name string, t arrow.DataType, doc string) Column {
	return Column{Name: name, Type: t, Nullable: true, Doc: doc}
}

// TableBatch is one table's rows: how computed tables are handed from the
// engine to the sinks. They are in Rec, or, for rows kept on disk, Scan
// streams them.
type TableBatch struct {
	Table *Table
	Rec   arrow.RecordBatch
	// Scan, when Rec is nil, calls fn with the table's Rows rows in the
	// table's order, in batches valid during the call; the rows of a
	// table partitioned by month (PartitionBy) come one month per batch.
	Scan func(fn func(arrow.RecordBatch) error) error
	Rows int64
}

// NumRows is the number of rows of the table.
func (tb TableBatch) NumRows() int64 {
	if tb.Rec != nil {
		return tb.Rec.NumRows()
	}
	return tb.Rows
}

// Each calls fn with the table's rows in batches, as Scan does.
func (tb TableBatch) Each(fn func(arrow.RecordBatch) error) error {
	if tb.Rec != nil {
		return fn(tb.Rec)
	}
	return tb.Scan(fn)
}

// IsMoney says whether a column holds money in minor units of the
// reporting currency.
func (c Column) IsMoney() bool { return strings.HasSuffix(c.Doc, docMoney) }
