package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/schemas"
)

func showCmd(e env) *cobra.Command {
	var configFile, warehouse, format, columns, money string
	cmd := &cobra.Command{
		Use:   "show TABLE [-c FILE] [--warehouse DIR] [--format table|csv|json] [--money minor|major]",
		Short: "Print a table of the local warehouse",
		Long:  "Print a table of the local warehouse. Tables: " + tableNames(),
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t := schemas.Lookup(args[0])
			if t == nil {
				return usageError{fmt.Errorf("no table %q (tables: %s)", args[0], tableNames())}
			}
			if format != "table" && format != "csv" && format != "json" {
				return usageError{fmt.Errorf("--format %q: use table, csv or json", format)}
			}
			if err := checkMoney(money, t); err != nil {
				return err
			}
			w, err := readWarehouse(configFile, warehouse)
			if err != nil {
				return err
			}
			recs, err := load.ReadLocal(cmd.Context(), memory.DefaultAllocator, w, t)
			if err != nil {
				return err
			}
			defer func() {
				for _, r := range recs {
					r.Release()
				}
			}()
			var cols []string
			if columns != "" {
				cols = strings.Split(columns, ",")
				for _, c := range cols {
					if !slices.ContainsFunc(t.Columns, func(x schemas.Column) bool { return x.Name == c }) {
						return usageError{fmt.Errorf("--columns: table %s has no column %q", t.Name, c)}
					}
				}
			} else {
				for _, c := range t.Columns {
					cols = append(cols, c.Name)
				}
			}
			return printTable(e.stdout, recs, t, cols, format, money == "major")
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "config file whose warehouse to read")
	cmd.Flags().StringVar(&warehouse, "warehouse", "", "local warehouse directory (default: the config's, or the demo's)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json (one object per line)")
	cmd.Flags().StringVar(&columns, "columns", "", "comma-separated columns to print (default: all)")
	cmd.Flags().StringVar(&money, "money", "minor", "amounts as stored (minor: cents) or in major units with separators (major: 1,234.56; mrr_monthly)")
	return cmd
}

// checkMoney checks --money: major needs a table whose rows name their
// currency.
func checkMoney(money string, t *schemas.Table) error {
	switch money {
	case "minor":
		return nil
	case "major":
		if t != schemas.MRRMonthly {
			return usageError{fmt.Errorf("--money major: only for mrr_monthly (its rows name their currency)")}
		}
		return nil
	}
	return usageError{fmt.Errorf("--money %q: use minor or major", money)}
}

func tableNames() string {
	var names []string
	for _, t := range schemas.All() {
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}

// printTable writes the named columns of batches of table t as an aligned
// table, CSV or JSON lines; major writes money in major units (table only,
// by the row's currency).
func printTable(out io.Writer, recs []arrow.RecordBatch, t *schemas.Table, cols []string, format string, major bool) error {
	switch format {
	case "csv":
		w := csv.NewWriter(out)
		w.Write(cols)
		eachRow(recs, cols, func(rec arrow.RecordBatch, idx []int, r int) {
			row := make([]string, len(idx))
			for i, j := range idx {
				row[i] = schemas.FormatValue(rec.Column(j), r)
			}
			w.Write(row)
		})
		w.Flush()
		return w.Error()
	case "json":
		enc := json.NewEncoder(out)
		var err error
		eachRow(recs, cols, func(rec arrow.RecordBatch, idx []int, r int) {
			obj := make(map[string]any, len(idx))
			for i, j := range idx {
				obj[cols[i]] = schemas.JSONValue(rec.Column(j), r)
			}
			if e := enc.Encode(obj); e != nil && err == nil {
				err = e
			}
		})
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	eachRow(recs, cols, func(rec arrow.RecordBatch, idx []int, r int) {
		cur := ""
		if major {
			cur = schemas.FormatValue(rec.Column(rec.Schema().FieldIndices("currency")[0]), r)
		}
		for i, j := range idx {
			v := schemas.FormatValue(rec.Column(j), r)
			if c := t.Columns[t.Index(cols[i])]; major && c.IsMoney() && !rec.Column(j).IsNull(r) {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					v = schemas.FormatMajor(n, cur)
				}
			}
			fmt.Fprint(tw, tableCell(v), "\t")
		}
		fmt.Fprintln(tw)
	})
	return tw.Flush()
}

// cellEscapes keeps a value on its line and in its column of a table.
var cellEscapes = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`)

// tableCell is a value as a table for people shows it: line breaks and
// tabs written as \n, \r and \t.
func tableCell(v string) string { return cellEscapes.Replace(v) }

func eachRow(recs []arrow.RecordBatch, cols []string, fn func(arrow.RecordBatch, []int, int)) {
	for _, rec := range recs {
		idx := make([]int, len(cols))
		for i, c := range cols {
			idx[i] = rec.Schema().FieldIndices(c)[0]
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			fn(rec, idx, r)
		}
	}
}
