package jobs

import (
	"context"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
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
}

// maxListed bounds the rejections a report lists per source.
const maxListed = 20

// Validate checks a config and reads every source through validation,
// writing nothing.
func Validate(ctx context.Context, cfg *configs.Config) (*Report, error) {
	if err := extract.Validate(cfg); err != nil {
		return nil, err
	}
	rep := &Report{}
	for _, src := range cfg.Sources {
		ex, err := extract.Open(src)
		if err != nil {
			return nil, err
		}
		res, err := transform.Normalize(ctx, "validate", src, extract.Mode(src), ex, nil)
		if err != nil {
			return nil, err
		}
		sr := SourceReport{Name: src.Name, Kind: src.Kind, Read: counts(res.Read), Rejected: len(res.Rejected)}
		sr.Rejections = res.Rejected[:min(len(res.Rejected), maxListed)]
		rep.Sources = append(rep.Sources, sr)
	}
	return rep, nil
}
