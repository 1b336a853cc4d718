package metrics

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/mrrflow/mrrflow/schemas"
)

// customerTable holds every customer, by code: codes are the ranks of
// (source, customer_id), so that they do not depend on input order.
type customerTable struct {
	source, id, name, country []string
	trialStarted, created     []int64
}

func (c *customerTable) len() int { return len(c.id) }

// planTable holds every plan by code.
type planTable struct {
	id               []string
	unit             []string
	count            []int64
	mfNum, mfDen     []uint64
	byKey            map[string]int32
	bySource         map[string]map[string]int32
	currency, source []string
}

// Kinds of lines, encoded.
const (
	kindSubscription int8 = iota
	kindOneTime
	kindRefund
	kindCancellation
)

// lineColumns holds the lines that count (dated before as_of, paid when
// payment is required), one typed slice per field, and order: the line
// indexes sorted by customer, subscription, period start, invoice date,
// invoice id and line id.
type lineColumns struct {
	cust     []int32
	sub      []int32 // subscription code; -1 for a refund or cancellation that names none
	plan     []int32 // -1 when the line has none
	kind     []int8
	idate    []int64
	ps, pe   []int64
	amount   []int64
	tax      []int64
	prorated []bool
	cur      []int16
	names    lineNames
	// cashOnly marks lines of sources whose MRR comes from events.
	cashOnly []bool
	order    []int32
	// custStart[c] is where customer c's lines begin in order.
	custStart []int32
}

func (l *lineColumns) len() int { return len(l.cust) }

// reserve sizes every column for n lines.
func (l *lineColumns) reserve(n int) {
	l.cust, l.sub, l.plan = make([]int32, 0, n), make([]int32, 0, n), make([]int32, 0, n)
	l.kind, l.cur, l.prorated, l.cashOnly = make([]int8, 0, n), make([]int16, 0, n), make([]bool, 0, n), make([]bool, 0, n)
	l.idate, l.ps, l.pe = make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
	l.amount, l.tax = make([]int64, 0, n), make([]int64, 0, n)
	l.names.ends = make([]int, 0, 2*n)
}

// eventColumns holds the subscription events before as_of, and order: the
// event indexes sorted by customer, subscription, time and event id.
type eventColumns struct {
	cust  []int32
	sub   []int32
	typ   []int8
	t     []int64
	mrr   []int64 // in cur
	plan  []int32
	cur   []int16
	id    []string
	order []int32
	// custStart[c] is where customer c's events begin in order.
	custStart []int32
}

// Event types, encoded.
const (
	eventStart int8 = iota
	eventCancel
)

// encode turns the whole input into typed columns with integer codes,
// encoding the lines as their batches come (from the lines' files, read
// ahead). Nothing of a batch is kept: its buffers are reused for the next
// ones, so every string kept (codes' keys, line names) is a copy.
func (e *engine) encode(ctx context.Context, in Input) error {
	k := newCoder()
	if err := e.encodeHeads(in, k); err != nil {
		return err
	}
	total, err := in.lineCount()
	if err != nil {
		return err
	}
	e.lines.reserve(total)
	err = e.eachLineBatch(ctx, in, func(rec arrow.RecordBatch) error {
		e.lines.names.room(stringBytes(strCol(rec, "invoice_id")) + stringBytes(strCol(rec, "line_id")))
		err := e.encodeLines(rec, k, &e.lines)
		e.lines.names.expect(total)
		return err
	})
	if err != nil {
		return err
	}
	return e.recode(k)
}

// recode settles the codes once every line is encoded, and turns the
// lines' provisional codes into ranks.
func (e *engine) recode(k *coder) error {
	custRank, subRank, err := e.settleCodes(k)
	if err != nil {
		return err
	}
	l := &e.lines
	for i := range l.cust {
		l.cust[i] = custRank[l.cust[i]]
		if l.sub[i] >= 0 {
			l.sub[i] = subRank[l.sub[i]]
		}
	}
	return nil
}

// encodeHeads encodes the customers, plans and subscription events.
func (e *engine) encodeHeads(in Input, k *coder) error {
	for _, rec := range in.Customers {
		src, id := strCol(rec, "source"), strCol(rec, "customer_id")
		name, country := strCol(rec, "name"), strCol(rec, "country")
		trial, created := tsCol(rec, "trial_started_at"), tsCol(rec, "created_at")
		for i := 0; i < int(rec.NumRows()); i++ {
			if ts(created, i) >= e.asOf && ts(created, i) != schemas.NoTime {
				continue // a customer created after as_of does not exist yet
			}
			key := key2(src.Value(i), id.Value(i))
			k.addCustomer(key)
			k.info[key] = custInfo{name: name.Value(i), country: country.Value(i), trial: ts(trial, i), created: ts(created, i)}
		}
	}
	if err := e.encodePlans(in.Plans); err != nil {
		return err
	}
	var err error
	k.eventSources, err = e.encodeEvents(in.Events, k)
	for _, src := range e.opt.EventSources {
		k.eventSources[src] = true
	}
	return err
}

