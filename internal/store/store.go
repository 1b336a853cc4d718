package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Directories inside a warehouse.
// StagingDir holds what runs write before they commit; it is emptied
// before each run, so scratch files under it never outlive a crash by
// more than a run.
const StagingDir = "_staging"

const (
	StateDir   = "_state"
	stagingDir = StagingDir
	journal    = "_state/commit.json"
)

// Warehouse is a local warehouse directory.
type Warehouse struct {
	Dir string
}

// Open opens (creating it when missing) a warehouse directory and finishes
// a commit that a crashed run left half done.
func Open(dir string) (*Warehouse, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open warehouse %s: %w", dir, err)
	}
	if err := notForeign(abs); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(abs, StateDir), 0o755); err != nil {
		return nil, fmt.Errorf("open warehouse %s: %w", dir, err)
	}
	w := &Warehouse{Dir: abs}
	return w, w.recover()
}

// ErrForeign is a directory that holds other things than a warehouse:
// mrrflow does not write into it.
var ErrForeign = errors.New("not a warehouse")

// notForeign refuses a directory that exists, is not empty and is not a
// warehouse (warehouse: / or a home directory, by mistake).
func notForeign(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, StateDir)); err == nil {
		return nil
	}
	f, err := os.Open(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open warehouse %s: %w", dir, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && len(names) == 0 {
		return nil // empty (io.EOF), or not a directory: MkdirAll says which
	}
	return fmt.Errorf("%w: %s holds other files (%s, ...) and no %s: name an empty or new directory as the warehouse", ErrForeign, dir, names[0], StateDir)
}

// ErrNoWarehouse is a directory that holds no warehouse, opened to read.
var ErrNoWarehouse = errors.New("no warehouse")

// OpenExisting opens a warehouse to read it: a directory without one is
// ErrNoWarehouse, and nothing is created.
func OpenExisting(dir string) (*Warehouse, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open warehouse %s: %w", dir, err)
	}
	if st, err := os.Stat(filepath.Join(abs, StateDir)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w at %s (a run creates it: mrrflow run -c FILE)", ErrNoWarehouse, abs)
	}
	w := &Warehouse{Dir: abs}
	return w, w.recover()
}

// Path returns the absolute path of a warehouse-relative path.
func (w *Warehouse) Path(rel string) string { return filepath.Join(w.Dir, filepath.FromSlash(rel)) }

// Glob lists the warehouse-relative paths of the published files matching
// a pattern, sorted.
func (w *Warehouse) Glob(pattern string) ([]string, error) {
	ms, err := filepath.Glob(w.Path(pattern))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		rel, _ := filepath.Rel(w.Dir, m)
		out = append(out, filepath.ToSlash(rel))
	}
	sort.Strings(out)
	return out, nil
}

// Tx stages files of one run until Commit publishes them. WriteFile and
// Remove may be called from several goroutines at once.
type Tx struct {
	w       *Warehouse
	runID   string
	mu      sync.Mutex
	staged  map[string]bool // rel paths staged, to be renamed into place
	removed map[string]bool // rel paths to remove
	done    bool
}

// Begin starts staging the files of a run.
func (w *Warehouse) Begin(runID string) (*Tx, error) {
	if err := os.MkdirAll(w.Path(stagingDir+"/"+runID), 0o755); err != nil {
		return nil, fmt.Errorf("begin run %s: %w", runID, err)
	}
	return &Tx{w: w, runID: runID, staged: map[string]bool{}, removed: map[string]bool{}}, nil
}

func (tx *Tx) stagePath(rel string) string {
	return tx.w.Path(stagingDir + "/" + tx.runID + "/" + rel)
}

