package transform

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/mrrflow/mrrflow/schemas"
)

// A spill holds records of a bounded-memory import on disk, one file per
// kind of record and partition: records of one id always go to the same
// partition (customers by customer id; lines, invoice headers, line items
// and transactions by invoice id; events by event id; contacts by email),
// so each partition is merged on its own.
//
// A file is a sequence of frames: the record's ref plus one (noRef is 0),
// then its fields in a fixed order, strings as a length and bytes, numbers
// as varints. A file is decoded whole; its strings point into the bytes
// read, which live as long as the records do (what outlives a partition,
// a rejected row or a superseded record named, is copied).
type spill struct {
	dir   string
	parts int
	files map[string][]*spillFile // by kind, then partition
	buf   []byte
}

type spillFile struct {
	f *os.File
	w *bufio.Writer
}

// Kinds of spilled records: read in this delivery, or stored before it.
const (
	spillLines     = "lines"
	spillCustomers = "customers"
	spillEvents    = "events"
	spillContacts  = "contacts"
	spillHeaders   = "headers"
	spillItems     = "items"
	spillTx        = "transactions"
	storedPrefix   = "stored-"
)

func newSpill(dir string, parts int) (*spill, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	return &spill{dir: dir, parts: parts, files: map[string][]*spillFile{}}, nil
}

// part is the partition of an id: FNV-1a, so that a run lays the tables
// out as the last run with as many partitions did.
func (s *spill) part(id string) int { return int(idHash(id) % uint64(s.parts)) }

func (s *spill) path(kind string, part int) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s-%d", kind, part))
}

// write appends the frame in s.buf to a partition's file of kind.
func (s *spill) write(kind string, part int) error {
	fs := s.files[kind]
	if fs == nil {
		fs = make([]*spillFile, s.parts)
		s.files[kind] = fs
	}
	f := fs[part]
	if f == nil {
		file, err := os.Create(s.path(kind, part))
		if err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		f = &spillFile{f: file, w: bufio.NewWriterSize(file, 64<<10)}
		fs[part] = f
	}
	_, err := f.w.Write(s.buf)
	return err
}

// flush writes out what the files buffer and closes them; a later write
// to a partition opens its file anew (and starts it again: call flush
// once, after the last write of a kind).
func (s *spill) flush() error {
	var errs []error
	for kind, fs := range s.files {
		for _, f := range fs {
			if f != nil {
				errs = append(errs, f.w.Flush(), f.f.Close())
			}
		}
		delete(s.files, kind)
	}
	return errors.Join(errs...)
}

// read returns the bytes of a partition's file of kind (none when nothing
// went to it).
func (s *spill) read(kind string, part int) ([]byte, error) {
	path := s.path(kind, part)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	return b, os.Remove(path)
}

// fields visits the fields of a record in a fixed order: the encoder and
// the decoder walk them alike.
type fields interface {
	str(*string)
	num(*int64)
	flag(*bool)
}

func lineFields(v fields, l *schemas.InvoiceLine) {
	for _, s := range []*string{&l.Source, &l.InvoiceID, &l.LineID, &l.CustomerID, &l.SubscriptionID, &l.PlanID, &l.Kind, &l.Currency, &l.Origin} {
		v.str(s)
	}
	for _, n := range []*int64{&l.InvoiceDate, &l.PeriodStart, &l.PeriodEnd, &l.Amount, &l.Tax, &l.Discount, &l.Quantity, &l.PaidAt} {
		v.num(n)
	}
	v.flag(&l.Prorated)
}

func customerFields(v fields, c *schemas.Customer) {
	for _, s := range []*string{&c.Source, &c.CustomerID, &c.Name, &c.Email, &c.Country, &c.State, &c.Domain, &c.Attributes, &c.Origin} {
		v.str(s)
	}
	v.num(&c.CreatedAt)
	v.num(&c.TrialStartedAt)
}

