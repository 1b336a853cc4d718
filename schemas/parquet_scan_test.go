package schemas

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// scanOf yields rec in slices of random sizes (some empty), each read back
// from Arrow IPC as spilled rows are.
func scanOf(t *testing.T, rec arrow.RecordBatch, seed uint64) func(func(arrow.RecordBatch) error) error {
	return func(fn func(arrow.RecordBatch) error) error {
		rng := rand.New(rand.NewPCG(seed, 1))
		for off := int64(0); off < rec.NumRows(); {
			n := min(rec.NumRows()-off, int64(rng.IntN(300_000)))
			var buf bytes.Buffer
			w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
			part := rec.NewSlice(off, off+n)
			err := w.Write(part)
			part.Release()
			if err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
			r, err := ipc.NewReader(&buf)
			if err != nil {
				return err
			}
			for r.Next() {
				if err := fn(r.RecordBatch()); err != nil {
					return err
				}
			}
			r.Release()
			off += n
		}
		return nil
	}
}

// A table streamed in batches of any sizes, read from Arrow IPC, is the
// same file as the table written from one batch: row groups are cut at the
// same rows, and a column of empty strings keeps its statistics.
func TestWriteParquetScanIsWriteParquet(t *testing.T) {
	for _, n := range []int{0, 1, 1000, rowGroupRows + 12_345} {
		r := NewRows(memory.DefaultAllocator, DataQuality)
		for i := range n {
			r.String("s")
			r.String(fmt.Sprintf("c%07d", i/3))
			r.String("") // a customer's check names no record
			r.Date(int32(19000+i%700), i%5 != 0)
			r.String("negative_mrr")
			r.String("detail")
		}
		rec := r.Record()
		r.Release()
		var want, got bytes.Buffer
		if err := WriteParquet(&want, DataQuality, rec); err != nil {
			t.Fatal(err)
		}
		if err := WriteParquetScan(&got, DataQuality, scanOf(t, rec, uint64(n))); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%d rows: streamed %d bytes, written whole %d: not the same file", n, got.Len(), want.Len())
		}
		rec.Release()
	}
}
