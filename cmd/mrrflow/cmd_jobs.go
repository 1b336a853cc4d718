package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/jobs"
)

// loadConfig reads the -c config; a missing flag is bad usage.
// readWarehouse is the warehouse a reading command reads: --warehouse, or
// the config's, or the demo's; it must exist (reading creates nothing).
func readWarehouse(configFile, warehouse string) (*store.Warehouse, error) {
	if warehouse == "" {
		warehouse = demoWarehouse
		if configFile != "" {
			cfg, err := configs.Load(configFile)
			if err != nil {
				return nil, err
			}
			warehouse = cfg.Warehouse
		}
	}
	return store.OpenExisting(warehouse)
}

func loadConfig(file string) (*configs.Config, error) {
	if file == "" {
		return nil, usageError{fmt.Errorf("-c FILE is required")}
	}
	return configs.Load(file)
}

func backfillCmd(e env) *cobra.Command {
	var configFile, from, to, source, warehouse string
	var allowShrink bool
	cmd := &cobra.Command{
		Use:   "backfill -c FILE --from D --to D [--source S]",
		Short: "Re-read a date range (database cursors rewound to --from), recompute, and report the months that changed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configFile)
			if err != nil {
				return err
			}
			f, err1 := time.Parse(time.DateOnly, from)
			t, err2 := time.Parse(time.DateOnly, to)
			if err1 != nil || err2 != nil || t.Before(f) {
				return usageError{fmt.Errorf("--from and --to must be dates YYYY-MM-DD, --from not after --to")}
			}
			if source != "" && cfg.Source(source) == nil {
				return usageError{fmt.Errorf("--source: no source %q in %s", source, configFile)}
			}
			rec, err := jobs.Run(cmd.Context(), cfg, jobs.Options{Log: newLogger(e, false), Command: "backfill", Progress: newProgress(e),
				Warehouse: warehouse, Backfill: &jobs.BackfillRange{From: f, To: t, Source: source}, AllowShrink: allowShrink})
			if err != nil {
				return err
			}
			if len(rec.ChangedMonths) == 0 {
				fmt.Fprintln(e.stdout, "backfill done: no month changed")
			} else {
				fmt.Fprintf(e.stdout, "backfill done: %d months changed: %s\n", len(rec.ChangedMonths), strings.Join(rec.ChangedMonths, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "config file")
	cmd.Flags().StringVar(&from, "from", "", "first day of the range (YYYY-MM-DD): database cursors are rewound to it")
	cmd.Flags().BoolVar(&allowShrink, "allow-shrink", false, "accept a delivery with an empty file, or one that removes more of a replace source's records than max_shrink")
	cmd.Flags().StringVar(&to, "to", "", "last day of the range (YYYY-MM-DD)")
	cmd.Flags().StringVar(&source, "source", "", "rewind only this source")
	cmd.Flags().StringVar(&warehouse, "warehouse", "", "local warehouse directory, overriding the config's")
	return cmd
}

func scheduleCmd(e env) *cobra.Command {
	var configFile, warehouse string
	cmd := &cobra.Command{
		Use:   "schedule -c FILE",
		Short: "Run on the config's cron schedule until SIGTERM (a second signal cancels a running job)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configFile)
			if err != nil {
				return err
			}
			return jobs.Schedule(cmd.Context(), cfg, jobs.Options{Log: newLogger(e, false), Warehouse: warehouse}, e.stop)
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "config file (its schedule key says when)")
	cmd.Flags().StringVar(&warehouse, "warehouse", "", "local warehouse directory, overriding the config's")
	return cmd
}

func resetCmd(e env) *cobra.Command {
	var configFile, source, warehouse string
	cmd := &cobra.Command{
		Use:   "reset -c FILE --source S",
		Short: "Forget everything a source sent (the next run imports it anew)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configFile)
			if err != nil {
				return err
			}
			if source == "" {
				return usageError{fmt.Errorf("--source is required")}
			}
			if _, err := jobs.Reset(cmd.Context(), cfg, source, jobs.Options{Log: newLogger(e, false), Warehouse: warehouse}); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "source %s reset: the next run imports it anew\n", source)
			return nil
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "config file")
	cmd.Flags().StringVar(&source, "source", "", "the source to forget")
	cmd.Flags().StringVar(&warehouse, "warehouse", "", "local warehouse directory, overriding the config's")
	return cmd
}

func runsCmd(e env) *cobra.Command {
	var configFile, warehouse, format string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "runs [-c FILE] [--warehouse DIR] [--format table|json] [--accounts]",
		Short: "List the runs of a warehouse",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := readWarehouse(configFile, warehouse)
			if err != nil {
				return err
			}
			runs, err := jobs.Runs(w.Dir)
			if err != nil {
				return err
			}
			switch format {
			case "json":
				enc := json.NewEncoder(e.stdout)
				for _, r := range runs {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			case "table":
			default:
				return usageError{fmt.Errorf("--format %q: use table or json", format)}
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "run_id\tcommand\tas_of\tstarted\ttook\toutcome\tread\tinserted\tupdated\tunchanged\trejected\tsuperseded\tno_rate\tcomputed\terror")
			for _, r := range runs {
				t := r.Total()
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.RunID, r.Command, r.AsOf, r.Started.Format(time.RFC3339),
					time.Duration(r.DurationMS)*time.Millisecond, r.Outcome, t.Read, t.Inserted, t.Updated, t.Unchanged, t.Rejected, t.Superseded,
					r.Rejected-t.Rejected, computed(r.Incremental), tableCell(r.Error))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if verbose && len(runs) > 0 {
				return printAccounts(e.stdout, runs[len(runs)-1])
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "config file whose warehouse to read")
	cmd.Flags().StringVar(&warehouse, "warehouse", "", "local warehouse directory")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json (one object per line)")
	cmd.Flags().BoolVar(&verbose, "accounts", false, "also show the last run's accounts by source and entity, and the records it superseded")
	return cmd
}

// computed says how many customers a run computed: "all" or "N of M".
func computed(inc *jobs.IncrementalRecord) string {
	switch {
	case inc == nil:
		return "-"
	case inc.Full:
		return "all"
	}
	return fmt.Sprintf("%d of %d", inc.Recomputed, inc.Customers)
}

// printAccounts shows a run's accounts: by source and entity, what became
// of every record read, and the records superseded within a delivery.
func printAccounts(out io.Writer, r jobs.Record) error {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nrun %s: read = inserted + updated + unchanged + rejected + superseded\n", r.RunID)
	fmt.Fprintln(tw, "source\tentity\tread\tinserted\tupdated\tunchanged\trejected\tsuperseded")
	for _, s := range r.Sources {
		for _, e := range slices.Sorted(maps.Keys(s.Accounts)) {
			a := s.Accounts[e]
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", s.Name, e, a.Read, a.Inserted, a.Updated, a.Unchanged, a.Rejected, a.Superseded)
		}
	}
	for _, s := range r.Sources {
		for _, sup := range s.Superseded {
			fmt.Fprintf(tw, "superseded\t%s %s at %s\tby %s\n", sup.Entity, sup.ID, sup.Origin, sup.By)
		}
	}
	return tw.Flush()
}
