package main

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// env is what the commands write to; tests replace it.
type env struct {
	stdout, stderr io.Writer
	// terminal reports whether stderr is a terminal (console logs).
	terminal bool
}

func run(ctx context.Context, args []string) error {
	return runWith(ctx, args, env{stdout: os.Stdout, stderr: os.Stderr, terminal: isTerminal(os.Stderr)})
}

func runWith(ctx context.Context, args []string, e env) error {
	root := &cobra.Command{
		Use:           "mrrflow",
		Short:         "Batch ETL for subscription revenue: billing exports to MRR, movements, cohorts",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(runCmd(e), showCmd(e), validateCmd(e))
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && cmd != nil && isArgsError(err) {
		return usageError{err}
	}
	return err
}

func isArgsError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "accepts ") || strings.HasPrefix(msg, "requires ")
}
