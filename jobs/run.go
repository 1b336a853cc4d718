package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/metrics"
	"github.com/mrrflow/mrrflow/schemas"
	"github.com/mrrflow/mrrflow/transform"
)

// Options are a run's parameters besides its config.
type Options struct {
	// AsOf overrides the config's as_of when not empty.
	AsOf string
	// Warehouse overrides the config's warehouse when not empty.
	Warehouse string
	Log       zerolog.Logger
	// Command names what started the run, for the lock and the record.
	Command string
	// Backfill, when set, re-reads a date range (see Backfill).
	Backfill *BackfillRange
	// Progress, when set, is told how far reading each source got (the
	// command line shows it on a terminal only).
	Progress Progress
	// PartitionLines is the most invoice lines the engine computes at
	// once (metrics.Options); 0 is the engine's default.
	PartitionLines int
	// AllowShrink lets a delivery hold an empty file, and a replace
	// source's delivery remove more of its records than max_shrink.
	AllowShrink bool
	// Full reads every file again: an upsert source otherwise leaves out
	// the files an earlier run read as they are now.
	Full bool
	// ImportBytes is the text of a source's files normalized in one
	// partition when a delivery is too large to hold (more than four of
	// them); 0 is 64 MiB, and a negative value holds every delivery in
	// memory.
	ImportBytes int64
	// Compute, when set, runs the engine instead of metrics.Compute: on
	// another engine (mrrflow-beam), with the same input and options.
	Compute func(ctx context.Context, mem memory.Allocator, in metrics.Input, opt metrics.Options) (*metrics.Result, error)
}

// ErrShrink is a delivery that would remove more of a source's stored
// records than max_shrink allows: the run stops before it replaces them.
var ErrShrink = errors.New("the delivery would remove more stored records than max_shrink allows")

// Run runs one full job, as its steps: lock the warehouse, extract and
// normalize every source, compute the marts, load them into the run's
// transaction, publish it with the run's record, then bring the sink up to
// date. Nothing a reader can see changes unless the whole run succeeds,
// and the caller's config is not changed.
func Run(ctx context.Context, cfg *configs.Config, opt Options) (*Record, error) {
	r, err := newRun(cfg, opt)
	if err != nil {
		return r.rec, err
	}
	if err := r.lock(ctx); err != nil {
		return r.rec, err
	}
	defer r.unlock()
	if err := r.steps(ctx); err != nil {
		r.failed(err)
		return r.rec, err
	}
	if err := r.sink(ctx); err != nil {
		// The local warehouse is published; the sink keeps its previous
		// state, and the next run loads what it lacks.
		r.failed(err)
		return r.rec, err
	}
	t := r.rec.Total()
	r.log.Info().Int("sources", len(r.rec.Sources)).Int("read", t.Read).Int("accepted", t.Accepted()).Int("rejected", r.rec.Rejected).
		Int("superseded", t.Superseded).Int("files_changed", r.filesChanged).Int64("took_ms", r.rec.DurationMS).
		Msgf("run finished: %d sources, %d records read: %d accepted (%d inserted, %d updated, %d unchanged), %d rejected, %d superseded; %d rows rejected in all; took %s",
			len(r.rec.Sources), t.Read, t.Accepted(), t.Inserted, t.Updated, t.Unchanged, t.Rejected, t.Superseded, r.rec.Rejected,
			time.Duration(r.rec.DurationMS)*time.Millisecond)
	if max := r.cfg.MaxRejectedRows; max != nil && r.rec.Rejected > *max {
		return r.rec, fmt.Errorf("%w: %d rejected, max_rejected_rows is %d (see rejected_rows)", ErrTooManyRejected, r.rec.Rejected, *max)
	}
	return r.rec, nil
}

// run is one run in progress: what it was given, and what its steps have
// made so far.
type run struct {
	cfg  configs.Config // the caller's, with the options' overrides
	opt  Options
	rec  *Record
	log  zerolog.Logger
	asOf time.Time

	w    *store.Warehouse
	lk   *store.Lock
	tx   *store.Tx
	srcs sources
	// rejected are the rows rejected so far, by every step.
	rejected     []schemas.Rejected
	res          *metrics.Result
	filesChanged int
	// ratesMissing says lines were left out for want of a rate.
	ratesMissing bool
	// restoreMemory sets Go's memory limit or GC percent back after a run
	// that bounded them (boundMemory, computeMemory).
	restoreMemory func()
}

