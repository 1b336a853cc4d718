package store

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, tx *Tx, rel, content string) bool {
	t.Helper()
	changed, err := tx.WriteFile(rel, func(w io.Writer) error { _, err := io.WriteString(w, content); return err })
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

func read(t *testing.T, w *Warehouse, rel string) string {
	t.Helper()
	b, err := os.ReadFile(w.Path(rel))
	if err != nil {
		return "<missing>"
	}
	return string(b)
}

func TestCommitAbortAndUnchangedFiles(t *testing.T) {
	w, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := w.Begin("r1")
	write(t, tx, "a/x.txt", "one")
	write(t, tx, "b.txt", "bee")
	if got := read(t, w, "a/x.txt"); got != "<missing>" {
		t.Fatalf("a staged file is visible before the commit: %q", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tx, _ = w.Begin("r2")
	if write(t, tx, "a/x.txt", "one") {
		t.Error("the same content counted as a change")
	}
	write(t, tx, "a/x.txt", "two")
	tx.Remove("b.txt")
	tx.Abort()
	if read(t, w, "a/x.txt") != "one" || read(t, w, "b.txt") != "bee" {
		t.Error("an aborted transaction changed published files")
	}
	tx, _ = w.Begin("r3")
	write(t, tx, "a/x.txt", "three")
	tx.Remove("b.txt")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if read(t, w, "a/x.txt") != "three" || read(t, w, "b.txt") != "<missing>" {
		t.Error("the commit did not publish")
	}
}

// A crash after the journal was written is finished by the next Open.
func TestDecidedCommitIsRolledForward(t *testing.T) {
	dir := t.TempDir()
	w, _ := Open(dir)
	tx, _ := w.Begin("r1")
	write(t, tx, "t/1.txt", "new1")
	write(t, tx, "t/2.txt", "new2")
	// Write the journal as Commit does, then "crash" before applying it.
	rec := commitRecord{RunID: "r1", Renames: []string{"t/1.txt", "t/2.txt"}}
	data, _ := json.Marshal(rec)
	if err := WriteAtomic(w.Path(journal), data); err != nil {
		t.Fatal(err)
	}
	// Half applied: the first file moved.
	os.MkdirAll(w.Path("t"), 0o755)
	if err := os.Rename(tx.stagePath("t/1.txt"), w.Path("t/1.txt")); err != nil {
		t.Fatal(err)
	}
	w2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if read(t, w2, "t/1.txt") != "new1" || read(t, w2, "t/2.txt") != "new2" {
		t.Error("the decided commit was not finished")
	}
	if _, err := os.Stat(w2.Path(journal)); !errors.Is(err, os.ErrNotExist) {
		t.Error("the journal is still there")
	}
}

func TestLockNamesHolderAndStaleLockIsTakenOver(t *testing.T) {
	w, _ := Open(t.TempDir())
	l, stale, err := w.Lock("run-a", "run")
	if err != nil || stale != nil {
		t.Fatal(err, stale)
	}
	_, _, err = w.Lock("run-b", "run")
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.RunID != "run-a" || !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	if !strings.Contains(err.Error(), "run-a") || !strings.Contains(err.Error(), "pid") {
		t.Errorf("message does not name the holder: %v", err)
	}
	l.Unlock()

	// A lock left by a process that no longer exists.
	host, _ := os.Hostname()
	dead := LockInfo{RunID: "crashed", PID: 1 << 30, Host: host, Command: "run", Since: time.Now()}
	data, _ := json.Marshal(dead)
	os.WriteFile(w.Path(lockFile), data, 0o644)
	l, stale, err = w.Lock("run-c", "run")
	if err != nil {
		t.Fatal(err)
	}
	if stale == nil || stale.RunID != "crashed" {
		t.Errorf("stale = %+v, want the crashed run", stale)
	}
	if h, _ := w.Holder(); h.RunID != "run-c" {
		t.Errorf("holder = %+v", h)
	}
	l.Unlock()
}

// A directory that holds other things than a warehouse is refused, and
// nothing is written into it; an empty or new one becomes a warehouse;
// opening to read creates nothing.
func TestForeignDirectoryAndReadOnlyOpen(t *testing.T) {
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(foreign); !errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("a foreign directory: %v", err)
	}
	if entries, _ := os.ReadDir(foreign); len(entries) != 1 {
		t.Errorf("something was written into the foreign directory: %v", entries)
	}
	missing := filepath.Join(t.TempDir(), "none")
	if _, err := OpenExisting(missing); !errors.Is(err, ErrNoWarehouse) {
		t.Errorf("reading a missing warehouse: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("reading created %s", missing)
	}
	if _, err := Open(missing); err != nil {
		t.Fatalf("a new directory: %v", err)
	}
	if _, err := Open(missing); err != nil {
		t.Errorf("the warehouse again: %v", err)
	}
	if _, err := OpenExisting(missing); err != nil {
		t.Errorf("reading the warehouse: %v", err)
	}
}
