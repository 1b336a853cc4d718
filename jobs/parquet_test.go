package jobs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/parquet-go/parquet-go"
	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/gen"
	"github.com/mrrflow/mrrflow/schemas"
)

// Every Parquet file a run writes uses standard logical types and reads
// back identically through arrow's pqarrow and through parquet-go.
func TestParquetFilesReadBackThroughBothLibraries(t *testing.T) {
	data, wh := t.TempDir(), t.TempDir()
	if _, err := gen.GrowPanel(data, gen.Options{Customers: 60, Months: 12, Seed: 3, BadRecords: true}); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(filepath.Join(data, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err = filepath.Walk(wh, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return err
		}
		rel, _ := filepath.Rel(wh, path)
		table := tableOfPath(rel)
		if table == nil {
			t.Errorf("%s: no table owns this file", rel)
			return nil
		}
		seen[table.Name] = true
		t.Run(rel, func(t *testing.T) { compareLibraries(t, path, table) })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range schemas.All() {
		if !seen[tb.Name] {
			t.Errorf("no file of table %s was written", tb.Name)
		}
	}
}

func tableOfPath(rel string) *schemas.Table {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if len(parts) < 2 {
		return nil
	}
	return schemas.Lookup(parts[1])
}

// compareLibraries reads a file both ways and compares every leaf value,
// and checks each column's logical type.
func compareLibraries(t *testing.T, path string, table *schemas.Table) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	recs, err := schemas.ReadParquetFile(context.Background(), mem, path, table)
	if err != nil {
		t.Fatal(err)
	}
	fromArrow := make([][]string, len(table.Columns))
	for _, rec := range recs {
		for c := range table.Columns {
			fromArrow[c] = appendLeaves(fromArrow[c], rec.Column(c))
		}
		rec.Release()
	}
	mem.AssertSize(t, 0)

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := pq.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("parquet-go cannot open it: %v", err)
	}
	leaves := pf.Schema().Columns()
	if len(leaves) != len(table.Columns) {
		t.Fatalf("parquet-go sees %d leaf columns, the table has %d", len(leaves), len(table.Columns))
	}
	for c, col := range table.Columns {
		leaf, _ := pf.Schema().Lookup(leaves[c]...)
		checkLogicalType(t, col, leaf.Node.Type())
	}
	fromGo := make([][]string, len(table.Columns))
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		buf := make([]pq.Row, 64)
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				for _, v := range row {
					c := v.Column()
					if v.IsNull() {
						if table.Columns[c].Nullable {
							fromGo[c] = append(fromGo[c], "NULL")
						}
						continue // an empty list
					}
					fromGo[c] = append(fromGo[c], goValue(v))
				}
			}
			if err != nil {
				break
			}
		}
		rows.Close()
	}
	for c, col := range table.Columns {
		if strings.Join(fromArrow[c], "|") != strings.Join(fromGo[c], "|") {
			t.Errorf("column %s differs:\n pqarrow:    %v\n parquet-go: %v", col.Name, fromArrow[c], fromGo[c])
		}
	}
}

func appendLeaves(out []string, a arrow.Array) []string {
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) {
			out = append(out, "NULL")
			continue
		}
		switch a := a.(type) {
		case *array.Date32:
			out = append(out, strconv.Itoa(int(a.Value(i))))
		case *array.Timestamp:
			out = append(out, strconv.FormatInt(int64(a.Value(i)), 10))
		case *array.List:
			s, e := a.ValueOffsets(i)
			for j := s; j < e; j++ {
				out = append(out, a.ListValues().(*array.String).Value(int(j)))
			}
		default:
			out = append(out, schemas.FormatValue(a, i))
		}
	}
	return out
}

func goValue(v pq.Value) string {
	switch v.Kind() {
	case pq.Boolean:
		return strconv.FormatBool(v.Boolean())
	case pq.Int32:
		return strconv.Itoa(int(v.Int32()))
	case pq.Int64:
		return strconv.FormatInt(v.Int64(), 10)
	case pq.Double:
		return strconv.FormatFloat(v.Double(), 'g', -1, 64)
	case pq.ByteArray:
		return string(v.ByteArray())
	}
	return fmt.Sprintf("?%v", v)
}

func checkLogicalType(t *testing.T, col schemas.Column, typ pq.Type) {
	t.Helper()
	logical := ""
	if lt := typ.LogicalType(); lt != nil {
		logical = lt.String()
	}
	var ok bool
	switch col.Type.ID() {
	case arrow.STRING, arrow.LIST: // a list's leaf is its string element
		ok = logical == "STRING"
	case arrow.DATE32:
		ok = logical == "DATE"
	case arrow.TIMESTAMP:
		ok = logical == "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"
	case arrow.INT64:
		ok = typ.Kind() == pq.Int64
	case arrow.BOOL:
		ok = typ.Kind() == pq.Boolean
	case arrow.FLOAT64:
		ok = typ.Kind() == pq.Double
	}
	if !ok {
		t.Errorf("column %s (%s) has Parquet type %v, logical type %q", col.Name, col.Type, typ, logical)
	}
}