// newRun checks the config with the options' overrides; the run's record
// exists from here on, so that even a refused run has one to return.
func newRun(cfg *configs.Config, opt Options) (*run, error) {
	if opt.Command == "" {
		opt.Command = "run"
	}
	started := time.Now()
	r := &run{cfg: *cfg, opt: opt, rec: &Record{RunID: NewRunID(started), Command: opt.Command, Started: started.UTC()}}
	r.log = opt.Log.With().Str("run_id", r.rec.RunID).Logger()
	if opt.AsOf != "" {
		r.cfg.AsOf = opt.AsOf
	}
	if opt.Warehouse != "" {
		r.cfg.Warehouse = opt.Warehouse
	}
	if err := r.cfg.Validate(); err != nil {
		return r, err
	}
	if err := extract.Validate(&r.cfg); err != nil {
		return r, err
	}
	asOf, err := r.cfg.AsOfDate(started)
	if err != nil {
		return r, err
	}
	r.asOf, r.rec.AsOf = asOf, asOf.Format(time.DateOnly)
	return r, nil
}

// lock opens the warehouse, takes its lock, clears what a dead run left
// staged and begins the run's transaction.
func (r *run) lock(_ context.Context) error {
	w, err := store.Open(r.cfg.Warehouse)
	if err != nil {
		return err
	}
	lk, stale, err := w.Lock(r.rec.RunID, r.opt.Command)
	if err != nil {
		return err
	}
	r.w, r.lk = w, lk
	if stale != nil {
		r.log.Warn().Str("stale_run_id", stale.RunID).Int("stale_pid", stale.PID).Str("stale_host", stale.Host).
			Msg("took over a lock left by a run that is gone")
	}
	if err := w.CleanStaging(); err != nil {
		return err
	}
	if r.tx, err = w.Begin(r.rec.RunID); err != nil {
		return err
	}
	r.log.Info().Str("as_of", r.rec.AsOf).Str("warehouse", w.Dir).Int("sources", len(r.cfg.Sources)).Msg("run started")
	return nil
}

// unlock drops what the run did not publish and releases the lock.
func (r *run) unlock() {
	if r.restoreMemory != nil {
		r.restoreMemory()
	}
	r.srcs.release()
	if r.res != nil {
		r.res.Release()
	}
	if r.tx != nil {
		r.tx.Abort()
	}
	if r.lk != nil {
		r.lk.Unlock()
	}
}

// steps are the run up to its publication.
func (r *run) steps(ctx context.Context) error {
	rates, err := loadRates(r.cfg.FXRates)
	if err != nil {
		return err
	}
	if err := r.extract(ctx); err != nil {
		return err
	}
	in, err := r.inputs(ctx, rates)
	if err != nil {
		return err
	}
	defer in.release()
	if err := r.compute(ctx, in, rates); err != nil {
		return err
	}
	if err := r.load(ctx); err != nil {
		return err
	}
	return r.publish(ctx)
}

// inputs hands the sources' states to the engine as batches, leaving out
// (as rejected rows) the lines in a currency without a rate.
func (r *run) inputs(ctx context.Context, rates []metrics.Rate) (*inputs, error) {
	present, err := storedCurrencies(ctx, r.w, r.srcs, rates, r.cfg.ReportingCurrency)
	if err != nil {
		return nil, err
	}
	noRate, err := withoutRate(r.rec.RunID, r.srcs.batches(), r.cfg.ReportingCurrency, rates, present)
	if err != nil {
		return nil, err
	}
	r.reject(noRate)
	r.ratesMissing = len(noRate) > 0
	if len(noRate) > 0 {
		r.log.Warn().Int("rejected", len(noRate)).Str("first", noRate[0].Origin+": "+noRate[0].Error).Msg("lines without an exchange rate")
	}
	in, err := newInputs(ctx, r.w, r.srcs)
	if err != nil {
		return nil, err
	}
	r.srcs.dropBatches()
	return in, nil
}

