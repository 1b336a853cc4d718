package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/goccy/bigquery-emulator/server"
	"github.com/goccy/bigquery-emulator/types"
	"github.com/rs/zerolog"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/gen"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/jobs"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/schemas"
)

const project = "mrrflow-test"

// emulator starts an in-process BigQuery emulator and a client of it.
func emulator(t *testing.T) (string, *bigquery.Client) {
	t.Helper()
	srv, err := server.New(server.TempStorage)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Load(server.StructSource(types.NewProject(project))); err != nil {
		t.Fatal(err)
	}
	ts := srv.TestServer()
	t.Cleanup(func() {
		ts.Close()
		srv.Stop(context.Background())
	})
	client, err := bigquery.NewClient(context.Background(), project, option.WithEndpoint(ts.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return ts.URL, client
}

// world is generated data, a config loading it into the emulator, and a
// warehouse.
type world struct {
	dir, wh string
	cfg     *configs.Config
}

func newWorld(t *testing.T, endpoint string) *world {
	t.Helper()
	dir := t.TempDir()
	if _, err := gen.GrowPanel(dir, gen.Options{Customers: 40, Months: 12, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	cfgText, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgText = append(cfgText, []byte(fmt.Sprintf("sink: {kind: bigquery, project: %s, dataset: revenue, location: US, endpoint: %q, views: true}\n", project, endpoint))...)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), cfgText, 0o644); err != nil {
		t.Fatal(err)
	}
	w := &world{dir: dir, wh: t.TempDir()}
	w.reload(t)
	return w
}

func (w *world) reload(t *testing.T) {
	t.Helper()
	cfg, err := configs.Load(filepath.Join(w.dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w.cfg = cfg
}

func (w *world) run(t *testing.T, opt jobs.Options) (*jobs.Record, error) {
	t.Helper()
	w.reload(t)
	opt.Warehouse, opt.Log = w.wh, zerolog.Nop()
	return jobs.Run(context.Background(), w.cfg, opt)
}

// localRows reads a table of the local warehouse as sorted text rows.
func localRows(t *testing.T, wh string, tb *schemas.Table) []string {
	t.Helper()
	ws, err := store.Open(wh)
	if err != nil {
		t.Fatal(err)
	}
	text, err := load.ReadText(context.Background(), ws, tb, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]string, len(text))
	for i, r := range text {
		rows[i] = strings.Join(r, "|")
	}
	slices.Sort(rows)
	return rows
}

// bqRows reads a BigQuery table as sorted text rows, formatted as the
// local ones.
func bqRows(t *testing.T, client *bigquery.Client, table string) []string {
	t.Helper()
	it, err := client.Query(fmt.Sprintf("SELECT * FROM `%s.revenue.%s`", project, table)).Read(context.Background())
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	var rows []string
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		vals := make([]string, len(row))
		for i, v := range row {
			vals[i] = bqText(v)
		}
		rows = append(rows, strings.Join(vals, "|"))
	}
	slices.Sort(rows)
	return rows
}

func bqText(v bigquery.Value) string {
	switch x := v.(type) {
	case nil:
		return ""
	case civil.Date:
		return x.String()
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	case []bigquery.Value:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = bqText(e)
		}
		b, _ := json.Marshal(s)
		return string(b)
	}
	return fmt.Sprint(v)
}

// sameAsLocal checks that every table in BigQuery equals the local one.
func sameAsLocal(t *testing.T, client *bigquery.Client, wh string) {
	t.Helper()
	for _, tb := range schemas.All() {
		want, got := localRows(t, wh, tb), bqRows(t, client, tb.Name)
		if !slices.Equal(got, want) {
			t.Errorf("table %s: BigQuery has %d rows, the local warehouse %d; first difference:\n%s", tb.Name, len(got), len(want), firstDiff(got, want))
		}
	}
}

func firstDiff(a, b []string) string {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return "  bigquery: " + x + "\n  local:    " + y
		}
	}
	return ""
}

