package extract

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/retry"
	"github.com/mrrflow/mrrflow/schemas"
)

// Cursor holds, for each query of an incremental source, the largest value
// of its cursor column read so far, as text.
type Cursor map[string]string

// Incremental is an extractor that reads only what changed since a cursor.
type Incremental interface {
	Extractor
	// From sets the cursor to read from; nil reads everything.
	From(Cursor)
	// Cursor returns the cursor after a read.
	Cursor() Cursor
	// CursorColumn is the column the cursor keeps; "" for a source that
	// reads everything each time.
	CursorColumn() string
}

// Retrier is an extractor that tries again what fails in a way that may
// pass (a database restarting); it tells fn of each such attempt.
type Retrier interface {
	OnRetry(fn func(step string, a retry.Attempt))
}

// sqlEntities lists the queries a database source may have, in the order
// they run, with the entity each row is.
var sqlEntities = []struct {
	key    string
	entity schemas.Entity
	fields []string // canonical fields a column may name directly
}{
	{"plans", schemas.EntityPlan, []string{"plan_id", "name", "interval_unit", "interval_count", "currency"}},
	{"customers", schemas.EntityCustomer, []string{"customer_id", "name", "email", "country", "state", "created_at", "trial_started_at", "domain"}},
	{"invoices", schemas.EntityInvoice, []string{"invoice_id", "line_id", "customer_id", "subscription_id", "plan_id", "kind",
		"invoice_date", "period_start", "period_end", "amount", "tax", "discount", "quantity", "prorated", "paid_at", "currency"}},
	{"subscription_events", schemas.EntitySubscriptionEvent, []string{"event_id", "customer_id", "subscription_id", "plan_id", "type",
		"effective_at", "amount", "interval_unit", "interval_count", "currency", "quantity"}},
}

// sqlIDColumn is the canonical id field of each entity, which a column
// named plain "id" maps to.
var sqlIDColumn = map[schemas.Entity]string{
	schemas.EntityPlan: "plan_id", schemas.EntityCustomer: "customer_id",
	schemas.EntityInvoice: "invoice_id", schemas.EntitySubscriptionEvent: "event_id",
}

// SQLConfig is the block of a database source (kinds postgres and mysql).
type SQLConfig struct {
	// DSN reaches the database; usually ${VAR}, expanded only when the
	// source is read or checked.
	DSN string `yaml:"dsn"`
	// Cursor is the column whose largest value read is kept: each query
	// gets the stored value as its one parameter.
	Cursor string `yaml:"cursor"`
	// Queries holds one query per entity: plans, customers, invoices,
	// subscription_events.
	Queries map[string]string `yaml:"queries"`
	// Columns maps result columns to canonical fields (invoices.amt: amount,
	// or amt: amount for every query).
	Columns map[string]string `yaml:"columns"`
}

// Validate checks the keys every database source needs.
func (c *SQLConfig) Validate(src configs.Source) error {
	if c.DSN == "" {
		return src.Errorf("dsn", "is required for kind %s", src.Kind)
	}
	known := map[string]bool{}
	for _, e := range sqlEntities {
		known[e.key] = true
	}
	for k := range c.Queries {
		if !known[k] {
			return src.Errorf("queries", "%q is not one of plans, customers, invoices, subscription_events", k)
		}
	}
	for _, k := range []string{"customers", "plans"} {
		if strings.TrimSpace(c.Queries[k]) == "" {
			return src.Errorf("queries", "a %s query is required", k)
		}
	}
	if c.Queries["invoices"] == "" && c.Queries["subscription_events"] == "" {
		return src.Errorf("queries", "an invoices or a subscription_events query is required")
	}
	return nil
}

// sqlSource is a database source read through database/sql.
type sqlSource struct {
	src    configs.Source
	cfg    SQLConfig
	driver string
	dsn    string
	from   Cursor
	cursor Cursor
	// maxWait bounds the retries of a transient failure.
	maxWait time.Duration
	onRetry func(step string, a retry.Attempt)
}

