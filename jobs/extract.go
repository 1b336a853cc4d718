package jobs

import (
	"context"
	"fmt"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/retry"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
	"github.com/mrrflow/mrrflow/transform"
)

// extract reads and normalizes every source in turn, stages its tables
// (written while the run goes on) and its cursor, and keeps each source's
// normalized state for the engine.
func (r *run) extract(ctx context.Context) error {
	for _, src := range r.cfg.Sources {
		s, err := r.extractSource(ctx, src)
		if err != nil {
			return err
		}
		r.srcs = append(r.srcs, s)
	}
	return nil
}

// extractSource is the extract step of one source.
func (r *run) extractSource(ctx context.Context, src configs.Source) (*source, error) {
	mode := extract.Mode(src)
	// An empty file of a replace source would replace its state with
	// nothing; one of an upsert source changes nothing.
	src.AllowEmpty = r.opt.AllowShrink || mode == configs.ModeUpsert
	ex, err := extract.Open(src)
	if err != nil {
		return nil, err
	}
	files, err := r.filesToSkip(src, mode, ex)
	if err != nil {
		return nil, err
	}
	if files != nil && len(files.skip) > 0 {
		src.SkipFiles = files.skip
		if ex, err = extract.Open(src); err != nil {
			return nil, err
		}
		r.log.Info().Str("source", src.Name).Int("files_skipped", len(files.skip)).Int("files_read", len(files.now)-len(files.skip)).
			Msg("files an earlier run read, as they are now, left out (run --full reads them again)")
	}
	if rt, ok := ex.(extract.Retrier); ok {
		rt.OnRetry(func(step string, a retry.Attempt) {
			r.log.Warn().Err(a.Err).Str("source", src.Name).Str("step", step).Int("attempt", a.N).
				Int64("retry_in_ms", a.Wait.Milliseconds()).Msg("transient failure, trying again")
		})
	}
	inc, _ := ex.(extract.Incremental)
	var stored extract.Cursor
	if inc != nil && inc.CursorColumn() != "" {
		if stored, err = loadCursor(r.w, src.Name); err != nil {
			return nil, err
		}
		from := stored
		if bf := r.opt.Backfill; bf.covers(src.Name) {
			from = bf.rewind()
			r.log.Info().Str("source", src.Name).Str("from", bf.From.Format(time.DateOnly)).Msg("cursor rewound for the backfill")
		}
		inc.From(from)
	}
	var skip map[string]bool
	if files != nil {
		skip = files.skip
	}
	parts, err := importParts(src, ex, skip, r.opt.ImportBytes)
	if err != nil {
		return nil, err
	}
	var res *transform.Result
	if parts > 0 {
		r.boundMemory()
		r.log.Info().Str("source", src.Name).Int("partitions", parts).Int64("memory_limit", debug.SetMemoryLimit(-1)).
			Msg("a delivery too large to hold: normalized in partitions spilled to disk")
		res, err = transform.NormalizeInParts(ctx, r.rec.RunID, src, mode, r.counted(src.Name, ex), r.w, r.tx, transform.InParts{
			Parts: parts, Dir: r.w.Path(store.StagingDir + "/" + r.rec.RunID + "-parts"),
		})
	} else {
		prior := func() (*transform.Batch, error) { return transform.Load(ctx, r.w, src.Name) }
		res, err = transform.Normalize(ctx, r.rec.RunID, src, mode, r.counted(src.Name, ex), prior)
	}
	if p := r.opt.Progress; p != nil {
		p.Done() // (blocks are counted as they are done, after the read)
	}
	if err != nil {
		return nil, err
	}
	if err := r.checkShrink(src, mode, res.Tables); err != nil {
		return nil, err
	}
	if files != nil {
		if err := stageFiles(r.tx, r.rec.RunID, src.Name, files.now); err != nil {
			return nil, err
		}
	}
	if inc != nil && inc.CursorColumn() != "" {
		next := laterCursor(stored, inc.Cursor())
		if err := stageCursor(r.tx, r.rec.RunID, src.Name, inc.CursorColumn(), next); err != nil {
			return nil, err
		}
	}
	b := &res.Batch
	sr := SourceRecord{
		Name: src.Name, Kind: src.Kind, Mode: mode, Read: counts(res.Read), Accepted: counts(res.Accepted),
		Rejected: len(res.Rejected), TookMS: res.Took.Milliseconds(),
		Stored: map[string]int{"customers": len(b.Customers), "plans": len(b.Plans), "invoice_lines": len(b.Lines),
			"transactions": len(b.Transactions), "subscription_events": len(b.Events), "contacts": len(b.Contacts)},
		Accounts: map[string]transform.Account{}, Superseded: res.Superseded, Tables: res.Tables,
	}
	if files != nil {
		sr.FilesRead, sr.FilesSkipped = len(files.now)-len(files.skip), len(files.skip)
	}
	for e, a := range res.Accounts {
		sr.Accounts[string(e)] = a
	}
	if t := sr.Total(); t.Inserted+t.Updated == 0 && !removedAny(res.Tables) {
		sr.Unchanged = true
	}
	var s *source
	if res.Written {
		for name, t := range res.Tables {
			sr.Stored[name] = t.After
		}
		s = &source{batch: b, stored: true, tx: r.tx}
	} else if res.Unchanged {
		// Nothing new: the stored tables stand, and are not read here.
		sr.Unchanged = true
		if sr.Stored, err = storedRows(r.w, src.Name); err != nil {
			return nil, err
		}
		s = &source{batch: b, stored: true}
	} else {
		// The tables are written while the run goes on; the load waits
		// for them.
		s = &source{batch: b, staged: transform.Stage(r.tx, b)}
	}
	r.reject(res.Rejected)
	r.rec.Sources = append(r.rec.Sources, sr)
	r.logSource(sr, res)
	return s, nil
}

