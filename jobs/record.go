package jobs

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/transform"
)

// ErrTooManyRejected is a run that finished but rejected more rows than
// max_rejected_rows allows.
var ErrTooManyRejected = errors.New("rejected rows over the configured threshold")

// Record is what a run did; it is kept under _state/runs/.
type Record struct {
	RunID      string         `json:"run_id"`
	Command    string         `json:"command"`
	AsOf       string         `json:"as_of"`
	Started    time.Time      `json:"started"`
	Finished   time.Time      `json:"finished"`
	DurationMS int64          `json:"duration_ms"`
	Outcome    string         `json:"outcome"` // succeeded, failed
	Error      string         `json:"error,omitempty"`
	Sources    []SourceRecord `json:"sources"`
	Tables     []TableRecord  `json:"tables"`
	Rejected   int            `json:"rejected"`
	Currency   string         `json:"reporting_currency,omitempty"`
	// Partitions is the number of partitions the engine computed in.
	Partitions int `json:"partitions,omitempty"`
	// Incremental says how many customers the run computed, and why all
	// when it did.
	Incremental *IncrementalRecord `json:"incremental,omitempty"`
	// ChangedMonths lists the months whose mrr_monthly row this run changed.
	ChangedMonths []string `json:"changed_months,omitempty"`
	// BigQuery lists what the BigQuery sink replaced, when there is one.
	BigQuery     []load.Loaded `json:"bigquery,omitempty"`
	BigQueryJobs int           `json:"bigquery_jobs,omitempty"`
}

// SourceRecord is what a run read from one source.
type SourceRecord struct {
	Name     string         `json:"name"`
	Kind     string         `json:"kind"`
	Mode     string         `json:"mode"`
	Read     map[string]int `json:"read"`
	Accepted map[string]int `json:"accepted"`
	Rejected int            `json:"rejected"`
	Stored   map[string]int `json:"stored"`
	// Accounts says, by entity, what became of every record read:
	// read = inserted + updated + unchanged + rejected + superseded.
	Accounts map[string]transform.Account `json:"accounts,omitempty"`
	// Superseded names the first records a later one of the same id
	// replaced within the delivery.
	Superseded []transform.Superseded `json:"superseded,omitempty"`
	// Tables says, by normalized table, the rows before and after and the
	// rows the delivery removed.
	Tables map[string]transform.TableChange `json:"tables,omitempty"`
	// Unchanged is a source whose delivery changed nothing stored: it read
	// nothing new, or only records equal to those stored.
	Unchanged bool `json:"unchanged,omitempty"`
	// FilesRead and FilesSkipped count an upsert file source's files: read,
	// or left out as an earlier run read them.
	FilesRead    int   `json:"files_read,omitempty"`
	FilesSkipped int   `json:"files_skipped,omitempty"`
	TookMS       int64 `json:"took_ms"`
}

// Total adds up a source's accounts over its entities.
func (s SourceRecord) Total() transform.Account {
	var t transform.Account
	for _, a := range s.Accounts {
		t = t.Add(a)
	}
	return t
}

// Total adds up the accounts of every source of the run.
func (r *Record) Total() transform.Account {
	var t transform.Account
	for _, s := range r.Sources {
		t = t.Add(s.Total())
	}
	return t
}

// TableRecord is what a run wrote of one table.
type TableRecord struct {
	Name         string   `json:"name"`
	Rows         int64    `json:"rows"`
	FilesChanged []string `json:"files_changed,omitempty"`
}

// RunsDir is where run records are kept.
const RunsDir = store.StateDir + "/runs"

// NewRunID makes a run id that sorts by time.
func NewRunID(now time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func (r *Record) finish(now time.Time) {
	r.Finished = now.UTC()
	r.DurationMS = r.Finished.Sub(r.Started).Milliseconds()
}

func writeRecord(w *store.Warehouse, rec *Record) error {
	data, _ := json.MarshalIndent(rec, "", "  ")
	return store.WriteAtomic(w.Path(RunsDir+"/"+rec.RunID+".json"), data)
}
