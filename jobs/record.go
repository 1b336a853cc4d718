package jobs

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/load"
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
	// Unchanged is a source that read nothing new: its stored tables were
	// kept and streamed into the engine, not loaded.
	Unchanged bool  `json:"unchanged,omitempty"`
	TookMS    int64 `json:"took_ms"`
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

func (r *Record) rowsRead() int {
	n := 0
	for _, s := range r.Sources {
		for _, c := range s.Read {
			n += c
		}
	}
	return n
}

func writeRecord(w *store.Warehouse, rec *Record) error {
	data, _ := json.MarshalIndent(rec, "", "  ")
	return store.WriteAtomic(w.Path(RunsDir+"/"+rec.RunID+".json"), data)
}
