package metrics

// A partial as bytes, to send between the workers of a distributed run or
// to keep between runs: a JSON header (currency, as-of day, the month and
// cohort accumulators) and the four tables as Arrow IPC streams.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mrrflow/mrrflow/schemas"
)

// partialMagic starts an encoded partial; the digit is the format's
// version.
const partialMagic = "mrrflow partial 1\n"

// partialHeader is what an encoded partial holds besides its tables.
type partialHeader struct {
	Currency string `json:"currency"`
	Chosen   bool   `json:"chosen"`
	AsOfDay  int32  `json:"as_of_day"`
	Parts    int    `json:"parts"`
	First    int32  `json:"first_month"`
	N        int    `json:"months"`

	MRRDiff, MRRValued, CustDiff                        []int64
	NewMRR, Expansion, Contraction, Churn, Reactivation []int64
	NewCust, ReactCust, ChurnCust, ChurnActive          []int64
	SubBilled, OneTime, Refunded                        []int64
	CohortCustomers, CohortMRR                          []int64
	CohortActive, CohortDiff, CohortValued              [][]int64
}

// tables are the partial's tables, in the encoding's order.
func (p *Partial) tables() []schemas.TableBatch {
	return []schemas.TableBatch{{Table: schemas.CustomerMRRPeriods, Rec: p.periods}, {Table: schemas.MRRMovements, Rec: p.movements},
		{Table: schemas.CustomerSnapshot, Rec: p.snapshot}, {Table: schemas.DataQuality, Rec: p.quality}}
}

// MarshalAccumulators encodes what the partial holds besides its tables
// (JSON): with the tables as the finished result holds them, it is the
// partial again (PartialFromTables).
func (p *Partial) MarshalAccumulators() ([]byte, error) {
	m := p.months
	h := partialHeader{Currency: p.Currency, Chosen: p.chosen, AsOfDay: p.asOfDay, Parts: p.parts, First: m.first, N: m.n,
		MRRDiff: m.mrrDiff, MRRValued: m.mrrValued, CustDiff: m.custDiff,
		NewMRR: m.newMRR, Expansion: m.expansion, Contraction: m.contraction, Churn: m.churn, Reactivation: m.rea,
		NewCust: m.newCust, ReactCust: m.reactCust, ChurnCust: m.churnCust, ChurnActive: m.churnActive,
		SubBilled: m.subBilled, OneTime: m.oneTime, Refunded: m.refunded, CohortCustomers: m.cohortCustomers, CohortMRR: m.cohortMRR,
		CohortActive: m.cohortActive, CohortDiff: m.cohortDiff, CohortValued: m.cohortValued}
	return json.Marshal(h)
}

// MarshalBinary encodes the partial.
func (p *Partial) MarshalBinary() ([]byte, error) {
	head, err := p.MarshalAccumulators()
	if err != nil {
		return nil, err
	}
	if err := p.inMemory(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(partialMagic)
	writeChunk(&buf, head)
	for _, t := range p.tables() {
		var table bytes.Buffer
		w := ipc.NewWriter(&table, ipc.WithSchema(t.Table.Schema()))
		if err := w.Write(t.Rec); err != nil {
			return nil, fmt.Errorf("encode %s: %w", t.Table.Name, err)
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		writeChunk(&buf, table.Bytes())
	}
	return buf.Bytes(), nil
}

func writeChunk(buf *bytes.Buffer, b []byte) {
	buf.Write(binary.AppendUvarint(nil, uint64(len(b))))
	buf.Write(b)
}

// ErrPartial is bytes that are no encoded partial.
var ErrPartial = errors.New("not an encoded partial")

// UnmarshalPartial decodes a partial MarshalBinary encoded. The caller
// releases it.
func UnmarshalPartial(mem memory.Allocator, data []byte) (*Partial, error) {
	if !bytes.HasPrefix(data, []byte(partialMagic)) {
		return nil, fmt.Errorf("%w: no %q at its start", ErrPartial, partialMagic[:len(partialMagic)-1])
	}
	r := bufio.NewReader(bytes.NewReader(data[len(partialMagic):]))
	chunk := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPartial, err)
		}
		if n > uint64(len(data)) {
			return nil, fmt.Errorf("%w: a part of %d bytes in %d", ErrPartial, n, len(data))
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPartial, err)
		}
		return b, nil
	}
	head, err := chunk()
	if err != nil {
		return nil, err
	}
	p, err := decodeAccumulators(head)
	if err != nil {
		return nil, err
	}
	for _, t := range []struct {
		table *schemas.Table
		set   *arrow.RecordBatch
	}{{schemas.CustomerMRRPeriods, &p.periods}, {schemas.MRRMovements, &p.movements}, {schemas.CustomerSnapshot, &p.snapshot},
		{schemas.DataQuality, &p.quality}} {
		b, err := chunk()
		if err == nil {
			*t.set, err = readTable(mem, t.table, b)
		}
		if err != nil {
			p.Release()
			return nil, err
		}
	}
	return p, nil
}

