package configs

import (
	"bytes"
	"errors"
	"strings"

	"gopkg.in/yaml.v3"
	"regexp"
	"time"

	"github.com/robfig/cron/v3"
)

var (
	currencyRe   = regexp.MustCompile(`^[a-zA-Z]{3}$`)
	sourceNameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
)

// Validate checks every field that does not depend on a source kind, and
// names the first bad one with its line.
func (c *Config) Validate() error {
	if c.Warehouse == "" {
		return c.errorf("warehouse", "must not be empty")
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		return c.errorf("timezone", "%q is not an IANA time zone", c.Timezone)
	}
	if _, err := c.AsOfDate(time.Now()); err != nil {
		return err
	}
	if c.ReportingCurrency != "" && !currencyRe.MatchString(c.ReportingCurrency) {
		return c.errorf("reporting_currency", "%q is not a three-letter ISO 4217 code", c.ReportingCurrency)
	}
	if err := c.Policies.validate(c); err != nil {
		return err
	}
	if c.MaxShrink < 0 || c.MaxShrink > 1 {
		return c.errorf("max_shrink", "must be a share from 0 to 1 (0.5, or 50%%), not %g", float64(c.MaxShrink))
	}
	if c.MaxRejectedRows != nil && *c.MaxRejectedRows < 0 {
		return c.errorf("max_rejected_rows", "must be >= 0")
	}
	if len(c.Sources) == 0 {
		return c.errorf("sources", "at least one source is needed")
	}
	seen := map[string]int{}
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Name == "" {
			return c.errorf(SourceField(i, "name"), "is required")
		}
		if !sourceNameRe.MatchString(s.Name) {
			return c.errorf(SourceField(i, "name"), "%q may hold only letters, digits, '_', '-' and '.'", s.Name)
		}
		if j, dup := seen[s.Name]; dup {
			return c.errorf(SourceField(i, "name"), "%q is also the name of sources[%d]", s.Name, j)
		}
		seen[s.Name] = i
		if s.Kind == "" {
			return c.errorf(SourceField(i, "kind"), "is required")
		}
		switch s.Mode {
		case "", ModeUpsert, ModeReplace:
		default:
			return c.errorf(SourceField(i, "mode"), "%q is neither upsert nor replace", s.Mode)
		}
		if m := s.MaxShrink; m != nil && (*m < 0 || *m > 1) {
			return c.errorf(SourceField(i, "max_shrink"), "must be a share from 0 to 1 (0.5, or 50%%), not %g", float64(*m))
		}
		switch s.Amounts {
		case "", AmountsMinor, AmountsMajor:
		default:
			return c.errorf(SourceField(i, "amounts"), "%q is neither minor (integer cents) nor major (decimal units)", s.Amounts)
		}
		if _, err := c.PoliciesOf(*s, nil); err != nil {
			return err
		}
	}
	if c.Schedule != "" {
		if _, err := cron.ParseStandard(c.Schedule); err != nil {
			return c.errorf("schedule", "%q is not a cron schedule: %v", c.Schedule, err)
		}
	}
	switch c.Sink.Kind {
	case "", "local":
	case "bigquery":
		if c.Sink.Project == "" {
			return c.errorf("sink.project", "is required for a bigquery sink")
		}
		if c.Sink.Dataset == "" {
			return c.errorf("sink.dataset", "is required for a bigquery sink")
		}
	default:
		return c.errorf("sink.kind", "%q is neither local nor bigquery", c.Sink.Kind)
	}
	return nil
}

func (p *Policies) validate(c *Config) error { return p.check(c, "policies") }

// check validates policies found at path (policies, or
// sources[2].policies).
func (p *Policies) check(c *Config, path string) error {
	if p.ChurnGraceDays < 0 {
		return c.errorf(path+".churn_grace_days", "must be >= 0, not %d", p.ChurnGraceDays)
	}
	switch p.Cancellation {
	case CancelPeriodEnd, CancelImmediate:
	default:
		return c.errorf(path+".cancellation", "%q is neither period_end nor immediate", p.Cancellation)
	}
	switch p.Refunds {
	case RefundReduceMRR, RefundCashOnly:
	default:
		return c.errorf(path+".refunds", "%q is neither reduce_mrr nor cash_only", p.Refunds)
	}
	if p.ReactivationWindowDays < 0 {
		return c.errorf(path+".reactivation_window_days", "must be > 0 (or left out for unlimited), not %d", p.ReactivationWindowDays)
	}
	return nil
}

// PoliciesOf returns the policies a source's records are computed under:
// the defaults of docs/RULES.md §7, then its kind's own defaults (vendor,
// when not nil), then the keys the config's top-level policies set, then
// the source's own policies block.
func (c *Config) PoliciesOf(s Source, vendor func(*Policies)) (Policies, error) {
	p := Default().Policies
	if vendor != nil {
		vendor(&p)
	}
	top := (*yaml.Node)(nil)
	if c.root != nil && len(c.root.Content) > 0 {
		top = mappingValue(c.root.Content[0], "policies")
	}
	switch {
	case top != nil:
		if err := top.Decode(&p); err != nil {
			return p, yamlError(c.File, err)
		}
	case c.root == nil:
		p = c.Policies // a config made in code: every key is set
	}
	if s.policies != nil {
		dec := yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{s.policies}}
		if err := strictDecode(&dec, &p); err != nil {
			return p, &Error{File: c.File, Line: s.policies.Line, Field: SourceField(s.index, "policies"), Msg: err.Error()}
		}
	}
	return p, p.check(c, SourceField(s.index, "policies"))
}

// strictDecode decodes a node refusing unknown keys.
func strictDecode(n *yaml.Node, into any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg := strings.Replace(te.Errors[0], "field ", "unknown key ", 1)
			if i := strings.Index(msg, " not found in type"); i >= 0 {
				msg = msg[:i]
			}
			if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "line ") {
				msg = msg[i+2:]
			}
			return errors.New(msg)
		}
		return err
	}
	return nil
}
