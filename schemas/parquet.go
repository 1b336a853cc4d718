package schemas

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// rowGroupRows bounds the rows of one Parquet row group.
const rowGroupRows = 1 << 20

// A column whose dictionary outgrows its page mid-chunk falls back to
// PLAIN, and the writer then lists the chunk's page encodings in the order
// of a Go map: the same data would not give the same bytes (an unchanged
// table would be rewritten, or loaded again into BigQuery). So only columns
// whose dictionary cannot outgrow its page are dictionary encoded: values
// of 8 bytes or less (a row group's dictionary is at most rowGroupRows of
// them, within dictionaryPage), and the strings of dictionaryColumns, which
// hold few distinct values. Other strings are written PLAIN.
const dictionaryPage = 16 * rowGroupRows

// dictionaryColumns are the string columns of few distinct values.
var dictionaryColumns = map[string]bool{"source": true, "kind": true, "currency": true, "plan_id": true,
	"movement": true, "status": true, "state": true, "type": true, "result": true, "entity": true, "check": true,
	"country": true, "interval_unit": true, "contact_type": true, "run_id": true}

// ParquetWriter writes batches of one table to a Parquet file with standard
// logical types: DATE, TIMESTAMP(UTC, micros), INT64, STRING, BOOLEAN,
// DOUBLE and LIST. The Arrow schema, with the column descriptions, is stored
// in the file's metadata.
type ParquetWriter struct {
	table *Table
	fw    *pqarrow.FileWriter
}

// NewParquetWriter starts a Parquet file of the table on w.
func NewParquetWriter(w io.Writer, t *Table) (*ParquetWriter, error) {
	opts := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithCreatedBy("mrrflow"),
		parquet.WithMaxRowGroupLength(rowGroupRows),
		parquet.WithDictionaryDefault(false),
		parquet.WithDictionaryPageSizeLimit(dictionaryPage),
	}
	for _, f := range t.Schema().Fields() {
		switch f.Type.ID() {
		case arrow.INT64, arrow.TIMESTAMP, arrow.DATE32, arrow.FLOAT64:
			opts = append(opts, parquet.WithDictionaryFor(f.Name, true))
		case arrow.STRING:
			opts = append(opts, parquet.WithDictionaryFor(f.Name, dictionaryColumns[f.Name]))
		}
	}
	props := parquet.NewWriterProperties(opts...)
	arrProps := pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())
	// The file writer closes a writer that is an io.Closer; ours is not
	// its to close.
	fw, err := pqarrow.NewFileWriter(t.Schema(), struct{ io.Writer }{w}, props, arrProps)
	if err != nil {
		return nil, fmt.Errorf("start parquet %s: %w", t.Name, err)
	}
	return &ParquetWriter{table: t, fw: fw}, nil
}

// Write appends a batch; it must have the table's schema.
func (p *ParquetWriter) Write(rec arrow.RecordBatch) error {
	if err := checkColumns(rec.Schema(), p.table); err != nil {
		return fmt.Errorf("write %s: the batch %w", p.table.Name, err)
	}
	rec = withValueBuffers(rec)
	defer rec.Release()
	if err := p.fw.Write(rec); err != nil {
		return fmt.Errorf("write %s: %w", p.table.Name, err)
	}
	return nil
}

// withValueBuffers is rec (retained) with a value buffer in every string
// column. A column of empty strings read from Arrow IPC has none, and the
// writer then keeps no min and max for it, where the same column built in
// memory has them (""): the same rows would not give the same bytes.
func withValueBuffers(rec arrow.RecordBatch) arrow.RecordBatch {
	var cols []arrow.Array
	for i, col := range rec.Columns() {
		str, ok := col.(*array.String)
		if !ok || str.ValueBytes() != nil || str.Len() == str.NullN() {
			continue
		}
		if cols == nil {
			cols = slices.Clone(rec.Columns())
		}
		bufs := slices.Clone(str.Data().Buffers())
		bufs[2] = memory.NewBufferBytes([]byte{})
		d := array.NewData(str.DataType(), str.Len(), bufs, nil, str.NullN(), str.Data().Offset())
		cols[i] = array.MakeFromData(d)
		d.Release()
		defer cols[i].Release()
	}
	if cols == nil {
		rec.Retain()
		return rec
	}
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
}

