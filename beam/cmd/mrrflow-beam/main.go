// Command mrrflow-beam runs a job as mrrflow run does, with the engine on
// Apache Beam: the customers in shards, one partial each, merged. It takes
// the same config and flags as mrrflow run, --shards N, and Beam's runner
// flags: Prism (in-process, the default) or Dataflow (--runner=dataflow
// --project --region --staging_location --worker_binary
// --data_location gs://BUCKET/PREFIX; --dry_run describes the job and runs
// nothing).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/beam/scaleout"
	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/jobs"
	"github.com/mrrflow/mrrflow/metrics"
)

func main() {
	var configFile string
	flag.StringVar(&configFile, "c", "", "config file (YAML)")
	flag.StringVar(&configFile, "config", "", "config file (YAML)")
	asOf := flag.String("as-of", "", "compute the state at the end of this day (YYYY-MM-DD), overriding as_of")
	warehouse := flag.String("warehouse", "", "local warehouse directory, overriding the config's")
	allowShrink := flag.Bool("allow-shrink", false, "accept a delivery with an empty file, or one that removes more of a replace source's records than max_shrink")
	full := flag.Bool("full", false, "read every file again")
	verbose := flag.Bool("v", false, "log debug lines too")
	importBytes := flag.Int64("import-bytes", 0, "text of a GrowPanel or ChartMogul delivery normalized at once when it holds more than four times as much: it is then normalized in partitions spilled to disk (default 64 MiB; -1 holds every delivery in memory)")
	partitionLines := flag.Int("partition-lines", 0, fmt.Sprintf("most invoice lines a shard computes at once; more are cut into partitions of customers spilled to disk (default %d)", metrics.DefaultPartitionLines))
	shards := flag.Int("shards", 8, "shards of customers computed apart")
	data := flag.String("data_location", "", "where the workers read the input and write the merged partial: gs://BUCKET/PREFIX for Dataflow; default a temporary local directory")
	flag.Parse()
	beam.Init()

	level := zerolog.InfoLevel
	if *verbose {
		level = zerolog.DebugLevel
	}
	log := zerolog.New(os.Stderr).Level(level).With().Timestamp().Logger()
	if configFile == "" {
		fmt.Fprintln(os.Stderr, "mrrflow-beam: -c FILE is required")
		os.Exit(2)
	}
	cfg, err := configs.Load(configFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mrrflow-beam:", err)
		os.Exit(2)
	}
	runner, dryRun := flagValue("runner"), flagValue("dry_run") == "true"
	if err := checkDataLocation(runner, dryRun, *data); err != nil {
		fmt.Fprintln(os.Stderr, "mrrflow-beam:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	execute := func(ctx context.Context, p *beam.Pipeline) error {
		var res beam.PipelineResult
		var err error
		if runner == "" || runner == "prism" {
			softLimit(log)
			res, err = prism.Execute(ctx, p)
		} else {
			res, err = beam.Run(ctx, runner, p)
		}
		if n := scaleout.ShuffledBytes(res); err == nil && n > 0 {
			log.Info().Int64("shuffled_bytes", n).Msg("pipeline finished")
		}
		return err
	}
	_, err = jobs.Run(ctx, cfg, jobs.Options{AsOf: *asOf, Warehouse: *warehouse, Log: log, Command: "mrrflow-beam",
		AllowShrink: *allowShrink, Full: *full, PartitionLines: *partitionLines, ImportBytes: *importBytes, Compute: scaleout.Runner{Shards: *shards, Data: *data, Execute: execute, DryRun: dryRun}.Compute})
	// Exit codes as mrrflow's: 1 a failed run, 2 bad usage or config, 3
	// finished with rejected rows over max_rejected_rows.
	switch {
	case err == nil:
	case errors.Is(err, scaleout.ErrDryRun):
		log.Info().Msg("dry run: the job was described; nothing was computed or published")
	case errors.Is(err, jobs.ErrTooManyRejected):
		fmt.Fprintln(os.Stderr, "mrrflow-beam:", err)
		os.Exit(3)
	case errors.Is(err, configs.ErrConfig):
		fmt.Fprintln(os.Stderr, "mrrflow-beam:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "mrrflow-beam:", err)
		os.Exit(1)
	}
}

// checkDataLocation refuses a runner whose workers run elsewhere with the
// data on this machine's disk, where they cannot read it.
func checkDataLocation(runner string, dryRun bool, data string) error {
	if runner == "" || runner == "prism" || dryRun || strings.HasPrefix(data, "gs://") {
		return nil
	}
	return fmt.Errorf("--runner=%s: its workers do not see this machine's disk; give --data_location gs://BUCKET/PREFIX", runner)
}

// flagValue is the value of a flag Beam's packages define, or "".
func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// softLimit gives the Go runtime a soft memory limit of half this
// machine's memory, unless GOMEMLIMIT sets one: Prism keeps the shuffled
// batches in this process, and without a limit the heap grows to twice
// what is live before it is collected (at 10M lines, past 21 GiB on a
// 24 GiB machine, against 13 GiB with a limit of 12 GiB).
func softLimit(log zerolog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		var kib int64
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kib); err == nil && kib > 0 {
			debug.SetMemoryLimit(kib << 10 / 2)
			log.Debug().Int64("bytes", kib<<10/2).Msg("soft memory limit for Prism: half of this machine's memory (GOMEMLIMIT overrides)")
			return
		}
	}
}
