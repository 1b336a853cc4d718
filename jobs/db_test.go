package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/dbtest"
	"github.com/mrrflow/mrrflow/internal/store"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// seed fills a test database with one plan, two customers and their
// January and February invoices, all updated at t.
func seed(t *testing.T, d *dbtest.DB, updated time.Time) {
	d.Exec(t, "insert into plans values ('pro', 'Pro', 'month', 1, 'usd', ?)", updated)
	d.Exec(t, "insert into customers values ('c1', 'One', 'us', 'smb', ?), ('c2', 'Two', 'de', 'mid', ?)", updated, updated)
	for _, m := range []string{"01", "02"} {
		for _, c := range []struct {
			id     string
			amount int64
		}{{"c1", 9900}, {"c2", 4900}} {
			start := utc("2024-" + m + "-01T00:00:00Z")
			d.Exec(t, "insert into invoices values (?, ?, 'pro', 'subscription', ?, ?, ?, ?, 'usd', ?)",
				c.id+"_"+m, c.id, start, start, start.AddDate(0, 1, 0), c.amount, updated)
		}
	}
}

// dbRun runs a config made of a source block, in its own folder.
func dbRun(t *testing.T, dir, wh, sources string, opt Options) (*Record, error) {
	t.Helper()
	writeFiles(t, dir, map[string]string{"config.yaml": "as_of: 2024-03-15\nsources:\n" + sources})
	cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	opt.Warehouse = wh
	return Run(context.Background(), cfg, opt)
}

func readCursor(t *testing.T, wh, source string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wh, CursorsDir, source+".json"))
	if err != nil {
		return "<none>"
	}
	return string(b)
}