// WriteFile stages a file written by fn. When the new content equals the
// published file's, nothing is staged (the file is left as it is) and
// changed is false.
func (tx *Tx) WriteFile(rel string, fn func(io.Writer) error) (changed bool, err error) {
	path := tx.stagePath(rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	f, err := os.Create(path)
	if err != nil {
		return false, err
	}
	if err := fn(f); err != nil {
		f.Close()
		return false, fmt.Errorf("write %s: %w", rel, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, fmt.Errorf("sync %s: %w", rel, err)
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	same, err := sameContent(path, tx.w.Path(rel))
	if err != nil {
		return false, err
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	delete(tx.removed, rel)
	if same {
		delete(tx.staged, rel)
		return false, os.Remove(path)
	}
	tx.staged[rel] = true
	return true, nil
}

// Path is where a reader of the run finds a file as the commit will leave
// it: staged, or published and not to be removed; "" when there is none.
func (tx *Tx) Path(rel string) string {
	tx.mu.Lock()
	staged, removed := tx.staged[rel], tx.removed[rel]
	tx.mu.Unlock()
	switch {
	case staged:
		return tx.stagePath(rel)
	case removed || !tx.Exists(rel):
		return ""
	}
	return tx.w.Path(rel)
}

// Exists reports whether a file is published.
func (tx *Tx) Exists(rel string) bool {
	_, err := os.Stat(tx.w.Path(rel))
	return err == nil
}

// Remove schedules a published file for removal at commit.
func (tx *Tx) Remove(rel string) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if _, err := os.Stat(tx.w.Path(rel)); err == nil && !tx.staged[rel] {
		tx.removed[rel] = true
	}
}

// Changed lists the paths the commit will write or remove.
func (tx *Tx) Changed() []string {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	var out []string
	for p := range tx.staged {
		out = append(out, p)
	}
	for p := range tx.removed {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

type commitRecord struct {
	RunID   string   `json:"run_id"`
	Renames []string `json:"renames"`
	Removes []string `json:"removes"`
}

// Commit publishes every staged file and removal. Once the journal is on
// disk the commit is decided: a crash after it is finished by the next Open.
func (tx *Tx) Commit() error {
	if tx.done {
		return errors.New("commit: transaction already finished")
	}
	tx.done = true
	rec := commitRecord{RunID: tx.runID}
	for p := range tx.staged {
		rec.Renames = append(rec.Renames, p)
	}
	for p := range tx.removed {
		rec.Removes = append(rec.Removes, p)
	}
	sort.Strings(rec.Renames)
	sort.Strings(rec.Removes)
	data, _ := json.MarshalIndent(rec, "", "  ")
	if err := WriteAtomic(tx.w.Path(journal), data); err != nil {
		return fmt.Errorf("commit run %s: %w", tx.runID, err)
	}
	return tx.w.apply(rec)
}

// Abort drops everything staged; published files are untouched.
func (tx *Tx) Abort() {
	if tx.done {
		return
	}
	tx.done = true
	os.RemoveAll(tx.w.Path(stagingDir + "/" + tx.runID))
}

// apply carries out a decided commit; it may run again after a crash.
func (w *Warehouse) apply(rec commitRecord) error {
	stage := w.Path(stagingDir + "/" + rec.RunID)
	dirs := map[string]bool{}
	for _, rel := range rec.Renames {
		from := filepath.Join(stage, filepath.FromSlash(rel))
		to := w.Path(rel)
		if _, err := os.Stat(from); errors.Is(err, fs.ErrNotExist) {
			continue // already moved before a crash
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return fmt.Errorf("publish %s: %w", rel, err)
		}
		if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("publish %s: %w", rel, err)
		}
		dirs[filepath.Dir(to)] = true
	}
	for _, rel := range rec.Removes {
		if err := os.Remove(w.Path(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", rel, err)
		}
		dirs[filepath.Dir(w.Path(rel))] = true
	}
	for d := range dirs {
		syncDir(d)
	}
	if err := os.Remove(w.Path(journal)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	syncDir(w.Path(StateDir))
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	os.Remove(w.Path(stagingDir)) // only when no other run's staging is left
	return nil
}

// recover finishes a decided commit and drops the staging of runs that
// never decided one.
func (w *Warehouse) recover() error {
	data, err := os.ReadFile(w.Path(journal))
	switch {
	case err == nil:
		var rec commitRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			return fmt.Errorf("read %s: %w", journal, err)
		}
		if err := w.apply(rec); err != nil {
			return fmt.Errorf("finish the commit of run %s: %w", rec.RunID, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return nil
}

// CleanStaging removes what runs that never committed left staged. Call it
// only while holding the lock.
func (w *Warehouse) CleanStaging() error {
	return os.RemoveAll(w.Path(stagingDir))
}

// WriteAtomic writes a file by temporary name, sync and rename.
func WriteAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// sameContent reports whether two files hold the same bytes; a missing
// second file differs.
func sameContent(a, b string) (bool, error) {
	sb, err := os.Stat(b)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	if sa.Size() != sb.Size() {
		return false, nil
	}
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, _ := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea != nil {
			return true, nil
		}
	}
}

// IsInternal reports whether a warehouse-relative path is mrrflow's own
// bookkeeping rather than a table.
func IsInternal(rel string) bool {
	return strings.HasPrefix(rel, StateDir+"/") || strings.HasPrefix(rel, stagingDir+"/")
}