// PartialFromTables makes a partial from its accumulators
// (MarshalAccumulators) and its tables as the finished result held them:
// the batches of each table, in order (a table's files read back). The
// batches stay the caller's.
func PartialFromTables(mem memory.Allocator, acc []byte, periods, movements, snapshot, quality []arrow.RecordBatch) (*Partial, error) {
	p, err := decodeAccumulators(acc)
	if err != nil {
		return nil, err
	}
	for _, t := range []struct {
		table *schemas.Table
		from  []arrow.RecordBatch
		set   *arrow.RecordBatch
	}{{schemas.CustomerMRRPeriods, periods, &p.periods}, {schemas.MRRMovements, movements, &p.movements},
		{schemas.CustomerSnapshot, snapshot, &p.snapshot}, {schemas.DataQuality, quality, &p.quality}} {
		var rows []schemas.RowRef
		for b, rec := range t.from {
			if !rec.Schema().Equal(t.table.Schema()) {
				p.Release()
				return nil, fmt.Errorf("%w: a batch of %s is not of the table's schema", ErrPartial, t.table.Name)
			}
			for i := range int32(rec.NumRows()) {
				rows = append(rows, schemas.RowRef{Batch: int32(b), Row: i})
			}
		}
		*t.set = schemas.Gather(mem, t.table, t.from, rows)
	}
	return p, nil
}

// decodeAccumulators decodes MarshalAccumulators' bytes into a partial
// without tables.
func decodeAccumulators(head []byte) (*Partial, error) {
	var h partialHeader
	if err := json.Unmarshal(head, &h); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPartial, err)
	}
	m := noMonths()
	if h.N > 0 {
		m = newMonthsFrom(h.First, h.AsOfDay, 1)
	}
	if m.n != h.N {
		return nil, fmt.Errorf("%w: %d months from %d to the as-of day, %d said", ErrPartial, m.n, h.First, h.N)
	}
	if m.n > 0 {
		m.mrrDiff, m.mrrValued, m.custDiff = h.MRRDiff, h.MRRValued, h.CustDiff
		m.newMRR, m.expansion, m.contraction, m.churn, m.rea = h.NewMRR, h.Expansion, h.Contraction, h.Churn, h.Reactivation
		m.newCust, m.reactCust, m.churnCust, m.churnActive = h.NewCust, h.ReactCust, h.ChurnCust, h.ChurnActive
		m.subBilled, m.oneTime, m.refunded = h.SubBilled, h.OneTime, h.Refunded
		m.cohortCustomers, m.cohortMRR = h.CohortCustomers, h.CohortMRR
		m.cohortActive, m.cohortDiff, m.cohortValued = h.CohortActive, h.CohortDiff, h.CohortValued
		if err := m.check(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPartial, err)
		}
	}
	return &Partial{Currency: h.Currency, chosen: h.Chosen, asOfDay: h.AsOfDay, parts: h.Parts, months: m}, nil
}

// readTable reads one batch of a table from an Arrow IPC stream.
func readTable(mem memory.Allocator, t *schemas.Table, b []byte) (arrow.RecordBatch, error) {
	r, err := ipc.NewReader(bytes.NewReader(b), ipc.WithSchema(t.Schema()), ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPartial, t.Name, err)
	}
	defer r.Release()
	if !r.Next() {
		return nil, fmt.Errorf("%w: %s: no batch (%v)", ErrPartial, t.Name, r.Err())
	}
	// Rebuilt by builders, as the engine builds it: an IPC stream leaves
	// out the validity bitmap of a column without nulls, and the Parquet
	// writer's statistics of empty strings differ without one, so the
	// files would not be the same bytes.
	rec := r.RecordBatch()
	rows := make([]schemas.RowRef, rec.NumRows())
	for i := range rows {
		rows[i].Row = int32(i)
	}
	return schemas.Gather(mem, t, []arrow.RecordBatch{rec}, rows), nil
}

// check says whether decoded accumulators have the lengths of their months.
func (m *months) check() error {
	for _, a := range [][]int64{m.mrrDiff, m.custDiff} {
		if len(a) != m.n+1 {
			return fmt.Errorf("an accumulator of %d months holds %d", m.n, len(a))
		}
	}
	for _, a := range [][]int64{m.mrrValued, m.newMRR, m.expansion, m.contraction, m.churn, m.rea, m.newCust, m.reactCust,
		m.churnCust, m.churnActive, m.subBilled, m.oneTime, m.refunded, m.cohortCustomers, m.cohortMRR} {
		if len(a) < m.n {
			return fmt.Errorf("an accumulator of %d months holds %d", m.n, len(a))
		}
	}
	for cj, n := range m.cohortCustomers[:m.n] {
		if n != 0 && len(m.cohortActive) == m.n && m.cohortActive[cj] == nil {
			return fmt.Errorf("the cohort of month %d has customers and no months", cj)
		}
	}
	for _, c := range [][][]int64{m.cohortActive, m.cohortDiff, m.cohortValued} {
		if len(c) != m.n {
			return fmt.Errorf("the cohorts of %d months are %d", m.n, len(c))
		}
		for _, a := range c {
			if a != nil && len(a) < m.n {
				return fmt.Errorf("a cohort of %d months holds %d", m.n, len(a))
			}
		}
	}
	return nil
}
