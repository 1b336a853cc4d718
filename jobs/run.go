package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Command names what started the run, for the lock and the record.
	Command string
	// Backfill, when set, re-reads a date range (see Backfill).
	Backfill *BackfillRange
	// OnBigQuery, when set, is handed the BigQuery sink before it loads
	// (tests use it to inject failures and count jobs).
	OnBigQuery func(*load.BigQuery)
	// Progress, when set, is told how far reading each source got (the
	// command line shows it on a terminal only).
	Progress Progress
	// PartitionLines is the most invoice lines the engine computes at
	// once (metrics.Options); 0 is the engine's default.
	PartitionLines int
}

// ErrTooManyRejected is a run that finished but rejected more rows than
// max_rejected_rows allows.
var ErrTooManyRejected = errors.New("rejected rows over the configured threshold")

// Record is what a run did; it is kept under _state/runs/.
type Record struct {
	RunID      string         `json:"run_id"`
	Command    string         `json:"command"`
	AsOf       string         `json:"as_of"`
	Started    time.Time      `json:"started"`
	Finished   time.Time      `json:"finished"`
	DurationMS int64          `json:"duration_ms"`
	Outcome    string         `json:"outcome"` // succeeded, failed
	Error      string         `json:"error,omitempty"`
	Sources    []SourceRecord `json:"sources"`
	Tables     []TableRecord  `json:"tables"`
	Rejected   int            `json:"rejected"`
	Currency   string         `json:"reporting_currency,omitempty"`
	// Partitions is the number of partitions the engine computed in.
	Partitions int `json:"partitions,omitempty"`
	// ChangedMonths lists the months whose mrr_monthly row this run changed.
	ChangedMonths []string `json:"changed_months,omitempty"`
	// BigQuery lists what the BigQuery sink replaced, when there is one.
	BigQuery     []load.Loaded `json:"bigquery,omitempty"`
	BigQueryJobs int           `json:"bigquery_jobs,omitempty"`
}

// SourceRecord is what a run read from one source.
type SourceRecord struct {
	Name     string         `json:"name"`
	Kind     string         `json:"kind"`
	Mode     string         `json:"mode"`
	Read     map[string]int `json:"read"`
	Accepted map[string]int `json:"accepted"`
	Rejected int            `json:"rejected"`
	Stored   map[string]int `json:"stored"`
	// Unchanged is a source that read nothing new: its stored tables were
	// kept and streamed into the engine, not loaded.
	Unchanged bool  `json:"unchanged,omitempty"`
	TookMS    int64 `json:"took_ms"`
}

// TableRecord is what a run wrote of one table.
type TableRecord struct {
	Name         string   `json:"name"`
	Rows         int64    `json:"rows"`
	FilesChanged []string `json:"files_changed,omitempty"`
}

// RunsDir is where run records are kept.
const RunsDir = store.StateDir + "/runs"

