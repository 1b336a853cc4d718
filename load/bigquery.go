package load

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"google.golang.org/api/option"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/schemas"
)

// BigQuery loads the warehouse's tables into a BigQuery dataset. For each
// table it loads only the partitions (months of the partitioning column,
// or the whole table) whose content changed since the last load: by a
// Parquet load job into a staging table, then one transaction that deletes
// those partitions from the target and inserts the staged rows, so that a
// reader sees the table before or after, never in between. The content
// hashes of what was loaded are kept in the warehouse's _state.
type BigQuery struct {
	client   *bigquery.Client
	project  string
	dataset  string
	location string
	views    bool
	state    string
	log      zerolog.Logger
	// MaxWait bounds the retries of a transient failure.
	MaxWait time.Duration
	// Jobs counts the load jobs and the queries issued.
	Jobs struct{ Loads, Queries int }
}

// NewBigQuery connects to the sink's project: with Application Default
// Credentials, or credentials_file; endpoint points the client elsewhere
// (an emulator), without authentication.
func NewBigQuery(ctx context.Context, sink configs.Sink, w *store.Warehouse, log zerolog.Logger) (*BigQuery, error) {
	var opts []option.ClientOption
	switch {
	case sink.Endpoint != "":
		opts = append(opts, option.WithEndpoint(sink.Endpoint), option.WithoutAuthentication())
	case sink.CredentialsFile != "":
		// A service account key file; its type is checked, as the
		// library advises for files that come from configuration.
		opts = append(opts, option.WithAuthCredentialsFile(option.ServiceAccount, sink.CredentialsFile))
	}
	client, err := bigquery.NewClient(ctx, sink.Project, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to BigQuery project %s: %w (set credentials_file, or GOOGLE_APPLICATION_CREDENTIALS)", sink.Project, err)
	}
	client.Location = sink.Location
	return &BigQuery{
		client: client, project: sink.Project, dataset: sink.Dataset, location: sink.Location, views: sink.Views,
		state: w.Path(store.StateDir + "/bigquery/" + sink.Project + "." + sink.Dataset + ".json"),
		log:   log, MaxWait: 2 * time.Minute,
	}, nil
}

// Close releases the client.
func (b *BigQuery) Close() error { return b.client.Close() }

// Loaded says what a load changed in one table.
type Loaded struct {
	Table      string
	Partitions []string // the partitions replaced or removed
	Rows       int64    // rows inserted
}

// Load brings every table of the warehouse up to date in BigQuery.
func (b *BigQuery) Load(ctx context.Context, w *store.Warehouse, runID string) ([]Loaded, error) {
	if err := b.ensureDataset(ctx); err != nil {
		return nil, err
	}
	state, err := b.readState()
	if err != nil {
		return nil, err
	}
	var out []Loaded
	for _, t := range schemas.All() {
		recs, err := ReadLocal(ctx, memory.DefaultAllocator, w, t)
		if err != nil {
			return out, err
		}
		rec, err := schemas.Concat(memory.DefaultAllocator, t, recs)
		for _, r := range recs {
			r.Release()
		}
		if err != nil {
			return out, err
		}
		l, err := b.loadTable(ctx, t, rec, state, runID)
		rec.Release()
		if err != nil {
			return out, fmt.Errorf("load %s into BigQuery: %w", t.Name, err)
		}
		if len(l.Partitions) > 0 {
			out = append(out, l)
			if err := b.writeState(state); err != nil {
				return out, err
			}
		}
	}
	if b.views {
		if err := b.ensureViews(ctx); err != nil {
			return out, err
		}
	}
	return out, nil
}

// partition is a month of a partitioned table ("2024-01"), or "all".
type partition struct {
	key  string
	from int64 // rows [from, to) of the table sorted by its partition column
	to   int64
	hash string
}

