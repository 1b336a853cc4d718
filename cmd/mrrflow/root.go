package main

import (
	"context"
	"io"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"
)

// env is what the commands write to; tests replace it.
type env struct {
	stdout, stderr io.Writer
	// terminal reports whether stderr is a terminal (console logs).
	terminal bool
	// stop is closed at the first signal; the command's context is
	// cancelled at the second (or, for the commands that do not wait for
	// stop, the first). Nil means the context's end.
	stop <-chan struct{}
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
	var cpuProfile string
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file (go tool pprof)")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		return pprof.StartCPUProfile(f)
	}
	defer func() {
		if cpuProfile != "" {
			pprof.StopCPUProfile()
		}
	}()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(runCmd(e), showCmd(e), validateCmd(e), backfillCmd(e), scheduleCmd(e), resetCmd(e), runsCmd(e), generateCmd(e), explainCmd(e), reportCmd(e))
	root.SetArgs(args)
	if e.stop == nil {
		e.stop = ctx.Done()
	}
	// Every command but schedule stops at the first signal.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if len(args) == 0 || args[0] != "schedule" {
		go func() {
			select {
			case <-e.stop:
				cancel()
			case <-runCtx.Done():
			}
		}()
	}
	cmd, err := root.ExecuteContextC(runCtx)
	if err != nil && cmd != nil && isArgsError(err) {
		return usageError{err}
	}
	return err
}

func isArgsError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "accepts ") || strings.HasPrefix(msg, "requires ")
}
