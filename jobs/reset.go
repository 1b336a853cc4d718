package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/transform"
)

// Reset forgets everything a source sent (its normalized tables and its
// cursor), keeping its configuration, as seed 001's "Reset" does: the next
// run imports it anew. The marts are recomputed by that next run.
func Reset(ctx context.Context, cfg *configs.Config, source string, opt Options) (*Record, error) {
	if cfg.Source(source) == nil {
		return nil, fmt.Errorf("%w: no source %q in %s", configs.ErrConfig, source, cfg.File)
	}
	warehouse := cfg.Warehouse
	if opt.Warehouse != "" {
		warehouse = opt.Warehouse
	}
	now := time.Now()
	rec := &Record{RunID: NewRunID(now), Command: "reset " + source, Started: now.UTC()}
	w, err := store.OpenExisting(warehouse)
	if err != nil {
		return rec, err
	}
	lock, stale, err := w.Lock(rec.RunID, rec.Command)
	if err != nil {
		return rec, err
	}
	defer lock.Unlock()
	if stale != nil {
		opt.Log.Warn().Str("stale_run_id", stale.RunID).Msg("took over a lock left by a run that is gone")
	}
	tx, err := w.Begin(rec.RunID)
	if err != nil {
		return rec, err
	}
	defer tx.Abort()
	transform.Forget(tx, source)
	tx.Remove(cursorPath(source))
	tx.Remove(filesPath(source))
	forgetIncremental(tx)
	rec.Outcome = "succeeded"
	rec.finish(time.Now())
	if err := commitWithRecord(tx, rec); err != nil {
		return rec, err
	}
	opt.Log.Info().Str("source", source).Msg("source reset: its records are forgotten; the next run imports it anew")
	return rec, nil
}
