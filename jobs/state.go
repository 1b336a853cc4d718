package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/store"
)

// CursorsDir holds one file per incremental source.
const CursorsDir = store.StateDir + "/cursors"

// cursorFile is what is kept of an incremental source's cursor.
type cursorFile struct {
	Source string         `json:"source"`
	Column string         `json:"column"`
	Cursor extract.Cursor `json:"cursor"`
	RunID  string         `json:"run_id"`
}

func cursorPath(source string) string { return CursorsDir + "/" + source + ".json" }

// loadCursor reads a source's stored cursor; none is nil.
func loadCursor(w *store.Warehouse, source string) (extract.Cursor, error) {
	var f cursorFile
	ok, err := loadState(w, cursorPath(source), &f)
	if !ok || err != nil {
		return nil, err
	}
	return f.Cursor, nil
}

// stageCursor writes a source's new cursor into the run's transaction: it
// is published, with the tables, only when the whole run succeeds.
func stageCursor(tx *store.Tx, runID, source, column string, c extract.Cursor) error {
	return stageState(tx, cursorPath(source), cursorFile{Source: source, Column: column, Cursor: c, RunID: runID})
}

// loadState reads a state file (JSON) into v; ok is false when there is
// none.
func loadState(w *store.Warehouse, path string, v any) (ok bool, err error) {
	data, err := os.ReadFile(w.Path(path))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return true, nil
}

// stageState writes a state file (JSON) into the run's transaction.
func stageState(tx *store.Tx, path string, v any) error {
	data, _ := json.MarshalIndent(v, "", "  ")
	_, err := tx.WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	return err
}

// Runs lists the records of the runs of a warehouse, oldest first.
func Runs(warehouse string) ([]Record, error) {
	w, err := store.OpenExisting(warehouse)
	if err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(w.Path(RunsDir + "/*.json"))
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

// commitWithRecord stages a run's record and publishes the transaction:
// the record appears together with what the run wrote.
func commitWithRecord(tx *store.Tx, rec *Record) error {
	data, _ := json.MarshalIndent(rec, "", "  ")
	if _, err := tx.WriteFile(RunsDir+"/"+rec.RunID+".json", func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return err
	}
	return tx.Commit()
}
