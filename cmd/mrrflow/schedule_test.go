package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mrrflow/mrrflow/internal/dbtest"
)

// logLines collects a process's JSON log lines as they come.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
}

func (l *logLines) count(msgPrefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.lines {
		if s, _ := m["message"].(string); strings.HasPrefix(s, msgPrefix) {
			n++
		}
	}
	return n
}

func (l *logLines) waitFor(t *testing.T, msgPrefix string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for l.count(msgPrefix) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %d log lines %q within %s; have %d", n, msgPrefix, within, l.count(msgPrefix))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startSchedule runs `mrrflow schedule` on dir/config.yaml and collects its
// JSON log lines; done closes when its stderr ends.
func startSchedule(t *testing.T, bin, dir string) (*exec.Cmd, *logLines, chan struct{}) {
	t.Helper()
	cmd := exec.Command(bin, "schedule", "-c", filepath.Join(dir, "config.yaml"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &logLines{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				logs.mu.Lock()
				logs.lines = append(logs.lines, m)
				logs.mu.Unlock()
			}
		}
	}()
	return cmd, logs, done
}

// mrrflow schedule runs on a fast schedule, never overlaps a slow run,
// and on SIGTERM lets the running job finish and exits cleanly.
func TestScheduleRunsWithoutOverlapAndStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it")
	}
	bin := buildBinary(t)
	d := dbtest.New(t, "postgres")
	d.Exec(t, "insert into plans values ('pro', 'Pro', 'month', 1, 'usd', now())")
	d.Exec(t, "insert into customers values ('c1', 'One', 'us', 'smb', now())")
	d.Exec(t, "insert into invoices values ('i1', 'c1', 'pro', 'subscription', '2024-01-01', '2024-01-01', '2024-02-01', 9900, 'usd', now())")
	dir := t.TempDir()
	// Each run takes 1.5 s (the plans query sleeps); runs are due every second.
	cfg := "as_of: 2024-03-15\nschedule: \"@every 1s\"\nwarehouse: wh\nsources:\n" + d.Config("app_db", " and pg_sleep(1.5) is not null")
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, logs, done := startSchedule(t, bin, dir)
	logs.waitFor(t, "run finished", 2, 20*time.Second)
	logs.waitFor(t, "a run is due, but the previous one is still going", 1, 10*time.Second)
	// Signal in the middle of a run: it must finish, then the process exits.
	logs.waitFor(t, "run started", logs.count("run finished")+1, 10*time.Second)
	started := logs.count("run started")
	cmd.Process.Signal(syscall.SIGTERM)
	waitErr := make(chan error, 1)
	go func() { <-done; waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("schedule exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatal("schedule did not stop after SIGTERM")
	}
	if f, s := logs.count("run finished"), logs.count("run started"); f != s || s != started {
		t.Errorf("%d runs started, %d finished (%d had started at the signal): a run was cut short or one began after the signal", s, f, started)
	}
	if logs.count("scheduler stopped") != 1 {
		t.Error("no clean stop logged")
	}
	for _, l := range logs.lines {
		if l["level"] == "error" {
			t.Errorf("error logged: %v", l)
		}
	}
	if logs.count("waiting for the next run") == 0 {
		t.Error("the next run time was never logged")
	}
}

// A second signal cancels the running job: the process exits long before
// the job would have finished, and the warehouse keeps its previous state.
func TestScheduleSecondSignalCancelsTheRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it")
	}
	bin := buildBinary(t)
	d := dbtest.New(t, "postgres")
	d.Exec(t, "insert into plans values ('pro', 'Pro', 'month', 1, 'usd', now())")
	d.Exec(t, "insert into customers values ('c1', 'One', 'us', 'smb', now())")
	dir := t.TempDir()
	// Each run would take 20 s.
	cfg := "as_of: 2024-03-15\nschedule: \"@every 1s\"\nwarehouse: wh\nsources:\n" + d.Config("app_db", " and pg_sleep(20) is not null")
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, logs, done := startSchedule(t, bin, dir)
	logs.waitFor(t, "run started", 1, 15*time.Second)
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	logs.waitFor(t, "stopping", 1, 5*time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	waitErr := make(chan error, 1)
	go func() { <-done; waitErr <- cmd.Wait() }()
	select {
	case <-waitErr:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("a second signal did not cancel the running job")
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("stopping took %s: the job was not cancelled", took)
	}
	if logs.count("scheduled run failed") != 1 || logs.count("run finished") != 0 {
		t.Errorf("want the run cancelled and reported failed; finished %d, failed %d", logs.count("run finished"), logs.count("scheduled run failed"))
	}
	if _, err := os.Stat(filepath.Join(dir, "wh", "marts")); err == nil {
		t.Error("the cancelled run published tables")
	}
}
