package jobs

// Incremental compute: a run keeps, beside the marts it publishes, what
// the engine needs to recompute some customers (_state/incremental): the
// month and cohort accumulators (the per-customer rows are the published
// marts), each customer's quiet day (metrics.QuietUntil), and a digest of
// each customer's records in the sources a run held in memory. The next
// run recomputes only the customers whose result can differ: those whose
// records changed (their digests differ) and those whose quiet day the
// as-of day passed. Their old result (from the published normalized
// tables, as of the last run's day) is taken out of the kept partial and
// their new one put in (metrics.Partial.Update), exactly. Exchange rates
// that changed, or that start between the two as-of days, make the
// customers with records in their currencies recomputed too, and plans
// that changed their subscribers. Anything else that can change every
// result (policies, time zone, reporting currency, the list of sources,
// the program itself, an as-of day in another month or earlier, a
// backfill, --full, a reset, a run on Beam) makes the run compute every
// customer, and its record says why. The state is staged in the run's transaction: it is published
// with the marts it describes, or not at all.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/metrics"
	"github.com/mrrflow/mrrflow/schemas"
	"github.com/mrrflow/mrrflow/transform"
)

// IncrementalDir holds the state of incremental compute.
const IncrementalDir = store.StateDir + "/incremental"

const (
	incrementalManifest     = IncrementalDir + "/state.json"
	incrementalAccumulators = IncrementalDir + "/accumulators.json"
	incrementalQuiet        = IncrementalDir + "/quiet.bin"
	incrementalDigests      = IncrementalDir + "/digests.bin"
	// incrementalVersion is the layout of the state files.
	incrementalVersion = 3
	// maxRecomputedShare is the share of the customers above which a run
	// computes them all: recomputing a customer costs two computations.
	maxRecomputedShare = 0.2
)

// IncrementalRecord is what a run says of its compute.
type IncrementalRecord struct {
	// Customers is the number of customers of the result; Recomputed those
	// computed by this run (all of them when Full).
	Customers  int  `json:"customers"`
	Recomputed int  `json:"recomputed"`
	Full       bool `json:"full"`
	// Why says why the run computed every customer.
	Why string `json:"why,omitempty"`
}

// errFull is a reason to compute every customer.
var errFull = errors.New("every customer is computed")

// computePartial computes the run's partial: from the kept one when it
// can, else every customer; and stages the state the next run starts from.
// partitionLines is the engine's budget of the configuration (opt's may be
// lower for this run).
func (r *run) computePartial(ctx context.Context, in *inputs, opt metrics.Options, partitionLines int) (*metrics.Partial, error) {
	mem := memory.DefaultAllocator
	// An input larger than the engine's budget is never updated (the
	// update holds every customer's rows): it is computed in partitions,
	// its stored customers streamed from their files, and no state is kept
	// (its customers' quiet days and digests, as large as the customers,
	// would serve no run). Any other holds its customers in memory.
	next := opt
	next.PartitionLines, next.Partitions = partitionLines, 0
	big, err := metrics.Partitioned(in.input(), next)
	if err != nil {
		return nil, err
	}
	if !big {
		if err := in.readCustomers(ctx); err != nil {
			return nil, err
		}
	}
	whole := in.input()
	opt.EventSources = metrics.EventSources(whole)
	fp := r.fingerprint(opt)
	p, st, err := r.update(ctx, in, opt, fp)
	if err != nil && !errors.Is(err, errFull) && !errors.Is(err, metrics.ErrMerge) {
		return nil, err
	}
	if err != nil {
		r.rec.Incremental = &IncrementalRecord{Full: true, Why: err.Error()}
		// Computed in partitions, the rows wait on disk for the load.
		opt.SpillRows = true
		if p, err = metrics.ComputePartial(ctx, mem, whole, opt); err != nil {
			return nil, err
		}
		if big {
			forgetIncremental(r.tx)
			r.rec.Incremental.Customers = int(p.Customers())
			r.rec.Incremental.Recomputed = r.rec.Incremental.Customers
			return p, nil
		}
		st = &customerState{digested: r.changedSources()}
		if st.quiet, err = metrics.QuietUntil(ctx, mem, whole, opt); err != nil {
			p.Release()
			return nil, err
		}
		st.digests = r.digestChanged(in).sums()
		r.rec.Incremental.Recomputed = len(st.quiet)
	}
	r.rec.Incremental.Customers = len(st.quiet)
	if err := r.stageIncremental(p, st, fp, opt.Rates, planDigests(in.plans)); err != nil {
		p.Release()
		return nil, err
	}
	return p, nil
}

