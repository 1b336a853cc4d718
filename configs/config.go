package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is one mrrflow config file.
type Config struct {
	Warehouse         string   `yaml:"warehouse"`
	AsOf              string   `yaml:"as_of"`
	ReportingCurrency string   `yaml:"reporting_currency"`
	Timezone          string   `yaml:"timezone"`
	Policies          Policies `yaml:"policies"`
	FXRates           string   `yaml:"fx_rates"`
	Sources           []Source `yaml:"sources"`
	Sink              Sink     `yaml:"sink"`
	Schedule          string   `yaml:"schedule"`
	// MaxRejectedRows makes a run that rejects more rows than this exit
	// with code 3; nil means no limit.
	MaxRejectedRows *int `yaml:"max_rejected_rows"`
	// MaxShrink is the largest share of a replace source's stored records
	// one delivery may remove (0.5, or "50%"); a run that would remove more
	// fails before it publishes, unless it is given --allow-shrink.
	MaxShrink Share `yaml:"max_shrink"`

	// File is the path the config was read from ("" for one built in code).
	File string `yaml:"-"`
	root *yaml.Node
}

// Policies are the revenue policies of docs/RULES.md §7.
type Policies struct {
	ChurnGraceDays int    `yaml:"churn_grace_days"`
	Cancellation   string `yaml:"cancellation"`
	Refunds        string `yaml:"refunds"`
	RequirePayment bool   `yaml:"require_payment"`
	// ReactivationWindowDays: a return after a longer lapse counts as new
	// again; 0 means unlimited.
	ReactivationWindowDays int `yaml:"reactivation_window_days"`
}

// Policy values.
const (
	CancelPeriodEnd = "period_end"
	CancelImmediate = "immediate"
	RefundReduceMRR = "reduce_mrr"
	RefundCashOnly  = "cash_only"
)

// Source modes.
const (
	ModeUpsert  = "upsert"
	ModeReplace = "replace"
)

// How sources write money (Source.Amounts).
const (
	AmountsMinor = "minor"
	AmountsMajor = "major"
)

// Sink says where the marts are loaded besides the local warehouse.
type Sink struct {
	Kind            string `yaml:"kind"`
	Project         string `yaml:"project"`
	Dataset         string `yaml:"dataset"`
	Location        string `yaml:"location"`
	CredentialsFile string `yaml:"credentials_file"`
	Endpoint        string `yaml:"endpoint"`
	// Views adds analyst views (money as NUMERIC in major units).
	Views bool `yaml:"views"`
}

// Default returns a config with every default set.
func Default() *Config {
	return &Config{
		Warehouse: "warehouse",
		AsOf:      "now",
		Timezone:  "UTC",
		Policies: Policies{
			ChurnGraceDays: 30,
			Cancellation:   CancelPeriodEnd,
			Refunds:        RefundReduceMRR,
		},
		Sink:      Sink{Kind: "local"},
		MaxShrink: 0.5,
	}
}

// Share is a fraction from 0 to 1, written 0.25 or "25%".
type Share float64

// UnmarshalYAML reads a number or a percentage.
func (s *Share) UnmarshalYAML(n *yaml.Node) error {
	text := strings.TrimSpace(n.Value)
	div := 1.0
	if strings.HasSuffix(text, "%") {
		text, div = strings.TrimSpace(strings.TrimSuffix(text, "%")), 100
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a share (0.5, or 50%%)", n.Line, n.Value)}}
	}
	*s = Share(f / div)
	return nil
}

// ErrConfig marks every error about the config's content, so that callers
// can tell bad usage (exit 2) from a failed run.
var ErrConfig = errors.New("bad config")

// Error is a problem with one field of a config file.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap lets errors.Is(err, ErrConfig) hold.
func (e *Error) Unwrap() error { return ErrConfig }