func (b *BigQuery) loadTable(ctx context.Context, t *schemas.Table, rec arrow.RecordBatch, state map[string]map[string]string, runID string) (Loaded, error) {
	l := Loaded{Table: t.Name}
	sorted, parts, err := partitions(t, rec)
	if err != nil {
		return l, err
	}
	defer sorted.Release()
	had := state[t.Name]
	var changed []partition
	seen := map[string]bool{}
	for _, p := range parts {
		seen[p.key] = true
		if had[p.key] != p.hash {
			changed = append(changed, p)
		}
	}
	var removed []string
	for k := range had {
		if !seen[k] {
			removed = append(removed, k)
		}
	}
	slices.Sort(removed)
	if len(changed) == 0 && len(removed) == 0 {
		return l, nil // nothing changed: no job at all
	}
	if err := b.ensureTable(ctx, t); err != nil {
		return l, err
	}
	var keys []string
	var slices_ []arrow.RecordBatch
	for _, p := range changed {
		keys = append(keys, p.key)
		s := sorted.NewSlice(p.from, p.to)
		defer s.Release()
		slices_ = append(slices_, s)
		l.Rows += p.to - p.from
	}
	keys = append(keys, removed...)
	var buf bytes.Buffer
	if err := schemas.WriteParquet(&buf, t, slices_...); err != nil {
		return l, err
	}
	staging := b.client.Dataset(b.dataset).Table(stagingName(t, runID))
	defer func() {
		// The staging table goes, whatever happened.
		if err := staging.Delete(context.WithoutCancel(ctx)); err != nil && !isNotFound(err) {
			b.log.Warn().Err(err).Str("table", staging.TableID).Msg("could not drop a staging table")
		}
	}()
	if err := b.stage(ctx, t, staging, buf.Bytes(), l.Rows); err != nil {
		return l, err
	}
	if err := b.replace(ctx, t, staging, keys); err != nil {
		return l, err
	}
	newState := map[string]string{}
	for _, p := range parts {
		newState[p.key] = p.hash
	}
	state[t.Name] = newState
	l.Partitions = keys
	b.log.Info().Str("table", t.Name).Strs("partitions", keys).Int64("rows", l.Rows).Msg("loaded into BigQuery")
	return l, nil
}

// partitions sorts a table by its partition column and cuts it into
// months, each with the hash of its rows as Parquet; an unpartitioned
// table is one partition "all".
func partitions(t *schemas.Table, rec arrow.RecordBatch) (arrow.RecordBatch, []partition, error) {
	if t.PartitionBy == "" {
		rec.Retain()
		h, err := hashRows(t, rec)
		return rec, []partition{{key: "all", from: 0, to: rec.NumRows(), hash: h}}, err
	}
	col := rec.Column(t.Index(t.PartitionBy)).(*array.Date32)
	idx := make([]int, rec.NumRows())
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return int(col.Value(a)) - int(col.Value(b)) })
	sorted, err := take(t, rec, idx)
	if err != nil {
		return nil, nil, err
	}
	dates := sorted.Column(t.Index(t.PartitionBy)).(*array.Date32)
	var parts []partition
	for i := 0; i < int(sorted.NumRows()); {
		key := dates.Value(i).ToTime().Format("2006-01")
		j := i
		for j < int(sorted.NumRows()) && dates.Value(j).ToTime().Format("2006-01") == key {
			j++
		}
		s := sorted.NewSlice(int64(i), int64(j))
		h, err := hashRows(t, s)
		s.Release()
		if err != nil {
			sorted.Release()
			return nil, nil, err
		}
		parts = append(parts, partition{key: key, from: int64(i), to: int64(j), hash: h})
		i = j
	}
	return sorted, parts, nil
}

// take reorders a batch's rows by index.
func take(t *schemas.Table, rec arrow.RecordBatch, idx []int) (arrow.RecordBatch, error) {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	for _, i := range idx {
		b.Append(int64(i))
	}
	indices := b.NewArray()
	defer indices.Release()
	cols := make([]arrow.Array, rec.NumCols())
	for c := range cols {
		a, err := compute.TakeArray(context.Background(), rec.Column(c), indices)
		if err != nil {
			for _, x := range cols[:c] {
				x.Release()
			}
			return nil, fmt.Errorf("sort %s: %w", t.Name, err)
		}
		cols[c] = a
	}
	out := array.NewRecordBatch(t.Schema(), cols, rec.NumRows())
	for _, a := range cols {
		a.Release()
	}
	return out, nil
}

