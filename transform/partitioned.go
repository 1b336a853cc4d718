package transform

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/arena"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
)

// InParts says how a source too large to hold in memory is normalized:
// its records, and its stored tables, are spilled to disk in partitions
// by id, and merged one partition at a time.
type InParts struct {
	// Parts is the number of partitions (at least 1).
	Parts int
	// Dir holds the spilled records while the source is normalized; it is
	// removed after.
	Dir string
	// Pending bounds the records held before they are spilled (default
	// 1<<19; as many again are being spilled meanwhile).
	Pending int
}

// ErrNotInParts is a source whose records a partitioned merge cannot
// settle apart: subscription rows (a company is made from the rows of
// several subscriptions, and lines find their customer through them).
var ErrNotInParts = errors.New("the source sends records that are merged across partitions")

// NormalizeInParts normalizes a source as Normalize does, in bounded
// memory: what it reads is validated as it comes and spilled to disk by
// id (customers by customer id; lines, invoice headers, line items and
// transactions by invoice id; events by event id; contacts by email), and
// each partition is then merged with the stored records of its ids and
// written as one part of the source's normalized tables, into tx. Lines and events find their customer in a set of the
// accepted customers' id hashes, and their plan among the plans, which are
// merged first and held whole. The result's Batch is empty: the tables
// are in tx (Result.Written).
func NormalizeInParts(ctx context.Context, runID string, src configs.Source, mode string, ex extract.Extractor,
	w *store.Warehouse, tx *store.Tx, opt InParts) (*Result, error) {
	start := time.Now()
	if opt.Pending <= 0 {
		opt.Pending = 1 << 19
	}
	sp, err := newSpill(opt.Dir, max(1, opt.Parts))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(opt.Dir)
	defer sp.flush()
	n := newNormalizer(runID)
	n.res.Batch.Source = src.Name
	n.major = src.Amounts == configs.AmountsMajor
	spills := newWorker()
	defer spills.wait()
	n.flush = func(force bool) error {
		if !force && n.pending() < opt.Pending {
			return nil
		}
		p, err := n.takePending()
		if err != nil {
			return err
		}
		spills.do(func() error { return p.spillTo(sp) })
		return nil
	}
	err = n.read(ctx, ex)
	if err == nil {
		err = n.flush(true)
	}
	if err = errors.Join(err, spills.wait()); err == nil {
		err = sp.flush()
	}
	if err != nil {
		return nil, err
	}
	if n.unchanged(mode, start) {
		return n.res, nil
	}
	m := &partMerge{n: n, sp: sp, source: src.Name, replace: mode == configs.ModeReplace,
		out: newPartWriter(tx, src.Name), tables: map[*schemas.Table]*TableChange{}}
	defer m.out.wait()
	for _, t := range schemas.Normalized {
		m.tables[t] = &TableChange{}
	}
	if err := m.splitStored(ctx, w); err != nil {
		return nil, err
	}
	if err := m.mergePlans(ctx, w); err != nil {
		return nil, err
	}
	if err := m.mergeCustomers(); err != nil {
		return nil, err
	}
	for k := range sp.parts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := m.mergePart(k); err != nil {
			return nil, err
		}
	}
	if err := m.out.finish(); err != nil {
		return nil, err
	}
	n.res.Tables = map[string]TableChange{}
	for t, c := range m.tables {
		c.Removed = n.removed[t.Name]
		n.res.Tables[t.Name] = *c
	}
	if n.res.Accounts, err = n.ledger.accounts(); err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	for e, a := range n.res.Accounts {
		n.res.Accepted[e] = a.Accepted()
	}
	n.res.Written = true
	n.res.Took = time.Since(start)
	return n.res, nil
}

// pending counts the records held, not yet spilled.
func (n *normalizer) pending() int {
	c := len(n.lines) + len(n.customers) + len(n.events) + len(n.contacts) + len(n.headers) + len(n.items) + len(n.transactions)
	for _, p := range n.lineParts {
		c += len(p)
	}
	return c
}

// pendingRecords are records taken from a normalizer, to be spilled.
type pendingRecords struct {
	lineParts    [][]pendingLine
	customers    []schemas.Customer
	customerRefs []ref
	events       []pendingEvent
	contacts     []schemas.Contact
	contactRefs  []ref
	headers      map[string]invoiceHeader
	items        []lineItem
	transactions []schemas.Transaction
	txRefs       []ref
}

