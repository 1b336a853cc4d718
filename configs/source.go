package configs

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Source is one entry of sources: the keys every source has, and the rest
// of its block kept undecoded. Each kind declares its own config type and
// decodes the block into it with Decode, so that adding a kind needs no
// change here; a source's secrets (${VAR} in its keys) are expanded only
// then, never by commands that only read the warehouse.
type Source struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	// Mode is upsert (records persist until sent again) or replace (each
	// read is the source's whole state). Empty means the kind's default.
	Mode string `yaml:"mode"`
	// Amounts says how the source writes money: minor (the default: integer
	// minor units, cents) or major (decimal major units, 99.50), converted
	// by the currency's digits, exactly.
	Amounts string `yaml:"amounts"`
	// MaxShrink, when set, is this source's max_shrink, over the
	// top-level one.
	MaxShrink *Share `yaml:"max_shrink"`

	// AllowEmpty lets a file of the source hold no record (the run's
	// --allow-shrink); not a key.
	AllowEmpty bool `yaml:"-"`
	// SkipFiles are files the source's patterns name that the run leaves
	// out: read, as they are now, by an earlier run (upsert); not a key.
	SkipFiles map[string]bool `yaml:"-"`

	// Dir is the directory of the config file the source was read from:
	// Path keys are resolved against it, and records name their files
	// relative to it.
	Dir string `yaml:"-"`

	// policies is the source's own policies block, overriding the run's.
	policies *yaml.Node
	node     *yaml.Node // the source's mapping
	file     string     // the config file, for errors
	index    int        // the source's place in sources
	// lookup finds environment variables for ${VAR}.
	lookup func(string) (string, bool)
}

// Path is a file or glob pattern key of a source: Decode makes it
// relative to the config file's directory unless it is absolute.
type Path string

// commonKeys are the keys of every source, decoded by Source itself.
var commonKeys = []string{"name", "kind", "mode", "amounts", "max_shrink", "policies"}

// UnmarshalYAML decodes the common keys and keeps the block for the kind.
func (s *Source) UnmarshalYAML(n *yaml.Node) error {
	var common struct {
		Name      string `yaml:"name"`
		Kind      string `yaml:"kind"`
		Mode      string `yaml:"mode"`
		Amounts   string `yaml:"amounts"`
		MaxShrink *Share `yaml:"max_shrink"`
	}
	if n.Kind != yaml.MappingNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a source is a mapping of keys", n.Line)}}
	}
	// Unknown keys are the kind's to judge: decode only the common ones.
	sub := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if slices.Contains(commonKeys, n.Content[i].Value) {
			sub.Content = append(sub.Content, n.Content[i], n.Content[i+1])
		}
	}
	if err := sub.Decode(&common); err != nil {
		return err
	}
	s.Name, s.Kind, s.Mode, s.Amounts, s.MaxShrink, s.node = common.Name, common.Kind, common.Mode, common.Amounts, common.MaxShrink, n
	s.policies = mappingValue(n, "policies")
	return nil
}

// NewSource makes a source in code, as if its block held keys; paths in
// keys are relative to dir. Tests and the demo use it.
func NewSource(name, kind, dir string, keys map[string]any) (Source, error) {
	block := map[string]any{"name": name, "kind": kind}
	for k, v := range keys {
		block[k] = v
	}
	var n yaml.Node
	if err := n.Encode(block); err != nil {
		return Source{}, err
	}
	mode, _ := keys["mode"].(string)
	amounts, _ := keys["amounts"].(string)
	return Source{Name: name, Kind: kind, Mode: mode, Amounts: amounts, Dir: dir, node: &n, policies: mappingValue(&n, "policies"), lookup: noEnv}, nil
}

// noEnv is the environment of a config made in code: none.
func noEnv(string) (string, bool) { return "", false }

// Field names a key of this source for errors: sources[2].invoices.
func (s Source) Field(key string) string { return SourceField(s.index, key) }

// Errorf makes an error about a key of this source, with the key's line
// when the source came from a file.
func (s Source) Errorf(key, format string, args ...any) error {
	line := 0
	if s.node != nil {
		line = s.node.Line
		if v := mappingValue(s.node, key); v != nil {
			line = v.Line
		}
	}
	return &Error{File: s.file, Line: line, Field: s.Field(key), Msg: fmt.Sprintf(format, args...)}
}

// Decode decodes the source's block into into, a pointer to the kind's
// config struct: a key that is neither common nor one of the struct's
// yaml tags is an error naming it and the keys the kind has; ${VAR} is
// expanded in every string; Path fields are resolved against Dir.
func (s Source) Decode(into any) error {
	v := reflect.ValueOf(into)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("configs: Decode needs a pointer to a struct, not %T", into)
	}
	keys := yamlKeys(v.Elem().Type())
	if s.node != nil {
		for i := 0; i+1 < len(s.node.Content); i += 2 {
			k := s.node.Content[i].Value
			if !slices.Contains(commonKeys, k) && !slices.Contains(keys, k) {
				return s.Errorf(k, "is not a key of kind %s (it has %s)", s.Kind, strings.Join(keys, ", "))
			}
		}
		sub := &yaml.Node{Kind: yaml.MappingNode, Line: s.node.Line}
		for i := 0; i+1 < len(s.node.Content); i += 2 {
			if !slices.Contains(commonKeys, s.node.Content[i].Value) {
				sub.Content = append(sub.Content, s.node.Content[i], s.node.Content[i+1])
			}
		}
		if err := sub.Decode(into); err != nil {
			return yamlError(s.file, err)
		}
	}
	lookup := s.lookup
	if lookup == nil {
		lookup = noEnv
	}
	var firstErr error
	walkStrings(v.Elem(), "", func(field string, f reflect.Value) {
		if firstErr == nil {
			if err := expandString(f, lookup); err != nil {
				firstErr = s.Errorf(field, "%v", err)
			}
		}
		if f.Type() == reflect.TypeFor[Path]() {
			if p := f.String(); p != "" && !filepath.IsAbs(p) && s.Dir != "" {
				f.SetString(filepath.Join(s.Dir, p))
			}
		}
	})
	return firstErr
}

// yamlKeys lists the yaml names of a struct's exported fields, those of
// inlined structs included.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, inline := yamlName(f)
		switch {
		case inline:
			keys = append(keys, yamlKeys(f.Type)...)
		case f.IsExported() && name != "" && name != "-":
			keys = append(keys, name)
		}
	}
	return keys
}

// yamlName is a field's yaml key, and whether the field is inlined.
func yamlName(f reflect.StructField) (string, bool) {
	parts := strings.Split(f.Tag.Get("yaml"), ",")
	return parts[0], f.IsExported() && f.Type.Kind() == reflect.Struct && slices.Contains(parts[1:], "inline")
}