func hashRows(t *schemas.Table, rec arrow.RecordBatch) (string, error) {
	h := sha256.New()
	if err := schemas.WriteParquet(h, t, rec); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func stagingName(t *schemas.Table, runID string) string {
	return "_mrrflow_staging_" + t.Name + "_" + strings.NewReplacer("-", "_", "T", "_", "Z", "").Replace(strings.ToLower(runID))
}

// stage loads Parquet bytes into a fresh staging table. The job id is made
// from the content and the destination: a retry of a load that did run
// finds that job and waits for it instead of loading twice.
func (b *BigQuery) stage(ctx context.Context, t *schemas.Table, staging *bigquery.Table, data []byte, rows int64) error {
	sum := sha256.Sum256(append([]byte(staging.TableID+"\x00"), data...))
	jobID := "mrrflow_load_" + hex.EncodeToString(sum[:16])
	// Each attempt reads the bytes afresh: a load consumes its reader.
	newLoader := func(id string) *bigquery.Loader {
		src := bigquery.NewReaderSource(bytes.NewReader(data))
		src.SourceFormat = bigquery.Parquet
		src.ParquetOptions = &bigquery.ParquetOptions{EnableListInference: true}
		// The emulator needs the schema of a Parquet load spelled out (it
		// answers 500 without); real BigQuery takes it as well.
		src.Schema = bqSchema(t)
		loader := staging.LoaderFrom(src)
		loader.CreateDisposition = bigquery.CreateIfNeeded
		loader.WriteDisposition = bigquery.WriteTruncate
		loader.JobID = id
		loader.Location = b.location
		return loader
	}
	return b.retry(ctx, "load "+t.Name, func() error {
		b.Jobs.Loads++
		job, err := newLoader(jobID).Run(ctx)
		if err == nil {
			return waitJob(ctx, job)
		}
		if !isDuplicate(err) {
			return err
		}
		// It ran before: wait for that job. If what it loaded is gone (an
		// earlier attempt's staging table, dropped since), load afresh.
		if job, err = b.client.JobFromIDLocation(ctx, jobID, b.location); err != nil {
			return err
		}
		if err := waitJob(ctx, job); err != nil {
			return err
		}
		if n, err := b.count(ctx, staging); err != nil || n == rows {
			return err
		}
		b.log.Info().Str("job", jobID).Msg("an earlier job of this content is done but its staging table no longer holds its rows: loading again")
		again := newLoader(jobID + "_again")
		again.AddJobIDSuffix = true
		b.Jobs.Loads++
		if job, err = again.Run(ctx); err != nil {
			return err
		}
		return waitJob(ctx, job)
	})
}

// count returns the rows of a table; -1 for a missing table.
func (b *BigQuery) count(ctx context.Context, t *bigquery.Table) (int64, error) {
	q := b.client.Query(fmt.Sprintf("SELECT COUNT(*) FROM `%s.%s.%s`", b.project, b.dataset, t.TableID))
	q.Location = b.location
	b.Jobs.Queries++
	it, err := q.Read(ctx)
	if isNotFound(err) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	var row []bigquery.Value
	if err := it.Next(&row); err != nil {
		return 0, err
	}
	n, _ := row[0].(int64)
	return n, nil
}

// replace runs one transaction: delete the changed partitions from the
// target, insert the staged rows. The DELETE names the partitions it
// touches, so it neither scans the whole table nor fails on
// require_partition_filter.
func (b *BigQuery) replace(ctx context.Context, t *schemas.Table, staging *bigquery.Table, keys []string) error {
	target := fmt.Sprintf("`%s.%s.%s`", b.project, b.dataset, t.Name)
	filter := "TRUE"
	if t.PartitionBy != "" {
		var parts []string
		for _, k := range keys {
			from, err := time.Parse("2006-01", k)
			if err != nil {
				return fmt.Errorf("partition %q: %w", k, err)
			}
			parts = append(parts, fmt.Sprintf("(`%s` >= DATE '%s' AND `%s` < DATE '%s')", t.PartitionBy, from.Format(time.DateOnly),
				t.PartitionBy, from.AddDate(0, 1, 0).Format(time.DateOnly)))
		}
		filter = strings.Join(parts, " OR ")
	}
	sql := fmt.Sprintf("BEGIN TRANSACTION;\nDELETE FROM %s WHERE %s;\nINSERT INTO %s SELECT * FROM `%s.%s.%s`;\nCOMMIT TRANSACTION;",
		target, filter, target, b.project, b.dataset, staging.TableID)
	return b.retry(ctx, "replace partitions of "+t.Name, func() error {
		q := b.client.Query(sql)
		q.Location = b.location
		b.Jobs.Queries++
		job, err := q.Run(ctx)
		if err != nil {
			return err
		}
		return waitJob(ctx, job)
	})
}

func waitJob(ctx context.Context, job *bigquery.Job) error {
	st, err := job.Wait(ctx)
	if err != nil {
		return err
	}
	return st.Err()
}
