package extract

import (
	"context"
	"sort"
	"strings"

	"github.com/mrrflow/mrrflow/configs"
)

// Extractor reads one source.
type Extractor interface {
	// Extract streams every record of the source to fn: plans, then
	// customers, then invoices. A record is valid only during its call. An
	// error from fn stops the read and is returned as is.
	Extract(ctx context.Context, fn func(*Record) error) error
}

// BlockExtractor is an extractor whose records can be parsed on several
// goroutines at once.
type BlockExtractor interface {
	Extractor
	// ExtractBlocks cuts the source into blocks of whole records and hands
	// them to fn as they are cut, in the order Extract gives the records.
	ExtractBlocks(ctx context.Context, fn func(Block) error) error
}

// FileLister is an extractor that reads files.
type FileLister interface {
	// Files lists the files the source's patterns name now, sorted; a
	// run leaves out those in the source's SkipFiles.
	Files() ([]string, error)
}

// Block is a run of records of a source.
type Block interface {
	// Each parses the block's records and hands each to fn, in order. It
	// may run on any goroutine, several blocks' at once; a record is valid
	// only during its call. An error from fn stops it and is returned.
	Each(fn func(*Record) error) error
}

// Kind is one source kind: its name, its default mode, and how to open a
// source of it.
type Kind struct {
	Name string
	// DefaultMode is the mode of a source that does not set one.
	DefaultMode string
	// Policies, when set, puts the vendor's own policy defaults in place
	// of the run's defaults (the keys a config sets still win).
	Policies func(*configs.Policies)
	// Open decodes and checks the source's keys into the kind's config
	// type and makes its extractor. It reads nothing: Validate calls it.
	Open func(src configs.Source) (Extractor, error)
}

// kindConfig is a kind's config type: the keys of its sources' blocks as
// yaml-tagged fields, and its own checks.
type kindConfig interface {
	Validate(src configs.Source) error
}

// opener makes a Kind's Open from the kind's constructor: the block is
// decoded into a new C (unknown keys refused, ${VAR} expanded, paths
// resolved) and checked by its Validate before newFn sees it.
func opener[C any, P interface {
	*C
	kindConfig
}](newFn func(configs.Source, *C) (Extractor, error)) func(configs.Source) (Extractor, error) {
	return func(src configs.Source) (Extractor, error) {
		c := P(new(C))
		if err := src.Decode(c); err != nil {
			return nil, err
		}
		if err := c.Validate(src); err != nil {
			return nil, err
		}
		return newFn(src, c)
	}
}

// Kinds lists every source kind. Adding a kind is adding its file and one
// line here.
func Kinds() []Kind {
	return []Kind{
		growpanelKind,
		chartmogulKind,
		subscriptionsKind,
		postgresKind,
		mysqlKind,
		stripeKind,
	}
}

// Lookup returns the kind of that name.
func Lookup(name string) (Kind, bool) {
	for _, k := range Kinds() {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// Validate checks every source of a config against its kind.
func Validate(c *configs.Config) error {
	for _, s := range c.Sources {
		if _, err := Open(s); err != nil {
			return err
		}
	}
	return nil
}

// Mode returns the source's mode, or its kind's default.
func Mode(s configs.Source) string {
	if s.Mode != "" {
		return s.Mode
	}
	if k, ok := Lookup(s.Kind); ok && k.DefaultMode != "" {
		return k.DefaultMode
	}
	return configs.ModeUpsert
}

// PoliciesOf returns the policies of a source: the run's defaults, its
// kind's vendor defaults, the config's top-level keys, its own block.
func PoliciesOf(c *configs.Config, s configs.Source) (configs.Policies, error) {
	k, _ := Lookup(s.Kind)
	return c.PoliciesOf(s, k.Policies)
}

// Open makes the extractor of a source; an unknown kind or a bad key is
// an error naming the source's field.
func Open(s configs.Source) (Extractor, error) {
	k, ok := Lookup(s.Kind)
	if !ok {
		names := make([]string, 0, len(Kinds()))
		for _, k := range Kinds() {
			names = append(names, k.Name)
		}
		sort.Strings(names)
		return nil, s.Errorf("kind", "unknown kind %q (known: %s)", s.Kind, strings.Join(names, ", "))
	}
	return k.Open(s)
}
