package scaleout

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/rs/zerolog"
	"google.golang.org/api/iterator"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/gen"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/jobs"
	"github.com/mrrflow/mrrflow/schemas"
	"github.com/mrrflow/mrrflow/transform"
)

// requests keeps the emulator's log of requests.
type requests struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *requests) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *requests) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// cloudStorage starts a Cloud Storage emulator in the process, with a
// bucket, and points this process's client at it.
func cloudStorage(t *testing.T, bucket string) (*fakestorage.Server, *requests) {
	t.Helper()
	log := &requests{}
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Writer: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	t.Setenv("STORAGE_EMULATOR_HOST", srv.URL())
	return srv, log
}

// objects are a bucket's objects under a prefix: name to generation.
func objects(t *testing.T, c *storage.Client, bucket, prefix string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	it := c.Bucket(bucket).Objects(context.Background(), &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if err == iterator.Done {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[a.Name] = a.Generation
	}
}

// With its data on Cloud Storage (an emulator, through the real client),
// the pipeline reads a new delivery's pieces and the stored lines' row
// groups from objects and writes its partial there: the tables are those
// of a run on one machine. A stored table is uploaded once, by its
// content, replaced when its copy is damaged and removed when no run
// reads it; a run leaves nothing of its own behind; and a run that cannot reach its bucket fails and
// publishes nothing.
func TestDataOnCloudStorage(t *testing.T) {
	const bucket = "mrrflow-test"
	srv, log := cloudStorage(t, bucket)
	c := srv.Client()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := gen.GrowPanel(dir, gen.Options{Customers: 3_000, Months: 18, Seed: 11, EUR: true}); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(dir, "one")
	if _, err := jobs.Run(ctx, cfg, jobs.Options{Warehouse: one, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	want := martFiles(t, one)
	onGCS := Runner{Shards: 3, Data: "gs://" + bucket + "/wh", Execute: onPrism}

	// A first run: every record is new, read from the run's pieces.
	fresh := filepath.Join(dir, "fresh")
	if _, err := jobs.Run(ctx, cfg, jobs.Options{Warehouse: fresh, Log: zerolog.Nop(), Compute: onGCS.Compute}); err != nil {
		t.Fatal(err)
	}
	if got := martFiles(t, fresh); !reflect.DeepEqual(got, want) {
		t.Error("a first run with its data on Cloud Storage: the mart files differ from one machine's")
	}
	if !strings.Contains(log.String(), "GET /storage/v1/b/"+bucket+"/o/"+url.PathEscape("wh/runs/")) {
		t.Error("the emulator saw no request for a run's pieces")
	}
	if left := objects(t, c, bucket, "wh/runs/"); len(left) > 0 {
		t.Errorf("a run left its objects: %v", left)
	}

	// The next run reads the stored lines: from their copies, by range.
	w, err := store.Open(one)
	if err != nil {
		t.Fatal(err)
	}
	files := transform.TableFiles(w, schemas.InvoiceLines, cfg.Sources[0].Name)
	if len(files) == 0 {
		t.Fatal("no stored line file")
	}
	stored := func(night string) map[string]int64 {
		t.Helper()
		wh := filepath.Join(dir, night)
		if err := os.CopyFS(wh, os.DirFS(one)); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(wh, "marts")); err != nil {
			t.Fatal(err)
		}
		rec, err := jobs.Run(ctx, cfg, jobs.Options{Warehouse: wh, Log: zerolog.Nop(), Compute: onGCS.Compute})
		if err != nil {
			t.Fatalf("%s: %v", night, err)
		}
		if !rec.Sources[0].Unchanged {
			t.Fatalf("%s: the source was read again; the stored lines should be", night)
		}
		if got := martFiles(t, wh); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the mart files differ from one machine's", night)
		}
		tables := objects(t, c, bucket, "wh/tables/")
		if len(tables) != len(files) {
			t.Fatalf("%s: %d objects under tables/, want one per stored line file (%d)", night, len(tables), len(files))
		}
		return tables
	}
	first := stored("night1")
	var name string
	for n := range first {
		name = n
	}
	if !strings.Contains(log.String(), "GET /storage/v1/b/"+bucket+"/o/"+url.PathEscape(name)+"?alt=media") {
		t.Errorf("the emulator saw no read of %s", name)
	}
	// A copy of a table no run reads any more is removed.
	stray := c.Bucket(bucket).Object("wh/tables/0000.parquet").NewWriter(ctx)
	io.WriteString(stray, "a table of an earlier night")
	if err := stray.Close(); err != nil {
		t.Fatal(err)
	}
	if second := stored("night2"); !reflect.DeepEqual(second, first) {
		t.Errorf("the stored tables were uploaded again: generations %v, then %v", first, second)
	}
	// A damaged copy is replaced.
	wr := c.Bucket(bucket).Object(name).NewWriter(ctx)
	io.WriteString(wr, "not the table")
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	if third := stored("night3"); third[name] == first[name] {
		t.Error("a damaged copy was read, not replaced")
	}

	// A bucket that does not exist: the run fails and publishes nothing.
	lost := filepath.Join(dir, "lost")
	gone := Runner{Shards: 3, Data: "gs://no-such-bucket/wh", Execute: onPrism}
	if _, err := jobs.Run(ctx, cfg, jobs.Options{Warehouse: lost, Log: zerolog.Nop(), Compute: gone.Compute}); err == nil ||
		!strings.Contains(err.Error(), "gs://no-such-bucket/wh/") {
		t.Fatalf("a run on a missing bucket: %v", err)
	}
	if rows := marts(t, lost)["mrr_monthly"]; len(rows) > 0 {
		t.Errorf("a failed run published mrr_monthly: %d rows", len(rows))
	}
}