// update recomputes the customers whose result can differ from the kept
// partial's; errFull (or metrics.ErrMerge) says every customer must be.
func (r *run) update(ctx context.Context, in *inputs, opt metrics.Options, fp string) (*metrics.Partial, *customerState, error) {
	switch {
	case r.opt.Full:
		return nil, nil, fmt.Errorf("%w: run --full", errFull)
	case r.opt.Backfill != nil:
		return nil, nil, fmt.Errorf("%w: a backfill", errFull)
	case r.ratesMissing:
		return nil, nil, fmt.Errorf("%w: some lines have no exchange rate", errFull)
	case r.srcs.inParts():
		return nil, nil, fmt.Errorf("%w: a delivery too large to hold was normalized in partitions", errFull)
	}
	// The update holds every customer's rows in memory: an input the
	// engine computes in partitions, to bound its memory, is computed so.
	if big, err := metrics.Partitioned(in.input(), opt); err != nil || big {
		return nil, nil, fmt.Errorf("%w: more lines than the engine computes at once (--partition-lines): they are computed in partitions spilled to disk", errFull)
	}
	var man incrementalManifestFile
	ok, err := loadState(r.w, incrementalManifest, &man)
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("%w: the incremental state is unreadable (%v)", errFull, err)
	case !ok:
		return nil, nil, fmt.Errorf("%w: no incremental state (a first run, or the last run was a reset or on Beam)", errFull)
	case man.Version != incrementalVersion || man.Fingerprint != fp:
		return nil, nil, fmt.Errorf("%w: the policies, time zone, reporting currency, sources or the program changed", errFull)
	}
	before, err := time.Parse(time.DateOnly, man.AsOf)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the incremental state's as_of: %v", errFull, err)
	}
	y, m, d := opt.AsOf.Date()
	asOf := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	switch {
	case asOf.Before(before):
		return nil, nil, fmt.Errorf("%w: as_of went back from %s", errFull, man.AsOf)
	case asOf.Year() != before.Year() || asOf.Month() != before.Month():
		return nil, nil, fmt.Errorf("%w: as_of moved into another month (%s, then %s)", errFull, man.AsOf, r.rec.AsOf)
	}
	lap := r.stopwatch("incremental update")
	st, err := r.readCustomerState(man)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errFull, err)
	}
	quiet := st.quiet
	keys, err := r.changedCustomers(ctx, in, st)
	if err != nil {
		return nil, nil, err
	}
	cur := changedCurrencies(man.Rates, opt.Rates, before, asOf)
	plans := changedPlans(man.Plans, planDigests(in.plans))
	if len(cur) > 0 || len(plans) > 0 {
		// Currencies are named alone, plans with their source.
		var key []byte
		match := func(source, currency, plan string) bool {
			if cur[currency] {
				return true
			}
			key = metrics.AppendCustomerKey(key[:0], source, plan)
			return plan != "" && plans[string(key)]
		}
		if err := customersMatching(ctx, in, match, keys); err != nil {
			return nil, nil, err
		}
	}
	if !asOf.Equal(before) {
		day := int32(asOf.Unix() / 86400)
		for k, q := range quiet {
			if q < day {
				keys[k] = true
			}
		}
	}
	if float64(len(keys)) > maxRecomputedShare*float64(len(quiet)) && len(keys) > 0 {
		return nil, nil, fmt.Errorf("%w: %d of %d customers to recompute", errFull, len(keys), len(quiet))
	}
	lap("changed customers found")
	mem := memory.DefaultAllocator
	kept, err := r.keptPartial(ctx, man)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errFull, err)
	}
	defer kept.Release()
	lap("kept partial read")
	oldIn, newIn, err := r.customersInputs(ctx, in, keys, len(plans) > 0)
	if err != nil {
		return nil, nil, err
	}
	defer oldIn.release()
	defer newIn.release()
	lap("their lines read")
	oldOpt := opt
	oldOpt.AsOf, oldOpt.Rates = before, man.Rates
	old, err := metrics.ComputePartial(ctx, mem, oldIn.input(), oldOpt)
	if err != nil {
		// The published tables computed before: not now, as of that day.
		return nil, nil, fmt.Errorf("%w: the recomputed customers' former result: %v", errFull, err)
	}
	defer old.Release()
	now, err := metrics.ComputePartial(ctx, mem, newIn.input(), opt)
	if err != nil {
		return nil, nil, err
	}
	defer now.Release()
	lap("their former and new results computed")
	p, err := kept.Update(mem, keys, old, now)
	if err != nil {
		return nil, nil, err
	}
	lap("kept partial updated")
	fresh, err := metrics.QuietUntil(ctx, mem, newIn.input(), opt)
	if err != nil {
		p.Release()
		return nil, nil, err
	}
	lap("their quiet days found")
	for k := range keys {
		delete(quiet, k)
	}
	for k, q := range fresh {
		quiet[k] = q
	}
	r.rec.Incremental = &IncrementalRecord{Recomputed: len(keys)}
	return p, st, nil
}