// importParts is the number of partitions a source's delivery is
// normalized in, in bounded memory (transform.NormalizeInParts): one per
// partBytes (Options.ImportBytes) of the files read, those in skip left
// out, when they hold more than importAtOnce of them; 0 normalizes it in
// memory. Only sources whose records merge partition by partition qualify
// (GrowPanel's and ChartMogul's).
func importParts(src configs.Source, ex extract.Extractor, skip map[string]bool, partBytes int64) (int, error) {
	fl, ok := ex.(extract.FileLister)
	if !ok || (src.Kind != "growpanel" && src.Kind != "chartmogul") || partBytes < 0 {
		return 0, nil
	}
	paths, err := fl.Files()
	if err != nil {
		return 0, fmt.Errorf("source %s: %w", src.Name, err)
	}
	var size int64
	for _, p := range paths {
		if skip[p] {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return 0, fmt.Errorf("source %s: %w", src.Name, err)
		}
		size += fi.Size()
	}
	if partBytes == 0 {
		partBytes = defaultImportBytes
	}
	if size <= importAtOnce*partBytes {
		return 0, nil
	}
	return int((size + partBytes - 1) / partBytes), nil
}

// boundMemory keeps a run that normalizes a delivery in partitions within
// importMemory while it normalizes: Go's soft memory limit is lowered to
// it (unless it is lower already); the collector then works harder
// instead of letting the heap grow, and what is live stays small, as the
// partitions bound it. computeMemory takes over for the compute.
func (r *run) boundMemory() {
	if r.restoreMemory != nil {
		return
	}
	limit := debug.SetMemoryLimit(-1)
	debug.SetMemoryLimit(min(limit, importMemory))
	r.restoreMemory = func() { debug.SetMemoryLimit(limit) }
}

// computeMemory bounds the compute of a run that normalized a delivery in
// partitions: the engine computes at most importPartitionLines lines at
// once, under the same memory limit, and the collector runs at every
// doubling of the heap (GOGC 100, unless lower). What the engine holds is
// one partition's lines and customers: its rows go to disk (SpillRows),
// and nothing is kept per customer across partitions.
func (r *run) computeMemory() {
	if r.restoreMemory == nil {
		return
	}
	gc := debug.SetGCPercent(-1)
	debug.SetGCPercent(min(gc, 100))
	restore := r.restoreMemory
	r.restoreMemory = func() {
		debug.SetGCPercent(gc)
		restore()
	}
	if r.opt.PartitionLines <= 0 || r.opt.PartitionLines > importPartitionLines {
		r.opt.PartitionLines = importPartitionLines
	}
}

