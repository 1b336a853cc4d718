package jobs

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mrrflow/mrrflow/metrics"
	"github.com/mrrflow/mrrflow/schemas"
)

// rowDigests digests rows by customer, whatever their order: a customer's
// digest is the sum of its rows' hashes, so equal multisets of rows give
// equal digests. Rows are hashed a column at a time, the same way in every
// process (digests are kept between runs).
type rowDigests struct {
	customers map[string]*uint64
	all       uint64 // of every row, for tables without customers
	rows      []uint64
	key       []byte
}

func newRowDigests() *rowDigests { return &rowDigests{customers: map[string]*uint64{}} }

// sums are the customers' digests.
func (d *rowDigests) sums() map[string]uint64 {
	out := make(map[string]uint64, len(d.customers))
	for k, v := range d.customers {
		out[k] = *v
	}
	return out
}

// hashString is FNV-1a.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// table adds the rows of a batch of t (plans, or a table of customers'
// rows) whose source keep says (nil: all).
func (d *rowDigests) table(t *schemas.Table, rec arrow.RecordBatch, keep func(source string) bool) {
	d.hashRows(t, rec)
	src := rec.Column(t.Index("source"))
	var cust arrow.Array
	if t != schemas.Plans {
		cust = rec.Column(t.Index("customer_id"))
	}
	for i, h := range d.rows {
		source := stringAt(src, i)
		if keep != nil && !keep(source) {
			continue
		}
		h = mix(h)
		d.all += h
		if cust == nil {
			continue
		}
		d.key = metrics.AppendCustomerKey(d.key[:0], source, stringAt(cust, i))
		sum := d.customers[string(d.key)]
		if sum == nil {
			sum = new(uint64)
			d.customers[string(d.key)] = sum
		}
		*sum += h
	}
}

// planDigest is a plan's key (source and id, as a customer's) and the
// digest of its row.
type planDigest struct {
	Key string `json:"key"`
	Sum uint64 `json:"sum"`
}

// planDigests digests each plan.
func planDigests(recs []arrow.RecordBatch) []planDigest {
	d := newRowDigests()
	var out []planDigest
	for _, rec := range recs {
		d.hashRows(schemas.Plans, rec)
		src, id := rec.Column(schemas.Plans.Index("source")), rec.Column(schemas.Plans.Index("plan_id"))
		for i, h := range d.rows {
			out = append(out, planDigest{Key: string(metrics.AppendCustomerKey(nil, stringAt(src, i), stringAt(id, i))), Sum: mix(h)})
		}
	}
	return out
}

// hashRows hashes the rows of a batch of t into d.rows, a column at a
// time (not yet mixed).
func (d *rowDigests) hashRows(t *schemas.Table, rec arrow.RecordBatch) {
	d.rows = d.rows[:0]
	seed := hashString(t.Name)
	for range int(rec.NumRows()) {
		d.rows = append(d.rows, seed)
	}
	for c, col := range rec.Columns() {
		d.column(uint64(c+1), col)
	}
}

// column mixes the values of column number c into the rows' hashes.
func (d *rowDigests) column(c uint64, col arrow.Array) {
	h := d.rows
	put := func(i int, v uint64) { h[i] = mix(h[i]^c) + v }
	switch col := col.(type) {
	case *array.String:
		for i := range h {
			put(i, hashString(col.Value(i)))
		}
	case *array.Dictionary:
		for i := range h {
			put(i, hashString(stringAt(col, i)))
		}
	case *array.Int64:
		for i, v := range col.Int64Values() {
			put(i, uint64(v))
		}
	case *array.Timestamp:
		for i, v := range col.TimestampValues() {
			put(i, uint64(v))
		}
	case *array.Date32:
		for i, v := range col.Date32Values() {
			put(i, uint64(v))
		}
	case *array.Float64:
		for i, v := range col.Float64Values() {
			put(i, math.Float64bits(v))
		}
	case *array.Boolean:
		for i := range h {
			put(i, uint64(boolByte(col.Value(i))))
		}
	default:
		panic("jobs: digest: a column of type " + col.DataType().String())
	}
	if col.NullN() > 0 {
		for i := range h {
			if col.IsNull(i) {
				h[i] = mix(h[i]^c) + 0x9e3779b97f4a7c15 // NULL, unlike any value's mix
			}
		}
	}
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// mix is splitmix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// stringAt is a value of a string column, plain or a dictionary.
func stringAt(col arrow.Array, i int) string {
	switch col := col.(type) {
	case *array.String:
		return col.Value(i)
	case *array.Dictionary:
		return col.Dictionary().(*array.String).Value(col.GetValueIndex(i))
	}
	panic("jobs: a string column of type " + col.DataType().String())
}
