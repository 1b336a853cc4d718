package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// LockInfo names the holder of a warehouse's lock.
type LockInfo struct {
	RunID   string    `json:"run_id"`
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

// ErrLocked is returned when another live run holds the lock.
var ErrLocked = errors.New("warehouse is locked")

// LockedError says who holds the lock.
type LockedError struct{ Holder LockInfo }

func (e *LockedError) Error() string {
	h := e.Holder
	return fmt.Sprintf("warehouse is locked by run %s (pid %d on %s, %s, since %s)",
		h.RunID, h.PID, h.Host, h.Command, h.Since.Format(time.RFC3339))
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is a held warehouse lock.
type Lock struct {
	w    *Warehouse
	info LockInfo
}

const lockFile = "_state/lock"

// Lock takes the warehouse's lock for a run. A lock whose holder process is
// gone (on this host) is stale and taken over; stale reports that.
func (w *Warehouse) Lock(runID, command string) (l *Lock, stale *LockInfo, err error) {
	host, _ := os.Hostname()
	info := LockInfo{RunID: runID, PID: os.Getpid(), Host: host, Command: command, Since: time.Now().UTC()}
	data, _ := json.Marshal(info)
	path := w.Path(lockFile)
	for attempt := 0; attempt < 3; attempt++ {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			_, werr := f.Write(data)
			serr := f.Sync()
			cerr := f.Close()
			if err := errors.Join(werr, serr, cerr); err != nil {
				os.Remove(path)
				return nil, nil, fmt.Errorf("take lock: %w", err)
			}
			return &Lock{w: w, info: info}, stale, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, nil, fmt.Errorf("take lock: %w", err)
		}
		holder, rerr := readLock(path)
		if rerr != nil {
			// A lock file cut short by a crash while it was written.
			if errors.Is(rerr, fs.ErrNotExist) {
				continue
			}
			holder = LockInfo{RunID: "unknown"}
		} else if alive(holder, host) {
			return nil, nil, &LockedError{Holder: holder}
		}
		// Take over the stale lock: rename it away so that two runs that
		// both found it stale cannot both take it.
		aside := fmt.Sprintf("%s.stale.%d", path, os.Getpid())
		if err := os.Rename(path, aside); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, nil, fmt.Errorf("take over stale lock: %w", err)
		}
		os.Remove(aside)
		h := holder
		stale = &h
	}
	return nil, nil, errors.New("take lock: it keeps changing hands; try again")
}

func readLock(path string) (LockInfo, error) {
	var info LockInfo
	data, err := os.ReadFile(path)
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return info, err
	}
	return info, nil
}

// alive reports whether a lock's holder still runs. A holder on another
// host is taken to be alive.
func alive(h LockInfo, host string) bool {
	if h.Host != host {
		return true
	}
	if h.PID <= 0 {
		return false
	}
	err := syscall.Kill(h.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Holder returns the current lock holder, if any.
func (w *Warehouse) Holder() (LockInfo, bool) {
	info, err := readLock(w.Path(lockFile))
	return info, err == nil
}

// Unlock releases the lock if it is still this run's.
func (l *Lock) Unlock() error {
	path := l.w.Path(lockFile)
	cur, err := readLock(path)
	if err != nil || cur.RunID != l.info.RunID || cur.PID != l.info.PID {
		return nil
	}
	return os.Remove(path)
}
