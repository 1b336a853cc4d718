package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // time zones work on machines without a zoneinfo database

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/jobs"
)

// Exit codes (DESIGN.md).
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitTooRejected = 3
)

// defaultMemoryLimit is the Go heap's soft limit when GOMEMLIMIT is not
// set: the collector works harder near it instead of letting the heap
// grow, which keeps a large run's peak within a budget (the engine's
// partitions bound what is live).
const defaultMemoryLimit = 8 << 30

// defaultGCPercent is GOGC when it is not set. A run is a batch job whose
// heap is mostly records it keeps: with the default of 100 the collector
// runs at every doubling of it and scans them all again (a quarter of a
// run's CPU at 1M lines). At 300 it runs a third as often; the memory
// limit still bounds the heap of a large run.
const defaultGCPercent = 300

// main cancels the work on SIGINT or SIGTERM. A long-running command
// (schedule) stops at the first signal and lets its running job finish; a
// second signal cancels the job too.
func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	stop := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		close(stop)
		<-sigs
		cancel()
	}()
	e := env{stdout: os.Stdout, stderr: os.Stderr, terminal: isTerminal(os.Stderr), stop: stop}
	err := runWith(ctx, os.Args[1:], e)
	os.Exit(exitCode(err))
}

// usageError marks bad usage (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, jobs.ErrTooManyRejected):
		fmt.Fprintln(os.Stderr, "mrrflow:", err)
		return exitTooRejected
	case errors.As(err, &ue), errors.Is(err, configs.ErrConfig):
		fmt.Fprintln(os.Stderr, "mrrflow:", err)
		return exitUsage
	case errors.Is(err, store.ErrLocked):
		fmt.Fprintln(os.Stderr, "mrrflow:", err)
		return exitFailed
	}
	fmt.Fprintln(os.Stderr, "mrrflow:", err)
	return exitFailed
}