// Load reads, expands, resolves and validates a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse reads a config from data, as if from the file path; lookup finds
// environment variables for ${VAR}.
func Parse(path string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	c := Default()
	c.File = path
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, yamlError(path, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(path, err)
	}
	c.root = &root
	if err := c.expand(lookup); err != nil {
		return nil, err
	}
	c.resolvePaths(filepath.Dir(path))
	for i := range c.Sources {
		s := &c.Sources[i]
		s.file, s.index, s.lookup = path, i, lookup
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func yamlError(path string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		// yaml.v3 says "line N: field x not found in type configs.Source";
		// keep its line and say it in our words.
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			m = strings.Replace(m, "field ", "unknown key ", 1)
			if i := strings.Index(m, " not found in type"); i >= 0 {
				m = m[:i]
			}
			msgs[i] = path + ":" + strings.TrimPrefix(m, "line ")
		}
		return fmt.Errorf("%w: %s", ErrConfig, strings.Join(msgs, "; "))
	}
	if errors.Is(err, io.EOF) {
		return &Error{File: path, Msg: "the file is empty"}
	}
	return &Error{File: path, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
}

// envRef is the ${NAME} form; a bare $1 (a PostgreSQL parameter in a
// query) is left alone.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces ${VAR} in every string field but the sources' own
// keys, which their kind expands when it decodes them.
func (c *Config) expand(lookup func(string) (string, bool)) error {
	var firstErr error
	walkStrings(reflect.ValueOf(c).Elem(), "", func(field string, v reflect.Value) {
		if err := expandString(v, lookup); err != nil && firstErr == nil {
			firstErr = c.errorf(field, "%v", err)
		}
	})
	return firstErr
}

// expandString replaces ${VAR} in a string value; an unset variable is an
// error naming it.
func expandString(v reflect.Value, lookup func(string) (string, bool)) error {
	s := v.String()
	if !strings.Contains(s, "${") {
		return nil
	}
	var firstErr error
	v.SetString(envRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		val, ok := lookup(name)
		if !ok && firstErr == nil {
			firstErr = fmt.Errorf("environment variable %s is not set", name)
		}
		return val
	}))
	return firstErr
}

// walkStrings calls fn for every settable string (and map value) below v,
// with its path in the config's YAML names.
func walkStrings(v reflect.Value, path string, fn func(string, reflect.Value)) {
	switch v.Kind() {
	case reflect.String:
		fn(path, v)
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, inline := yamlName(f)
			switch {
			case inline:
				walkStrings(v.Field(i), path, fn)
			case f.IsExported() && tag != "-" && tag != "":
				walkStrings(v.Field(i), join(path, tag), fn)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			val := reflect.New(v.Type().Elem()).Elem()
			val.Set(v.MapIndex(k))
			walkStrings(val, join(path, k.String()), fn)
			v.SetMapIndex(k, val)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (c *Config) resolvePaths(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Warehouse = abs(c.Warehouse)
	c.FXRates = abs(c.FXRates)
	c.Sink.CredentialsFile = abs(c.Sink.CredentialsFile)
	for i := range c.Sources {
		c.Sources[i].Dir = dir
	}
}

// Location returns the configured time zone.
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// AsOfDate returns the day as_of names, in the configured time zone; "now"
// is today there.
func (c *Config) AsOfDate(now time.Time) (time.Time, error) {
	loc := c.Location()
	if c.AsOf == "" || c.AsOf == "now" {
		y, m, d := now.In(loc).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, loc), nil
	}
	t, err := time.ParseInLocation(time.DateOnly, c.AsOf, loc)
	if err != nil {
		return time.Time{}, c.errorf("as_of", "%q is neither now nor a date YYYY-MM-DD", c.AsOf)
	}
	return t, nil
}

// Source returns the source of that name, or nil.
func (c *Config) Source(name string) *Source {
	for i := range c.Sources {
		if c.Sources[i].Name == name {
			return &c.Sources[i]
		}
	}
	return nil
}

// SourceField names a key of the i-th source, for errors.
func SourceField(i int, key string) string { return fmt.Sprintf("sources[%d].%s", i, key) }

// Errorf makes an error about a field of this config, with the field's
// line when the config came from a file.
func (c *Config) Errorf(field, format string, args ...any) error {
	return c.errorf(field, format, args...)
}

func (c *Config) errorf(field, format string, args ...any) error {
	return &Error{File: c.File, Line: c.line(field), Field: field, Msg: fmt.Sprintf(format, args...)}
}

// line finds the line of a field path such as sources[1].kind in the
// parsed document; 0 when unknown.
func (c *Config) line(field string) int {
	if c.root == nil || len(c.root.Content) == 0 {
		return 0
	}
	n := c.root.Content[0]
	line := n.Line
	for _, part := range strings.Split(field, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			fmt.Sscanf(part[i:], "[%d]", &idx)
		}
		next := mappingValue(n, name)
		if next == nil {
			return line
		}
		n, line = next, next.Line
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			// The key's line reads better than a block value's.
			v := *n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				v.Line = n.Content[i].Line
			}
			return &v
		}
	}
	return nil
}