// takePending takes the records held out of n, which goes on without them.
func (n *normalizer) takePending() (*pendingRecords, error) {
	if len(n.subCustomer) > 0 {
		return nil, fmt.Errorf("source %s: %w", n.res.Batch.Source, ErrNotInParts)
	}
	p := &pendingRecords{lineParts: append(n.lineParts, n.lines), customers: n.customers, customerRefs: n.customerRefs,
		events: n.events, contacts: n.contacts, contactRefs: n.contactRefs, headers: n.headers, items: n.items,
		transactions: n.transactions, txRefs: n.txRefs}
	// The ids of the lines taken are in the arena: a new one starts.
	n.lines, n.lineParts, n.arena = nil, nil, arena.Arena{}
	n.customers, n.customerRefs, n.events, n.contacts, n.contactRefs = nil, nil, nil, nil, nil
	n.headers, n.items, n.transactions, n.txRefs = map[string]invoiceHeader{}, nil, nil, nil
	return p, nil
}

// spillTo spills the records, each to the partition of its id, in the
// order read (headers too, one of each id a spill: a header of the id in a
// later spill supersedes it when the partition is merged).
func (p *pendingRecords) spillTo(sp *spill) error {
	var err error
	keep := func(e error) {
		if err == nil {
			err = e
		}
	}
	for _, part := range p.lineParts {
		for i := range part {
			l := &part[i]
			keep(put(sp, spillLines, l.line.InvoiceID, l.ref, &l.line, l.raw, lineFields))
		}
	}
	for i := range p.customers {
		keep(put(sp, spillCustomers, p.customers[i].CustomerID, p.customerRefs[i], &p.customers[i], "", customerFields))
	}
	for i := range p.events {
		ev := &p.events[i]
		keep(put(sp, spillEvents, ev.event.EventID, ev.ref, &ev.event, ev.raw, eventFields))
	}
	for i := range p.contacts {
		keep(put(sp, spillContacts, p.contacts[i].Email, p.contactRefs[i], &p.contacts[i], "", contactFields))
	}
	ids := slices.Collect(maps.Keys(p.headers))
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(p.headers[a].ref, p.headers[b].ref) })
	for _, id := range ids {
		h := spilledHeader{id: id, h: p.headers[id]}
		keep(put(sp, spillHeaders, id, h.h.ref, &h, "", headerFields))
	}
	for i := range p.items {
		it := &p.items[i]
		keep(put(sp, spillItems, it.line.InvoiceID, it.ref, it, it.raw, itemFields))
	}
	for i := range p.transactions {
		keep(put(sp, spillTx, p.transactions[i].InvoiceID, p.txRefs[i], &p.transactions[i], "", transactionFields))
	}
	return err
}

// worker runs jobs one after another on a goroutine of its own while its
// owner goes on (the spills of what a normalizer held while it reads on,
// the writes of parts while the next partition is merged); after a job
// fails it skips the rest.
type worker struct {
	jobs chan func() error
	done chan struct{}
	err  error
}

func newWorker() *worker {
	jobs := make(chan func() error, 1)
	w := &worker{jobs: jobs, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for job := range jobs {
			if w.err == nil {
				w.err = job()
			}
		}
	}()
	return w
}

// do queues a job.
func (w *worker) do(job func() error) { w.jobs <- job }

// wait waits until every job queued is done, and says what failed.
func (w *worker) wait() error {
	if w.jobs != nil {
		close(w.jobs)
		w.jobs = nil
	}
	<-w.done
	return w.err
}

// partMerge merges a spilled source partition by partition.
type partMerge struct {
	n       *normalizer
	sp      *spill
	source  string
	replace bool
	out     *partWriter
	tables  map[*schemas.Table]*TableChange
	plans   map[string]*schemas.Plan
	// customers holds a hash of each accepted customer's id. A line or
	// event naming a missing customer whose id hashes alike (one chance in
	// 2^64 per customer) would be taken as the customer's.
	customers map[uint64]struct{}
	// transactions holds the partition of each transaction kept, by a hash
	// of its id: one id under invoices of two partitions stops the run.
	transactions map[uint64]int32
}

