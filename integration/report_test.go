package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/internal/gen"
	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/jobs"
	"github.com/mrrflow/mrrflow/report"
)

// chromium is Debian's browser (.ci/run installs it); a machine without it
// fails the test: the report is only known to draw where it was seen to.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("MRRFLOW_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	t.Fatal("no chromium: install Debian's chromium package (.ci/run does), or set MRRFLOW_CHROMIUM")
	return ""
}

// demoReport runs the demo's data into a warehouse and writes its report.
func demoReport(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := gen.Demo(filepath.Join(dir, "exports"), gen.Options{Customers: 200, Months: 24, Seed: 42, BadRecords: true}); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(filepath.Join(dir, "exports", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wh := filepath.Join(dir, "warehouse")
	if _, err := jobs.Run(context.Background(), cfg, jobs.Options{Warehouse: wh, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	w, err := store.OpenExisting(wh)
	if err != nil {
		t.Fatal(err)
	}
	html, _, err := report.Build(context.Background(), w, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, html, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The report in a real browser: it loads with no console error and no
// network, every chart draws pixels, switching the cohort view and the
// bridge month redraws them, at a desktop and a phone width; screenshots
// are written under the test's temp dir (and to MRRFLOW_SCREENSHOTS, when
// set, for the README).
func TestReportInChromium(t *testing.T) {
	page := demoReport(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTime()

	var mu sync.Mutex
	var problems []string
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, fmt.Sprint(a.Value)+a.Description)
				}
				problems = append(problems, string(e.Type)+": "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+(&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error())
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	// drawn counts each chart's painted pixels, and reports what the page
	// says it shows.
	const drawn = `(() => {
		const out = {};
		for (const id of ["chart-mrr", "chart-bridge", "chart-cohorts"]) {
			const c = document.querySelector("#" + id + " canvas");
			if (!c || !c.width || !c.height) { out[id] = 0; continue; }
			const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
			let n = 0;
			for (let i = 3; i < px.length; i += 4) { if (px[i] > 0) n++; }
			out[id] = n;
		}
		out.cards = document.querySelectorAll("#cards .card").length;
		out.movers = document.querySelectorAll("#movers tr").length;
		out.cohortMode = window.mrrflowReport && window.mrrflowReport.cohortMode;
		out.bridgeMonth = window.mrrflowReport && window.mrrflowReport.bridgeMonth;
		out.heat = JSON.stringify(window.mrrflowReport.charts[2].getOption().series[0].data.slice(0, 40));
		out.bridge = JSON.stringify(window.mrrflowReport.charts[1].getOption().series[1].data);
		return out;
	})()`
	type state struct {
		Chart1      int    `json:"chart-mrr"`
		Chart2      int    `json:"chart-bridge"`
		Chart3      int    `json:"chart-cohorts"`
		Cards       int    `json:"cards"`
		Movers      int    `json:"movers"`
		CohortMode  string `json:"cohortMode"`
		BridgeMonth string `json:"bridgeMonth"`
		Heat        string `json:"heat"`
		Bridge      string `json:"bridge"`
	}
	shots := os.Getenv("MRRFLOW_SCREENSHOTS")
	for _, width := range []int64{1280, 390} {
		err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate("file://"+page))
		if err == nil {
			// The charts draw at once; a page that broke never does.
			wait, cancelWait := context.WithTimeout(ctx, 20*time.Second)
			err = chromedp.Do(wait, chromedp.WaitVisible(chromedp.CSS("#chart-cohorts canvas")))
			cancelWait()
		}
		if err != nil {
			mu.Lock()
			t.Fatalf("width %d: the charts did not draw: %v; the page logged: %s", width, err, strings.Join(problems, "; "))
		}
		before, err := chromedp.Run(ctx, chromedp.Evaluate[state](drawn))
		if err != nil {
			t.Fatalf("width %d: %v", width, err)
		}
		err = chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS("#cohort-revenue")),
			chromedp.SetValue(chromedp.CSS("#bridge-month"), "0"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("bridge-month").dispatchEvent(new Event("change")); undefined`),
		)
		if err != nil {
			t.Fatalf("width %d: %v", width, err)
		}
		after, err := chromedp.Run(ctx, chromedp.Evaluate[state](drawn))
		if err != nil {
			t.Fatalf("width %d: %v", width, err)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#cohort-customers"))); err != nil {
			t.Fatalf("width %d: %v", width, err)
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(80))
		if err != nil {
			t.Fatalf("width %d: %v", width, err)
		}
		for name, n := range map[string]int{"MRR": before.Chart1, "bridge": before.Chart2, "cohorts": before.Chart3, "bridge, switched": after.Chart2, "cohorts, switched": after.Chart3} {
			if n < 1000 {
				t.Errorf("width %d: the %s chart painted %d pixels", width, name, n)
			}
		}
		if before.Cards != 7 || before.Movers < 2 {
			t.Errorf("width %d: %d headline cards, %d mover rows", width, before.Cards, before.Movers)
		}
		if before.CohortMode != "customers" || after.CohortMode != "revenue" || before.Heat == after.Heat {
			t.Errorf("width %d: the cohort view did not switch: %s -> %s", width, before.CohortMode, after.CohortMode)
		}
		if before.BridgeMonth == after.BridgeMonth || before.Bridge == after.Bridge || after.BridgeMonth == "" {
			t.Errorf("width %d: the bridge month did not switch: %s -> %s", width, before.BridgeMonth, after.BridgeMonth)
		}
		name := "report-" + map[int64]string{1280: "desktop", 390: "phone"}[width] + ".jpg"
		if err := os.WriteFile(filepath.Join(t.TempDir(), name), shot, 0o644); err != nil {
			t.Fatal(err)
		}
		if shots != "" {
			if err := os.WriteFile(filepath.Join(shots, name), shot, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("the page logged %d problems:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}