// stopwatch returns a function that logs, at debug level, the time since
// its last call (or since the stopwatch started) with what was done.
func (r *run) stopwatch(what string) func(done string) {
	last := time.Now()
	return func(done string) {
		now := time.Now()
		r.log.Debug().Int64("took_ms", now.Sub(last).Milliseconds()).Msg(what + ": " + done)
		last = now
	}
}

// keptPartial is the last run's partial: its accumulators, and the
// per-customer marts it published.
func (r *run) keptPartial(ctx context.Context, man incrementalManifestFile) (*metrics.Partial, error) {
	acc, err := r.readStateFile(man, incrementalAccumulators)
	if err != nil {
		return nil, err
	}
	mem := memory.DefaultAllocator
	var tables [4][]arrow.RecordBatch
	defer func() {
		for _, recs := range tables {
			for _, rec := range recs {
				rec.Release()
			}
		}
	}()
	for i, t := range []*schemas.Table{schemas.CustomerMRRPeriods, schemas.MRRMovements, schemas.CustomerSnapshot, schemas.DataQuality} {
		if tables[i], err = load.ReadLocal(ctx, mem, r.w, t); err != nil {
			return nil, err
		}
	}
	return metrics.PartialFromTables(mem, acc, tables[0], tables[1], tables[2], tables[3])
}

// fingerprint digests what every customer's result depends on besides its
// own records, its plans and its currencies' rates: the engine's options,
// the sources, and the program.
func (r *run) fingerprint(opt metrics.Options) string {
	h := sha256.New()
	loc := "UTC"
	if opt.Location != nil {
		loc = opt.Location.String()
	}
	var names []string
	for _, s := range r.cfg.Sources {
		names = append(names, s.Name)
	}
	head, _ := json.Marshal(struct {
		Program           string
		Location          string
		ReportingCurrency string
		Policies          any
		SourcePolicies    any
		EventSources      []string
		Sources           []string
	}{programDigest(), loc, opt.ReportingCurrency, opt.Policies, opt.SourcePolicies, opt.EventSources, names})
	h.Write(head)
	return hex.EncodeToString(h.Sum(nil))
}

var (
	programOnce sync.Once
	program     string
)

// programDigest is a digest of the running program: another build of
// mrrflow may compute otherwise, so its first run computes everything.
func programDigest() string {
	programOnce.Do(func() {
		path, err := os.Executable()
		if err == nil {
			var f *os.File
			if f, err = os.Open(path); err == nil {
				h := sha256.New()
				_, err = io.Copy(h, f)
				f.Close()
				program = hex.EncodeToString(h.Sum(nil))
			}
		}
		if err != nil {
			program = "unknown " + time.Now().String() // never equal: compute everything
		}
	})
	return program
}

// changedCurrencies are the currencies whose rates differ between two
// lists, and, when the as-of day moved, those with a rate that starts
// between the two days (two days of margin for time zones): the as-of
// rate converts a customer's open amounts.
func changedCurrencies(before, now []metrics.Rate, from, until time.Time) map[string]bool {
	series := func(rates []metrics.Rate) map[string][]string {
		out := map[string][]string{}
		for _, rt := range rates {
			out[rt.Currency] = append(out[rt.Currency], rt.Day.Format(time.DateOnly)+" "+rt.Rate)
		}
		for _, s := range out {
			slices.Sort(s)
		}
		return out
	}
	a, b := series(before), series(now)
	out := map[string]bool{}
	for cur := range b {
		if !slices.Equal(a[cur], b[cur]) {
			out[cur] = true
		}
	}
	for cur := range a {
		if _, ok := b[cur]; !ok {
			out[cur] = true
		}
	}
	if !until.Equal(from) {
		for _, rt := range now {
			if d := rt.Day; !d.Before(from.AddDate(0, 0, -2)) && !d.After(until.AddDate(0, 0, 2)) {
				out[rt.Currency] = true
			}
		}
	}
	return out
}

