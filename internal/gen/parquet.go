package gen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
)

// Warehouse writes opt.Customers customers over opt.Months months (from
// 2020-01) straight into the normalized tables of a local warehouse,
// DIR/warehouse, streaming: for histories too large for text exports. The
// config.yaml beside it names a GrowPanel source whose exports are empty,
// so a run reads nothing new and computes from the stored tables.
func Warehouse(dir string, opt Options) (Stats, error) {
	wh := filepath.Join(dir, "warehouse")
	st := Stats{Customers: opt.Customers, Plans: len(normalizedPlans), AsOf: normalizedStart.AddDate(0, opt.Months, -1)}
	w, err := store.Open(wh)
	if err != nil {
		return st, err
	}
	mem := memory.DefaultAllocator
	write := func(t *schemas.Table, fill func(*schemas.ParquetWriter) error) error {
		path := w.Path(schemas.NormalizedPath(t, "gen"))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return writeFileThenRename(path, func(f io.Writer) error {
			pw, err := schemas.NewParquetWriter(f, t)
			if err != nil {
				return err
			}
			if err := fill(pw); err != nil {
				return err
			}
			return pw.Close()
		})
	}
	put := func(pw *schemas.ParquetWriter, rec arrow.RecordBatch) error {
		defer rec.Release()
		return pw.Write(rec)
	}
	if err := write(schemas.Plans, func(pw *schemas.ParquetWriter) error {
		return put(pw, schemas.PlansRecord(mem, normalizedPlans))
	}); err != nil {
		return st, err
	}
	g := newNormalizedGen(opt.Seed, opt.Months)
	var customers []schemas.Customer
	if err := write(schemas.InvoiceLines, func(pw *schemas.ParquetWriter) error {
		const batch = 1 << 20
		lines := make([]schemas.InvoiceLine, 0, batch+512)
		for c := 0; c < opt.Customers; c++ {
			var cust schemas.Customer
			cust, lines = g.customer(lines)
			customers = append(customers, cust)
			if len(lines) >= batch || c == opt.Customers-1 {
				st.Invoices += len(lines)
				if err := put(pw, schemas.InvoiceLinesRecord(mem, schemas.Refs(lines))); err != nil {
					return err
				}
				lines = lines[:0]
			}
		}
		return nil
	}); err != nil {
		return st, err
	}
	if err := write(schemas.Customers, func(pw *schemas.ParquetWriter) error {
		for i := 0; i < len(customers); i += 1 << 20 {
			if err := put(pw, schemas.CustomersRecord(mem, customers[i:min(i+1<<20, len(customers))])); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return st, err
	}
	for name, content := range map[string]string{"plans.json": "[]\n", "customers.ndjson": "", "invoices.csv": "id,customer_id,amount\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return st, err
		}
	}
	opt.Start = normalizedStart
	if err := writeRates(filepath.Join(dir, "fx.csv"), opt, rand.New(rand.NewPCG(opt.Seed, 5))); err != nil {
		return st, err
	}
	return st, writeConfig(dir, opt, st, fmt.Sprintf(`# The normalized tables are in warehouse/ (%d invoice lines); the exports
# are empty, so a run reads nothing new and computes from the stored tables.
warehouse: warehouse
fx_rates: fx.csv
sources:
  - {name: gen, kind: growpanel, plans: plans.json, customers: customers.ndjson, invoices: invoices.csv}
`, st.Invoices))
}

// writeFileThenRename streams a file under a temporary name and renames it
// when whole.
func writeFileThenRename(path string, fn func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	buf := bufio.NewWriterSize(f, 1<<20)
	if err := fn(buf); err != nil {
		f.Close()
		return err
	}
	if err := buf.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