// splitStored spills the source's stored customers, lines, transactions,
// events and contacts to the partitions of their ids, one file at a time.
func (m *partMerge) splitStored(ctx context.Context, w *store.Warehouse) error {
	err := errors.Join(
		splitTable(ctx, m, w, schemas.Customers, schemas.CustomersFrom, spillCustomers, func(c *schemas.Customer) string { return c.CustomerID }, customerFields),
		splitTable(ctx, m, w, schemas.InvoiceLines, schemas.InvoiceLinesFrom, spillLines, func(l *schemas.InvoiceLine) string { return l.InvoiceID }, lineFields),
		splitTable(ctx, m, w, schemas.Transactions, schemas.TransactionsFrom, spillTx, func(t *schemas.Transaction) string { return t.InvoiceID }, transactionFields),
		splitTable(ctx, m, w, schemas.SubscriptionEvents, schemas.EventsFrom, spillEvents, func(e *schemas.SubscriptionEvent) string { return e.EventID }, eventFields),
		splitTable(ctx, m, w, schemas.Contacts, schemas.ContactsFrom, spillContacts, func(c *schemas.Contact) string { return c.Email }, contactFields))
	return errors.Join(err, m.sp.flush())
}

// splitTable spills the stored rows of one table to the partitions of
// their ids, a file at a time.
func splitTable[T any](ctx context.Context, m *partMerge, w *store.Warehouse, t *schemas.Table, from func(arrow.RecordBatch, []T) ([]T, error),
	kind string, id func(*T) string, visit func(fields, *T)) error {
	for _, path := range TableFiles(w, t, m.source) {
		recs, err := schemas.ReadParquetFile(ctx, memory.DefaultAllocator, path, t)
		if err != nil {
			return fmt.Errorf("load source %s: %w", m.source, err)
		}
		var rows []T
		for _, r := range recs {
			if err == nil {
				rows, err = from(r, rows[:0])
				for i := 0; i < len(rows) && err == nil; i++ {
					err = put(m.sp, storedPrefix+kind, id(&rows[i]), noRef, &rows[i], "", visit)
				}
			}
			r.Release()
		}
		if err != nil {
			return fmt.Errorf("load source %s %s: %w", m.source, t.Name, err)
		}
	}
	return nil
}

// base is what a partition's records are merged into: its stored records
// for an upsert, nothing for a replace.
func (m *partMerge) base(stored *Batch) *Batch {
	if m.replace {
		return &Batch{Source: m.source}
	}
	return stored
}

// mergePlans merges the plans read (held whole: they are few) with the
// stored ones, and writes them.
func (m *partMerge) mergePlans(ctx context.Context, w *store.Warehouse) error {
	stored := &Batch{Source: m.source}
	if err := load(ctx, w, m.source, schemas.Plans, schemas.PlansFrom, &stored.Plans); err != nil {
		return err
	}
	n := m.n
	plans := accept(n, schemas.EntityPlan, schemas.Plans, m.base(stored).Plans, stored.Plans, n.plans, n.planRefs,
		func(p *schemas.Plan) string { return p.PlanID }, func(p *schemas.Plan) string { return p.Origin },
		sameBut(func(p *schemas.Plan) *string { return &p.Origin }))
	m.tables[schemas.Plans].Before = len(stored.Plans)
	m.plans = make(map[string]*schemas.Plan, len(plans))
	for i := range plans {
		m.plans[plans[i].PlanID] = &plans[i]
	}
	m.write(schemas.Plans, len(plans), func(mem memory.Allocator) arrow.RecordBatch { return schemas.PlansRecord(mem, plans) })
	return nil
}

// mergeCustomers merges each partition's customers, writes them, and
// keeps the hashes of their ids.
func (m *partMerge) mergeCustomers() error {
	n := m.n
	m.customers = map[uint64]struct{}{}
	for k := range m.sp.parts {
		var incoming, stored []schemas.Customer
		var refs []ref
		err := errors.Join(
			take(m.sp, spillCustomers, k, customerFields, func(c *schemas.Customer, r ref, _ string) {
				incoming, refs = append(incoming, *c), append(refs, r)
			}),
			take(m.sp, storedPrefix+spillCustomers, k, customerFields, func(c *schemas.Customer, _ ref, _ string) {
				stored = append(stored, *c)
			}))
		if err != nil {
			return err
		}
		m.tables[schemas.Customers].Before += len(stored)
		base := m.base(&Batch{Customers: stored}).Customers
		merged := accept(n, schemas.EntityCustomer, schemas.Customers, base, stored, incoming, refs,
			func(c *schemas.Customer) string { return c.CustomerID }, func(c *schemas.Customer) string { return c.Origin },
			sameBut(func(c *schemas.Customer) *string { return &c.Origin }))
		for i := range merged {
			m.customers[idHash(merged[i].CustomerID)] = struct{}{}
		}
		m.write(schemas.Customers, len(merged), func(mem memory.Allocator) arrow.RecordBatch { return schemas.CustomersRecord(mem, merged) })
	}
	return nil
}