// NewRunID makes a run id that sorts by time.
func NewRunID(now time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Run runs one full job: extract, normalize, compute, load. Nothing a
// reader can see changes unless the whole run succeeds.
func Run(ctx context.Context, cfg *configs.Config, opt Options) (rec *Record, err error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Command == "" {
		opt.Command = "run"
	}
	started := opt.Now()
	rec = &Record{RunID: NewRunID(started), Command: opt.Command, Started: started.UTC()}
	log := opt.Log.With().Str("run_id", rec.RunID).Logger()

	if opt.AsOf != "" {
		cfg.AsOf = opt.AsOf
	}
	if opt.Warehouse != "" {
		cfg.Warehouse = opt.Warehouse
	}
	if err := cfg.Validate(); err != nil {
		return rec, err
	}
	if err := extract.Validate(cfg); err != nil {
		return rec, err
	}
	asOf, err := cfg.AsOfDate(started)
	if err != nil {
		return rec, err
	}
	rec.AsOf = asOf.Format(time.DateOnly)

	w, err := store.Open(cfg.Warehouse)
	if err != nil {
		return rec, err
	}
	lock, stale, err := w.Lock(rec.RunID, opt.Command)
	if err != nil {
		return rec, err
	}
	defer lock.Unlock()
	if stale != nil {
		log.Warn().Str("stale_run_id", stale.RunID).Int("stale_pid", stale.PID).Str("stale_host", stale.Host).
			Msg("took over a lock left by a run that is gone")
	}
	if err := w.CleanStaging(); err != nil {
		return rec, err
	}
	tx, err := w.Begin(rec.RunID)
	if err != nil {
		return rec, err
	}
	defer func() {
		tx.Abort()
		if err != nil && !errors.Is(err, ErrTooManyRejected) {
			rec.Outcome, rec.Error = "failed", err.Error()
			rec.finish(opt.Now())
			if werr := writeRecord(w, rec); werr != nil {
				log.Error().Err(werr).Msg("could not keep the record of the failed run")
			}
		}
	}()
	log.Info().Str("as_of", rec.AsOf).Str("warehouse", w.Dir).Int("sources", len(cfg.Sources)).Msg("run started")

	rates, err := loadRates(cfg.FXRates)
	if err != nil {
		return rec, err
	}
	srcs, rejected, err := extractAll(ctx, cfg, w, tx, rec, opt, log)
	if err != nil {
		return rec, err
	}
	defer srcs.release()
	present, err := storedCurrencies(ctx, w, srcs, rates, cfg.ReportingCurrency)
	if err != nil {
		return rec, err
	}
	noRate, err := withoutRate(rec.RunID, srcs.batches(), cfg.ReportingCurrency, rates, present)
	if err != nil {
		return rec, err
	}
	rejected = append(rejected, noRate...)
	rec.Rejected += len(noRate)
	if len(noRate) > 0 {
		log.Warn().Int("rejected", len(noRate)).Str("first", noRate[0].Origin+": "+noRate[0].Error).Msg("lines without an exchange rate")
	}
	in, err := newInputs(ctx, w, srcs)
	if err != nil {
		return rec, err
	}
	defer in.release()
	srcs.dropBatches()
	before, err := monthlyRows(ctx, w)
	if err != nil {
		return rec, err
	}

	t0 := time.Now()
	res, err := metrics.Compute(ctx, memory.DefaultAllocator, in.input(), metrics.Options{
		AsOf: asOf, Location: cfg.Location(), ReportingCurrency: cfg.ReportingCurrency, Policies: cfg.Policies, Rates: rates,
		PartitionLines: opt.PartitionLines, SpillDir: w.Path(store.StagingDir),
	})
	if err != nil {
		return rec, fmt.Errorf("compute: %w", err)
	}
	defer res.Release()
	rec.Currency, rec.Partitions = res.Currency, res.Partitions
	rec.ChangedMonths = changedMonths(before, res.Monthly)
	log.Info().Int64("movements", res.Movements.NumRows()).Int64("months", res.Monthly.NumRows()).
		Int64("customers", res.Snapshot.NumRows()).Int("partitions", res.Partitions).Int64("took_ms", time.Since(t0).Milliseconds()).Msg("computed")

	t0 = time.Now()
	written, err := load.Local(w, tx, res)
	if err != nil {
		return rec, err
	}
	changed := 0
	for _, wr := range written {
		rec.Tables = append(rec.Tables, TableRecord{Name: wr.Table, Rows: wr.Rows, FilesChanged: wr.Changed})
		changed += wr.Files
	}
	if err := transform.StageRejected(tx, rec.RunID, rejected); err != nil {
		return rec, err
	}
	log.Info().Int("tables", len(written)).Int("files_changed", changed).Int64("took_ms", time.Since(t0).Milliseconds()).
		Msgf("loaded: %s", describeMonths(rec.ChangedMonths, opt.Backfill))
	if err := srcs.waitStaged(log); err != nil {
		return rec, err
	}

	rec.Outcome = "succeeded"
	rec.finish(opt.Now())
	if err := commitWithRecord(tx, rec); err != nil {
		return rec, err
	}
	if cfg.Sink.Kind == "bigquery" {
		if err := loadBigQuery(ctx, cfg, w, rec, opt, log); err != nil {
			// The local warehouse is published; BigQuery keeps its previous
			// state, and the next run loads what it lacks.
			rec.Outcome, rec.Error = "failed", err.Error()
			rec.finish(opt.Now())
			if werr := writeRecord(w, rec); werr != nil {
				log.Error().Err(werr).Msg("could not keep the record of the run")
			}
			return rec, err
		}
		if werr := writeRecord(w, rec); werr != nil {
			return rec, werr
		}
	}
	log.Info().Int("sources", len(rec.Sources)).Int("rejected", rec.Rejected).Int("files_changed", changed).
		Int64("took_ms", rec.DurationMS).Msgf("run finished: %d sources, %d rows read, %d rejected, took %s",
		len(rec.Sources), rec.rowsRead(), rec.Rejected, time.Duration(rec.DurationMS)*time.Millisecond)
	if cfg.MaxRejectedRows != nil && rec.Rejected > *cfg.MaxRejectedRows {
		return rec, fmt.Errorf("%w: %d rejected, max_rejected_rows is %d (see rejected_rows)", ErrTooManyRejected, rec.Rejected, *cfg.MaxRejectedRows)
	}
	return rec, nil
}

func (r *Record) finish(now time.Time) {
	r.Finished = now.UTC()
	r.DurationMS = r.Finished.Sub(r.Started).Milliseconds()
}

func (r *Record) rowsRead() int {
	n := 0
	for _, s := range r.Sources {
		for _, c := range s.Read {
			n += c
		}
	}
	return n
}

func writeRecord(w *store.Warehouse, rec *Record) error {
	data, _ := json.MarshalIndent(rec, "", "  ")
	return store.WriteAtomic(w.Path(RunsDir+"/"+rec.RunID+".json"), data)
}

// extractAll reads and normalizes every source, stages its tables, and
// returns each source's normalized state and the rejected rows.
func extractAll(ctx context.Context, cfg *configs.Config, w *store.Warehouse, tx *store.Tx, rec *Record, opt Options, log zerolog.Logger) (_ sources, _ []schemas.Rejected, err error) {
	bf := opt.Backfill
	var out sources
	defer func() {
		if err != nil {
			out.release() // the tables being staged are written before the run aborts
		}
	}()
	var rejected []schemas.Rejected
	for _, src := range cfg.Sources {
		mode := extract.Mode(src)
		ex, err := extract.Open(src)
		if err != nil {
			return nil, nil, err
		}
		prior := func() (*transform.Batch, error) { return transform.Load(ctx, w, src.Name) }
		inc, incremental := ex.(extract.Incremental)
		var stored extract.Cursor
		cursorCol := ""
		if incremental {
			cursorCol = inc.CursorColumn()
		}
		if cursorCol != "" {
			if stored, err = loadCursor(w, src.Name); err != nil {
				return nil, nil, err
			}
			from := stored
			if bf.covers(src.Name) {
				from = bf.rewind()
				log.Info().Str("source", src.Name).Str("from", bf.From.Format(time.DateOnly)).Msg("cursor rewound for the backfill")
			}
			inc.From(from)
		}
		var read extract.Extractor = ex
		if opt.Progress != nil {
			opt.Progress.Source(src.Name)
			read = counted{Extractor: ex, p: opt.Progress}
			if bx, ok := ex.(extract.BlockExtractor); ok {
				read = countedBlocks{counted: counted{Extractor: ex, p: opt.Progress}, bx: bx, mu: &sync.Mutex{}}
			}
		}
		res, err := transform.Normalize(ctx, rec.RunID, src, mode, read, prior)
		if opt.Progress != nil {
			opt.Progress.Done() // (blocks are counted as they are done, after the read)
		}
		if err != nil {
			return nil, nil, err
		}
		if cursorCol != "" {
			next := laterCursor(stored, inc.Cursor())
			if err := stageCursor(tx, rec.RunID, src.Name, cursorCol, next); err != nil {
				return nil, nil, err
			}
		}
		b := &res.Batch
		sr := SourceRecord{
			Name: src.Name, Kind: src.Kind, Mode: mode, Read: counts(res.Read), Accepted: counts(res.Accepted),
			Rejected: len(res.Rejected), TookMS: res.Took.Milliseconds(),
			Stored: map[string]int{"customers": len(b.Customers), "plans": len(b.Plans), "invoice_lines": len(b.Lines),
				"transactions": len(b.Transactions), "subscription_events": len(b.Events), "contacts": len(b.Contacts)},
		}
		if res.Unchanged {
			// Nothing new: the stored tables stand, and are not read here.
			sr.Unchanged = true
			if sr.Stored, err = storedRows(w, src.Name); err != nil {
				return nil, nil, err
			}
			out = append(out, &source{batch: b, stored: true})
		} else {
			// The tables are written while the run goes on; the load
			// waits for them.
			out = append(out, &source{batch: b, staged: transform.Stage(tx, b)})
		}
		rejected = append(rejected, res.Rejected...)
		rec.Sources = append(rec.Sources, sr)
		rec.Rejected += len(res.Rejected)
		for i, w := range res.Warnings {
			if i == 5 {
				log.Warn().Str("source", src.Name).Msgf("%d more warnings", len(res.Warnings)-5)
				break
			}
			log.Warn().Str("source", src.Name).Msg(w)
		}
		ev := log.Info()
		if len(res.Rejected) > 0 {
			ev = log.Warn().Str("first_rejection", res.Rejected[0].Origin+": "+res.Rejected[0].Error)
		}
		ev.Str("source", src.Name).Str("kind", src.Kind).Str("mode", mode).Interface("read", sr.Read).
			Int("rejected", sr.Rejected).Int("invoice_lines", sr.Stored["invoice_lines"]).Bool("unchanged", sr.Unchanged).Int64("took_ms", res.Took.Milliseconds()).Msg("source normalized")
	}
	return out, rejected, nil
}

// storedRows counts the rows of a source's stored tables.
func storedRows(w *store.Warehouse, source string) (map[string]int, error) {
	out := map[string]int{}
	for _, t := range schemas.Normalized {
		out[t.Name] = 0
		for _, path := range transform.TableFiles(w, t, source) {
			n, err := schemas.ParquetRows(path)
			if err != nil {
				return nil, err
			}
			out[t.Name] += int(n)
		}
	}
	return out, nil
}

func counts(m map[schemas.Entity]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[string(k)] = v
	}
	return out
}

// loadBigQuery brings the BigQuery dataset up to date with the published
// local warehouse.
func loadBigQuery(ctx context.Context, cfg *configs.Config, w *store.Warehouse, rec *Record, opt Options, log zerolog.Logger) error {
	t0 := time.Now()
	bq, err := load.NewBigQuery(ctx, cfg.Sink, w, log)
	if err != nil {
		return err
	}
	defer bq.Close()
	if opt.OnBigQuery != nil {
		opt.OnBigQuery(bq)
	}
	loaded, err := bq.Load(ctx, w, rec.RunID)
	rec.BigQuery, rec.BigQueryJobs = loaded, bq.Jobs.Loads+bq.Jobs.Queries
	if err != nil {
		return err
	}
	log.Info().Int("tables_changed", len(loaded)).Int("load_jobs", bq.Jobs.Loads).Int("queries", bq.Jobs.Queries).
		Int64("took_ms", time.Since(t0).Milliseconds()).Msg("BigQuery loaded")
	return nil
}
