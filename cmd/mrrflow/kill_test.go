package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mrrflow/mrrflow/internal/gen"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/load"
	"github.com/mrrflow/mrrflow/schemas"
)

// buildBinary builds mrrflow into a temporary folder.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mrrflow")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// fingerprint reads every table of a warehouse (which also finishes a
// decided commit) and hashes each one's content.
func fingerprint(t *testing.T, wh string) map[string]string {
	t.Helper()
	w, err := store.Open(wh)
	if err != nil {
		t.Fatalf("open warehouse after the kill: %v", err)
	}
	out := map[string]string{}
	for _, tb := range append(schemas.Marts, schemas.Normalized...) {
		recs, err := load.ReadLocal(context.Background(), memory.DefaultAllocator, w, tb)
		if err != nil {
			t.Fatalf("table %s is not readable: %v", tb.Name, err)
		}
		h := sha256.New()
		for _, rec := range recs {
			for r := 0; r < int(rec.NumRows()); r++ {
				for c := 0; c < int(rec.NumCols()); c++ {
					h.Write([]byte(schemas.FormatValue(rec.Column(c), r) + "\x1f"))
				}
			}
			rec.Release()
		}
		out[tb.Name] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	os.RemoveAll(to)
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}

// killSetup builds the binary and generates exports of 6,000 customers:
// it returns the binary, a temporary folder, the exports' config and a
// function that runs the binary on a warehouse as of a day, failing the
// test when the run fails, and returns what it logged.
func killSetup(t *testing.T) (bin, root, cfg string, run func(wh, asOf string, args ...string) string) {
	t.Helper()
	bin = buildBinary(t)
	root = t.TempDir()
	data := filepath.Join(root, "data")
	if _, err := gen.GrowPanel(data, gen.Options{Customers: 6000, Months: 24, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(data, "config.yaml")
	run = func(wh, asOf string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"run", "-c", cfg, "--warehouse", wh, "--as-of", asOf}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run: %v\n%s", err, out)
		}
		return string(out)
	}
	return bin, root, cfg, run
}

// A run killed part way (SIGKILL, no chance to clean up) leaves the
// previous tables intact and readable, or, when it had already decided its
// commit, the new ones whole; the next run succeeds.
func TestKilledRunLeavesTablesIntact(t *testing.T) {
	killedRunLeavesTablesIntact(t)
}

// The same, when the run normalizes its delivery in partitions spilled to
// disk (a delivery too large to hold: here about 20 partitions of 1 MB).
func TestKilledRunInPartsLeavesTablesIntact(t *testing.T) {
	killedRunLeavesTablesIntact(t, "--import-bytes", "1000000")
}

// killedRunLeavesTablesIntact kills runs with args and --full: the files
// were read before, and a run without it would read nothing again.
func killedRunLeavesTablesIntact(t *testing.T, args ...string) {
	if testing.Short() {
		t.Skip("builds the binary and runs it many times")
	}
	inParts := len(args) > 0
	args = append(args, "--full")
	bin, root, cfg, run := killSetup(t)
	runTo := func(wh, asOf string) {
		if out := run(wh, asOf, args...); inParts && !strings.Contains(out, "normalized in partitions") {
			t.Fatalf("the run did not normalize in partitions:\n%s", out)
		}
	}
	// The state before (as of one day) and after (as of another).
	old := filepath.Join(root, "old")
	runTo(old, "2024-06-30")
	oldPrint := fingerprint(t, old)
	fresh := filepath.Join(root, "new")
	copyDir(t, old, fresh)
	start := time.Now()
	runTo(fresh, "2025-03-31")
	took := time.Since(start)
	newPrint := fingerprint(t, fresh)
	if oldPrint["mrr_monthly"] == newPrint["mrr_monthly"] {
		t.Fatal("the two states do not differ: the test would prove nothing")
	}

	wh := filepath.Join(root, "wh")
	sawOld, sawNew := 0, 0
	for i := 0; i < 8; i++ {
		copyDir(t, old, wh)
		cmd := exec.Command(bin, append([]string{"run", "-c", cfg, "--warehouse", wh, "--as-of", "2025-03-31"}, args...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Spread the kills over the run, the last ones near its end.
		time.Sleep(took * time.Duration(i+1) / 9)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		got := fingerprint(t, wh)
		switch {
		case equalPrints(got, oldPrint):
			sawOld++
		case equalPrints(got, newPrint):
			sawNew++
		default:
			t.Fatalf("kill %d: the warehouse holds a mix of states:\n%v\nold %v\nnew %v", i, got, oldPrint, newPrint)
		}
		// The next run takes over the dead run's lock and succeeds.
		cmd = exec.Command(bin, append([]string{"run", "-c", cfg, "--warehouse", wh, "--as-of", "2025-03-31"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kill %d: the next run failed: %v\n%s", i, err, out)
		}
		if strings.Contains(string(out), "lock") && !strings.Contains(string(out), "took over a lock") {
			t.Errorf("kill %d: unexpected lock message: %s", i, out)
		}
		if !equalPrints(fingerprint(t, wh), newPrint) {
			t.Fatalf("kill %d: the run after the kill did not produce the new state", i)
		}
	}
	t.Logf("after 8 kills: %d left the old state, %d the new one (a run takes %s)", sawOld, sawNew, took)
	if sawOld == 0 {
		t.Error("no kill landed before the commit: the test did not exercise a half-done run")
	}
}

func equalPrints(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A SIGKILL during an incremental run (the next night: some invoices sent
// again, as_of a few days on) leaves the previous tables and incremental
// state, or the new ones, whole: the next run, incremental from whichever
// state is there, gives the tables of a run that computes everything.
func TestKilledIncrementalRunLeavesStateConsistent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it many times")
	}
	bin, root, cfg, run := killSetup(t)
	data := filepath.Dir(cfg)
	old := filepath.Join(root, "old")
	run(old, "2025-03-10")
	oldPrint := fingerprint(t, old)

	// The next night: the invoices of a tenth of the customers sent again
	// with a cent more, and as_of a day on.
	invoices := filepath.Join(data, "invoices.csv")
	body, err := os.ReadFile(invoices)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(body)), "\n")
	var again []string
	for _, row := range rows[1:] {
		if f := strings.Split(row, ","); len(f) > 6 && strings.HasSuffix(f[1], "3") && !strings.Contains(row, `"`) {
			if n, err := strconv.Atoi(f[6]); err == nil {
				f[6] = strconv.Itoa(n + 1)
				again = append(again, strings.Join(f, ","))
			}
		}
	}
	if err := os.WriteFile(invoices, []byte(strings.Join(append(rows, again...), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(root, "new")
	copyDir(t, old, fresh)
	start := time.Now()
	if out := run(fresh, "2025-03-11"); !strings.Contains(out, `"full":false`) {
		t.Fatalf("the next night's run was not incremental:\n%s", out)
	}
	took := time.Since(start)
	newPrint := fingerprint(t, fresh)
	full := filepath.Join(root, "full")
	copyDir(t, old, full)
	run(full, "2025-03-11", "--full")
	if !equalPrints(fingerprint(t, full), newPrint) {
		t.Fatal("the incremental run's tables differ from computing everything")
	}
	if oldPrint["mrr_monthly"] == newPrint["mrr_monthly"] {
		t.Fatal("the two states do not differ: the test would prove nothing")
	}

	wh := filepath.Join(root, "wh")
	sawOld := 0
	for i := 0; i < 6; i++ {
		copyDir(t, old, wh)
		cmd := exec.Command(bin, "run", "-c", cfg, "--warehouse", wh, "--as-of", "2025-03-11")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(took * time.Duration(i+1) / 7)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		wasOld := false
		switch got := fingerprint(t, wh); {
		case equalPrints(got, oldPrint):
			sawOld++
			wasOld = true
		case equalPrints(got, newPrint):
		default:
			t.Fatalf("kill %d: the warehouse holds a mix of states", i)
		}
		// Whichever state is there, the next run computes from it: from
		// the old state, incrementally (its incremental state is whole).
		if out := run(wh, "2025-03-11"); wasOld && !strings.Contains(out, `"full":false`) {
			t.Fatalf("kill %d: the run after the kill could not use the incremental state:\n%s", i, out)
		}
		if !equalPrints(fingerprint(t, wh), newPrint) {
			t.Fatalf("kill %d: the run after the kill did not give the tables of computing everything", i)
		}
	}
	if sawOld == 0 {
		t.Error("no kill landed before the commit: the test did not exercise a half-done run")
	}
}
