package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mrrflow/mrrflow/internal/gen"
)

// generateFormats lists what `mrrflow generate --format` writes.
var generateFormats = map[string]string{
	"growpanel":        "GrowPanel exports: plans.json, customers.ndjson, invoices.csv (USD and EUR, fx.csv)",
	"growpanel-ndjson": "GrowPanel exports with invoices.ndjson",
	"growpanel-json":   "GrowPanel exports with invoices.json (one JSON array)",
	"chartmogul":       "a ChartMogul bulk import (EUR, fx.csv)",
	"subscriptions":    "a subscriptions payload (seed 002)",
	"stripe":           "Stripe API objects: prices.json, customers.ndjson, invoices.ndjson, objects.ndjson (both API shapes)",
	"all":              "the four sources of the demo: growpanel/, chartmogul/, subscriptions/, stripe/",
	"parquet":          "the normalized tables straight into warehouse/ (no text export; USD and EUR, fx.csv), for histories too large for text files",
}

func generateCmd(e env) *cobra.Command {
	var customers, months int
	var seed uint64
	var format, out string
	var clean bool
	cmd := &cobra.Command{
		Use:   "generate --customers N --months M [--seed S] --format F --out DIR",
		Short: "Write deterministic synthetic billing data, with a config.yaml that runs it",
		Long: "Write deterministic synthetic billing data (the same seed gives the same bytes), streaming, " +
			"with a config.yaml beside it: mrrflow run -c DIR/config.yaml. Formats: growpanel, growpanel-ndjson, " +
			"growpanel-json, chartmogul, subscriptions, stripe, all, parquet.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, ok := generateFormats[format]; !ok {
				return usageError{fmt.Errorf("--format %q: use growpanel, growpanel-ndjson, growpanel-json, chartmogul, subscriptions, stripe, all or parquet", format)}
			}
			if customers < 1 || months < 1 || out == "" {
				return usageError{fmt.Errorf("--customers and --months must be at least 1, and --out is required")}
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			start := time.Now()
			opt := gen.Options{Customers: customers, Months: months, Seed: seed, BadRecords: !clean}
			var st gen.Stats
			var err error
			switch format {
			case "growpanel", "growpanel-ndjson", "growpanel-json":
				opt.EUR = true
				opt.Invoices = map[string]string{"growpanel": "csv", "growpanel-ndjson": "ndjson", "growpanel-json": "json"}[format]
				st, err = gen.GrowPanel(out, opt)
			case "chartmogul":
				st, err = gen.ChartMogul(out, opt)
			case "subscriptions":
				st, err = gen.Subscriptions(out, opt)
			case "stripe":
				st, err = gen.Stripe(out, opt)
			case "all":
				st, err = gen.Demo(out, opt)
			case "parquet":
				st, err = gen.Warehouse(out, opt)
			}
			if err != nil {
				return fmt.Errorf("generate: %w", err)
			}
			fmt.Fprintf(e.stdout, "wrote %s to %s: %d customers, %d invoices, as of %s, in %s\nrun it: mrrflow run -c %s/config.yaml\n",
				generateFormats[format], out, st.Customers, st.Invoices, st.AsOf.Format(time.DateOnly), time.Since(start).Round(time.Millisecond), out)
			return nil
		},
	}
	cmd.Flags().IntVar(&customers, "customers", 1000, "number of customers")
	cmd.Flags().IntVar(&months, "months", 24, "number of months of history")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed: the same seed gives the same data")
	cmd.Flags().StringVar(&format, "format", "growpanel", "growpanel, growpanel-ndjson, growpanel-json, chartmogul, subscriptions, stripe, all or parquet")
	cmd.Flags().StringVar(&out, "out", "", "folder to write into")
	cmd.Flags().BoolVar(&clean, "clean", false, "leave out the few malformed records")
	return cmd
}
