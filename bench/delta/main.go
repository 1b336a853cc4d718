package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
	"github.com/mrrflow/mrrflow/transform"
)

func main() {
	warehouse := flag.String("warehouse", "", "the warehouse whose lines change")
	source := flag.String("source", "gen", "the source of the lines")
	share := flag.Float64("share", 0.01, "the share of the lines new or changed")
	day := flag.String("day", "", "the day new lines are dated (YYYY-MM-DD)")
	seed := flag.Uint64("seed", 1, "random seed")
	by := flag.String("by", "lines", "lines: any lines; customers: all the lines of some customers")
	flag.Parse()
	if *by != "lines" && *by != "customers" {
		fmt.Fprintln(os.Stderr, "delta: --by is lines or customers")
		os.Exit(2)
	}
	if err := run(*warehouse, *source, *share, *day, *seed, *by == "customers"); err != nil {
		fmt.Fprintln(os.Stderr, "delta:", err)
		os.Exit(1)
	}
}

func run(warehouse, source string, share float64, day string, seed uint64, byCustomer bool) error {
	at, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return fmt.Errorf("--day: %w", err)
	}
	w, err := store.OpenExisting(warehouse)
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	cw := csv.NewWriter(out)
	cw.Write([]string{"id", "customer_id", "plan_id", "subscription_id", "type", "invoice_date", "amount", "currency",
		"period_start", "period_end", "proration", "payment_date"})
	rng := rand.New(rand.NewPCG(seed, 17))
	stamp := func(us int64) string { return time.UnixMicro(us).UTC().Format(time.RFC3339) }
	n := 0
	// By customer: a customer is in or out by a hash of its id, and gets
	// one new line besides its lines sent again.
	picked := func(cust string) bool {
		h := fnv.New64a()
		h.Write([]byte(cust))
		return float64(h.Sum64()%1_000_000) < share*1_000_000
	}
	renewed, sent := map[string]bool{}, map[string]bool{}
	for _, path := range transform.TableFiles(w, schemas.InvoiceLines, source) {
		err := schemas.ScanParquetFile(context.Background(), memory.DefaultAllocator, path, schemas.InvoiceLines, func(rec arrow.RecordBatch) error {
			col := func(name string) arrow.Array { return rec.Column(schemas.InvoiceLines.Index(name)) }
			inv, cust, plan, sub := col("invoice_id").(*array.String), col("customer_id").(*array.String), col("plan_id").(*array.String), col("subscription_id").(*array.String)
			kind, cur := col("kind").(*array.String), col("currency").(*array.String)
			idate, ps, pe, paid := col("invoice_date").(*array.Timestamp), col("period_start").(*array.Timestamp), col("period_end").(*array.Timestamp), col("paid_at").(*array.Timestamp)
			amount := col("amount").(*array.Int64)
			for i := range int(rec.NumRows()) {
				if kind.Value(i) != schemas.KindSubscription {
					continue
				}
				c := cust.Value(i)
				if byCustomer && !picked(c) || !byCustomer && rng.Float64() >= share {
					continue
				}
				n++
				paidAt := ""
				if !paid.IsNull(i) {
					paidAt = stamp(int64(paid.Value(i)))
				}
				if sent[inv.Value(i)] {
					continue // a line of an invoice already sent again
				}
				if byCustomer || n%2 == 0 { // sent again, with another amount
					sent[strings.Clone(inv.Value(i))] = true
					cw.Write([]string{inv.Value(i), c, plan.Value(i), sub.Value(i), "subscription", stamp(int64(idate.Value(i))),
						strconv.FormatInt(amount.Value(i)+100, 10), cur.Value(i), stamp(int64(ps.Value(i))), stamp(int64(pe.Value(i))), "", paidAt})
					if !byCustomer || renewed[c] {
						continue
					}
					renewed[c] = true
					n++
				}
				start := at.Add(time.Duration(rng.IntN(86400)) * time.Second)
				cw.Write([]string{fmt.Sprintf("delta_%d", n), cust.Value(i), plan.Value(i), sub.Value(i), "subscription", start.Format(time.RFC3339),
					strconv.FormatInt(amount.Value(i), 10), cur.Value(i), start.Format(time.RFC3339), start.AddDate(0, 1, 0).Format(time.RFC3339), "", start.Format(time.RFC3339)})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "delta: %d lines new or changed\n", n)
	return out.Flush()
}
