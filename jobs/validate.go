package jobs

import (
	"context"
	"os"
	"path/filepath"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
	"github.com/mrrflow/mrrflow/transform"
)

// Report is what validating a config found.
type Report struct {
	Sources []SourceReport
}

// SourceReport is one source's read, with its rejections.
type SourceReport struct {
	Name, Kind string
	Read       map[string]int
	Rejected   int
	Rejections []schemas.Rejected
	// Partitions is the number of partitions a delivery too large to hold
	// was read in (0: in memory).
	Partitions int
}

// maxListed bounds the rejections a report lists per source.
const maxListed = 20

// Validate checks a config and reads every source through validation,
// writing nothing: a delivery too large to hold (importBytes as
// Options.ImportBytes) is normalized in partitions, as a run would, into a
// scratch warehouse removed after.
func Validate(ctx context.Context, cfg *configs.Config, importBytes int64) (*Report, error) {
	if err := extract.Validate(cfg); err != nil {
		return nil, err
	}
	rep := &Report{}
	for _, src := range cfg.Sources {
		ex, err := extract.Open(src)
		if err != nil {
			return nil, err
		}
		parts, err := importParts(src, ex, nil, importBytes)
		if err != nil {
			return nil, err
		}
		res, err := validateSource(ctx, src, ex, parts)
		if err != nil {
			return nil, err
		}
		sr := SourceReport{Name: src.Name, Kind: src.Kind, Read: counts(res.Read), Rejected: len(res.Rejected)}
		if res.Written {
			sr.Partitions = parts
		}
		sr.Rejections = res.Rejected[:min(len(res.Rejected), maxListed)]
		rep.Sources = append(rep.Sources, sr)
	}
	return rep, nil
}

// validateSource normalizes one source against an empty state, in parts
// partitions (0: in memory).
func validateSource(ctx context.Context, src configs.Source, ex extract.Extractor, parts int) (*transform.Result, error) {
	if parts == 0 {
		return transform.Normalize(ctx, "validate", src, extract.Mode(src), ex, nil)
	}
	scratch, err := os.MkdirTemp("", "mrrflow-validate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	w, err := store.Open(scratch)
	if err != nil {
		return nil, err
	}
	tx, err := w.Begin("validate")
	if err != nil {
		return nil, err
	}
	defer tx.Abort()
	return transform.NormalizeInParts(ctx, "validate", src, extract.Mode(src), ex, w, tx,
		transform.InParts{Parts: parts, Dir: filepath.Join(scratch, "parts")})
}
