package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/schemas"
)

// subscriptionsKind reads the subscriptions import payload of seed 002:
// an account currency, subscriptions (the MRR basis), invoices (cash flow)
// and contacts. Each read is the source's whole state (mode replace).
var subscriptionsKind = Kind{
	Name:        "subscriptions",
	DefaultMode: configs.ModeReplace,
	Open: opener(func(src configs.Source, c *SubscriptionsConfig) (Extractor, error) {
		return &subscriptionsPayload{src: src, path: string(c.Path)}, nil
	}),
}

// SubscriptionsConfig is a subscriptions source's block.
type SubscriptionsConfig struct {
	// Path is the JSON payload (a glob pattern reads each match).
	Path configs.Path `yaml:"path"`
}

// Validate checks the pattern and that it names JSON files.
func (c *SubscriptionsConfig) Validate(src configs.Source) error {
	if err := checkPattern(src, "path", string(c.Path), "subscriptions", "the JSON payload"); err != nil {
		return err
	}
	if format(string(c.Path)) != "json" {
		return src.Errorf("path", "%q: kind subscriptions reads a JSON payload (.json)", c.Path)
	}
	return nil
}

type subscriptionsPayload struct {
	src  configs.Source
	path string
}

var (
	payloadSubscriptionFields = map[string]string{
		"external_id": "subscription_id", "customer_domain": "customer_id", "customer_name": "name",
		"amount_cents": "amount", "interval": "interval_unit", "status": "status", "plan_name": "plan_id",
		"started_at": "started_at", "canceled_at": "canceled_at", "ended_at": "ended_at", "quantity": "quantity",
	}
	payloadInvoiceFields = map[string]string{
		"external_id": "invoice_id", "subscription_external_id": "subscription_id", "amount_cents": "amount",
		"currency": "currency", "issued_at": "invoice_date", "paid_at": "paid_at",
		"period_start": "period_start", "period_end": "period_end",
	}
	payloadContactFields = map[string]string{
		"email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone",
		"job_title": "job_title", "country": "country", "contact_type": "contact_type",
	}
)

// Files lists the files the source reads.
func (p *subscriptionsPayload) Files() ([]string, error) { return filesOf(p.path) }

// Extract reads the payload whole (it is one API request) and passes on
// its subscriptions first, then invoices and contacts. Origins are the
// file and a JSON pointer (payload.json#/subscriptions/2).
func (p *subscriptionsPayload) Extract(ctx context.Context, fn func(*Record) error) error {
	paths, err := sourceFiles(p.src, p.path)
	if err != nil {
		return fmt.Errorf("source %s: %w", p.src.Name, err)
	}
	rec := &Record{}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("source %s: %w", p.src.Name, err)
		}
		data = bytes.TrimPrefix(data, utf8BOM)
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(data, &doc); err != nil {
			return payloadError(path, data, err)
		}
		var currency string
		if raw, ok := doc["currency"]; ok {
			json.Unmarshal(raw, &currency)
		}
		if _, ok := doc["subscriptions"]; !ok {
			return &FileError{Path: path, Err: fmt.Errorf("the payload has no subscriptions array")}
		}
		for _, part := range []struct {
			key    string
			entity schemas.Entity
			fields map[string]string
		}{
			{"subscriptions", schemas.EntitySubscription, payloadSubscriptionFields},
			{"invoices", schemas.EntityInvoice, payloadInvoiceFields},
			{"contacts", schemas.EntityContact, payloadContactFields},
		} {
			raw, ok := doc[part.key]
			if !ok {
				continue
			}
			var items []json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				return &FileError{Path: path, Err: fmt.Errorf("%s must be an array of objects", part.key)}
			}
			if part.entity == schemas.EntitySubscription {
				// The payload is the source's whole state: none at all is a
				// suspicious delivery, not a company that lost every customer.
				if err := emptyFile(p.src, path, len(items)); err != nil {
					return err
				}
			}
			spelling := spellings(part.fields)
			for i, item := range items {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				o := &object{}
				parseObject(item, o)
				rec.reset(p.src.Name, part.entity, fmt.Sprintf("%s#/%s/%d", originPath(p.src, path), part.key, i))
				rec.spelling = spelling
				rec.raw = o.rawJSON
				rec.Err = o.err
				for j, k := range o.keys {
					mapField(rec, part.entity, part.fields, k, o.vals[j])
				}
				// The account currency applies where a record names none.
				rec.Set("account_currency", "currency", Value{Text: currency, Kind: Text})
				if part.entity == schemas.EntityInvoice {
					rec.Set("kind", "kind", Value{Text: schemas.KindSubscription, Kind: Text})
				}
				if err := fn(rec); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func payloadError(path string, data []byte, err error) error {
	if se, ok := err.(*json.SyntaxError); ok {
		head := data[:min(int(se.Offset), len(data))]
		line := bytes.Count(head, []byte{'\n'}) + 1
		col := len(head) - bytes.LastIndexByte(head, '\n')
		return &FileError{Path: path, Line: line, Col: col, Err: err}
	}
	return &FileError{Path: path, Err: fmt.Errorf("not a subscriptions payload: %v", err)}
}
