package jobs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/schemas"
)

// BackfillRange is a range of days to re-read: the cursors of incremental
// sources (all, or Source only) are rewound to From for one run. File
// sources are re-read whole on every run anyway, and every run recomputes
// all months, so a backfill gives the tables a rebuild from scratch gives.
type BackfillRange struct {
	From, To time.Time
	// Source limits the rewind to one source; empty is all.
	Source string
}

func (b *BackfillRange) covers(source string) bool {
	return b != nil && (b.Source == "" || b.Source == source)
}

// rewind returns a cursor that reads every query from From on.
func (b *BackfillRange) rewind() extract.Cursor {
	c := extract.Cursor{}
	for _, k := range []string{"plans", "customers", "invoices", "subscription_events"} {
		c[k] = b.From.UTC().Format(time.RFC3339Nano)
	}
	return c
}

// laterCursor keeps, for each query, the later of the stored cursor and
// the one just read, so that a backfill never moves a cursor back.
func laterCursor(stored, read extract.Cursor) extract.Cursor {
	out := extract.Cursor{}
	for k, v := range stored {
		out[k] = v
	}
	for k, v := range read {
		if cur, ok := out[k]; !ok || extract.CursorLess(cur, v) {
			out[k] = v
		}
	}
	return out
}

// monthlyRows reads the published mrr_monthly as month -> row text.
func monthlyRows(ctx context.Context, w *store.Warehouse) (map[string]string, error) {
	recs, err := load.ReadLocal(ctx, memory.DefaultAllocator, w, schemas.MRRMonthly)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	out := map[string]string{}
	for _, r := range recs {
		addMonthly(out, r)
	}
	return out, nil
}

func addMonthly(out map[string]string, r arrow.RecordBatch) {
	for i := 0; i < int(r.NumRows()); i++ {
		vals := make([]string, r.NumCols())
		for c := range vals {
			vals[c] = schemas.FormatValue(r.Column(c), i)
		}
		out[vals[0]] = strings.Join(vals, ",")
	}
}

// changedMonths lists the months whose row differs between two states.
func changedMonths(before map[string]string, after arrow.RecordBatch) []string {
	now := map[string]string{}
	addMonthly(now, after)
	var out []string
	for m, row := range now {
		if before[m] != row {
			out = append(out, m)
		}
	}
	for m := range before {
		if _, ok := now[m]; !ok {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// describeMonths says which changed months fall in a backfill's range.
func describeMonths(months []string, b *BackfillRange) string {
	if len(months) == 0 {
		return "no month changed"
	}
	var in, out []string
	for _, m := range months {
		d, err := time.Parse(time.DateOnly, m)
		if err == nil && b != nil && (d.Before(time.Date(b.From.Year(), b.From.Month(), 1, 0, 0, 0, 0, time.UTC)) || d.After(b.To)) {
			out = append(out, m[:7])
			continue
		}
		in = append(in, m[:7])
	}
	msg := fmt.Sprintf("months changed: %s", strings.Join(in, ", "))
	if len(out) > 0 {
		msg += fmt.Sprintf("; outside the range: %s", strings.Join(out, ", "))
	}
	return msg
}