func (s *sqlSource) From(c Cursor)        { s.from = c }
func (s *sqlSource) Cursor() Cursor       { return s.cursor }
func (s *sqlSource) CursorColumn() string { return s.cfg.Cursor }

// Extract runs each query and passes its rows on as records: columns named
// as canonical fields (or mapped to one by the source's columns) become
// fields, other customer columns attributes. Connecting and starting a
// query are retried on transient failures; a failure while rows stream
// fails the read (nothing is published, the cursor stays).
func (s *sqlSource) Extract(ctx context.Context, fn func(*Record) error) error {
	db, err := sql.Open(s.driver, s.dsn)
	if err != nil {
		return s.permanent("open", err)
	}
	defer db.Close()
	if err := s.retry(ctx, "connect", func() error { return db.PingContext(ctx) }); err != nil {
		return err
	}
	s.cursor = Cursor{}
	for k, v := range s.from {
		s.cursor[k] = v
	}
	rec := &Record{}
	for _, ent := range sqlEntities {
		q := strings.TrimSpace(s.cfg.Queries[ent.key])
		if q == "" {
			continue
		}
		if err := s.query(ctx, db, ent.key, ent.entity, ent.fields, q, rec, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqlSource) query(ctx context.Context, db *sql.DB, key string, entity schemas.Entity, fields []string, q string, rec *Record, fn func(*Record) error) error {
	var args []any
	if s.cfg.Cursor != "" {
		args = append(args, cursorArg(s.from[key]))
	}
	var rows *sql.Rows
	err := s.retry(ctx, "query "+key, func() error {
		var err error
		rows, err = db.QueryContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return s.permanent("query "+key, err)
	}
	names := make([]string, len(cols)) // canonical name per column, "" for an attribute
	cursorCol := -1
	canonical := map[string]bool{}
	for _, f := range fields {
		canonical[f] = true
	}
	for i, c := range cols {
		lc := strings.ToLower(c)
		switch {
		case s.cfg.Columns[key+"."+lc] != "":
			names[i] = s.cfg.Columns[key+"."+lc]
		case s.cfg.Columns[lc] != "":
			names[i] = s.cfg.Columns[lc]
		case canonical[lc]:
			names[i] = lc
		case lc == "id":
			names[i] = sqlIDColumn[entity]
		}
		if s.cfg.Cursor != "" && strings.EqualFold(c, s.cfg.Cursor) {
			cursorCol = i
		}
	}
	if s.cfg.Cursor != "" && cursorCol < 0 {
		return s.permanent("query "+key, fmt.Errorf("the result has no cursor column %q: select it", s.cfg.Cursor))
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	raw := map[string]any{}
	for n := 1; rows.Next(); n++ {
		if err := rows.Scan(ptrs...); err != nil {
			return s.permanent("read "+key, err)
		}
		rec.reset(s.src.Name, entity, fmt.Sprintf("%s query, row %d", key, n))
		clear(raw)
		for i, v := range vals {
			val := sqlValue(v)
			raw[cols[i]] = jsonOf(val)
			switch {
			case names[i] != "":
				rec.Set(names[i], cols[i], val)
			case i == cursorCol:
			case entity == schemas.EntityCustomer && val.Present():
				rec.SetAttr(cols[i], val.Text)
			}
		}
		if id := rec.Get(sqlIDColumn[entity]); id.Present() {
			rec.Origin += " (" + sqlIDColumn[entity] + " " + id.Text + ")"
		}
		rec.Raw, _ = json.Marshal(raw)
		if cursorCol >= 0 {
			s.advance(key, sqlValue(vals[cursorCol]).Text)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.permanent("read "+key, err)
	}
	return nil
}

// advance moves the cursor of a query to v when v is later.
func (s *sqlSource) advance(key, v string) {
	if v == "" {
		return
	}
	if cur, ok := s.cursor[key]; !ok || CursorLess(cur, v) {
		s.cursor[key] = v
	}
}

// CursorLess compares cursor values: as times, as integers, else as text.
func CursorLess(a, b string) bool {
	ta, ea := time.Parse(time.RFC3339Nano, a)
	tb, eb := time.Parse(time.RFC3339Nano, b)
	if ea == nil && eb == nil {
		return ta.Before(tb)
	}
	ia, ea := strconv.ParseInt(a, 10, 64)
	ib, eb := strconv.ParseInt(b, 10, 64)
	if ea == nil && eb == nil {
		return ia < ib
	}
	return a < b
}

// cursorArg turns a stored cursor into a query parameter; with none, the
// earliest time (a query on an integer column should cast its parameter).
func cursorArg(v string) any {
	if v == "" {
		return time.Unix(0, 0).UTC()
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t
	}
	if i, err := strconv.ParseInt(v, 10, 64); err == nil {
		return i
	}
	return v
}

// sqlValue turns a driver value into a raw field value.
func sqlValue(v any) Value {
	switch x := v.(type) {
	case nil:
		return Value{Kind: Null}
	case []byte:
		return Value{Text: string(x), Kind: Text}
	case string:
		return Value{Text: x, Kind: Text}
	case int64:
		return Value{Text: strconv.FormatInt(x, 10), Kind: Number}
	case int32, int16, int8, int, uint64, uint32, uint16, uint8:
		return Value{Text: fmt.Sprint(x), Kind: Number}
	case float64:
		return Value{Text: strconv.FormatFloat(x, 'f', -1, 64), Kind: Number}
	case float32:
		return Value{Text: strconv.FormatFloat(float64(x), 'f', -1, 32), Kind: Number}
	case bool:
		return Value{Text: strconv.FormatBool(x), Kind: Bool}
	case time.Time:
		return Value{Text: x.UTC().Format(time.RFC3339Nano), Kind: Text}
	}
	return Value{Text: fmt.Sprint(v), Kind: Text}
}

func jsonOf(v Value) any {
	switch v.Kind {
	case Null, Missing:
		return nil
	case Bool:
		return v.Text == "true"
	case Number:
		return json.Number(v.Text)
	}
	return v.Text
}

// SourceError is a failed read of a database source, saying whether a
// retry could help and what to fix.
type SourceError struct {
	Source    string
	Step      string
	Transient bool
	Hint      string
	Err       error
}

func (e *SourceError) Error() string {
	msg := fmt.Sprintf("source %s: %s: %v", e.Source, e.Step, e.Err)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

func (e *SourceError) Unwrap() error { return e.Err }

func (s *sqlSource) permanent(step string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	transient, hint := classify(err)
	return &SourceError{Source: s.src.Name, Step: step, Transient: transient, Hint: hint, Err: err}
}

// retry runs op until it succeeds, fails permanently, or the transient
// failures outlast maxWait, backing off exponentially.
func (s *sqlSource) retry(ctx context.Context, step string, op func() error) error {
	p := retry.Policy{First: 200 * time.Millisecond, Max: 5 * time.Second, Total: s.maxWait}
	transient := func(err error) bool { t, _ := classify(err); return t }
	attempts, err := retry.Do(ctx, p, op, transient, func(a retry.Attempt) {
		if s.onRetry != nil {
			s.onRetry(step, a)
		}
	})
	if err != nil {
		se := s.permanent(step, err)
		var srcErr *SourceError
		if errors.As(se, &srcErr) && srcErr.Transient {
			srcErr.Hint = fmt.Sprintf("still failing after %d attempts over %s; is the database up and reachable?", attempts, s.maxWait)
		}
		return se
	}
	return nil
}

// OnRetry sets what is told of each failed attempt that is tried again.
func (s *sqlSource) OnRetry(fn func(step string, a retry.Attempt)) { s.onRetry = fn }

// classify tells transient failures (network, timeouts, deadlocks,
// overload) from permanent ones (credentials, missing tables, SQL errors).
func classify(err error) (transient bool, hint string) {
	for _, c := range []func(error) (matched, transient bool, hint string){classifyPostgres, classifyMySQL} {
		if ok, t, h := c(err); ok {
			return t, h
		}
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, driver.ErrBadConn):
		return true, ""
	case errors.As(err, &ne) && ne.Timeout():
		return true, ""
	}
	return false, ""
}
