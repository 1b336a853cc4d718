package jobs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/metrics"
	"github.com/mrrflow/mrrflow/schemas"
	"github.com/mrrflow/mrrflow/transform"
)

// source is one source's normalized state after extraction: in memory
// when the run changed it, or left in the warehouse when it did not.
type source struct {
	batch  *transform.Batch
	stored bool // the tables in the warehouse are the state; batch is empty
	// staged are the batches the state was written from, when it was.
	staged *transform.Staged
	// tx holds the state when the run wrote it as it read the source (a
	// delivery too large to hold: transform.NormalizeInParts); the source
	// is then read like a stored one, from the files staged.
	tx *store.Tx
}

// tableFiles lists the files of one of a stored source's tables.
func (s *source) tableFiles(w *store.Warehouse, t *schemas.Table) []string {
	if s.tx != nil {
		return transform.StagedFiles(s.tx, t, s.batch.Source)
	}
	return transform.TableFiles(w, t, s.batch.Source)
}

type sources []*source

// release waits for the sources' tables to be staged and frees the
// batches they were written from.
func (ss sources) release() {
	for _, s := range ss {
		if s.staged != nil {
			s.staged.Release()
			s.staged = nil
		}
	}
}

// dropBatches frees the sources' states as records once they are
// batches for the engine: at millions of lines they are most of the heap.
func (ss sources) dropBatches() {
	for _, s := range ss {
		s.batch = &transform.Batch{Source: s.batch.Source}
	}
}

// waitStaged waits until every source's normalized tables are written.
func (ss sources) waitStaged(log zerolog.Logger) error {
	for _, s := range ss {
		if s.staged == nil {
			continue
		}
		took, err := s.staged.Wait()
		if err != nil {
			return err
		}
		log.Info().Str("source", s.batch.Source).Int64("took_ms", took.Milliseconds()).Msg("normalized tables staged")
	}
	return nil
}

// inParts says whether a source was normalized in partitions.
func (ss sources) inParts() bool {
	for _, s := range ss {
		if s.tx != nil {
			return true
		}
	}
	return false
}

// batches are the sources' states held in memory.
func (ss sources) batches() []*transform.Batch {
	var out []*transform.Batch
	for _, s := range ss {
		if !s.stored {
			out = append(out, s.batch)
		}
	}
	return out
}

// storedCurrencies returns the currencies of the lines and events of the
// sources left in the warehouse, read one column at a time. A source with
// a currency that has no rate is loaded whole instead, so that its lines
// become rejected rows as they would had it changed.
func storedCurrencies(ctx context.Context, w *store.Warehouse, ss sources, rates []metrics.Rate, reporting string) (map[string]bool, error) {
	known := map[string]bool{strings.ToLower(reporting): true}
	for _, r := range rates {
		known[r.Currency] = true
	}
	present := map[string]bool{}
	for _, s := range ss {
		if !s.stored {
			continue
		}
		mine := map[string]bool{}
		for _, t := range []*schemas.Table{schemas.InvoiceLines, schemas.SubscriptionEvents} {
			for _, path := range s.tableFiles(w, t) {
				set, err := schemas.DistinctStrings(ctx, memory.DefaultAllocator, path, t, "currency")
				if err != nil {
					return nil, err
				}
				maps.Copy(mine, set)
			}
		}
		delete(mine, "")
		// Without a reporting currency, the data's only currency is it, or
		// the run fails on its several currencies.
		if reporting != "" && !allKnown(mine, known) {
			if s.tx != nil {
				return nil, fmt.Errorf("source %s: %w: its lines hold a currency without an exchange rate (%s), and a delivery this large is not held in memory to reject them: add the rates to fx_rates",
					s.batch.Source, configs.ErrConfig, strings.Join(unknown(mine, known), ", "))
			}
			b, err := transform.Load(ctx, w, s.batch.Source)
			if err != nil {
				return nil, err
			}
			s.batch, s.stored = b, false
			continue
		}
		maps.Copy(present, mine)
	}
	return present, nil
}

// unknown lists, sorted, the currencies of set not in known.
func unknown(set, known map[string]bool) []string {
	var out []string
	for c := range set {
		if !known[c] {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

func allKnown(set, known map[string]bool) bool {
	for c := range set {
		if !known[c] {
			return false
		}
	}
	return true
}

// inputs holds the normalized batches handed to the engine.
type inputs struct {
	customers, plans, lines, events []arrow.RecordBatch
	lineFiles                       []string
	// customerFiles are the stored sources' customers, until
	// readCustomers reads them.
	customerFiles []string
}

// newInputs converts the sources' states for the engine: batches of the
// states in memory; the stored tables read, and their lines streamed by
// the engine from their file.
func newInputs(ctx context.Context, w *store.Warehouse, ss sources) (*inputs, error) {
	mem := memory.DefaultAllocator
	in := &inputs{}
	for _, s := range ss {
		b := s.batch
		if st := s.staged; st != nil && st.Batch(schemas.InvoiceLines).NumRows() == int64(len(b.Lines)) &&
			st.Batch(schemas.SubscriptionEvents).NumRows() == int64(len(b.Events)) {
			// The batches being written are the state (no line was left
			// out for want of a rate): the engine reads them too.
			for _, t := range []struct {
				table *schemas.Table
				into  *[]arrow.RecordBatch
			}{{schemas.Customers, &in.customers}, {schemas.Plans, &in.plans}, {schemas.InvoiceLines, &in.lines}, {schemas.SubscriptionEvents, &in.events}} {
				r := st.Batch(t.table)
				r.Retain()
				*t.into = append(*t.into, r)
			}
			continue
		}
		if !s.stored {
			in.customers = append(in.customers, schemas.CustomersRecord(mem, b.Customers))
			in.plans = append(in.plans, schemas.PlansRecord(mem, b.Plans))
			in.lines = append(in.lines, schemas.InvoiceLinesRecord(mem, b.Lines))
			in.events = append(in.events, schemas.EventsRecord(mem, b.Events))
			continue
		}
		for _, t := range []struct {
			table *schemas.Table
			into  *[]arrow.RecordBatch
		}{{schemas.Plans, &in.plans}, {schemas.SubscriptionEvents, &in.events}} {
			for _, path := range s.tableFiles(w, t.table) {
				recs, err := schemas.ReadParquetFile(ctx, mem, path, t.table)
				if err != nil {
					in.release()
					return nil, err
				}
				*t.into = append(*t.into, recs...)
			}
		}
		in.lineFiles = append(in.lineFiles, s.tableFiles(w, schemas.InvoiceLines)...)
		in.customerFiles = append(in.customerFiles, s.tableFiles(w, schemas.Customers)...)
	}
	return in, nil
}

// readCustomers reads the stored sources' customers into memory, for what
// needs them as batches (the engine streams them).
func (in *inputs) readCustomers(ctx context.Context) error {
	recs, err := schemas.ReadParquetFiles(ctx, memory.DefaultAllocator, in.customerFiles, schemas.Customers)
	if err != nil {
		return err
	}
	in.customers = append(in.customers, recs...)
	in.customerFiles = nil
	return nil
}

func (in *inputs) input() metrics.Input {
	return metrics.Input{Customers: in.customers, Plans: in.plans, Lines: in.lines, Events: in.events, LineFiles: in.lineFiles,
		CustomerFiles: in.customerFiles}
}

func (in *inputs) release() {
	for _, set := range [][]arrow.RecordBatch{in.customers, in.plans, in.lines, in.events} {
		for _, r := range set {
			r.Release()
		}
	}
}
