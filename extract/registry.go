package extract

import (
	"context"
	"fmt"
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

// Block is a run of records of a source.
type Block interface {
	// Each parses the block's records and hands each to fn, in order. It
	// may run on any goroutine, several blocks' at once; a record is valid
	// only during its call. An error from fn stops it and is returned.
	Each(fn func(*Record) error) error
}

// Kind is one source kind: how to check its config and how to open it.
type Kind struct {
	Name string
	// DefaultMode is the mode of a source that does not set one.
	DefaultMode string
	// Keys are the source keys the kind uses besides name, kind and mode.
	Keys     []string
	Validate func(c *configs.Config, i int) error
	New      func(src configs.Source) (Extractor, error)
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
	for i := range c.Sources {
		s := &c.Sources[i]
		k, ok := Lookup(s.Kind)
		if !ok {
			names := make([]string, 0, len(Kinds()))
			for _, k := range Kinds() {
				names = append(names, k.Name)
			}
			sort.Strings(names)
			return c.Errorf(configs.SourceField(i, "kind"), "unknown kind %q (known: %s)", s.Kind, strings.Join(names, ", "))
		}
		if err := checkKeys(c, i, k); err != nil {
			return err
		}
		if k.Validate != nil {
			if err := k.Validate(c, i); err != nil {
				return err
			}
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

// Open makes the extractor of a source.
func Open(s configs.Source) (Extractor, error) {
	k, ok := Lookup(s.Kind)
	if !ok {
		return nil, fmt.Errorf("source %s: unknown kind %q", s.Name, s.Kind)
	}
	return k.New(s)
}

// checkKeys refuses keys the kind does not use, so that a typo'd or
// misplaced key is not silently ignored.
func checkKeys(c *configs.Config, i int, k Kind) error {
	s := &c.Sources[i]
	set := map[string]bool{
		"customers": s.Customers != "", "plans": s.Plans != "", "invoices": s.Invoices != "",
		"path": s.Path != "", "dsn": s.DSN != "", "cursor": s.Cursor != "",
		"queries": len(s.Queries) > 0, "columns": len(s.Columns) > 0,
	}
	used := map[string]bool{}
	for _, key := range k.Keys {
		used[key] = true
	}
	keys := make([]string, 0, len(set))
	for key := range set {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if set[key] && !used[key] {
			return c.Errorf(configs.SourceField(i, key), "is not a key of kind %s (it uses %s)", k.Name, strings.Join(k.Keys, ", "))
		}
	}
	return nil
}
