package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/gen"
)

// A delivery normalized in partitions spilled to disk (bounded memory)
// gives what one normalized in memory gives: the same marts byte for byte,
// the same normalized rows and rejected rows, and the same account of every
// record read. Three runs of an upsert source: a history with bad records,
// duplicates and broken references; a second delivery that changes and
// adds lines, moves an invoice to another customer and sends a customer
// again; and the same as a replace source, which removes what it leaves
// out.
func TestImportInPartsEqualsInMemory(t *testing.T) {
	data := t.TempDir()
	if _, err := gen.GrowPanel(data, gen.Options{Customers: 300, Months: 12, Seed: 9, BadRecords: true}); err != nil {
		t.Fatal(err)
	}
	invoices := filepath.Join(data, "invoices.csv")
	history, err := os.ReadFile(invoices)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(history), "\n"), "\n")
	header := lines[0]
	// Records that fail at the merge, not at the read: a missing customer,
	// an unknown plan, an invoice with one bad line of two, a line sent
	// twice (the later wins).
	extra := []string{
		"in_x1,cus_nobody,pro_m,,subscription,2024-03-01T00:00:00Z,1000,usd,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,,",
		"in_x2,cus_000001,no_such_plan,,subscription,2024-03-01T00:00:00Z,1000,usd,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,,",
		"in_x3,cus_000002,pro_m,,subscription,2024-03-01T00:00:00Z,1000,usd,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,,",
		"in_x3,cus_000002,no_such_plan,,one_time,2024-03-01T00:00:00Z,1000,usd,2024-03-01T00:00:00Z,2024-03-01T00:00:00Z,,",
		"in_x4,cus_000003,pro_m,,subscription,2024-03-01T00:00:00Z,1000,usd,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,,",
		"in_x4,cus_000003,pro_m,,subscription,2024-03-01T00:00:00Z,2000,usd,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,,",
	}
	write := func(rows []string) {
		t.Helper()
		if err := os.WriteFile(invoices, []byte(strings.Join(append([]string{header}, rows...), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(append(slices.Clone(lines[1:]), extra...))
	cfg, err := configs.Load(filepath.Join(data, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inParts, inMemory := t.TempDir(), t.TempDir()
	run := func(when string) { compareInParts(t, cfg, inParts, inMemory, when) }
	// validate reads it the same way, writing nothing.
	va, errA := Validate(context.Background(), cfg, 4<<10)
	vb, errB := Validate(context.Background(), cfg, -1)
	if errA != nil || errB != nil {
		t.Fatalf("validate: in parts: %v; in memory: %v", errA, errB)
	}
	if a, b := va.Sources[0], vb.Sources[0]; !reflect.DeepEqual(a.Read, b.Read) || a.Rejected == 0 || a.Rejected != b.Rejected ||
		a.Partitions == 0 || b.Partitions != 0 {
		t.Errorf("validate in %d partitions: read %v, %d rejected; in %d: read %v, %d rejected", a.Partitions, a.Read, a.Rejected, b.Partitions, b.Read, b.Rejected)
	}
	run("the history")

	// The next delivery: the history's last 40 lines with amounts
	// changed, invoice in_x4 now of another customer, new lines, and a
	// customer sent again.
	next := []string{}
	for _, l := range lines[len(lines)-40:] {
		f := strings.Split(l, ",")
		if len(f) == 12 && f[6] != "" {
			f[6] += "0"
		}
		next = append(next, strings.Join(f, ","))
	}
	next = append(next,
		"in_x4,cus_000004,pro_m,,subscription,2024-03-01T00:00:00Z,3000,usd,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,,",
		"in_x5,cus_000005,pro_m,,subscription,2024-05-01T00:00:00Z,4000,usd,2024-05-01T00:00:00Z,2024-06-01T00:00:00Z,,")
	for range 200 { // enough text to be cut into partitions
		next = append(next, "in_x6,cus_000006,pro_m,,subscription,2024-05-01T00:00:00Z,5000,usd,2024-05-01T00:00:00Z,2024-06-01T00:00:00Z,,")
	}
	write(next)
	run("a second delivery, upserted")

	// Too small to be cut: held in memory, and incremental on both.
	write(next[:3])
	run("a small delivery, upserted")

	cfg.Sources[0].Mode = configs.ModeReplace
	cfg.MaxShrink = 1
	write(append(slices.Clone(lines[1:len(lines)/2]), extra...))
	run("half the history, replacing")
}

// compareInParts runs cfg on two warehouses, normalizing in partitions of
// 4 KiB and in memory, and compares what the runs say and left: accounts,
// table changes, stored rows, rejected rows, normalized rows and mart
// bytes. A delivery named "a small ..." must be held in memory, and the
// run on the partitioned warehouse incremental.
func compareInParts(t *testing.T, cfg *configs.Config, inParts, inMemory, when string) {
	t.Helper()
	a, errA := Run(context.Background(), cfg, Options{Warehouse: inParts, Log: zerolog.Nop(), ImportBytes: 4 << 10})
	b, errB := Run(context.Background(), cfg, Options{Warehouse: inMemory, Log: zerolog.Nop(), ImportBytes: -1})
	if errA != nil || errB != nil {
		t.Fatalf("%s: in parts: %v; in memory: %v", when, errA, errB)
	}
	small := strings.HasPrefix(when, "a small")
	if inc := a.Incremental; small && (inc == nil || inc.Full) {
		t.Fatalf("%s: the run after an import in partitions was not incremental (%+v)", when, inc)
	} else if !small && (inc == nil || !strings.Contains(inc.Why, "partitions")) {
		t.Fatalf("%s: the delivery was not normalized in partitions (%+v)", when, inc)
	}
	sa, sb := a.Sources[0], b.Sources[0]
	if !reflect.DeepEqual(sa.Accounts, sb.Accounts) || !reflect.DeepEqual(sa.Tables, sb.Tables) || !reflect.DeepEqual(sa.Stored, sb.Stored) {
		t.Errorf("%s: in parts: accounts %v, tables %v, stored %v;\nin memory: accounts %v, tables %v, stored %v",
			when, sa.Accounts, sa.Tables, sa.Stored, sb.Accounts, sb.Tables, sb.Stored)
	}
	if (a.Rejected == 0 && strings.Contains(when, "history")) || a.Rejected != b.Rejected {
		t.Errorf("%s: %d rejected rows in parts, %d in memory", when, a.Rejected, b.Rejected)
	}
	for _, table := range []string{"customers", "plans", "invoice_lines", "transactions", "subscription_events", "contacts"} {
		if ra, rb := tableRows(t, inParts, table, nil), tableRows(t, inMemory, table, nil); !slices.Equal(ra, rb) {
			t.Errorf("%s: %s: %d rows in parts, %d in memory, or they differ", when, table, len(ra), len(rb))
		}
	}
	cols := []string{"source", "entity", "record_id", "origin", "error", "raw"}
	if ra, rb := tableRows(t, inParts, "rejected_rows", cols), tableRows(t, inMemory, "rejected_rows", cols); !slices.Equal(ra, rb) {
		t.Errorf("%s: rejected rows differ:\nin parts:  %q\nin memory: %q", when, ra, rb)
	}
	sameMarts(t, when, inParts, inMemory)
}

// A ChartMogul import (invoice headers, line items and transactions, all
// joined by invoice) normalized in partitions gives what it gives in
// memory: a generated import with a header sent twice, a header without
// items, items and a transaction of no invoice, a transaction dated before
// its invoice, and refunds; then an upsert that sends some invoices again
// with other items and a refund.
func TestImportInPartsChartMogul(t *testing.T) {
	data := t.TempDir()
	if _, err := gen.ChartMogul(data, gen.Options{Customers: 150, Months: 12, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, "import.json")
	doc, err := gen.ReadImport(path)
	if err != nil {
		t.Fatal(err)
	}
	history := gen.Import{}
	for k, v := range doc {
		history[k] = slices.Clone(v)
	}
	inv := func(id string) map[string]any {
		for _, h := range doc["invoices"] {
			if h["external_id"] == id {
				return h
			}
		}
		t.Fatalf("no invoice %s", id)
		return nil
	}
	again := gen.Copy(inv("eu_0001_inv000"))
	again["date"] = "2023-07-02 00:00:00"
	history["invoices"] = append(history["invoices"], again,
		map[string]any{"external_id": "lonely", "date": "2023-08-01 00:00:00", "currency": "EUR", "customer_external_id": "eu_0002"})
	history["line_items"] = append(history["line_items"],
		map[string]any{"type": "one_time", "amount_in_cents": 500, "quantity": 1, "invoice_external_id": "no_such_invoice"})
	history["transactions"] = append(history["transactions"],
		map[string]any{"invoice_external_id": "no_such_invoice", "external_id": "tx_x1", "type": "payment", "result": "successful", "date": "2023-08-01 00:00:00"},
		map[string]any{"invoice_external_id": "eu_0003_inv000", "external_id": "tx_x2", "type": "payment", "result": "successful", "date": "2020-01-01 00:00:00"},
		map[string]any{"invoice_external_id": "eu_0004_inv001", "external_id": "tx_x3", "type": "refund", "result": "successful", "date": "2023-12-01 00:00:00"},
		map[string]any{"invoice_external_id": "eu_0005_inv001", "external_id": "tx_x4", "type": "refund", "result": "successful", "date": "2023-12-01 00:00:00", "amount_in_cents": 700})
	write := func(d gen.Import) {
		t.Helper()
		if err := d.Write(path); err != nil {
			t.Fatal(err)
		}
	}
	write(history)
	cfg, err := configs.Load(filepath.Join(data, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inParts, inMemory := t.TempDir(), t.TempDir()
	compareInParts(t, cfg, inParts, inMemory, "the history")

	// The next delivery: the invoices of a tenth of the customers again,
	// each with one item of another amount, and a refund of one of them.
	next := gen.Import{}
	for _, h := range doc["invoices"] {
		if id := h["external_id"].(string); strings.HasPrefix(id, "eu_00") && strings.HasSuffix(h["customer_external_id"].(string), "7") {
			next["invoices"] = append(next["invoices"], h)
			next["line_items"] = append(next["line_items"], map[string]any{"type": "subscription", "amount_in_cents": 4200, "quantity": 1,
				"invoice_external_id": id, "plan_external_id": "eu_monthly", "subscription_external_id": h["customer_external_id"].(string) + "_sub",
				"service_period_start": h["date"], "service_period_end": "2030-01-01 00:00:00"})
		}
	}
	if len(next["invoices"]) < 10 {
		t.Fatalf("%d invoices sent again", len(next["invoices"]))
	}
	id := next["invoices"][0]["external_id"]
	next["transactions"] = []map[string]any{{"invoice_external_id": id, "external_id": "tx_r1", "type": "refund", "result": "successful", "date": "2024-03-01 00:00:00"}}
	write(next)
	compareInParts(t, cfg, inParts, inMemory, "a second delivery, upserted")
}

// A delivery normalized in partitions whose lines hold a currency without
// a rate fails the run, naming the currency, and publishes nothing (in
// memory those lines would be rejected rows; in parts they are written
// already).
func TestImportInPartsCurrencyWithoutRate(t *testing.T) {
	data := t.TempDir()
	if _, err := gen.GrowPanel(data, gen.Options{Customers: 200, Months: 12, Seed: 2, EUR: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "fx.csv"), []byte("date,currency,rate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(filepath.Join(data, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wh := t.TempDir()
	_, err = Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.Nop(), ImportBytes: 4 << 10})
	if !errors.Is(err, configs.ErrConfig) || !strings.Contains(err.Error(), "eur") {
		t.Fatalf("got %v, want a config error naming eur", err)
	}
	if rows := tableRows(t, wh, "invoice_lines", []string{"invoice_id"}); len(rows) > 0 {
		t.Errorf("%d lines published by a failed run", len(rows))
	}
}