// Close finishes the file. It does not close the underlying writer.
func (p *ParquetWriter) Close() error {
	if err := p.fw.Close(); err != nil {
		return fmt.Errorf("finish parquet %s: %w", p.table.Name, err)
	}
	return nil
}

// WriteParquetScan writes the batches scan yields as one Parquet file on
// w, in row groups cut as WriteParquet cuts one batch of all the rows: the
// same rows give the same bytes, however they are batched.
func WriteParquetScan(w io.Writer, t *Table, scan func(fn func(arrow.RecordBatch) error) error) error {
	pw, err := NewParquetWriter(w, t)
	if err != nil {
		return err
	}
	var held []arrow.RecordBatch
	var n, written int64
	defer func() {
		for _, r := range held {
			r.Release()
		}
	}()
	flush := func() error {
		if n == 0 && written > 0 {
			return nil
		}
		rec, err := Concat(memory.DefaultAllocator, t, held)
		if err != nil {
			return err
		}
		for _, r := range held {
			r.Release()
		}
		held = held[:0]
		written += n
		n = 0
		defer rec.Release()
		return pw.Write(rec)
	}
	err = scan(func(rec arrow.RecordBatch) error {
		for off := int64(0); off < rec.NumRows(); {
			take := min(rowGroupRows-n, rec.NumRows()-off)
			held = append(held, rec.NewSlice(off, off+take))
			n, off = n+take, off+take
			if n == rowGroupRows {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n > 0 || written == 0 {
		// An empty table is one empty row group, as WriteParquet writes it.
		if err := flush(); err != nil {
			return err
		}
	}
	return pw.Close()
}

// WriteParquet writes whole batches of a table as one Parquet file on w.
func WriteParquet(w io.Writer, t *Table, recs ...arrow.RecordBatch) error {
	pw, err := NewParquetWriter(w, t)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := pw.Write(r); err != nil {
			return err
		}
	}
	return pw.Close()
}

// ReadParquetFile reads a whole Parquet file of table t into batches under
// the table's schema. The caller releases them.
func ReadParquetFile(ctx context.Context, mem memory.Allocator, path string, t *Table) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	err := ScanParquetFile(ctx, mem, path, t, func(rec arrow.RecordBatch) error {
		rec.Retain()
		out = append(out, rec)
		return nil
	})
	if err != nil {
		for _, r := range out {
			r.Release()
		}
		return nil, err
	}
	return out, nil
}

// ReadParquetFiles reads whole Parquet files of table t, in order, into
// batches under the table's schema; on an error none is kept. The caller
// releases them.
func ReadParquetFiles(ctx context.Context, mem memory.Allocator, paths []string, t *Table) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	for _, p := range paths {
		recs, err := ReadParquetFile(ctx, mem, p, t)
		if err != nil {
			for _, r := range out {
				r.Release()
			}
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// ScanParquetFile streams a Parquet file of table t to fn, batch by batch,
// under the table's schema: only one batch is held at a time. A batch is
// valid during fn only; fn retains it to keep it.
func ScanParquetFile(ctx context.Context, mem memory.Allocator, path string, t *Table, fn func(arrow.RecordBatch) error) error {
	return scanParquet(ctx, mem, path, t, nil, nil, fn)
}

// ScanParquetColumns streams the named columns of a Parquet file of table
// t to fn, batch by batch; the batches hold those columns only, in the
// table's order. A batch is valid during fn only.
func ScanParquetColumns(ctx context.Context, mem memory.Allocator, path string, t *Table, names []string, fn func(arrow.RecordBatch) error) error {
	return ScanParquetDict(ctx, mem, path, t, names, nil, fn)
}

// ScanParquetDict is ScanParquetColumns with the string columns named in
// dict read as dictionaries (an arrow.Dictionary of the distinct values
// and an index per row): cheaper for columns of few values.
func ScanParquetDict(ctx context.Context, mem memory.Allocator, path string, t *Table, names, dict []string, fn func(arrow.RecordBatch) error) error {
	cols := make([]int, 0, len(names))
	for i, c := range t.Columns {
		if slices.Contains(names, c.Name) {
			cols = append(cols, i)
		}
	}
	return scanParquet(ctx, mem, path, t, cols, dict, fn)
}

// DistinctStrings is the set of values of one string column of a Parquet
// file of table t, read alone.
func DistinctStrings(ctx context.Context, mem memory.Allocator, path string, t *Table, column string) (map[string]bool, error) {
	out := map[string]bool{}
	err := scanParquet(ctx, mem, path, t, []int{t.Index(column)}, nil, func(rec arrow.RecordBatch) error {
		col, ok := rec.Column(0).(*array.String)
		if !ok {
			return fmt.Errorf("read %s: column %s is not a string", path, column)
		}
		last := ""
		for i := 0; i < col.Len(); i++ {
			if v := col.Value(i); i == 0 || v != last {
				out[strings.Clone(v)], last = true, v
			}
		}
		return nil
	})
	return out, err
}

// scanParquet streams the columns cols (nil: all, under the table's
// schema) of a Parquet file of table t to fn, those named in dict as
// dictionaries.
func scanParquet(ctx context.Context, mem memory.Allocator, path string, t *Table, cols []int, dict []string, fn func(arrow.RecordBatch) error, rowGroups ...int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	return scanParquetFrom(ctx, mem, path, f, t, cols, dict, fn, rowGroups...)
}

// scanParquetFrom is scanParquet of a file read from r, named path in
// errors.
func scanParquetFrom(ctx context.Context, mem memory.Allocator, path string, r RandomReader, t *Table, cols []int, dict []string,
	fn func(arrow.RecordBatch) error, rowGroups ...int) error {
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer pf.Close()
	// Columns are decoded in parallel.
	props := pqarrow.ArrowReadProperties{BatchSize: 64 << 10, Parallel: true}
	for _, name := range dict {
		if t.Columns[t.Index(name)].Type.ID() != arrow.STRING || cols == nil {
			return fmt.Errorf("read %s: column %s cannot be read as a dictionary", path, name)
		}
		props.SetReadDict(pf.MetaData().Schema.ColumnIndexByName(name), true)
	}
	fr, err := pqarrow.NewFileReader(pf, props, mem)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := checkColumns(sc, t, dict...); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	// A file written before the table gained its last columns has the
	// first ones: those it lacks read as NULL.
	have := sc.NumFields()
	want := cols
	if want == nil {
		want = make([]int, len(t.Columns))
		for i := range want {
			want[i] = i
		}
	}
	read := slices.DeleteFunc(slices.Clone(want), func(i int) bool { return i >= have })
	if cols == nil && have == len(t.Columns) {
		read = nil
	}
	rr, err := fr.GetRecordReader(ctx, read, rowGroups)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer rr.Release()
	for rr.Next() {
		if err := deliverBatch(mem, t, rr.RecordBatch(), cols == nil, want, have, len(read) < len(want), fn); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// ScanParquetRowGroup reads one row group of a Parquet file of table t,
// and no more of the file, batch by batch; a batch is valid during fn only.
func ScanParquetRowGroup(ctx context.Context, mem memory.Allocator, path string, t *Table, rowGroup int, fn func(arrow.RecordBatch) error) error {
	return scanParquet(ctx, mem, path, t, nil, nil, fn, rowGroup)
}

// ParquetRowGroups is the number of row groups of a Parquet file, from its
// footer.
func ParquetRowGroups(path string) (int, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	defer pf.Close()
	return pf.NumRowGroups(), nil
}

// RandomReader is a file read at any offset: an *os.File, or an object
// of a store read by ranges (io.NewSectionReader of its io.ReaderAt).
type RandomReader interface {
	io.ReaderAt
	io.Seeker
}

// ScanParquetRowGroupFrom is ScanParquetRowGroup of a file read from r,
// named name in errors: only its footer and the row group's column chunks
// are read.
func ScanParquetRowGroupFrom(ctx context.Context, mem memory.Allocator, name string, r RandomReader, t *Table, rowGroup int,
	fn func(arrow.RecordBatch) error) error {
	return scanParquetFrom(ctx, mem, name, r, t, nil, nil, fn, rowGroup)
}

// ParquetRows is the number of rows a Parquet file holds, from its footer.
func ParquetRows(path string) (int64, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	defer pf.Close()
	return pf.NumRows(), nil
}

// deliverBatch hands a batch read to fn: with the columns the file lacks
// added as NULL (pad), and under the table's own schema when it is whole
// (the file's carries reader metadata, PARQUET:field_id, that would make
// it differ from the table's).
func deliverBatch(mem memory.Allocator, t *Table, rec arrow.RecordBatch, whole bool, want []int, have int, pad bool,
	fn func(arrow.RecordBatch) error) error {
	if pad {
		rec = padColumns(mem, t, rec, want, have)
		defer rec.Release()
	}
	if !whole {
		return fn(rec)
	}
	wrapped := array.NewRecordBatch(t.Schema(), rec.Columns(), rec.NumRows())
	defer wrapped.Release()
	return fn(wrapped)
}

// padColumns is a batch of the columns want of table t, from one read of
// those the file has (below have), the others NULL. The caller releases it.
func padColumns(mem memory.Allocator, t *Table, rec arrow.RecordBatch, want []int, have int) arrow.RecordBatch {
	fields := make([]arrow.Field, len(want))
	arrs := make([]arrow.Array, len(want))
	k := 0
	for j, i := range want {
		fields[j] = arrow.Field{Name: t.Columns[i].Name, Type: t.Columns[i].Type, Nullable: true}
		if i < have {
			arrs[j] = rec.Column(k)
			arrs[j].Retain()
			k++
			continue
		}
		arrs[j] = array.MakeArrayOfNull(mem, t.Columns[i].Type, int(rec.NumRows()))
	}
	out := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, rec.NumRows())
	for _, a := range arrs {
		a.Release()
	}
	return out
}

// checkColumns checks a file's schema against table t: the table's
// columns, or (a file written before the table gained columns) its first
// ones.
func checkColumns(sc *arrow.Schema, t *Table, dict ...string) error {
	if sc.NumFields() > len(t.Columns) {
		return fmt.Errorf("has %d columns, table %s has %d", sc.NumFields(), t.Name, len(t.Columns))
	}
	for i, c := range t.Columns[:sc.NumFields()] {
		f := sc.Field(i)
		typ := f.Type
		if d, ok := typ.(*arrow.DictionaryType); ok && slices.Contains(dict, c.Name) {
			typ = d.ValueType
		}
		if f.Name != c.Name || !arrow.TypeEqual(typ, c.Type) {
			return fmt.Errorf("column %d is %s %s, table %s wants %s %s", i, f.Name, f.Type, t.Name, c.Name, c.Type)
		}
	}
	return nil
}

// Concat joins batches of one table into one batch. The caller releases it.
func Concat(mem memory.Allocator, t *Table, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(recs) == 0 {
		b := array.NewRecordBuilder(mem, t.Schema())
		defer b.Release()
		return b.NewRecordBatch(), nil
	}
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	cols := make([]arrow.Array, len(t.Columns))
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	for i := range cols {
		parts := make([]arrow.Array, len(recs))
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		a, err := array.Concatenate(parts, mem)
		if err != nil {
			for _, c := range cols[:i] {
				c.Release()
			}
			return nil, fmt.Errorf("concat %s.%s: %w", t.Name, t.Columns[i].Name, err)
		}
		cols[i] = a
	}
	rec := array.NewRecordBatch(t.Schema(), cols, rows)
	for _, c := range cols {
		c.Release()
	}
	return rec, nil
}