// mergePart merges partition k's lines (with their headers, items and
// transactions), events and contacts, and writes them.
func (m *partMerge) mergePart(k int) error {
	n := m.n
	stored := &Batch{Source: m.source}
	var storedLines []schemas.InvoiceLine
	err := errors.Join(
		take(m.sp, spillLines, k, lineFields, func(l *schemas.InvoiceLine, r ref, raw string) {
			n.lines = append(n.lines, pendingLine{line: *l, raw: raw, ref: r})
		}),
		take(m.sp, storedPrefix+spillLines, k, lineFields, func(l *schemas.InvoiceLine, _ ref, _ string) {
			storedLines = append(storedLines, *l)
		}),
		take(m.sp, spillHeaders, k, headerFields, func(s *spilledHeader, r ref, _ string) {
			s.h.ref = r
			if old, ok := n.headers[s.id]; ok {
				n.supersede(schemas.EntityInvoice, s.id, old.origin, s.h.origin, old.ref)
			}
			n.headers[s.id] = s.h
		}),
		take(m.sp, spillItems, k, itemFields, func(it *lineItem, r ref, raw string) {
			it.ref, it.raw = r, raw
			n.items = append(n.items, *it)
		}),
		take(m.sp, spillTx, k, transactionFields, func(t *schemas.Transaction, r ref, _ string) {
			n.transactions, n.txRefs = append(n.transactions, *t), append(n.txRefs, r)
		}),
		take(m.sp, storedPrefix+spillTx, k, transactionFields, func(t *schemas.Transaction, _ ref, _ string) {
			stored.Transactions = append(stored.Transactions, *t)
		}),
		take(m.sp, spillEvents, k, eventFields, func(e *schemas.SubscriptionEvent, r ref, raw string) {
			n.events = append(n.events, pendingEvent{event: *e, raw: raw, ref: r})
		}),
		take(m.sp, storedPrefix+spillEvents, k, eventFields, func(e *schemas.SubscriptionEvent, _ ref, _ string) {
			stored.Events = append(stored.Events, *e)
		}),
		take(m.sp, spillContacts, k, contactFields, func(c *schemas.Contact, r ref, _ string) {
			n.contacts, n.contactRefs = append(n.contacts, *c), append(n.contactRefs, r)
		}),
		take(m.sp, storedPrefix+spillContacts, k, contactFields, func(c *schemas.Contact, _ ref, _ string) {
			stored.Contacts = append(stored.Contacts, *c)
		}))
	if err != nil {
		return err
	}
	stored.Lines = schemas.Refs(storedLines)
	// As merge does: refund lines made from transactions are made again.
	stored = withoutRefundLines(stored)
	base := m.base(stored)
	for t, c := range map[*schemas.Table]int{schemas.InvoiceLines: len(stored.Lines), schemas.Transactions: len(stored.Transactions),
		schemas.SubscriptionEvents: len(stored.Events), schemas.Contacts: len(stored.Contacts)} {
		m.tables[t].Before += c
	}
	has := func(id string) bool {
		_, ok := m.customers[idHash(id)]
		return ok
	}
	out := &n.res.Batch
	n.joinItems(m.source, stored)
	fresh, badInvoice := n.mergeLines(m.source, base, has, m.plans)
	n.applyTransactions(m.source, base, stored)
	outcomes, added := n.settleLines(stored.Lines, fresh)
	n.settleHeaders(m.source, badInvoice, outcomes)
	n.removed[schemas.InvoiceLines.Name] += len(stored.Lines) + added - len(out.Lines)
	n.addRefundLines(m.source)
	n.mergeEvents(m.source, base, stored, has, m.plans)
	out.Contacts = accept(n, schemas.EntityContact, schemas.Contacts, base.Contacts, stored.Contacts, n.contacts, n.contactRefs,
		func(c *schemas.Contact) string { return c.Email }, func(c *schemas.Contact) string { return c.Origin },
		sameBut(func(c *schemas.Contact) *string { return &c.Origin }))
	n.events, n.contacts, n.contactRefs = nil, nil, nil
	n.headers, n.items, n.transactions, n.txRefs = map[string]invoiceHeader{}, nil, nil, nil
	if err := m.checkTransactions(k, out.Transactions); err != nil {
		return err
	}
	lines, transactions, events, contacts := out.Lines, out.Transactions, out.Events, out.Contacts
	out.Lines, out.Transactions, out.Events, out.Contacts = nil, nil, nil, nil
	m.write(schemas.InvoiceLines, len(lines), func(mem memory.Allocator) arrow.RecordBatch { return schemas.InvoiceLinesRecord(mem, lines) })
	m.write(schemas.Transactions, len(transactions), func(mem memory.Allocator) arrow.RecordBatch { return schemas.TransactionsRecord(mem, transactions) })
	m.write(schemas.SubscriptionEvents, len(events), func(mem memory.Allocator) arrow.RecordBatch { return schemas.EventsRecord(mem, events) })
	m.write(schemas.Contacts, len(contacts), func(mem memory.Allocator) arrow.RecordBatch { return schemas.ContactsRecord(mem, contacts) })
	return nil
}

