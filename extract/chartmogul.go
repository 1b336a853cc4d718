package extract

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/schemas"
)

// chartmogulKind reads ChartMogul import documents (seed 003): the bulk
// import (customers, plans, invoices, line_items, transactions and
// subscription_events as top-level arrays) and the per-customer invoices
// payload, whose invoices nest their line_items and transactions.
var chartmogulKind = Kind{
	Name:        "chartmogul",
	DefaultMode: configs.ModeUpsert,
	// ChartMogul recognizes the cancellations of data imported through its
	// Import API as churn at the time of cancellation, whatever its churn
	// setting; and refunds change cash flow, not MRR (README, "Policies").
	Policies: func(p *configs.Policies) {
		p.Cancellation = configs.CancelImmediate
		p.Refunds = configs.RefundCashOnly
	},
	Open: opener(func(src configs.Source, c *ChartMogulConfig) (Extractor, error) {
		return &chartMogul{src: src, path: string(c.Path)}, nil
	}),
}

// ChartMogulConfig is a chartmogul source's block.
type ChartMogulConfig struct {
	// Path is a JSON document, or a glob pattern of them.
	Path configs.Path `yaml:"path"`
}

// Validate checks the pattern and that it names JSON files.
func (c *ChartMogulConfig) Validate(src configs.Source) error {
	if err := checkPattern(src, "path", string(c.Path), "chartmogul", "a JSON file or glob pattern"); err != nil {
		return err
	}
	if f := format(string(c.Path)); f != "json" {
		return src.Errorf("path", "%q: kind chartmogul reads JSON documents (.json, optionally .gz)", c.Path)
	}
	return nil
}

type chartMogul struct {
	src  configs.Source
	path string
}

// The field names of seed 003, by canonical name.
var (
	chartmogulCustomerFields = map[string]string{
		"external_id": "customer_id", "name": "name", "email": "email", "country": "country", "state": "state",
		"lead_created_at": "created_at", "free_trial_started_at": "trial_started_at",
	}
	chartmogulPlanFields = map[string]string{
		"external_id": "plan_id", "name": "name", "interval_unit": "interval_unit", "interval_count": "interval_count",
		"uuid": "plan_uuid", "currency": "currency",
	}
	chartmogulInvoiceFields = map[string]string{
		"external_id": "invoice_id", "customer_external_id": "customer_id", "date": "invoice_date", "currency": "currency",
	}
	chartmogulLineFields = map[string]string{
		"external_id": "line_id", "invoice_external_id": "invoice_id", "type": "kind",
		"amount_in_cents": "amount", "tax_amount_in_cents": "tax", "discount_amount_in_cents": "discount",
		"quantity": "quantity", "prorated": "prorated", "service_period_start": "period_start",
		"service_period_end": "period_end", "subscription_external_id": "subscription_id",
		"plan_external_id": "plan_id", "plan_uuid": "plan_uuid", "cancelled_at": "cancelled_at",
	}
	chartmogulEventFields = map[string]string{
		"external_id": "event_id", "subscription_external_id": "subscription_id", "customer_external_id": "customer_id",
		"plan_external_id": "plan_id", "effective_date": "effective_at", "event_type": "type",
		"amount_in_cents": "amount", "currency": "currency", "quantity": "quantity",
		"tax_amount_in_cents": "tax", "disabled": "disabled",
	}
	chartmogulTransactionFields = map[string]string{
		"external_id": "transaction_id", "invoice_external_id": "invoice_id", "type": "type",
		"result": "result", "date": "date", "amount_in_cents": "amount",
	}
)

// chartmogulSpellings name each canonical field as ChartMogul does.
var chartmogulSpellings = map[schemas.Entity]map[string]string{
	schemas.EntityCustomer: spellings(chartmogulCustomerFields), schemas.EntityPlan: spellings(chartmogulPlanFields),
	schemas.EntityInvoice: spellings(chartmogulInvoiceFields), schemas.EntityLineItem: spellings(chartmogulLineFields),
	schemas.EntityTransaction: spellings(chartmogulTransactionFields), schemas.EntitySubscriptionEvent: spellings(chartmogulEventFields),
}

// Files lists the files the source reads.
func (c *chartMogul) Files() ([]string, error) { return filesOf(c.path) }