// changedPlans are the keys of the plans whose rows differ between two
// lists (added and removed ones too). Their order does not matter: the
// engine breaks ties between plans by id.
func changedPlans(before, now []planDigest) map[string]bool {
	sum := func(ps []planDigest) map[string]uint64 {
		out := make(map[string]uint64, len(ps))
		for _, p := range ps {
			out[p.Key] = p.Sum
		}
		return out
	}
	a, b := sum(before), sum(now)
	out := map[string]bool{}
	for k, v := range b {
		if w, ok := a[k]; !ok || w != v {
			out[k] = true
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out[k] = true
		}
	}
	return out
}

// customersMatching adds to keys the customers with a line or an event
// that match says is theirs (by its source, currency and plan): those
// held in memory, and those of the stored lines (read in those columns
// and the customer's only).
func customersMatching(ctx context.Context, in *inputs, match func(source, currency, plan string) bool, keys map[string]bool) error {
	var b []byte
	add := func(rec arrow.RecordBatch) {
		idx := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
		src, cust, cur, plan := idx("source"), idx("customer_id"), idx("currency"), idx("plan_id")
		for i := range int(rec.NumRows()) {
			if source := stringAt(src, i); match(source, stringAt(cur, i), stringAt(plan, i)) {
				b = metrics.AppendCustomerKey(b[:0], source, stringAt(cust, i))
				keys[string(b)] = true
			}
		}
	}
	for _, recs := range [][]arrow.RecordBatch{in.lines, in.events} {
		for _, rec := range recs {
			add(rec)
		}
	}
	for _, path := range in.lineFiles {
		err := schemas.ScanParquetColumns(ctx, memory.DefaultAllocator, path, schemas.InvoiceLines, []string{"source", "customer_id", "currency", "plan_id"},
			func(rec arrow.RecordBatch) error {
				add(rec)
				return nil
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// changedCustomers are the customers whose records in the sources this
// run read differ from the published ones (the sources left as they were
// changed none). The state's digests become this run's.
func (r *run) changedCustomers(ctx context.Context, in *inputs, st *customerState) (map[string]bool, error) {
	changed := r.changedSources()
	now := r.digestChanged(in).sums()
	before := map[string]uint64{}
	for k, d := range st.digests {
		if source, _, _ := strings.Cut(k, "\x00"); changed[source] {
			before[k] = d
			delete(st.digests, k)
		}
	}
	for source := range changed {
		if st.digested[source] {
			continue
		}
		// Never digested: from its published tables.
		published := newRowDigests()
		for _, t := range customerTables {
			for _, path := range transform.TableFiles(r.w, t, source) {
				err := schemas.ScanParquetFile(ctx, memory.DefaultAllocator, path, t, func(rec arrow.RecordBatch) error {
					published.table(t, rec, nil)
					return nil
				})
				if err != nil {
					return nil, err
				}
			}
		}
		maps.Copy(before, published.sums())
		st.digested[source] = true
	}
	keys := map[string]bool{}
	for k, d := range now {
		if old, ok := before[k]; !ok || old != d {
			keys[k] = true
		}
		st.digests[k] = d
	}
	for k := range before {
		if _, ok := now[k]; !ok {
			keys[k] = true
		}
	}
	return keys, nil
}

// digestChanged digests the records of the sources this run holds in
// memory, by customer.
func (r *run) digestChanged(in *inputs) *rowDigests {
	changed := r.changedSources()
	keep := func(source string) bool { return changed[source] }
	d := newRowDigests()
	for _, t := range []struct {
		table *schemas.Table
		recs  []arrow.RecordBatch
	}{{schemas.Customers, in.customers}, {schemas.InvoiceLines, in.lines}, {schemas.SubscriptionEvents, in.events}} {
		for _, rec := range t.recs {
			d.table(t.table, rec, keep)
		}
	}
	return d
}

// customerTables are the normalized tables the engine reads by customer.
var customerTables = []*schemas.Table{schemas.Customers, schemas.InvoiceLines, schemas.SubscriptionEvents}

// changedSources are the sources whose state this run holds in memory.
func (r *run) changedSources() map[string]bool {
	out := map[string]bool{}
	for _, s := range r.srcs {
		if !s.stored {
			out[s.batch.Source] = true
		}
	}
	return out
}

// customersInputs are the inputs of the customers named in keys: as the
// published tables hold them, and as this run has them. With plansChanged,
// the former plans of the sources read anew are their published ones.
func (r *run) customersInputs(ctx context.Context, in *inputs, keys map[string]bool, plansChanged bool) (old, now *inputs, err error) {
	mem := memory.DefaultAllocator
	changed := r.changedSources()
	old, now = &inputs{}, &inputs{}
	for _, rec := range in.plans {
		rec.Retain()
		now.plans = append(now.plans, rec)
	}
	if old.plans, err = r.formerPlans(ctx, in, plansChanged); err != nil {
		now.release()
		return nil, nil, err
	}
	// The rows held in memory: those of the changed sources are now's
	// only; the others' are both.
	for _, t := range []struct {
		table    *schemas.Table
		from     []arrow.RecordBatch
		old, now *[]arrow.RecordBatch
	}{{schemas.Customers, in.customers, &old.customers, &now.customers}, {schemas.InvoiceLines, in.lines, &old.lines, &now.lines},
		{schemas.SubscriptionEvents, in.events, &old.events, &now.events}} {
		for _, rec := range t.from {
			mine := pickCustomers(mem, t.table, rec, keys)
			if mine == nil {
				continue
			}
			*t.now = append(*t.now, mine)
			if !changed[sourceOf(rec, t.table)] {
				mine.Retain()
				*t.old = append(*t.old, mine)
			}
		}
	}
	// The stored lines of the sources left as they were, and the published
	// tables of the changed ones.
	read := func(path string, t *schemas.Table, into ...*[]arrow.RecordBatch) error {
		return schemas.ScanParquetFile(ctx, mem, path, t, func(rec arrow.RecordBatch) error {
			mine := pickCustomers(mem, t, rec, keys)
			if mine == nil {
				return nil
			}
			for i, to := range into {
				if i > 0 {
					mine.Retain()
				}
				*to = append(*to, mine)
			}
			return nil
		})
	}
	// Only the files of the sources of some recomputed customer are read.
	due := map[string]bool{}
	for k := range keys {
		source, _, _ := strings.Cut(k, "\x00")
		due[source] = true
	}
	for _, s := range r.srcs {
		if !s.stored || !due[s.batch.Source] {
			continue
		}
		for _, path := range transform.TableFiles(r.w, schemas.InvoiceLines, s.batch.Source) {
			if err := read(path, schemas.InvoiceLines, &old.lines, &now.lines); err != nil {
				old.release()
				now.release()
				return nil, nil, err
			}
		}
	}
	for source := range changed {
		if !due[source] {
			continue
		}
		for _, t := range []struct {
			table *schemas.Table
			into  *[]arrow.RecordBatch
		}{{schemas.Customers, &old.customers}, {schemas.InvoiceLines, &old.lines}, {schemas.SubscriptionEvents, &old.events}} {
			for _, path := range transform.TableFiles(r.w, t.table, source) {
				if err := read(path, t.table, t.into); err != nil {
					old.release()
					now.release()
					return nil, nil, err
				}
			}
		}
	}
	return old, now, nil
}

// formerPlans are the plans as the last run had them, in its order: this
// run's, but for the sources read anew when plans changed, whose
// published plans they are.
func (r *run) formerPlans(ctx context.Context, in *inputs, plansChanged bool) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	if !plansChanged {
		for _, rec := range in.plans {
			rec.Retain()
			out = append(out, rec)
		}
		return out, nil
	}
	bySource := map[string][]arrow.RecordBatch{}
	for _, rec := range in.plans {
		bySource[sourceOf(rec, schemas.Plans)] = append(bySource[sourceOf(rec, schemas.Plans)], rec)
	}
	for _, s := range r.srcs {
		name := s.batch.Source
		if s.stored {
			for _, rec := range bySource[name] {
				rec.Retain()
				out = append(out, rec)
			}
			continue
		}
		recs, err := schemas.ReadParquetFiles(ctx, memory.DefaultAllocator, transform.TableFiles(r.w, schemas.Plans, name), schemas.Plans)
		if err != nil {
			for _, rec := range out {
				rec.Release()
			}
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// sourceOf is the source of a batch's first row ("" when it has none):
// the batches in memory are each of one source.
func sourceOf(rec arrow.RecordBatch, t *schemas.Table) string {
	if rec.NumRows() == 0 {
		return ""
	}
	return stringAt(rec.Column(t.Index("source")), 0)
}

// pickCustomers is the rows of a batch of the customers named in keys, or
// nil when there are none.
func pickCustomers(mem memory.Allocator, t *schemas.Table, rec arrow.RecordBatch, keys map[string]bool) arrow.RecordBatch {
	src, cust := rec.Column(t.Index("source")), rec.Column(t.Index("customer_id"))
	var rows []schemas.RowRef
	var b []byte
	for i := range int(rec.NumRows()) {
		if b = metrics.AppendCustomerKey(b[:0], stringAt(src, i), stringAt(cust, i)); keys[string(b)] {
			rows = append(rows, schemas.RowRef{Row: int32(i)})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	return schemas.Gather(mem, t, []arrow.RecordBatch{rec}, rows)
}
