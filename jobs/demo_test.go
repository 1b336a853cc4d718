package jobs

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/gen"
)

// The demo's data, from four kinds of source in two currencies, runs through
// the pipeline: every source contributes, the bad records are rejected and
// the monthly invariant holds with fx_impact.
func TestDemoRuns(t *testing.T) {
	dir, wh := t.TempDir(), t.TempDir()
	if _, err := gen.Demo(dir, gen.Options{Customers: 120, Months: 18, Seed: 42, BadRecords: true}); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Run(context.Background(), cfg, Options{Warehouse: wh, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Rejected != 6 {
		t.Errorf("%d rejected rows, want the 6 bad records", rec.Rejected)
	}
	sources := map[string]bool{}
	for _, r := range tableRows(t, wh, "mrr_movements", []string{"source", "currency"}) {
		sources[r] = true
	}
	for _, want := range []string{"webshop,usd", "europe,eur", "enterprise,usd", "payments,usd"} {
		if !sources[want] {
			t.Errorf("no movement from %s (have %v)", want, sources)
		}
	}
	fx := false
	for _, r := range tableRows(t, wh, "mrr_monthly", []string{"mrr_start", "new", "expansion", "reactivation", "contraction", "churn", "fx_impact", "mrr_end"}) {
		var v [8]int64
		for i, f := range strings.Split(r, ",") {
			v[i], _ = strconv.ParseInt(f, 10, 64)
		}
		if v[0]+v[1]+v[2]+v[3]-v[4]-v[5]+v[6] != v[7] {
			t.Errorf("invariant broken: %s", r)
		}
		fx = fx || v[6] != 0
	}
	if !fx {
		t.Error("no fx_impact in a demo with moving EUR rates")
	}
}