const (
	importMemory         = 2560 << 20
	importPartitionLines = 4 << 20
)

// defaultImportBytes is the text of a partition of a large delivery
// (about half a million CSV lines); a delivery of up to importAtOnce
// partitions is normalized in memory.
const (
	defaultImportBytes = 64 << 20
	importAtOnce       = 4
)

// checkShrink stops a replace source's delivery that would remove more of
// a table's stored rows than max_shrink allows, unless the run allows it.
func (r *run) checkShrink(src configs.Source, mode string, tables map[string]transform.TableChange) error {
	if mode != configs.ModeReplace {
		return nil
	}
	source, limit := src.Name, r.cfg.MaxShrink
	if src.MaxShrink != nil {
		limit = *src.MaxShrink
	}
	for _, name := range slices.Sorted(maps.Keys(tables)) {
		t := tables[name]
		if t.Before == 0 || float64(t.Removed) <= float64(limit)*float64(t.Before) {
			continue
		}
		if r.opt.AllowShrink {
			r.log.Warn().Str("source", source).Str("table", name).Int("removed", t.Removed).Int("stored", t.Before).
				Msg("the delivery removes more than max_shrink of the stored rows; allowed by --allow-shrink")
			continue
		}
		return fmt.Errorf("source %s: %w: it would remove %d of the %d stored rows of %s (max_shrink is %g%%): a partial export? Nothing was replaced; if the source really shrank, run with --allow-shrink",
			source, ErrShrink, t.Removed, t.Before, name, 100*float64(limit))
	}
	return nil
}

// removedAny says whether a delivery removed stored rows.
func removedAny(tables map[string]transform.TableChange) bool {
	for _, t := range tables {
		if t.Removed > 0 {
			return true
		}
	}
	return false
}

// counted is the extractor that tells the progress how far the read got,
// when there is a progress to tell.
func (r *run) counted(name string, ex extract.Extractor) extract.Extractor {
	p := r.opt.Progress
	if p == nil {
		return ex
	}
	p.Source(name)
	if bx, ok := ex.(extract.BlockExtractor); ok {
		return countedBlocks{counted: counted{Extractor: ex, p: p}, bx: bx, mu: &sync.Mutex{}}
	}
	return counted{Extractor: ex, p: p}
}

// logSource logs a normalized source: counts, the first warnings, and the
// first rejection.
func (r *run) logSource(sr SourceRecord, res *transform.Result) {
	for i, w := range res.Warnings {
		if i == 5 {
			r.log.Warn().Str("source", sr.Name).Msgf("%d more warnings", len(res.Warnings)-5)
			break
		}
		r.log.Warn().Str("source", sr.Name).Msg(w)
	}
	ev := r.log.Info()
	if len(res.Rejected) > 0 {
		ev = r.log.Warn().Str("first_rejection", res.Rejected[0].Origin+": "+res.Rejected[0].Error)
	}
	t := sr.Total()
	ev.Str("source", sr.Name).Str("kind", sr.Kind).Str("mode", sr.Mode).Interface("accounts", sr.Accounts).
		Int("read", t.Read).Int("inserted", t.Inserted).Int("updated", t.Updated).Int("unchanged_records", t.Unchanged).
		Int("rejected", t.Rejected).Int("superseded", t.Superseded).Int("invoice_lines", sr.Stored["invoice_lines"]).
		Bool("unchanged", sr.Unchanged).Int64("took_ms", res.Took.Milliseconds()).Msg("source normalized")
	for i, s := range sr.Superseded {
		if i == 5 {
			r.log.Warn().Str("source", sr.Name).Msgf("%d more records superseded (see the run record)", t.Superseded-5)
			break
		}
		r.log.Warn().Str("source", sr.Name).Str("entity", string(s.Entity)).Str("record_id", s.ID).Str("origin", s.Origin).
			Str("superseded_by", s.By).Msg("a record was sent twice in one delivery: the later one wins")
	}
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
