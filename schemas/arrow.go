package schemas

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Rows builds a record batch of one table row by row. Append the columns of
// each row in table order with the typed methods; Record returns the batch,
// which the caller releases.
type Rows struct {
	table *Table
	b     *array.RecordBuilder
	col   int
}

// NewRows starts a batch of the table.
func NewRows(mem memory.Allocator, t *Table) *Rows {
	return &Rows{table: t, b: array.NewRecordBuilder(mem, t.Schema())}
}

// Reserve makes room for n more rows.
func (r *Rows) Reserve(n int) { r.b.Reserve(n) }

func (r *Rows) next() array.Builder {
	f := r.b.Field(r.col)
	r.col++
	if r.col == len(r.table.Columns) {
		r.col = 0
	}
	return f
}

// String appends a string.
func (r *Rows) String(v string) { r.next().(*array.StringBuilder).Append(v) }

// Int64 appends an integer.
func (r *Rows) Int64(v int64) { r.next().(*array.Int64Builder).Append(v) }

// Int64Or appends an integer, or NULL when ok is false.
func (r *Rows) Int64Or(v int64, ok bool) {
	b := r.next().(*array.Int64Builder)
	if ok {
		b.Append(v)
	} else {
		b.AppendNull()
	}
}

// Float64Or appends a float, or NULL when ok is false.
func (r *Rows) Float64Or(v float64, ok bool) {
	b := r.next().(*array.Float64Builder)
	if ok {
		b.Append(v)
	} else {
		b.AppendNull()
	}
}

// Bool appends a boolean.
func (r *Rows) Bool(v bool) { r.next().(*array.BooleanBuilder).Append(v) }

// Time appends a timestamp in microseconds, NULL for NoTime.
func (r *Rows) Time(us int64) {
	b := r.next().(*array.TimestampBuilder)
	if us == NoTime {
		b.AppendNull()
	} else {
		b.Append(arrow.Timestamp(us))
	}
}

// Date appends a date as days since the Unix epoch, or NULL when ok is false.
func (r *Rows) Date(days int32, ok bool) {
	b := r.next().(*array.Date32Builder)
	if ok {
		b.Append(arrow.Date32(days))
	} else {
		b.AppendNull()
	}
}

// Strings appends a list of strings.
func (r *Rows) Strings(vs []string) {
	b := r.next().(*array.ListBuilder)
	b.Append(true)
	vb := b.ValueBuilder().(*array.StringBuilder)
	for _, v := range vs {
		vb.Append(v)
	}
}

// Record returns the rows appended so far as a batch, and resets the
// builder. The caller releases the batch.
func (r *Rows) Record() arrow.RecordBatch {
	if r.col != 0 {
		panic(fmt.Sprintf("schemas: table %s: a row is incomplete at column %d", r.table.Name, r.col))
	}
	return r.b.NewRecordBatch()
}

// Release frees the builder.
func (r *Rows) Release() { r.b.Release() }

// CustomersRecord converts customers to a batch of the customers table.
func CustomersRecord(mem memory.Allocator, cs []Customer) arrow.RecordBatch {
	r := NewRows(mem, Customers)
	defer r.Release()
	r.Reserve(len(cs))
	for i := range cs {
		c := &cs[i]
		r.String(c.Source)
		r.String(c.CustomerID)
		r.String(c.Name)
		r.String(c.Email)
		r.String(c.Country)
		r.String(c.State)
		r.Time(c.CreatedAt)
		r.Time(c.TrialStartedAt)
		r.String(c.Domain)
		r.String(c.Attributes)
		r.String(c.Origin)
	}
	return r.Record()
}

// PlansRecord converts plans to a batch of the plans table.
func PlansRecord(mem memory.Allocator, ps []Plan) arrow.RecordBatch {
	r := NewRows(mem, Plans)
	defer r.Release()
	r.Reserve(len(ps))
	for i := range ps {
		p := &ps[i]
		r.String(p.Source)
		r.String(p.PlanID)
		r.String(p.Name)
		r.String(p.IntervalUnit)
		r.Int64(p.IntervalCount)
		r.String(p.Currency)
		r.String(p.Origin)
	}
	return r.Record()
}