// unpaid says a line does not count because its source requires payment
// and it has none (refunds and cancellations are not payment-gated).
func (e *engine) unpaid(source string, kd int8, noPayment bool) bool {
	return noPayment && (kd == kindSubscription || kd == kindOneTime) && e.policyOf(source).requirePayment
}

// subCode codes a line's subscription: -1 for a refund or cancellation
// that names none.
func subCode(k *coder, s string, kd int8) int32 {
	if s == "" && (kd == kindRefund || kd == kindCancellation) {
		return -1
	}
	return k.subOf(s)
}

// encodeLines appends the lines of one batch that count (dated before
// as_of, paid when payment is required) to l, with provisional codes.
func (e *engine) encodeLines(rec arrow.RecordBatch, k *coder, l *lineColumns) error {
	defer k.forget()
	src, inv, lid := strsCol(rec, "source"), strCol(rec, "invoice_id"), strCol(rec, "line_id")
	cust, sub, plan, kind := strCol(rec, "customer_id"), strCol(rec, "subscription_id"), strsCol(rec, "plan_id"), strsCol(rec, "kind")
	idate, ps, pe, paid := tsCol(rec, "invoice_date"), tsCol(rec, "period_start"), tsCol(rec, "period_end"), tsCol(rec, "paid_at")
	amount, tax := i64Col(rec, "amount").Int64Values(), i64Col(rec, "tax").Int64Values()
	prorated, cur := boolCol(rec, "prorated"), strsCol(rec, "currency")
	idates := idate.TimestampValues()
	for i := 0; i < int(rec.NumRows()); i++ {
		if int64(idates[i]) >= e.asOf {
			continue
		}
		kd := encodeKind(kind.Value(i))
		if kd < 0 {
			return fmt.Errorf("line %s/%s: unknown kind %q", inv.Value(i), lid.Value(i), kind.Value(i))
		}
		source := src.Value(i)
		if e.unpaid(source, kd, paid.IsNull(i)) {
			continue
		}
		l.cust = append(l.cust, k.customerOf(source, cust.Value(i)))
		l.sub = append(l.sub, subCode(k, sub.Value(i), kd))
		cashOnly := len(k.eventSources) > 0 && k.eventSources[source]
		l.cashOnly = append(l.cashOnly, cashOnly)
		pc := int32(-1)
		if p := plan.Value(i); p != "" {
			c, ok := e.plans.lookup(source, p)
			if !ok {
				return fmt.Errorf("line %s/%s: plan %q is not among the plans of source %s", inv.Value(i), lid.Value(i), p, source)
			}
			pc = c
		}
		if kd == kindSubscription && pc < 0 && !cashOnly {
			return fmt.Errorf("line %s/%s: a subscription line has no plan", inv.Value(i), lid.Value(i))
		}
		l.plan = append(l.plan, pc)
		l.kind = append(l.kind, kd)
		d, start := int64(idates[i]), ts(ps, i)
		l.idate = append(l.idate, d)
		l.ps = append(l.ps, start)
		l.pe = append(l.pe, ts(pe, i))
		l.amount = append(l.amount, amount[i])
		l.tax = append(l.tax, tax[i])
		l.prorated = append(l.prorated, prorated.Value(i))
		l.cur = append(l.cur, k.curOf(cur.Value(i)))
		l.names.add(inv.Value(i), lid.Value(i))
		e.seeDay(e.cal.day(min(d, start)))
	}
	return nil
}

// settleCodes settles the reporting currency and the exchange rates,
// ranks the customers and subscriptions (so that no code depends on the
// order the input came in), re-codes the events and fills the customer
// table. It returns the rank of each provisional code.
func (e *engine) settleCodes(k *coder) (custRank, subRank []int32, err error) {
	if err := e.pickCurrency(k.curKeys); err != nil {
		return nil, nil, err
	}
	if e.fx, err = newFX(e.opt.Rates, k.curKeys, e.currency); err != nil {
		return nil, nil, err
	}
	e.currencies = k.curKeys
	custRank, subRank = rank(k.custKeys), rank(k.subKeys)
	for i := range e.events.cust {
		e.events.cust[i] = custRank[e.events.cust[i]]
		e.events.sub[i] = subRank[e.events.sub[i]]
	}
	c := &e.cust
	n := len(k.custKeys)
	c.source, c.id, c.name, c.country = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	c.trialStarted, c.created = make([]int64, n), make([]int64, n)
	for old, key := range k.custKeys {
		r := custRank[old]
		src, id, _ := strings.Cut(key, "\x00")
		c.source[r], c.id[r] = src, id
		ci, ok := k.info[key]
		if !ok {
			ci = custInfo{trial: schemas.NoTime, created: schemas.NoTime}
		}
		c.name[r], c.country[r], c.trialStarted[r], c.created[r] = ci.name, ci.country, ci.trial, ci.created
	}
	return custRank, subRank, nil
}

