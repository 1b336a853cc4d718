package jobs

// Files already read are not read again: an upsert source's files whose
// path and content an earlier successful run read are left out of the
// run (their records are in the source's stored tables already), so that
// a nightly drop of new export files beside the history reads only the new
// ones.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/extract"
	"github.com/mrrflow/mrrflow/internal/store"
)

// FilesDir holds, per source, the files its last successful run listed,
// with the digest of their content.
const FilesDir = store.StateDir + "/files"

// filesState is what is kept of a source's files.
type filesState struct {
	Source string                `json:"source"`
	RunID  string                `json:"run_id"`
	Files  map[string]fileDigest `json:"files"`
}

// fileDigest is a file's content as a run read it.
type fileDigest struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

func filesPath(source string) string { return FilesDir + "/" + source + ".json" }

// sourceFiles are the files of a source in this run: their digests now,
// and those an earlier run read as they are (left out).
type sourceFiles struct {
	now  map[string]fileDigest
	skip map[string]bool
}

// filesToSkip lists an upsert file source's files and digests them; those
// the last successful run read with the same content are to be left out,
// unless the run reads everything again (--full, a backfill of the
// source). It returns nil for a source that is no file source in upsert.
func (r *run) filesToSkip(src configs.Source, mode string, ex extract.Extractor) (*sourceFiles, error) {
	fl, ok := ex.(extract.FileLister)
	if !ok || mode != configs.ModeUpsert {
		return nil, nil
	}
	paths, err := fl.Files()
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	now, err := digestFiles(paths)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	sf := &sourceFiles{now: now, skip: map[string]bool{}}
	if r.opt.Full || r.opt.Backfill.covers(src.Name) {
		return sf, nil
	}
	stored, err := loadFiles(r.w, src.Name)
	if err != nil {
		return nil, err
	}
	for path, d := range now {
		if stored[path] == d {
			sf.skip[path] = true
		}
	}
	return sf, nil
}

// digestFiles reads each file through SHA-256, several at once.
func digestFiles(paths []string) (map[string]fileDigest, error) {
	out := make(map[string]fileDigest, len(paths))
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, p := range paths {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			d, err := digestFile(p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out[p] = d
		})
	}
	wg.Wait()
	return out, firstErr
}

func digestFile(path string) (fileDigest, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileDigest{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fileDigest{}, fmt.Errorf("%s: %w", path, err)
	}
	return fileDigest{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// loadFiles reads the digests of a source's files stored by its last
// successful run; none is nil.
func loadFiles(w *store.Warehouse, source string) (map[string]fileDigest, error) {
	var f filesState
	_, err := loadState(w, filesPath(source), &f)
	return f.Files, err
}

// stageFiles writes the digests of a source's files into the run's
// transaction: published, with the tables, only when the run succeeds.
func stageFiles(tx *store.Tx, runID, source string, files map[string]fileDigest) error {
	return stageState(tx, filesPath(source), filesState{Source: source, RunID: runID, Files: files})
}
