package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/report"
)

var monthFlag = regexp.MustCompile(`^\d{4}-(0[1-9]|1[0-2])$`)

func reportCmd(e env) *cobra.Command {
	var configFile, warehouse, out, from, to, currencyFormat string
	cmd := &cobra.Command{
		Use:   "report [-c FILE | --warehouse DIR] [--out FILE.html] [--from YYYY-MM --to YYYY-MM] [--currency-format symbol|code]",
		Short: "Write the revenue report: one HTML file with charts, from the published tables, that opens with no network",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, f := range []struct{ name, v string }{{"--from", from}, {"--to", to}} {
				if f.v != "" && !monthFlag.MatchString(f.v) {
					return usageError{fmt.Errorf("%s %q: a month YYYY-MM", f.name, f.v)}
				}
			}
			if currencyFormat != "symbol" && currencyFormat != "code" {
				return usageError{fmt.Errorf("--currency-format %q: use symbol ($1,234.56) or code (USD 1,234.56)", currencyFormat)}
			}
			w, err := readWarehouse(configFile, warehouse)
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join(w.Dir, "report.html")
			}
			opt := report.Options{From: from, To: to, CurrencyDisplay: currencyFormat}
			if err := writeReport(cmd.Context(), w, opt, out); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "config file whose warehouse to read")
	cmd.Flags().StringVar(&warehouse, "warehouse", "", "local warehouse directory (default: the config's, or the demo's)")
	cmd.Flags().StringVar(&out, "out", "", "the HTML file to write (default: report.html in the warehouse)")
	cmd.Flags().StringVar(&from, "from", "", "first month shown, YYYY-MM (default: the first)")
	cmd.Flags().StringVar(&to, "to", "", "last month shown, YYYY-MM (default: the last)")
	cmd.Flags().StringVar(&currencyFormat, "currency-format", "symbol", "money as symbol ($1,234.56) or code (USD 1,234.56)")
	return cmd
}

// writeReport writes the report of a warehouse to out, atomically.
func writeReport(ctx context.Context, w *store.Warehouse, opt report.Options, out string) error {
	html, _, err := report.Build(ctx, w, opt)
	if err != nil {
		return err
	}
	if err := store.WriteAtomic(out, html); err != nil {
		return err
	}
	return os.Chmod(out, 0o644) // a page to open and share, not a secret
}