// ErrMovedTransaction is a transaction id kept under invoices of two
// partitions: in memory the later record of an id wins across invoices,
// which partitions by invoice cannot settle.
var ErrMovedTransaction = errors.New("a transaction id is sent under two invoices")

// checkTransactions stops a delivery that keeps one transaction id in two
// partitions (a transaction moved to another invoice, or two invoices
// naming one transaction): the run fails, and nothing is replaced.
func (m *partMerge) checkTransactions(k int, kept []schemas.Transaction) error {
	if len(kept) == 0 {
		return nil
	}
	if m.transactions == nil {
		m.transactions = map[uint64]int32{}
	}
	for i := range kept {
		h := idHash(kept[i].TransactionID)
		if p, seen := m.transactions[h]; seen && int(p) != k {
			return fmt.Errorf("source %s: %w: transaction %q (of invoice %q, %s): normalize this delivery in memory (--import-bytes -1)",
				m.source, ErrMovedTransaction, kept[i].TransactionID, kept[i].InvoiceID, kept[i].Origin)
		}
		m.transactions[h] = int32(k)
	}
	return nil
}

// write counts rows of a table and has them written as its next part,
// while the merge goes on (the output's finish says what failed).
func (m *partMerge) write(t *schemas.Table, rows int, build func(memory.Allocator) arrow.RecordBatch) {
	m.tables[t].After += rows
	if rows > 0 {
		m.out.queue(t, build)
	}
}

// idHash is FNV-1a of an id.
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * 1099511628211
	}
	return h
}

// partWriter writes a source's normalized tables part by part into a run's
// transaction, on a worker: one part is built and written while the next
// partition is merged.
type partWriter struct {
	*worker
	tx     *store.Tx
	source string
	next   map[*schemas.Table]int
}

func newPartWriter(tx *store.Tx, source string) *partWriter {
	return &partWriter{worker: newWorker(), tx: tx, source: source, next: map[*schemas.Table]int{}}
}

// queue has a table's next part built and written; finish says what
// failed.
func (pw *partWriter) queue(t *schemas.Table, build func(memory.Allocator) arrow.RecordBatch) {
	k := pw.next[t]
	pw.next[t]++
	pw.do(func() error {
		rec := build(memory.DefaultAllocator)
		defer rec.Release()
		return pw.write(t, k, rec)
	})
}

func (pw *partWriter) write(t *schemas.Table, k int, rec arrow.RecordBatch) error {
	_, err := pw.tx.WriteFile(schemas.NormalizedPart(t, pw.source, k), func(w io.Writer) error {
		return schemas.WriteParquet(w, t, rec)
	})
	return err
}

// finish writes an empty part of each table that got no row, and removes
// the stored parts past the last one written.
func (pw *partWriter) finish() error {
	if err := pw.wait(); err != nil {
		return err
	}
	for _, t := range schemas.Normalized {
		if pw.next[t] == 0 {
			rec := emptyRecord(t)
			err := pw.write(t, 0, rec)
			rec.Release()
			if err != nil {
				return err
			}
			pw.next[t] = 1
		}
		for k := pw.next[t]; pw.tx.Exists(schemas.NormalizedPart(t, pw.source, k)); k++ {
			pw.tx.Remove(schemas.NormalizedPart(t, pw.source, k))
		}
	}
	return nil
}

// emptyRecord is a table's record of no rows.
func emptyRecord(t *schemas.Table) arrow.RecordBatch {
	mem := memory.DefaultAllocator
	switch t {
	case schemas.Customers:
		return schemas.CustomersRecord(mem, nil)
	case schemas.Plans:
		return schemas.PlansRecord(mem, nil)
	case schemas.InvoiceLines:
		return schemas.InvoiceLinesRecord(mem, nil)
	case schemas.Transactions:
		return schemas.TransactionsRecord(mem, nil)
	case schemas.SubscriptionEvents:
		return schemas.EventsRecord(mem, nil)
	}
	return schemas.ContactsRecord(mem, nil)
}
