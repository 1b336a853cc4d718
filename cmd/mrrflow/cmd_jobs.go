package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/jobs"
)

// loadConfig reads the -c config; a missing flag is bad usage.
func loadConfig(file string) (*configs.Config, error) {
	if file == "" {
		return nil, usageError{fmt.Errorf("-c FILE is required")}
	}
	return configs.Load(file)
}

func backfillCmd(e env) *cobra.Command {
	var configFile, from, to, source, warehouse string
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
				Warehouse: warehouse, Backfill: &jobs.BackfillRange{From: f, To: t, Source: source}})
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
	cmd := &cobra.Command{
		Use:   "runs [-c FILE] [--warehouse DIR] [--format table|json]",
		Short: "List the runs of a warehouse",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if warehouse == "" {
				if configFile == "" {
					warehouse = demoWarehouse
				} else {
					cfg, err := configs.Load(configFile)
					if err != nil {
						return err
					}
					warehouse = cfg.Warehouse
				}
			}
			runs, err := jobs.Runs(warehouse)
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
			fmt.Fprintln(tw, "run_id\tcommand\tas_of\tstarted\ttook\toutcome\trejected\terror")
			for _, r := range runs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.RunID, r.Command, r.AsOf, r.Started.Format(time.RFC3339),
					time.Duration(r.DurationMS)*time.Millisecond, r.Outcome, r.Rejected, r.Error)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "config file whose warehouse to read")
	cmd.Flags().StringVar(&warehouse, "warehouse", "", "local warehouse directory")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json (one object per line)")
	return cmd
}
