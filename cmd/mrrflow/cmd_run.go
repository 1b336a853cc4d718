package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/gen"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/jobs"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/metrics"
	"github.com/mrrflow/mrrflow/report"
	"github.com/mrrflow/mrrflow/schemas"
)

// demoWarehouse is where `mrrflow run` without a config works.
const demoWarehouse = "mrrflow-warehouse"

func runCmd(e env) *cobra.Command {
	var configFile, asOf, warehouse string
	var verbose bool
	var partitionLines int
	var importBytes int64
	var allowShrink, full bool
	var money string
	cmd := &cobra.Command{
		Use:   "run [-c FILE]",
		Short: "Run one full job: extract, normalize, compute, load (without -c: the demo)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(e, verbose)
			if configFile == "" {
				if err := checkMoney(money, schemas.MRRMonthly); err != nil {
					return err
				}
				return runDemo(cmd.Context(), e, asOf, warehouse, verbose, money == "major")
			}
			cfg, err := configs.Load(configFile)
			if err != nil {
				return err
			}
			_, err = jobs.Run(cmd.Context(), cfg, jobs.Options{AsOf: asOf, Warehouse: warehouse, Log: log, Command: "run", Progress: newProgress(e),
				PartitionLines: partitionLines, ImportBytes: importBytes, AllowShrink: allowShrink, Full: full})
			return err
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "config file (YAML); without it, run the embedded demo")
	cmd.Flags().StringVar(&asOf, "as-of", "", "compute the state at the end of this day (YYYY-MM-DD), overriding as_of")
	cmd.Flags().StringVar(&warehouse, "warehouse", "", "local warehouse directory, overriding the config's")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log debug lines too")
	cmd.Flags().StringVar(&money, "money", "minor", "the demo's table: amounts in minor units (cents) or major units (1,234.56)")
	cmd.Flags().BoolVar(&allowShrink, "allow-shrink", false, "accept a delivery with an empty file, or one that removes more of a replace source's records than max_shrink")
	cmd.Flags().BoolVar(&full, "full", false, "read every file again (an upsert source leaves out the files an earlier run read as they are now)")
	cmd.Flags().IntVar(&partitionLines, "partition-lines", 0, fmt.Sprintf("most invoice lines the engine computes at once; more are cut into partitions of customers spilled to disk (default %d)", metrics.DefaultPartitionLines))
	cmd.Flags().Int64Var(&importBytes, "import-bytes", 0, "text of a GrowPanel or ChartMogul delivery normalized at once when it holds more than four times as much: it is then normalized in partitions spilled to disk, in bounded memory (default 64 MiB; -1 holds every delivery in memory)")
	return cmd
}

// runDemo writes deterministic sample GrowPanel exports into the demo
// warehouse, runs them, and prints MRR month by month.
func runDemo(ctx context.Context, e env, asOf, warehouse string, verbose, major bool) error {
	if warehouse == "" {
		warehouse = demoWarehouse
	}
	// The warehouse first: the exports are written into it.
	if _, err := store.Open(warehouse); err != nil {
		return err
	}
	dir := filepath.Join(warehouse, "demo-exports")
	// The exports lie in the warehouse: their config names it, so that
	// `-c DIR/config.yaml` finds the demo's tables.
	st, err := gen.Demo(dir, gen.Options{Customers: 300, Months: 24, Seed: 42, BadRecords: true, Warehouse: ".."})
	if err != nil {
		return fmt.Errorf("write demo data: %w", err)
	}
	fmt.Fprintf(e.stdout, "demo: wrote %d customers of four billing systems (GrowPanel in USD, ChartMogul in EUR, a subscriptions payload, Stripe API objects) with EUR rates to %s; a few records are bad on purpose\n",
		st.Customers, dir)
	cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		return err
	}
	rec, err := jobs.Run(ctx, cfg, jobs.Options{AsOf: asOf, Warehouse: warehouse, Log: newLogger(e, verbose), Command: "run (demo)", Progress: newProgress(e)})
	if err != nil {
		return err
	}
	w, err := store.Open(warehouse)
	if err != nil {
		return err
	}
	recs, err := load.ReadLocal(ctx, memory.DefaultAllocator, w, schemas.MRRMonthly)
	if err != nil {
		return err
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	fmt.Fprintf(e.stdout, "\nMRR by month (%s, as of %s; %d rows rejected, see `mrrflow show rejected_rows --warehouse %s`):\n",
		rec.Currency, rec.AsOf, rec.Rejected, warehouse)
	cols := []string{"month", "mrr_start", "new", "expansion", "contraction", "churn", "reactivation", "fx_impact", "mrr_end", "customers_end", "is_partial"}
	if err := printTable(e.stdout, recs, schemas.MRRMonthly, cols, "table", major); err != nil {
		return err
	}
	out := filepath.Join(warehouse, "report.html")
	if err := writeReport(ctx, w, report.Options{}, out); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nThe revenue report, with charts: %s (open it in a browser; it needs no network)\n", out)
	return nil
}