// InvoiceLinesRecord converts lines to a batch of the invoice_lines table,
// its columns built at once.
func InvoiceLinesRecord(mem memory.Allocator, ls []*InvoiceLine) arrow.RecordBatch {
	type L = *InvoiceLine
	return ColumnsRecord(mem, InvoiceLines, len(ls), []func(array.Builder){
		StringColumn(ls, func(l *L) string { return (*l).Source }),
		StringColumn(ls, func(l *L) string { return (*l).InvoiceID }),
		StringColumn(ls, func(l *L) string { return (*l).LineID }),
		StringColumn(ls, func(l *L) string { return (*l).CustomerID }),
		StringColumn(ls, func(l *L) string { return (*l).SubscriptionID }),
		StringColumn(ls, func(l *L) string { return (*l).PlanID }),
		StringColumn(ls, func(l *L) string { return (*l).Kind }),
		TimeColumn(ls, func(l *L) int64 { return (*l).InvoiceDate }),
		TimeColumn(ls, func(l *L) int64 { return (*l).PeriodStart }),
		TimeColumn(ls, func(l *L) int64 { return (*l).PeriodEnd }),
		Int64Column(ls, func(l *L) int64 { return (*l).Amount }),
		Int64Column(ls, func(l *L) int64 { return (*l).Tax }),
		Int64Column(ls, func(l *L) int64 { return (*l).Discount }),
		Int64Column(ls, func(l *L) int64 { return (*l).Quantity }),
		BoolColumn(ls, func(l *L) bool { return (*l).Prorated }),
		TimeColumn(ls, func(l *L) int64 { return (*l).PaidAt }),
		StringColumn(ls, func(l *L) string { return (*l).Currency }),
		StringColumn(ls, func(l *L) string { return (*l).Origin }),
	})
}

