package report_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/jobs"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/report"
	"github.com/mrrflow/mrrflow/schemas"
)

// warehouse runs one of the repository's scenarios into a new warehouse.
func warehouse(t *testing.T, scenario string) *store.Warehouse {
	t.Helper()
	cfg, err := configs.Load(filepath.Join("..", "jobs", "testdata", "scenarios", scenario, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := jobs.Run(context.Background(), cfg, jobs.Options{Warehouse: dir, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	w, err := store.OpenExisting(dir)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

var embedded = regexp.MustCompile(`(?s)<script id="report-data" type="application/json">(.*?)</script>`)

// pageData reads the data a page embeds back.
func pageData(t *testing.T, html []byte) report.Data {
	t.Helper()
	m := embedded.FindSubmatch(html)
	if m == nil {
		t.Fatal("the page embeds no report-data")
	}
	var d report.Data
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(m[1]), `<\/`, "</")), &d); err != nil {
		t.Fatalf("the embedded data: %v", err)
	}
	return d
}

// Every number the page embeds is the table's: each month's figures are
// mrr_monthly's row, each cohort cell the cohorts row; NULL stays NULL
// (the page shows n/a), movers are the month's largest movements, and the
// rejected rows are counted by reason.
func TestEmbeddedDataIsTheTables(t *testing.T) {
	for _, scenario := range []string{"currencies", "growpanel_lifecycle", "bad_records", "chartmogul_events"} {
		t.Run(scenario, func(t *testing.T) {
			w := warehouse(t, scenario)
			html, _, err := report.Build(context.Background(), w, report.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d := pageData(t, html)
			cols := []string{"month", "mrr_start", "new", "expansion", "contraction", "churn", "reactivation", "fx_impact", "mrr_end", "arr",
				"customers_start", "customers_end", "arpa", "net_mrr_churn_rate", "quick_ratio", "ltv", "is_partial"}
			rows, err := load.ReadText(context.Background(), w, schemas.MRRMonthly, cols, "null")
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(d.Months) || len(rows) == 0 {
				t.Fatalf("%d months embedded, the table has %d", len(d.Months), len(rows))
			}
			byMonth := map[string][]string{}
			for _, r := range rows {
				byMonth[r[0][:7]] = r
			}
			for _, m := range d.Months {
				got, err := json.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				var fields map[string]any
				dec := json.NewDecoder(strings.NewReader(string(got)))
				dec.UseNumber()
				if err := dec.Decode(&fields); err != nil {
					t.Fatal(err)
				}
				row := byMonth[m.Month]
				for i, c := range cols[1:] {
					want := row[i+1]
					if v := asText(fields[c]); v != want {
						t.Errorf("%s %s: embedded %s, the table has %s", m.Month, c, v, want)
					}
				}
			}
			crows, err := load.ReadText(context.Background(), w, schemas.Cohorts, []string{"cohort_month", "months_since", "mrr", "active_customers",
				"customer_retention", "revenue_retention"}, "null")
			if err != nil {
				t.Fatal(err)
			}
			if len(crows) != len(d.Cohorts) {
				t.Fatalf("%d cohort cells embedded, the table has %d", len(d.Cohorts), len(crows))
			}
			cells := map[string]bool{}
			for _, c := range d.Cohorts {
				cells[strings.Join([]string{c.CohortMonth, strconv.FormatInt(c.MonthsSince, 10), strconv.FormatInt(c.MRR, 10),
					strconv.FormatInt(c.Active, 10), asText(c.CustomerRetention), asText(c.RevenueRetention)}, "|")] = true
			}
			for _, r := range crows {
				r[0] = r[0][:7]
				if !cells[strings.Join(r, "|")] {
					t.Errorf("cohort row %v is not embedded", r)
				}
			}
			rejected, err := load.ReadText(context.Background(), w, schemas.RejectedRows, []string{"error"}, "")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range d.Rejected {
				n += r.Rows
			}
			if n != len(rejected) {
				t.Errorf("%d rejected rows counted, the table has %d", n, len(rejected))
			}
			last := d.Months[len(d.Months)-1].Month
			for _, m := range d.Movers {
				if m.Date[:7] != last || m.Amount <= 0 {
					t.Errorf("mover %+v is not a movement of %s", m, last)
				}
			}
		})
	}
}

func asText(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case json.Number:
		return x.String()
	case *float64:
		if x == nil {
			return "null"
		}
		return strconv.FormatFloat(*x, 'g', -1, 64)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// The page needs no network: nothing but the vendored library's own text
// names an address, and nothing is loaded from one.
func TestNoNetworkReference(t *testing.T) {
	w := warehouse(t, "currencies")
	html, _, err := report.Build(context.Background(), w, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	lib := strings.ReplaceAll(report.Library(), "</", `<\/`)
	if !strings.Contains(page, lib) {
		t.Fatal("the page does not inline the library")
	}
	rest := strings.Replace(page, lib, "", 1)
	for _, bad := range []string{"http://", "https://", "//cdn", "<script src", "<link", "@import", "url("} {
		if strings.Contains(rest, bad) {
			i := strings.Index(rest, bad)
			t.Errorf("the page holds %q: ...%s...", bad, rest[max(0, i-60):min(len(rest), i+60)])
		}
	}
}

// --from and --to bound the months; a range with no month is an error.
func TestMonthRange(t *testing.T) {
	w := warehouse(t, "growpanel_lifecycle")
	html, d, err := report.Build(context.Background(), w, report.Options{From: "2024-03", To: "2024-05"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Months) != 3 || d.Months[0].Month != "2024-03" || d.Months[2].Month != "2024-05" || len(html) == 0 {
		t.Errorf("months %+v", d.Months)
	}
	for _, c := range d.Cohorts {
		if c.CohortMonth < "2024-03" {
			t.Errorf("cohort %s lies before the range", c.CohortMonth)
		}
	}
	if _, _, err := report.Build(context.Background(), w, report.Options{From: "2030-01"}); err == nil {
		t.Error("a range with no month gave a report")
	}
}