func TestBigQueryLoads(t *testing.T) {
	endpoint, client := emulator(t)
	w := newWorld(t, endpoint)
	ctx := context.Background()

	// A first load creates every table, partitioned, clustered, described.
	rec, err := w.run(t, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.BigQueryJobs == 0 {
		t.Fatal("the first load issued no job")
	}
	sameAsLocal(t, client, w.wh)
	md, err := client.Dataset("revenue").Table("mrr_movements").Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.TimePartitioning == nil || md.TimePartitioning.Field != "date" || md.Clustering == nil || md.Clustering.Fields[0] != "customer_id" {
		t.Errorf("mrr_movements: partitioning %+v, clustering %+v", md.TimePartitioning, md.Clustering)
	}
	if md.Schema[0].Description == "" {
		t.Error("columns have no description")
	}

	// A re-run with no change issues no job.
	rec, err = w.run(t, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.BigQueryJobs != 0 {
		t.Errorf("a re-run with no change issued %d jobs: %+v", rec.BigQueryJobs, rec.BigQuery)
	}

	// A late invoice restates history: exactly the changed partitions are
	// replaced, and every table matches the local warehouse again.
	inv, err := os.OpenFile(filepath.Join(w.dir, "invoices.csv"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2023, 9, 1, 0, 0, 0, 0, time.UTC)
	fmt.Fprintf(inv, "late_1,cus_000003,business_m,,subscription,%s,29900,usd,%s,%s,,%s\n",
		start.Format(time.RFC3339), start.Format(time.RFC3339), start.AddDate(0, 1, 0).Format(time.RFC3339), start.Format(time.RFC3339))
	inv.Close()
	rec, err = w.run(t, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var localChanged []string
	for _, tr := range rec.Tables {
		if tr.Name == "mrr_movements" {
			for _, f := range tr.FilesChanged {
				localChanged = append(localChanged, strings.TrimSuffix(strings.TrimPrefix(f, "marts/mrr_movements/month="), "/part-0.parquet"))
			}
		}
	}
	var replaced []string
	for _, l := range rec.BigQuery {
		if l.Table == "mrr_movements" {
			replaced = l.Partitions
		}
	}
	slices.Sort(localChanged)
	slices.Sort(replaced)
	if len(replaced) == 0 || !slices.Equal(replaced, localChanged) {
		t.Errorf("mrr_movements: replaced partitions %v, the months that changed are %v", replaced, localChanged)
	}
	sameAsLocal(t, client, w.wh)
	tables, err := listTables(client)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range tables {
		if strings.HasPrefix(name, "_mrrflow_staging") {
			t.Errorf("staging table %s was left behind", name)
		}
	}
	if !slices.Contains(tables, "mrr_monthly_major") {
		t.Error("the analyst view was not created")
	}
}

// A failure between staging and the transaction leaves the target tables
// as they were; the next run completes the load. The failure is real: a
// proxy in front of the emulator refuses the transaction of mrr_movements
// as BigQuery refuses a bad statement (400, reason invalid).
func TestBigQueryFailureBeforeCommitChangesNothing(t *testing.T) {
	endpoint, client := emulator(t)
	var refuse atomic.Bool
	proxy := refusingProxy(t, endpoint, &refuse, "mrr_movements")
	w := newWorld(t, proxy)
	if _, err := w.run(t, jobs.Options{}); err != nil {
		t.Fatal(err)
	}
	before := map[string][]string{}
	for _, tb := range schemas.All() {
		before[tb.Name] = bqRows(t, client, tb.Name)
	}
	inv, _ := os.OpenFile(filepath.Join(w.dir, "invoices.csv"), os.O_APPEND|os.O_WRONLY, 0)
	start := time.Date(2023, 10, 5, 0, 0, 0, 0, time.UTC)
	fmt.Fprintf(inv, "late_2,cus_000004,pro_m,,subscription,%s,19900,usd,,,,\n", start.Format(time.RFC3339))
	inv.Close()
	refuse.Store(true)
	_, err := w.run(t, jobs.Options{})
	if err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("err = %v, want the refused transaction", err)
	}
	if got := bqRows(t, client, "mrr_movements"); !slices.Equal(got, before["mrr_movements"]) {
		t.Error("mrr_movements changed although its transaction never ran")
	}
	refuse.Store(false)
	if _, err := w.run(t, jobs.Options{}); err != nil {
		t.Fatal(err)
	}
	sameAsLocal(t, client, w.wh)
}

// refusingProxy forwards to the emulator, but while refuse is set answers
// a query job whose statement is a transaction naming table with 400.
func refusingProxy(t *testing.T, endpoint string, refuse *atomic.Bool, table string) string {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if refuse.Load() && req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/jobs") {
			body, err := io.ReadAll(req.Body)
			if err != nil {
				http.Error(rw, err.Error(), http.StatusBadRequest)
				return
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte("BEGIN TRANSACTION")) && bytes.Contains(body, []byte(table)) {
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(http.StatusBadRequest)
				io.WriteString(rw, `{"error": {"code": 400, "message": "injected: the transaction is refused",
					"errors": [{"reason": "invalid", "message": "injected: the transaction is refused"}]}}`)
				return
			}
		}
		forward.ServeHTTP(rw, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func listTables(client *bigquery.Client) ([]string, error) {
	var out []string
	it := client.Dataset("revenue").Tables(context.Background())
	for {
		tb, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, tb.TableID)
	}
}

// A load retried after it already ran (the same run, the same content, so
// the same job id) finds the job and waits for it; nothing is duplicated.
func TestBigQueryRetriedLoadFindsItsJob(t *testing.T) {
	endpoint, client := emulator(t)
	w := newWorld(t, endpoint)
	if _, err := w.run(t, jobs.Options{}); err != nil {
		t.Fatal(err)
	}
	ws, err := store.Open(w.wh)
	if err != nil {
		t.Fatal(err)
	}
	// Forget what was loaded, as if the process died after the jobs ran
	// but before it recorded them, and load again under the same run.
	state := filepath.Join(w.wh, "_state", "bigquery", project+".revenue.json")
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	runs, err := jobs.Runs(w.wh)
	if err != nil || len(runs) == 0 {
		t.Fatal(err)
	}
	bq, err := load.NewBigQuery(context.Background(), w.cfg.Sink, ws, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()
	if _, err := bq.Load(context.Background(), ws, runs[len(runs)-1].RunID); err != nil {
		t.Fatalf("the retried load failed: %v", err)
	}
	if bq.Jobs.Loads == 0 {
		t.Fatal("no load was retried")
	}
	sameAsLocal(t, client, w.wh)
}