func (c *chartMogul) Extract(ctx context.Context, fn func(*Record) error) error {
	paths, err := sourceFiles(c.src, c.path)
	if err != nil {
		return fmt.Errorf("source %s: %w", c.src.Name, err)
	}
	rec := &Record{}
	for _, path := range paths {
		file := originPath(c.src, path)
		records := 0
		emit := func(e schemas.Entity, fields map[string]string, origin string, o *object, header bool) error {
			records++
			rec.reset(c.src.Name, e, origin)
			rec.spelling = chartmogulSpellings[e]
			rec.raw = o.rawJSON
			rec.Err = o.err
			rec.Header = header
			for i, k := range o.keys {
				mapField(rec, e, fields, k, o.vals[i])
			}
			return fn(rec)
		}
		at := func(o *object) string { return file + ":" + strconv.Itoa(o.line) }
		simple := func(e schemas.Entity, fields map[string]string) func(*object) error {
			return func(o *object) error { return emit(e, fields, at(o), o, false) }
		}
		invoices := 0 // the invoice's place in its array, for its nested records' origins
		invoice := func(o *object) error {
			k := invoices
			invoices++
			if err := emit(schemas.EntityInvoice, chartmogulInvoiceFields, at(o), o, true); err != nil {
				return err
			}
			// Nested arrays of the per-customer payload become records of
			// their own, naming their invoice, each at its JSON pointer.
			return emitNested(o, func(e schemas.Entity, key string, j int, sub *object) error {
				fields := chartmogulTransactionFields
				if e == schemas.EntityLineItem {
					fields = chartmogulLineFields
				}
				return emit(e, fields, fmt.Sprintf("%s#/invoices/%d/%s/%d", file, k, key, j), sub, false)
			})
		}
		arrays := map[string]func(*object) error{
			"customers":           simple(schemas.EntityCustomer, chartmogulCustomerFields),
			"plans":               simple(schemas.EntityPlan, chartmogulPlanFields),
			"invoices":            invoice,
			"line_items":          simple(schemas.EntityLineItem, chartmogulLineFields),
			"transactions":        simple(schemas.EntityTransaction, chartmogulTransactionFields),
			"subscription_events": simple(schemas.EntitySubscriptionEvent, chartmogulEventFields),
		}
		err := readFileRouted(ctx, path, arrays, func(o *object) error {
			return emit(schemas.EntityInvoice, nil, at(o), &object{raw: o.raw, err: fmt.Errorf("not an import document: expected an object with customers, plans, invoices, line_items, transactions or subscription_events (or one of them in the singular, as an API call's body)")}, false)
		})
		if err == nil {
			err = emptyFile(c.src, path, records)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", c.src.Name, err)
		}
	}
	return nil
}

// emitNested passes the line_items and transactions nested in an invoice
// object on as records naming the invoice, with their array and place; a
// line item or transaction without an id gets its position in the invoice
// (1, 2, ...; a transaction's is prefixed with the invoice's id, its id
// being the source's).
func emitNested(inv *object, fn func(e schemas.Entity, key string, j int, sub *object) error) error {
	id := ""
	for i, k := range inv.keys {
		if k == "external_id" {
			id = inv.vals[i].Text
		}
	}
	for i, k := range inv.keys {
		e := schemas.EntityLineItem
		switch k {
		case "line_items":
		case "transactions":
			e = schemas.EntityTransaction
		default:
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal([]byte(inv.vals[i].Text), &items); err != nil {
			bad := &object{raw: []byte(inv.vals[i].Text), err: fmt.Errorf("field %s of invoice %q must be an array of objects", k, id)}
			if err := fn(e, k, 0, bad); err != nil {
				return err
			}
			continue
		}
		for j, raw := range items {
			sub := &object{}
			parseObject(raw, sub)
			if sub.err == nil && !hasKey(sub, "invoice_external_id") {
				sub.keys = append(sub.keys, "invoice_external_id")
				sub.vals = append(sub.vals, Value{Text: id, Kind: Text})
			}
			if sub.err == nil && !hasKey(sub, "external_id") {
				pos := strconv.Itoa(j + 1)
				if e == schemas.EntityTransaction {
					pos = id + "/" + pos
				}
				sub.keys = append(sub.keys, "external_id")
				sub.vals = append(sub.vals, Value{Text: pos, Kind: Text})
			}
			if err := fn(e, k, j, sub); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasKey(o *object, k string) bool {
	for _, x := range o.keys {
		if x == k {
			return true
		}
	}
	return false
}