func TestDatabaseSources(t *testing.T) {
	for _, kind := range []string{"postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			d := dbtest.New(t, kind)
			seed(t, d, utc("2024-03-01T00:00:00Z"))
			dir, wh := t.TempDir(), t.TempDir()
			src := d.Config("app_db", "")

			// A full load.
			rec, err := dbRun(t, dir, wh, src, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.Sources[0].Read; got["invoice"] != 4 || got["customer"] != 2 || got["plan"] != 1 {
				t.Errorf("full load read %v", got)
			}
			if got := tableRows(t, wh, "mrr_movements", []string{"date", "customer_id", "movement", "amount"}); !slices.Equal(got,
				[]string{"2024-01-01,c1,new,9900", "2024-01-01,c2,new,4900"}) {
				t.Errorf("movements = %v", got)
			}
			if got := tableRows(t, wh, "customers", []string{"customer_id", "attributes"}); got[0] != `c1,{"segment":"smb"}` {
				t.Errorf("customers = %v", got)
			}

			// An incremental run reads only what changed since the cursor.
			later := utc("2024-03-05T00:00:00Z")
			start := utc("2024-03-01T00:00:00Z")
			d.Exec(t, "insert into invoices values ('c1_03', 'c1', 'pro', 'subscription', ?, ?, ?, 19900, 'usd', ?)", start, start, start.AddDate(0, 1, 0), later)
			d.Exec(t, "update customers set name = 'Two GmbH', updated_at = ? where id = 'c2'", later)
			rec, err = dbRun(t, dir, wh, src, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.Sources[0].Read; got["invoice"] != 1 || got["customer"] != 1 || got["plan"] != 0 {
				t.Errorf("incremental run read %v, want only the changed rows", got)
			}
			if got := tableRows(t, wh, "invoice_lines", []string{"invoice_id"}); len(got) != 5 {
				t.Errorf("invoice_lines = %v, want all 5 (upsert keeps the earlier ones)", got)
			}
			if got := tableRows(t, wh, "customers", []string{"customer_id", "name"}); !slices.Equal(got, []string{"c1,One", "c2,Two GmbH"}) {
				t.Errorf("customers = %v", got)
			}
			cursor := readCursor(t, wh, "app_db")
			if !strings.Contains(cursor, "2024-03-05T00:00:00Z") {
				t.Errorf("cursor = %s", cursor)
			}

			// A query that fails leaves the cursor and the tables as they
			// were; the next run, with the query mended, recovers.
			before := tableRows(t, wh, "invoice_lines", []string{"invoice_id", "amount"})
			d.Exec(t, "insert into invoices values ('c2_03', 'c2', 'pro', 'subscription', ?, ?, ?, 4900, 'usd', ?)", start, start, start.AddDate(0, 1, 0), later.Add(time.Hour))
			d.Exec(t, "insert into invoices values ('c2_04', 'c2', 'pro', 'subscription', ?, ?, ?, 4900, 'usd', ?)", start.AddDate(0, 1, 0), start.AddDate(0, 1, 0), start.AddDate(0, 2, 0), later.Add(time.Hour))
			broken := strings.Replace(src, "amount, currency, updated_at from invoices", failingColumns(kind)+" from invoices", 1)
			if _, err := dbRun(t, dir, wh, broken, Options{}); err == nil {
				t.Fatal("a failing query did not fail the run")
			} else if !strings.Contains(err.Error(), "source app_db") {
				t.Errorf("error does not name the source: %v", err)
			}
			if got := readCursor(t, wh, "app_db"); got != cursor {
				t.Errorf("a failed run moved the cursor:\n%s\n->\n%s", cursor, got)
			}
			if got := tableRows(t, wh, "invoice_lines", []string{"invoice_id", "amount"}); !slices.Equal(got, before) {
				t.Errorf("a failed run changed invoice_lines: %v", got)
			}
			rec, err = dbRun(t, dir, wh, src, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Sources[0].Read["invoice"] != 2 {
				t.Errorf("the recovering run read %v, want the 2 pending invoices", rec.Sources[0].Read)
			}

			// A backfill rewinds the cursor and gives what a rebuild from
			// scratch gives.
			if _, err := dbRun(t, dir, wh, src, Options{Command: "backfill", Backfill: &BackfillRange{
				From: utc("2024-01-01T00:00:00Z"), To: utc("2024-03-31T00:00:00Z")}}); err != nil {
				t.Fatal(err)
			}
			fresh := t.TempDir()
			if _, err := dbRun(t, dir, fresh, src, Options{}); err != nil {
				t.Fatal(err)
			}
			for _, table := range []string{"mrr_movements", "mrr_monthly", "cohorts", "customer_snapshot", "invoice_lines", "customers"} {
				cols := tableColumns(table)
				if a, b := tableRows(t, wh, table, cols), tableRows(t, fresh, table, cols); !slices.Equal(a, b) {
					t.Errorf("after the backfill %s differs from a rebuild:\n%v\n%v", table, a, b)
				}
			}
			if got := readCursor(t, wh, "app_db"); !strings.Contains(got, "2024-03-05T01:00:00Z") {
				t.Errorf("the backfill moved the cursor back: %s", got)
			}
		})
	}
}

// failingColumns is a select list that fails: part way through the rows
// on PostgreSQL (a division by zero on the row of c2_04), at once on MySQL.
func failingColumns(kind string) string {
	if kind == "postgres" {
		return "amount / (case when id = 'c2_04' then 0 else 1 end) as amount, currency, updated_at"
	}
	return "amount, currency, updated_at, no_such_column"
}

// A database that is down at first and up a few seconds later is retried
// into success; a permanent error fails at once, saying what to fix.
func TestDatabaseRetriesAndPermanentErrors(t *testing.T) {
	d := dbtest.New(t, "postgres")
	seed(t, d, utc("2024-03-01T00:00:00Z"))
	addr := lateProxy(t, "127.0.0.1:5432", 3*time.Second)
	src := strings.Replace(d.Config("app_db", ""), "127.0.0.1:5432", addr, 1)
	start := time.Now()
	var logs bytes.Buffer
	rec, err := dbRun(t, t.TempDir(), t.TempDir(), src, Options{Log: zerolog.New(&logs)})
	if err != nil {
		t.Fatalf("the run did not retry into success: %v", err)
	}
	if took := time.Since(start); took < 3*time.Second || rec.Sources[0].Read["invoice"] != 4 {
		t.Errorf("took %s, read %v", took, rec.Sources[0].Read)
	}
	// Each retry is logged with its error, attempt and wait.
	retries := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "transient failure, trying again") {
			retries++
			for _, want := range []string{`"source":"app_db"`, `"step":"connect"`, `"attempt":`, `"retry_in_ms":`, `"error":`} {
				if !strings.Contains(line, want) {
					t.Errorf("retry log line lacks %s: %s", want, line)
				}
			}
		}
	}
	if retries < 2 {
		t.Errorf("%d retries logged over 3 s of refused connections:\n%s", retries, logs.String())
	}

	for _, c := range []struct{ name, src, hint string }{
		{"unknown database", strings.Replace(d.Config("app_db", ""), "/test?", "/no_such_database?", 1), "check the database name in dsn"},
		{"missing table", strings.Replace(d.Config("app_db", ""), "from plans", "from no_plans", 1), "check the query in queries"},
	} {
		start := time.Now()
		_, err := dbRun(t, t.TempDir(), t.TempDir(), c.src, Options{})
		var se *extract.SourceError
		if !errors.As(err, &se) || se.Transient || !strings.Contains(err.Error(), c.hint) {
			t.Errorf("%s: err = %v, want a permanent error saying %q", c.name, err, c.hint)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s: a permanent error took %s: it was retried", c.name, took)
		}
	}
}