// compute runs the engine over the inputs.
func (r *run) compute(ctx context.Context, in *inputs, rates []metrics.Rate) error {
	before, err := monthlyRows(ctx, r.w)
	if err != nil {
		return err
	}
	own, err := sourcePolicies(&r.cfg)
	if err != nil {
		return err
	}
	partitionLines := r.opt.PartitionLines
	if r.opt.Compute == nil {
		r.computeMemory()
	}
	t0 := time.Now()
	opt := metrics.Options{
		AsOf: r.asOf, Location: r.cfg.Location(), ReportingCurrency: r.cfg.ReportingCurrency, Policies: r.cfg.Policies,
		SourcePolicies: own, Rates: rates, PartitionLines: r.opt.PartitionLines, SpillDir: r.w.Path(store.StagingDir),
	}
	var res *metrics.Result
	if r.opt.Compute != nil {
		// Another engine bounds its own memory, and keeps no incremental
		// state: the next run here computes everything.
		if r.restoreMemory != nil {
			r.restoreMemory()
			r.restoreMemory = nil
		}
		forgetIncremental(r.tx)
		if err := in.readCustomers(ctx); err != nil {
			return err
		}
		res, err = r.opt.Compute(ctx, memory.DefaultAllocator, in.input(), opt)
	} else {
		var p *metrics.Partial
		if p, err = r.computePartial(ctx, in, opt, partitionLines); err == nil {
			res = p.Finalize(memory.DefaultAllocator)
			p.Release()
		}
	}
	if err != nil {
		return fmt.Errorf("compute: %w", err)
	}
	r.res = res
	r.rec.Currency, r.rec.Partitions = res.Currency, res.Partitions
	r.rec.ChangedMonths = changedMonths(before, res.Monthly)
	ev := r.log.Info()
	if inc := r.rec.Incremental; inc != nil {
		ev = ev.Int("recomputed", inc.Recomputed).Bool("full", inc.Full).Str("why", inc.Why)
	}
	ev.Int64("movements", res.Rows(schemas.MRRMovements)).Int64("months", res.Monthly.NumRows()).
		Int64("customers", res.Rows(schemas.CustomerSnapshot)).Int("partitions", res.Partitions).Int64("took_ms", time.Since(t0).Milliseconds()).Msg("computed")
	return nil
}

// sourcePolicies are the policies of the sources whose own differ from
// the run's (their kind's vendor defaults, or their policies block).
func sourcePolicies(cfg *configs.Config) (map[string]configs.Policies, error) {
	own := map[string]configs.Policies{}
	for _, s := range cfg.Sources {
		p, err := extract.PoliciesOf(cfg, s)
		if err != nil {
			return nil, err
		}
		if p != cfg.Policies {
			own[s.Name] = p
		}
	}
	return own, nil
}

// load stages the marts and the rejected rows in the run's transaction,
// and waits for the normalized tables being staged.
func (r *run) load(_ context.Context) error {
	t0 := time.Now()
	written, err := load.Local(r.w, r.tx, r.res.Tables())
	if err != nil {
		return err
	}
	for _, wr := range written {
		r.rec.Tables = append(r.rec.Tables, TableRecord{Name: wr.Table, Rows: wr.Rows, FilesChanged: wr.Changed})
		r.filesChanged += wr.Files
	}
	if err := transform.StageRejected(r.tx, r.rec.RunID, r.rejected); err != nil {
		return err
	}
	r.log.Info().Int("tables", len(written)).Int("files_changed", r.filesChanged).Int64("took_ms", time.Since(t0).Milliseconds()).
		Msgf("loaded: %s", describeMonths(r.rec.ChangedMonths, r.opt.Backfill))
	return r.srcs.waitStaged(r.log)
}

// publish commits the run's transaction together with its record.
func (r *run) publish(_ context.Context) error {
	r.rec.Outcome = "succeeded"
	r.rec.finish(time.Now())
	return commitWithRecord(r.tx, r.rec)
}

// sink brings the configured sink up to date with the published
// warehouse; the local warehouse needs nothing more.
func (r *run) sink(ctx context.Context) error {
	if r.cfg.Sink.Kind != "bigquery" {
		return nil
	}
	t0 := time.Now()
	bq, err := load.NewBigQuery(ctx, r.cfg.Sink, r.w, r.log)
	if err != nil {
		return err
	}
	defer bq.Close()
	loaded, err := bq.Load(ctx, r.w, r.rec.RunID)
	r.rec.BigQuery, r.rec.BigQueryJobs = loaded, bq.Jobs.Loads+bq.Jobs.Queries
	if err != nil {
		return err
	}
	r.log.Info().Int("tables_changed", len(loaded)).Int("load_jobs", bq.Jobs.Loads).Int("queries", bq.Jobs.Queries).
		Int64("took_ms", time.Since(t0).Milliseconds()).Msg("BigQuery loaded")
	return writeRecord(r.w, r.rec)
}

// failed keeps the record of a failed run, when the warehouse was opened.
func (r *run) failed(err error) {
	r.rec.Outcome, r.rec.Error = "failed", err.Error()
	r.rec.finish(time.Now())
	if r.w == nil {
		return
	}
	if werr := writeRecord(r.w, r.rec); werr != nil {
		r.log.Error().Err(werr).Msg("could not keep the record of the failed run")
	}
}

// reject adds rows rejected by a step.
func (r *run) reject(rows []schemas.Rejected) {
	r.rejected = append(r.rejected, rows...)
	r.rec.Rejected += len(rows)
}
