package jobs

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/metrics"
	"github.com/mrrflow/mrrflow/schemas"
	"github.com/mrrflow/mrrflow/transform"
)

// loadRates reads an fx_rates CSV: a header, then date,currency,rate (units
// of the reporting currency per unit). A bad row is an error naming its
// line: rates are configuration, not data to reject.
func loadRates(path string) ([]metrics.Rate, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: fx_rates: %v", configs.ErrConfig, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 3
	var out []metrics.Rate
	for line := 1; ; line++ {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", configs.ErrConfig, path, err)
		}
		if line == 1 && strings.EqualFold(strings.TrimSpace(row[0]), "date") {
			continue
		}
		day, err := time.Parse(time.DateOnly, strings.TrimSpace(row[0]))
		if err != nil {
			return nil, fmt.Errorf("%w: %s:%d: date %q is not YYYY-MM-DD", configs.ErrConfig, path, line, row[0])
		}
		cur := strings.ToLower(strings.TrimSpace(row[1]))
		if !transform.IsCurrency(cur) {
			return nil, fmt.Errorf("%w: %s:%d: %q is not an ISO 4217 currency code", configs.ErrConfig, path, line, row[1])
		}
		rate := strings.TrimSpace(row[2])
		if q, ok := new(big.Rat).SetString(rate); !ok || q.Sign() <= 0 {
			return nil, fmt.Errorf("%w: %s:%d: rate %q is not a positive decimal", configs.ErrConfig, path, line, row[2])
		}
		out = append(out, metrics.Rate{Day: day, Currency: cur, Rate: rate})
	}
}

// withoutRate rejects the lines and events in a currency that is neither
// the reporting one nor in the rates; they stay in the normalized tables
// (a rate added later brings them in) but the engine does not see them.
func withoutRate(runID string, batches []*transform.Batch, reporting string, rates []metrics.Rate, stored map[string]bool) ([]schemas.Rejected, error) {
	known := map[string]bool{}
	for _, r := range rates {
		known[r.Currency] = true
	}
	present := map[string]bool{}
	maps.Copy(present, stored) // the currencies of the sources left stored
	for _, b := range batches {
		for _, l := range b.Lines {
			present[l.Currency] = true
		}
		for i := range b.Events {
			present[b.Events[i].Currency] = true
		}
	}
	delete(present, "")
	if reporting == "" {
		if len(present) > 1 {
			return nil, fmt.Errorf("%w: reporting_currency: the data holds several currencies: set it", configs.ErrConfig)
		}
		for c := range present {
			reporting = c
		}
	}
	known[strings.ToLower(reporting)] = true
	var rejected []schemas.Rejected
	reason := func(cur string) string {
		return fmt.Sprintf("field currency: no exchange rate for %s into the reporting currency %s (fx_rates)", cur, reporting)
	}
	for _, b := range batches {
		b.Lines = dropUnknown(b.Lines, known, func(l **schemas.InvoiceLine) string { return (*l).Currency }, func(l **schemas.InvoiceLine) {
			rejected = append(rejected, schemas.Rejected{RunID: runID, Source: b.Source, Entity: schemas.EntityInvoice,
				RecordID: (*l).InvoiceID, Origin: (*l).Origin, Error: reason((*l).Currency)})
		})
		b.Events = dropUnknown(b.Events, known, func(e *schemas.SubscriptionEvent) string { return e.Currency }, func(e *schemas.SubscriptionEvent) {
			rejected = append(rejected, schemas.Rejected{RunID: runID, Source: b.Source, Entity: schemas.EntitySubscriptionEvent,
				RecordID: e.EventID, Origin: e.Origin, Error: reason(e.Currency)})
		})
	}
	return rejected, nil
}

// dropUnknown returns the items whose currency is known (or not set),
// handing the others to reject; items itself when none is dropped, a new
// slice otherwise (items may be shared).
func dropUnknown[T any](items []T, known map[string]bool, currency func(*T) string, reject func(*T)) []T {
	var kept []T
	for i := range items {
		c := currency(&items[i])
		if c == "" || known[c] {
			if kept != nil {
				kept = append(kept, items[i])
			}
			continue
		}
		if kept == nil {
			kept = append(make([]T, 0, len(items)), items[:i]...)
		}
		reject(&items[i])
	}
	if kept == nil {
		return items
	}
	return kept
}