// pickCurrency settles the reporting currency: the configured one, or the
// only one present.
func (e *engine) pickCurrency(present []string) error {
	e.currency = strings.ToLower(e.opt.ReportingCurrency)
	if e.currency != "" {
		return nil
	}
	switch len(present) {
	case 0:
		e.currency = "usd"
	case 1:
		e.currency = present[0]
	default:
		slices.Sort(present)
		return fmt.Errorf("%w: the data holds several currencies (%s): set reporting_currency", ErrCurrency, strings.Join(present, ", "))
	}
	return nil
}

func (e *engine) encodePlans(recs []arrow.RecordBatch) error {
	p := &e.plans
	p.byKey = map[string]int32{}
	for _, rec := range recs {
		src, id, unit := strCol(rec, "source"), strCol(rec, "plan_id"), strCol(rec, "interval_unit")
		count, cur := i64Col(rec, "interval_count"), strCol(rec, "currency")
		for i := 0; i < int(rec.NumRows()); i++ {
			u, n := unit.Value(i), count.Value(i)
			if !validUnit(u) {
				return fmt.Errorf("plan %s of source %s: unknown interval unit %q", id.Value(i), src.Value(i), u)
			}
			if n < 1 {
				return fmt.Errorf("plan %s of source %s: interval count %d", id.Value(i), src.Value(i), n)
			}
			num, den := monthFactor(u, n)
			p.byKey[key2(src.Value(i), id.Value(i))] = int32(len(p.id))
			p.index(src.Value(i), id.Value(i), int32(len(p.id)))
			p.id = append(p.id, id.Value(i))
			p.source = append(p.source, src.Value(i))
			p.unit = append(p.unit, u)
			p.count = append(p.count, n)
			p.mfNum = append(p.mfNum, num)
			p.mfDen = append(p.mfDen, den)
			p.currency = append(p.currency, cur.Value(i))
		}
	}
	return nil
}

// encodeEvents encodes the subscription events before as_of; a plan an
// event names that was never sent is made from the event's interval. It
// returns the sources that have events.
func (e *engine) encodeEvents(recs []arrow.RecordBatch, k *coder) (map[string]bool, error) {
	ev := &e.events
	sources := map[string]bool{}
	for _, rec := range recs {
		src, id, cust, sub, plan := strCol(rec, "source"), strCol(rec, "event_id"), strCol(rec, "customer_id"), strCol(rec, "subscription_id"), strCol(rec, "plan_id")
		typ, at, amount := strCol(rec, "type"), tsCol(rec, "effective_at"), i64Col(rec, "amount")
		unit, count, cur := strCol(rec, "interval_unit"), i64Col(rec, "interval_count"), strCol(rec, "currency")
		disabled := boolCol(rec, "disabled")
		for i := 0; i < int(rec.NumRows()); i++ {
			sources[src.Value(i)] = true
			when := ts(at, i)
			if when >= e.asOf || disabled.IsValid(i) && disabled.Value(i) {
				continue // after as_of, or disabled by its sender
			}
			var kind int8
			switch typ.Value(i) {
			case schemas.EventStart, schemas.EventUpdate:
				kind = eventStart
			case schemas.EventCancel:
				kind = eventCancel
			default:
				return nil, fmt.Errorf("event %s: unknown type %q", id.Value(i), typ.Value(i))
			}
			u, n := unit.Value(i), count.Value(i)
			if kind == eventStart && (n < 1 || !validUnit(u)) {
				return nil, fmt.Errorf("event %s: interval %d %q", id.Value(i), n, u)
			}
			var mrr int64
			if kind == eventStart {
				num, den := monthFactor(u, n)
				mrr, _ = mulDivRound(amount.Value(i), num, den)
			}
			pc := int32(-1)
			if p := plan.Value(i); p != "" {
				pc = e.plans.add(src.Value(i), p, u, n)
			}
			ev.cust = append(ev.cust, k.customerOf(src.Value(i), cust.Value(i)))
			ev.sub = append(ev.sub, k.subOf(sub.Value(i)))
			ev.typ = append(ev.typ, kind)
			ev.t = append(ev.t, when)
			ev.mrr = append(ev.mrr, mrr)
			ev.plan = append(ev.plan, pc)
			ev.id = append(ev.id, id.Value(i))
			ev.cur = append(ev.cur, k.curOf(cur.Value(i)))
		}
	}
	return sources, nil
}

