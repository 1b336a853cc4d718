package metrics

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/gen"
	"github.com/mrrflow/mrrflow/schemas"
)

// benchInput is the engine's input for n generated lines, made outside
// the timer and kept for the sizes' sub-benchmarks.
type benchInput struct {
	in   Input
	opt  Options
	n    int
	file string // the lines as Parquet, once written
}

func makeBenchInput(b *testing.B, n int) *benchInput {
	b.Helper()
	cs, ps, ls := gen.Normalized(n, 1)
	mem := memory.DefaultAllocator
	var lines []arrow.RecordBatch
	const batch = 1 << 20
	for i := 0; i < len(ls); i += batch {
		lines = append(lines, schemas.InvoiceLinesRecord(mem, schemas.Refs(ls[i:min(i+batch, len(ls))])))
	}
	return &benchInput{
		in: Input{Customers: []arrow.RecordBatch{schemas.CustomersRecord(mem, cs)}, Plans: []arrow.RecordBatch{schemas.PlansRecord(mem, ps)}, Lines: lines},
		opt: Options{AsOf: time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC), Location: time.UTC, ReportingCurrency: "usd",
			Policies: configs.Default().Policies,
			Rates:    []Rate{{Day: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Currency: "eur", Rate: "1.1"}, {Day: time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC), Currency: "eur", Rate: "1.05"}}},
		n: len(ls),
	}
}

// linesFile writes the input's lines to a Parquet file, once per input.
func linesFile(b *testing.B, bi *benchInput) string {
	b.Helper()
	if bi.file != "" {
		return bi.file
	}
	f, err := os.CreateTemp("", "mrrflow-bench-*.parquet")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := schemas.WriteParquet(f, schemas.InvoiceLines, bi.in.Lines...); err != nil {
		b.Fatal(err)
	}
	bi.file = f.Name()
	return bi.file
}

// prepared runs the first stages of the engine (1: encode, 2: and sort,
// 3: and scan), for the benchmark of the next one.
func prepared(b *testing.B, bi *benchInput, stages int) *engine {
	b.Helper()
	e := newEngine(bi.opt)
	if err := e.encode(context.Background(), bi.in); err != nil {
		b.Fatal(err)
	}
	if stages >= 2 {
		e.sortLines()
		e.sortEvents()
	}
	if stages >= 3 {
		e.scanCustomers(context.Background())
	}
	return e
}

var benchSizes = []int{100_000, 1_000_000, 10_000_000}

// BenchmarkEngine times each stage of the engine and the whole, at each
// size. Run the largest with -benchtime=1x.
func BenchmarkEngine(b *testing.B) {
	for _, n := range benchSizes {
		if testing.Short() && n > 1_000_000 {
			continue
		}
		var bi *benchInput
		setup := func(b *testing.B) {
			if bi != nil && bi.in.Lines == nil { // let go by a Parquet sub-benchmark
				os.Remove(bi.file)
				bi = nil
			}
			if bi == nil {
				bi = makeBenchInput(b, n)
			}
			b.ResetTimer()
		}
		name := fmt.Sprintf("lines=%d", n)
		b.Run(name+"/encode", func(b *testing.B) {
			setup(b)
			b.ReportAllocs()
			b.SetBytes(int64(bi.n))
			for i := 0; i < b.N; i++ {
				e := newEngine(bi.opt)
				if err := e.encode(context.Background(), bi.in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/sort", func(b *testing.B) {
			setup(b)
			e := prepared(b, bi, 1)
			b.ReportAllocs()
			b.SetBytes(int64(bi.n))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.sortLines()
			}
		})
		b.Run(name+"/scan", func(b *testing.B) {
			setup(b)
			b.ReportAllocs()
			b.SetBytes(int64(bi.n))
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				e := prepared(b, bi, 2)
				b.StartTimer()
				e.scanCustomers(context.Background())
			}
		})
		b.Run(name+"/build", func(b *testing.B) {
			setup(b)
			b.ReportAllocs()
			b.SetBytes(int64(bi.n))
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				e := prepared(b, bi, 3)
				b.StartTimer()
				p := e.partial()
				p.Finalize(e.mem).Release()
				p.Release()
			}
		})
		b.Run(name+"/all", func(b *testing.B) {
			setup(b)
			b.ReportAllocs()
			b.SetBytes(int64(bi.n))
			for i := 0; i < b.N; i++ {
				res, err := Compute(context.Background(), memory.DefaultAllocator, bi.in, bi.opt)
				if err != nil {
					b.Fatal(err)
				}
				res.Release()
			}
		})
		// From a Parquet file of the lines, in one piece and in partitions
		// of a quarter of the lines spilled to disk. The lines in memory
		// are let go first (the sub-benchmarks above need them, so these
		// come last): their heap would let the collector leave the
		// engine's garbage lying, and count in its peak.
		for _, parts := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/parquet-parts=%d", name, parts), func(b *testing.B) {
				b.StopTimer()
				if bi == nil {
					bi = makeBenchInput(b, n)
				}
				in, opt := bi.in, bi.opt
				in.Lines, in.LineFiles = nil, []string{linesFile(b, bi)}
				bi.in.Lines = nil
				opt.Partitions, opt.SpillDir = parts, b.TempDir()
				b.ReportAllocs()
				b.SetBytes(int64(bi.n))
				base := resetPeakRSS()
				b.StartTimer()
				for i := 0; i < b.N; i++ {
					res, err := Compute(context.Background(), memory.DefaultAllocator, in, opt)
					if err != nil {
						b.Fatal(err)
					}
					res.Release()
				}
				b.StopTimer()
				if peak := peakRSS(); base > 0 && peak > base {
					b.ReportMetric(float64(peak-base)/(1<<20), "peak-MiB")
				}
			})
		}
		if bi != nil && bi.file != "" {
			os.Remove(bi.file)
		}
	}
}

// resetPeakRSS returns the memory to the OS and resets the process's peak
// resident size (Linux: /proc/self/clear_refs), returning the resident size
// it starts from; 0 where that cannot be done.
func resetPeakRSS() int64 {
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0
	}
	return procStatus("VmRSS:")
}

// peakRSS is the process's peak resident size since resetPeakRSS.
func peakRSS() int64 { return procStatus("VmHWM:") }

func procStatus(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
