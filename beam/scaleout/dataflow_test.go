package scaleout

import (
	"context"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/jobs"
)

// capture keeps what Beam logs.
type capture struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (c *capture) Log(_ context.Context, _ beamlog.Severity, _ int, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.WriteString(msg + "\n")
}

// A --dry_run submission to the Dataflow runner describes the job (its
// project, region, staging and steps) without the network or
// credentials, and the run publishes nothing.
func TestDataflowDryRun(t *testing.T) {
	set := map[string]string{"project": "mrrflow-test", "region": "europe-west1", "staging_location": "gs://mrrflow-test/staging",
		"worker_binary": filepath.Join(t.TempDir(), "worker"), "dry_run": "true"}
	for name, v := range set {
		f := flag.Lookup(name)
		if f == nil {
			t.Fatalf("no flag %s: is the Dataflow runner linked?", name)
		}
		old := f.Value.String()
		if err := flag.Set(name, v); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { flag.Set(name, old) })
	}
	logs := &capture{}
	beamlog.SetLogger(logs)
	cfg, err := configs.Load(filepath.Join("..", "..", "jobs", "testdata", "scenarios", "currencies", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dataflow := func(ctx context.Context, p *beam.Pipeline) error {
		_, err := beam.Run(ctx, "dataflow", p)
		return err
	}
	wh := t.TempDir()
	_, err = jobs.Run(context.Background(), cfg, jobs.Options{Warehouse: wh, Log: zerolog.Nop(), Compute: Runner{Shards: 8, Data: "gs://mrrflow-test/data", Execute: dataflow, DryRun: true}.Compute})
	if !errors.Is(err, ErrDryRun) {
		t.Fatalf("a dry run: %v", err)
	}
	job := logs.buf.String()
	for _, want := range []string{`"projectId": "mrrflow-test"`, "europe-west1", "gs://mrrflow-test/staging", "shard", "compute", "merge"} {
		if !strings.Contains(job, want) {
			t.Errorf("the job description lacks %q:\n%.2000s", want, job)
		}
	}
	if rows := marts(t, wh)["mrr_monthly"]; len(rows) > 0 {
		t.Errorf("a dry run published mrr_monthly: %d rows", len(rows))
	}
}
