package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the "mysql" database/sql driver
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Server addresses, as the machine provides them.
const (
	PostgresAdmin = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	MySQLAdmin    = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
)

// DB is a test's own database with billing tables.
type DB struct {
	Kind string // postgres or mysql
	// DSN reaches the test's schema or database.
	DSN  string
	Name string
	db   *sql.DB
}

// New creates a schema (postgres) or database (mysql) and the tables
// customers, plans and invoices, each with an updated_at cursor column.
func New(t testing.TB, kind string) *DB {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs the %s server: -short runs without servers", kind)
	}
	name := fmt.Sprintf("mrrflow_test_%d_%04x", time.Now().Unix(), rand.IntN(1<<16))
	d := &DB{Kind: kind, Name: name}
	var admin *sql.DB
	var err error
	ctx := context.Background()
	switch kind {
	case "postgres":
		admin, err = sql.Open("pgx", PostgresAdmin)
		d.DSN = PostgresAdmin + "&search_path=" + name
	case "mysql":
		admin, err = sql.Open("mysql", MySQLAdmin)
		d.DSN = "root@tcp(127.0.0.1:3306)/" + name
	default:
		t.Fatalf("dbtest: unknown kind %q", kind)
	}
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		t.Fatalf("dbtest: the %s server is not reachable (start it; database tests do not skip): %v", kind, err)
	}
	create, drop := "create schema "+name, "drop schema "+name+" cascade"
	if kind == "mysql" {
		create, drop = "create database "+name, "drop database "+name
	}
	if _, err := admin.ExecContext(ctx, create); err != nil {
		t.Fatalf("dbtest: %s: %v", create, err)
	}
	t.Cleanup(func() {
		if d.db != nil {
			d.db.Close()
		}
		if _, err := admin.ExecContext(context.Background(), drop); err != nil {
			t.Errorf("dbtest: %s: %v", drop, err)
		}
		admin.Close()
	})
	driver, dsn := "pgx", d.DSN
	if kind == "mysql" {
		driver, dsn = "mysql", d.DSN+"?parseTime=true&loc=UTC"
	}
	if d.db, err = sql.Open(driver, dsn); err != nil {
		t.Fatal(err)
	}
	ts := "timestamptz"
	if kind == "mysql" {
		ts = "datetime(6)"
	}
	d.Exec(t, strings.ReplaceAll(`create table customers (id varchar(64) primary key, name varchar(200), country varchar(2),
		segment varchar(20), updated_at TS not null)`, "TS", ts))
	d.Exec(t, strings.ReplaceAll(`create table plans (id varchar(64) primary key, name varchar(200), interval_unit varchar(10),
		interval_count int, currency varchar(3), updated_at TS not null)`, "TS", ts))
	d.Exec(t, strings.ReplaceAll(`create table invoices (id varchar(64) primary key, customer_id varchar(64), plan_id varchar(64),
		kind varchar(20), invoice_date TS, period_start TS, period_end TS, amount bigint, currency varchar(3),
		updated_at TS not null)`, "TS", ts))
	return d
}

// Exec runs a statement in the test's schema, with ? placeholders turned
// into $n for PostgreSQL.
func (d *DB) Exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if d.Kind == "postgres" {
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	if _, err := d.db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("dbtest: %s: %v", q, err)
	}
}

// Param is the query parameter of the cursor: $1 or ?.
func (d *DB) Param() string {
	if d.Kind == "postgres" {
		return "$1"
	}
	return "?"
}

// Config returns a source block for a config: the three queries, reading
// from the cursor, with extra appended to the plans query (a delay, say).
func (d *DB) Config(name, plansExtra string) string {
	p := d.Param()
	return fmt.Sprintf(`  - name: %s
    kind: %s
    dsn: "%s"
    cursor: updated_at
    queries:
      plans: "select id as plan_id, name, interval_unit, interval_count, currency, updated_at from plans where updated_at > %s%s"
      customers: "select id as customer_id, name, country, segment, updated_at from customers where updated_at > %s"
      invoices: "select id as invoice_id, customer_id, plan_id, kind, invoice_date, period_start, period_end, amount, currency, updated_at from invoices where updated_at > %s"
`, name, d.Kind, d.DSN, p, plansExtra, p, p)
}