// lateProxy forwards a local port to target, but only after delay: until
// then connections are refused, as from a server still starting.
func lateProxy(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // refused until it listens again
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		select {
		case <-time.After(delay):
		case <-done:
			return
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return
		}
		go func() { <-done; l.Close() }()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go io.Copy(s, c)
				io.Copy(c, s)
			}()
		}
	}()
	return addr
}

// Two runs at once: the second says which run holds the lock. A lock left
// by a run that died is taken over.
func TestConcurrentRunsAndStaleLock(t *testing.T) {
	d := dbtest.New(t, "postgres")
	seed(t, d, utc("2024-03-01T00:00:00Z"))
	dir, wh := t.TempDir(), t.TempDir()
	slow := d.Config("app_db", " and pg_sleep(2) is not null")
	writeFiles(t, dir, map[string]string{"config.yaml": "as_of: 2024-03-15\nsources:\n" + slow})
	first := make(chan *Record, 1)
	go func() {
		cfg, _ := configs.Load(filepath.Join(dir, "config.yaml"))
		rec, err := Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.Nop()})
		if err != nil {
			t.Errorf("first run: %v", err)
		}
		first <- rec
	}()
	time.Sleep(700 * time.Millisecond)
	_, err := dbRun(t, t.TempDir(), wh, d.Config("app_db", ""), Options{})
	var le *store.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second run: %v, want a LockedError", err)
	}
	rec := <-first
	if le.Holder.RunID != rec.RunID || !strings.Contains(err.Error(), rec.RunID) {
		t.Errorf("the second run names %s, the first is %s", le.Holder.RunID, rec.RunID)
	}

	host, _ := os.Hostname()
	dead := fmt.Sprintf(`{"run_id": "dead-run", "pid": %d, "host": %q, "command": "run"}`, 1<<30, host)
	if err := os.WriteFile(filepath.Join(wh, "_state", "lock"), []byte(dead), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := dbRun(t, t.TempDir(), wh, d.Config("app_db", ""), Options{}); err != nil {
		t.Errorf("a stale lock was not taken over: %v", err)
	}
}

// tableColumns lists a table's columns.
func tableColumns(name string) []string {
	var out []string
	for _, c := range lookupTable(name).Columns {
		out = append(out, c.Name)
	}
	return out
}