// Refs points at each item of s.
func Refs[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// ColumnsRecord builds a batch of n rows of a table column by column, the
// columns on several goroutines: fill[i] appends the n values of column i
// to its builder (made with room for n values), reading only (the fills
// run at once). The caller releases the batch.
func ColumnsRecord(mem memory.Allocator, t *Table, n int, fill []func(array.Builder)) arrow.RecordBatch {
	schema := t.Schema()
	if len(fill) != len(schema.Fields()) {
		panic(fmt.Sprintf("schemas: table %s: %d columns filled, the table has %d", t.Name, len(fill), len(schema.Fields())))
	}
	cols := make([]arrow.Array, len(fill))
	next := atomic.Int32{}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(fill)) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(fill); i = int(next.Add(1)) - 1 {
				b := array.NewBuilder(mem, schema.Field(i).Type)
				b.Reserve(n)
				fill[i](b)
				cols[i] = b.NewArray()
				b.Release()
			}
		})
	}
	wg.Wait()
	rec := array.NewRecordBatch(schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// StringColumn fills a string column with get of each item.
func StringColumn[T any](items []T, get func(*T) string) func(array.Builder) {
	return func(b array.Builder) {
		sb := b.(*array.StringBuilder)
		size := 0
		for i := range items {
			size += len(get(&items[i]))
		}
		sb.ReserveData(size)
		for i := range items {
			sb.Append(get(&items[i]))
		}
	}
}

// Int64Column fills an INT64 column with get of each item.
func Int64Column[T any](items []T, get func(*T) int64) func(array.Builder) {
	return func(b array.Builder) {
		ib := b.(*array.Int64Builder)
		for i := range items {
			ib.UnsafeAppend(get(&items[i]))
		}
	}
}

// TimeColumn fills a timestamp column with microseconds, NULL for NoTime.
func TimeColumn[T any](items []T, get func(*T) int64) func(array.Builder) {
	return func(b array.Builder) {
		tb := b.(*array.TimestampBuilder)
		for i := range items {
			if us := get(&items[i]); us == NoTime {
				tb.UnsafeAppendBoolToBitmap(false)
			} else {
				tb.UnsafeAppend(arrow.Timestamp(us))
			}
		}
	}
}

// BoolColumn fills a BOOLEAN column with get of each item.
func BoolColumn[T any](items []T, get func(*T) bool) func(array.Builder) {
	return func(b array.Builder) {
		bb := b.(*array.BooleanBuilder)
		for i := range items {
			bb.UnsafeAppend(get(&items[i]))
		}
	}
}

// DateColumn fills a DATE column with days since the Unix epoch.
func DateColumn[T any](items []T, get func(*T) int32) func(array.Builder) {
	return func(b array.Builder) {
		db := b.(*array.Date32Builder)
		for i := range items {
			db.UnsafeAppend(arrow.Date32(get(&items[i])))
		}
	}
}

// StringsColumn fills a LIST<STRING> column: each item adds its strings.
func StringsColumn[T any](items []T, each func(*T, func(string))) func(array.Builder) {
	return func(b array.Builder) {
		lb := b.(*array.ListBuilder)
		vb := lb.ValueBuilder().(*array.StringBuilder)
		add := func(v string) { vb.Append(v) }
		for i := range items {
			lb.Append(true)
			each(&items[i], add)
		}
	}
}

// TransactionsRecord converts transactions to a batch of their table.
func TransactionsRecord(mem memory.Allocator, ts []Transaction) arrow.RecordBatch {
	r := NewRows(mem, Transactions)
	defer r.Release()
	r.Reserve(len(ts))
	for i := range ts {
		x := &ts[i]
		r.String(x.Source)
		r.String(x.TransactionID)
		r.String(x.InvoiceID)
		r.String(x.Type)
		r.String(x.Result)
		r.Time(x.Date)
		r.String(x.Origin)
		r.Int64Or(x.Amount, x.Amount != NoAmount)
	}
	return r.Record()
}

// EventsRecord converts subscription events to a batch of their table.
func EventsRecord(mem memory.Allocator, es []SubscriptionEvent) arrow.RecordBatch {
	r := NewRows(mem, SubscriptionEvents)
	defer r.Release()
	r.Reserve(len(es))
	for i := range es {
		x := &es[i]
		r.String(x.Source)
		r.String(x.EventID)
		r.String(x.CustomerID)
		r.String(x.SubscriptionID)
		r.String(x.PlanID)
		r.String(x.Type)
		r.Time(x.EffectiveAt)
		r.Int64(x.Amount)
		r.String(x.IntervalUnit)
		r.Int64(x.IntervalCount)
		r.String(x.Currency)
		r.Int64(x.Quantity)
		r.String(x.Origin)
		r.Bool(x.Disabled)
	}
	return r.Record()
}

// ContactsRecord converts contacts to a batch of their table.
func ContactsRecord(mem memory.Allocator, cs []Contact) arrow.RecordBatch {
	r := NewRows(mem, Contacts)
	defer r.Release()
	r.Reserve(len(cs))
	for i := range cs {
		x := &cs[i]
		for _, v := range []string{x.Source, x.Email, x.FirstName, x.LastName, x.Phone, x.JobTitle, x.Country, x.ContactType, x.Origin} {
			r.String(v)
		}
	}
	return r.Record()
}

// RejectedRecord converts rejections to a batch of the rejected_rows table.
func RejectedRecord(mem memory.Allocator, rs []Rejected) arrow.RecordBatch {
	r := NewRows(mem, RejectedRows)
	defer r.Release()
	r.Reserve(len(rs))
	for i := range rs {
		x := &rs[i]
		r.String(x.RunID)
		r.String(x.Source)
		r.String(string(x.Entity))
		r.String(x.RecordID)
		r.String(x.Origin)
		r.String(x.Error)
		r.String(x.Raw)
	}
	return r.Record()
}

// columns gives typed access to a batch's columns by name.
type columns struct {
	rec arrow.RecordBatch
	t   *Table
	err error
}

func (c *columns) arr(name string) arrow.Array {
	i := c.t.Index(name)
	if c.rec.Schema().Field(i).Name != name {
		c.err = fmt.Errorf("table %s: column %d is %q, want %q", c.t.Name, i, c.rec.Schema().Field(i).Name, name)
	}
	return c.rec.Column(i)
}

func (c *columns) str(name string) *array.String {
	a, ok := c.arr(name).(*array.String)
	if !ok && c.err == nil {
		c.err = fmt.Errorf("table %s: column %s is not a string column", c.t.Name, name)
	}
	return a
}

func (c *columns) i64(name string) *array.Int64 {
	a, ok := c.arr(name).(*array.Int64)
	if !ok && c.err == nil {
		c.err = fmt.Errorf("table %s: column %s is not an int64 column", c.t.Name, name)
	}
	return a
}

func (c *columns) ts(name string) *array.Timestamp {
	a, ok := c.arr(name).(*array.Timestamp)
	if !ok && c.err == nil {
		c.err = fmt.Errorf("table %s: column %s is not a timestamp column", c.t.Name, name)
	}
	return a
}

func (c *columns) boolean(name string) *array.Boolean {
	a, ok := c.arr(name).(*array.Boolean)
	if !ok && c.err == nil {
		c.err = fmt.Errorf("table %s: column %s is not a boolean column", c.t.Name, name)
	}
	return a
}

func timeAt(a *array.Timestamp, i int) int64 {
	if a.IsNull(i) {
		return NoTime
	}
	return int64(a.Value(i))
}

// CustomersFrom converts a batch of the customers table back to records.
func CustomersFrom(rec arrow.RecordBatch, out []Customer) ([]Customer, error) {
	c := &columns{rec: rec, t: Customers}
	src, id, name, email := c.str("source"), c.str("customer_id"), c.str("name"), c.str("email")
	country, state, created, trial := c.str("country"), c.str("state"), c.ts("created_at"), c.ts("trial_started_at")
	domain, attrs, origin := c.str("domain"), c.str("attributes"), c.str("origin")
	if c.err != nil {
		return out, c.err
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		out = append(out, Customer{
			Source: src.Value(i), CustomerID: id.Value(i), Name: name.Value(i), Email: email.Value(i),
			Country: country.Value(i), State: state.Value(i), CreatedAt: timeAt(created, i),
			TrialStartedAt: timeAt(trial, i), Domain: domain.Value(i), Attributes: attrs.Value(i),
			Origin: origin.Value(i),
		})
	}
	return out, nil
}

// PlansFrom converts a batch of the plans table back to records.
func PlansFrom(rec arrow.RecordBatch, out []Plan) ([]Plan, error) {
	c := &columns{rec: rec, t: Plans}
	src, id, name, unit := c.str("source"), c.str("plan_id"), c.str("name"), c.str("interval_unit")
	count, cur, origin := c.i64("interval_count"), c.str("currency"), c.str("origin")
	if c.err != nil {
		return out, c.err
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		out = append(out, Plan{
			Source: src.Value(i), PlanID: id.Value(i), Name: name.Value(i), IntervalUnit: unit.Value(i),
			IntervalCount: count.Value(i), Currency: cur.Value(i), Origin: origin.Value(i),
		})
	}
	return out, nil
}

// InvoiceLinesFrom converts a batch of the invoice_lines table back to records.
func InvoiceLinesFrom(rec arrow.RecordBatch, out []InvoiceLine) ([]InvoiceLine, error) {
	c := &columns{rec: rec, t: InvoiceLines}
	src, inv, line, cust := c.str("source"), c.str("invoice_id"), c.str("line_id"), c.str("customer_id")
	sub, plan, kind := c.str("subscription_id"), c.str("plan_id"), c.str("kind")
	idate, ps, pe := c.ts("invoice_date"), c.ts("period_start"), c.ts("period_end")
	amount, tax, disc, qty := c.i64("amount"), c.i64("tax"), c.i64("discount"), c.i64("quantity")
	prorated, paid, cur, origin := c.boolean("prorated"), c.ts("paid_at"), c.str("currency"), c.str("origin")
	if c.err != nil {
		return out, c.err
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		out = append(out, InvoiceLine{
			Source: src.Value(i), InvoiceID: inv.Value(i), LineID: line.Value(i), CustomerID: cust.Value(i),
			SubscriptionID: sub.Value(i), PlanID: plan.Value(i), Kind: kind.Value(i),
			InvoiceDate: timeAt(idate, i), PeriodStart: timeAt(ps, i), PeriodEnd: timeAt(pe, i),
			Amount: amount.Value(i), Tax: tax.Value(i), Discount: disc.Value(i), Quantity: qty.Value(i),
			Prorated: prorated.Value(i), PaidAt: timeAt(paid, i), Currency: cur.Value(i), Origin: origin.Value(i),
		})
	}
	return out, nil
}

// TransactionsFrom converts a batch of the transactions table back to records.
func TransactionsFrom(rec arrow.RecordBatch, out []Transaction) ([]Transaction, error) {
	c := &columns{rec: rec, t: Transactions}
	src, id, inv, typ := c.str("source"), c.str("transaction_id"), c.str("invoice_id"), c.str("type")
	result, date, origin, amount := c.str("result"), c.ts("date"), c.str("origin"), c.i64("amount")
	if c.err != nil {
		return out, c.err
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		amt := NoAmount
		if amount.IsValid(i) {
			amt = amount.Value(i)
		}
		out = append(out, Transaction{
			Source: src.Value(i), TransactionID: id.Value(i), InvoiceID: inv.Value(i), Type: typ.Value(i),
			Result: result.Value(i), Date: timeAt(date, i), Origin: origin.Value(i), Amount: amt,
		})
	}
	return out, nil
}

// EventsFrom converts a batch of the subscription_events table back to records.
func EventsFrom(rec arrow.RecordBatch, out []SubscriptionEvent) ([]SubscriptionEvent, error) {
	c := &columns{rec: rec, t: SubscriptionEvents}
	src, id, cust, sub, plan, typ := c.str("source"), c.str("event_id"), c.str("customer_id"), c.str("subscription_id"), c.str("plan_id"), c.str("type")
	at, amount, unit, count := c.ts("effective_at"), c.i64("amount"), c.str("interval_unit"), c.i64("interval_count")
	cur, qty, origin, disabled := c.str("currency"), c.i64("quantity"), c.str("origin"), c.boolean("disabled")
	if c.err != nil {
		return out, c.err
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		out = append(out, SubscriptionEvent{
			Source: src.Value(i), EventID: id.Value(i), CustomerID: cust.Value(i), SubscriptionID: sub.Value(i),
			PlanID: plan.Value(i), Type: typ.Value(i), EffectiveAt: timeAt(at, i), Amount: amount.Value(i),
			IntervalUnit: unit.Value(i), IntervalCount: count.Value(i), Currency: cur.Value(i), Quantity: qty.Value(i),
			Origin: origin.Value(i), Disabled: disabled.IsValid(i) && disabled.Value(i),
		})
	}
	return out, nil
}

// ContactsFrom converts a batch of the contacts table back to records.
func ContactsFrom(rec arrow.RecordBatch, out []Contact) ([]Contact, error) {
	c := &columns{rec: rec, t: Contacts}
	cols := make([]*array.String, len(Contacts.Columns))
	for i, col := range Contacts.Columns {
		cols[i] = c.str(col.Name)
	}
	if c.err != nil {
		return out, c.err
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		out = append(out, Contact{
			Source: cols[0].Value(i), Email: cols[1].Value(i), FirstName: cols[2].Value(i), LastName: cols[3].Value(i),
			Phone: cols[4].Value(i), JobTitle: cols[5].Value(i), Country: cols[6].Value(i), ContactType: cols[7].Value(i),
			Origin: cols[8].Value(i),
		})
	}
	return out, nil
}