func validUnit(u string) bool {
	switch u {
	case schemas.UnitDay, schemas.UnitWeek, schemas.UnitMonth, schemas.UnitYear:
		return true
	}
	return false
}

// lookup returns the code of a plan of a source.
func (p *planTable) index(source, id string, c int32) {
	if p.bySource == nil {
		p.bySource = map[string]map[string]int32{}
	}
	if p.bySource[source] == nil {
		p.bySource[source] = map[string]int32{}
	}
	p.bySource[source][id] = c
}

func (p *planTable) lookup(source, id string) (int32, bool) {
	m := p.bySource[source]
	c, ok := m[id]
	return c, ok
}

// add returns the code of a plan, adding it when it was never sent.
func (p *planTable) add(source, id, unit string, count int64) int32 {
	if c, ok := p.byKey[key2(source, id)]; ok {
		return c
	}
	if !validUnit(unit) || count < 1 {
		unit, count = schemas.UnitMonth, 1
	}
	num, den := monthFactor(unit, count)
	c := int32(len(p.id))
	p.byKey[key2(source, id)] = c
	p.index(source, id, c)
	p.id = append(p.id, id)
	p.source = append(p.source, source)
	p.unit = append(p.unit, unit)
	p.count = append(p.count, count)
	p.mfNum = append(p.mfNum, num)
	p.mfDen = append(p.mfDen, den)
	p.currency = append(p.currency, "")
	return c
}

func encodeKind(s string) int8 {
	switch s {
	case schemas.KindSubscription:
		return kindSubscription
	case schemas.KindOneTime:
		return kindOneTime
	case schemas.KindRefund:
		return kindRefund
	case schemas.KindCancellation:
		return kindCancellation
	}
	return -1
}

// rank maps each position of keys to the rank of its key in sorted order.
func rank(keys []string) []int32 {
	idx := make([]int32, len(keys))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return cmp.Compare(keys[a], keys[b]) })
	out := make([]int32, len(keys))
	for r, i := range idx {
		out[i] = int32(r)
	}
	return out
}

// sortLines orders the lines for the scans: a counting sort by customer
// (linear), then each customer's few lines by subscription and time on
// typed slices; strings only break exact ties.
func (e *engine) sortLines() {
	l := &e.lines
	n := l.len()
	starts := make([]int32, e.cust.len()+1)
	for _, c := range l.cust {
		starts[c+1]++
	}
	for c := 1; c < len(starts); c++ {
		starts[c] += starts[c-1]
	}
	l.order = make([]int32, n)
	next := append([]int32(nil), starts[:len(starts)-1]...)
	for i, c := range l.cust {
		l.order[next[c]] = int32(i)
		next[c]++
	}
	cmpLines := func(a, b int32) int {
		if c := cmp.Compare(l.sub[a], l.sub[b]); c != 0 {
			return c
		}
		if c := cmp.Compare(l.ps[a], l.ps[b]); c != 0 {
			return c
		}
		if c := cmp.Compare(l.idate[a], l.idate[b]); c != 0 {
			return c
		}
		if c := cmp.Compare(l.names.inv(a), l.names.inv(b)); c != 0 {
			return c
		}
		return cmp.Compare(l.names.lid(a), l.names.lid(b))
	}
	for c := 0; c+1 < len(starts); c++ {
		if part := l.order[starts[c]:starts[c+1]]; len(part) > 1 {
			slices.SortFunc(part, cmpLines)
		}
	}
	l.custStart = starts
}

// sortEvents orders the subscription events by customer, subscription,
// time and id, and widens the months to their days.
func (e *engine) sortEvents() {
	ev := &e.events
	ev.order = make([]int32, len(ev.cust))
	for i := range ev.order {
		ev.order[i] = int32(i)
		e.seeDay(e.cal.day(ev.t[i]))
	}
	slices.SortFunc(ev.order, func(a, b int32) int {
		return cmp.Or(cmp.Compare(ev.cust[a], ev.cust[b]), cmp.Compare(ev.sub[a], ev.sub[b]),
			cmp.Compare(ev.t[a], ev.t[b]), cmp.Compare(ev.id[a], ev.id[b]))
	})
	ev.custStart = make([]int32, e.cust.len()+1)
	for _, i := range ev.order {
		ev.custStart[ev.cust[i]+1]++
	}
	for c := 1; c < len(ev.custStart); c++ {
		ev.custStart[c] += ev.custStart[c-1]
	}
}

// seeDay widens the months to a day with data.
func (e *engine) seeDay(d int32) {
	if !e.hasLines || d < e.firstDay {
		e.firstDay, e.hasLines = d, true
	}
}
