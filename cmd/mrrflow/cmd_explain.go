package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/schemas"
)

func explainCmd(e env) *cobra.Command {
	var configFile, warehouse, customer, source string
	cmd := &cobra.Command{
		Use:   "explain -c FILE --customer ID [--source S]",
		Short: "One customer: its lines, its MRR over time, its movements and the lines that caused each",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if customer == "" {
				return usageError{fmt.Errorf("--customer is required")}
			}
			if warehouse == "" {
				cfg, err := loadConfig(configFile)
				if err != nil {
					return err
				}
				warehouse = cfg.Warehouse
			}
			w, err := store.OpenExisting(warehouse)
			if err != nil {
				return err
			}
			match := func(rec arrow.RecordBatch, r int) bool {
				idCol := rec.Schema().FieldIndices("customer_id")[0]
				srcCol := rec.Schema().FieldIndices("source")[0]
				return schemas.FormatValue(rec.Column(idCol), r) == customer &&
					(source == "" || schemas.FormatValue(rec.Column(srcCol), r) == source)
			}
			sections := []struct {
				title string
				table *schemas.Table
				cols  []string
			}{
				{"Customer at as_of", schemas.CustomerSnapshot, []string{"source", "name", "status", "mrr", "first_paid_date", "cohort_month", "last_movement_date", "lifetime_billed"}},
				{"Invoice lines", schemas.InvoiceLines, []string{"invoice_id", "line_id", "subscription_id", "plan_id", "kind", "invoice_date", "period_start", "period_end", "amount", "tax", "prorated", "currency", "origin"}},
				{"Subscription events", schemas.SubscriptionEvents, []string{"event_id", "subscription_id", "plan_id", "type", "effective_at", "amount", "interval_unit", "interval_count", "currency"}},
				{"MRR over time (runs of equal daily MRR)", schemas.CustomerMRRPeriods, []string{"currency", "valid_from", "valid_to", "mrr"}},
				{"Movements, and the lines that caused them", schemas.MRRMovements, []string{"date", "movement", "amount", "mrr_before", "mrr_after", "currency", "amount_original", "plan_id", "invoice_ids"}},
				{"Data-quality warnings", schemas.DataQuality, []string{"record_id", "date", "check", "detail"}},
			}
			found := false
			for _, s := range sections {
				recs, err := load.ReadLocal(cmd.Context(), memory.DefaultAllocator, w, s.table)
				if err != nil {
					return err
				}
				n := printMatching(e.stdout, s.title, recs, s.cols, match)
				found = found || n > 0
				for _, r := range recs {
					r.Release()
				}
			}
			if !found {
				return usageError{fmt.Errorf("no customer %q in the warehouse %s", customer, warehouse)}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "config file whose warehouse to read")
	cmd.Flags().StringVar(&warehouse, "warehouse", "", "local warehouse directory (instead of -c)")
	cmd.Flags().StringVar(&customer, "customer", "", "the customer's id")
	cmd.Flags().StringVar(&source, "source", "", "the customer's source, when ids repeat across sources")
	return cmd
}

// printMatching prints the rows that match as a titled table; it returns
// how many there were.
func printMatching(out io.Writer, title string, recs []arrow.RecordBatch, cols []string, match func(arrow.RecordBatch, int) bool) int {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	n := 0
	for _, rec := range recs {
		idx := make([]int, len(cols))
		for i, c := range cols {
			idx[i] = rec.Schema().FieldIndices(c)[0]
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			if !match(rec, r) {
				continue
			}
			if n == 0 {
				fmt.Fprintf(out, "\n%s\n", title)
				fmt.Fprintln(tw, strings.Join(cols, "\t"))
			}
			n++
			vals := make([]string, len(idx))
			for i, j := range idx {
				vals[i] = tableCell(schemas.FormatValue(rec.Column(j), r))
			}
			fmt.Fprintln(tw, strings.Join(vals, "\t"))
		}
	}
	tw.Flush()
	return n
}