func eventFields(v fields, e *schemas.SubscriptionEvent) {
	for _, s := range []*string{&e.Source, &e.EventID, &e.CustomerID, &e.SubscriptionID, &e.PlanID, &e.Type, &e.IntervalUnit, &e.Currency, &e.Origin} {
		v.str(s)
	}
	for _, n := range []*int64{&e.EffectiveAt, &e.Amount, &e.IntervalCount, &e.Quantity} {
		v.num(n)
	}
	v.flag(&e.Disabled)
}

func contactFields(v fields, c *schemas.Contact) {
	for _, s := range []*string{&c.Source, &c.Email, &c.FirstName, &c.LastName, &c.Phone, &c.JobTitle, &c.Country, &c.ContactType, &c.Origin} {
		v.str(s)
	}
}

func transactionFields(v fields, t *schemas.Transaction) {
	for _, s := range []*string{&t.Source, &t.TransactionID, &t.InvoiceID, &t.Type, &t.Result, &t.Origin} {
		v.str(s)
	}
	v.num(&t.Date)
	v.num(&t.Amount)
}

// spilledHeader is an invoice header with its id.
type spilledHeader struct {
	id string
	h  invoiceHeader
}

func headerFields(v fields, s *spilledHeader) {
	v.str(&s.id)
	v.str(&s.h.customerID)
	v.num(&s.h.date)
	v.str(&s.h.currency)
	v.str(&s.h.origin)
}

func itemFields(v fields, it *lineItem) {
	lineFields(v, &it.line)
	v.str(&it.planUUID)
	v.num(&it.cancelledAt)
}

// encoder appends fields to a frame.
type encoder struct{ buf []byte }

func (e *encoder) str(s *string) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(*s)))
	e.buf = append(e.buf, *s...)
}
func (e *encoder) num(n *int64) { e.buf = binary.AppendVarint(e.buf, *n) }
func (e *encoder) flag(b *bool) {
	if *b {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

func (e *encoder) ref(r ref) { e.buf = binary.AppendUvarint(e.buf[:0], uint64(r+1)) }

// decoder reads fields out of a file's bytes; a short or broken file sets
// err (a spill is written by this run: that is a bug or a full disk).
type decoder struct {
	buf []byte
	at  int
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf[d.at:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.at += n
	return v
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("spill: a file is cut short at byte %d", d.at)
	}
	d.at = len(d.buf)
}

func (d *decoder) str(s *string) {
	n := int(d.uvarint())
	if n < 0 || d.at+n > len(d.buf) {
		d.fail()
		return
	}
	*s = ""
	if n > 0 {
		*s = unsafe.String(&d.buf[d.at], n) // the bytes are never written again
	}
	d.at += n
}

func (d *decoder) num(n *int64) {
	v, k := binary.Varint(d.buf[d.at:])
	if k <= 0 {
		d.fail()
		return
	}
	*n, d.at = v, d.at+k
}

func (d *decoder) flag(b *bool) {
	if d.at >= len(d.buf) {
		d.fail()
		return
	}
	*b, d.at = d.buf[d.at] == 1, d.at+1
}

func (d *decoder) ref() ref { return ref(d.uvarint()) - 1 }

func (d *decoder) more() bool { return d.err == nil && d.at < len(d.buf) }

// put spills one record of kind to the partition of its id, with the ref
// it was read as (noRef for a stored one) and its raw text.
func put[T any](s *spill, kind, id string, r ref, rec *T, raw string, visit func(fields, *T)) error {
	e := encoder{buf: s.buf}
	e.ref(r)
	visit(&e, rec)
	e.str(&raw)
	s.buf = e.buf
	return s.write(kind, s.part(id))
}

// take reads back a partition's records of kind, in the order spilled,
// handing each to each with its ref and raw text; the file is removed.
func take[T any](s *spill, kind string, part int, visit func(fields, *T), each func(rec *T, r ref, raw string)) error {
	b, err := s.read(kind, part)
	if err != nil {
		return err
	}
	d := decoder{buf: b}
	for d.more() {
		r := d.ref()
		var rec T
		var raw string
		visit(&d, &rec)
		d.str(&raw)
		if d.err == nil {
			each(&rec, r, raw)
		}
	}
	return d.err
}
