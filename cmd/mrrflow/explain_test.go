package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// explain shows one customer's lines, MRR runs and movements with their
// causing invoices; an unknown customer is a usage error.
func TestExplain(t *testing.T) {
	dir := scenario(t, "growpanel_lifecycle")
	cfg := filepath.Join(dir, "config.yaml")
	var out, errs bytes.Buffer
	e := env{stdout: &out, stderr: &errs}
	if err := runWith(context.Background(), []string{"run", "-c", cfg}, e); err != nil {
		t.Fatalf("run: %v\n%s", err, errs.String())
	}
	out.Reset()
	if err := runWith(context.Background(), []string{"explain", "-c", cfg, "--customer", "c_nordlys"}, e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Nordlys AS  active  7900",
		`2024-03-05  expansion     12000   7900        19900      usd       12000            scale    ["n2","n3"]`,
		`2024-08-10  contraction   3950    7900        3950       usd       3950             team     ["n8"]`,
		"2024-08-10  2024-09-01  3950",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out.String())
		}
	}
	err := runWith(context.Background(), []string{"explain", "-c", cfg, "--customer", "nobody"}, e)
	if exitCode(err) != exitUsage {
		t.Errorf("unknown customer: %v (exit %d), want a usage error", err, exitCode(err))
	}
}

// show --money major prints mrr_monthly's amounts as 1,234.56; report
// writes the page of the warehouse; bad flags are usage errors.
func TestShowMoneyMajorAndReport(t *testing.T) {
	dir := scenario(t, "growpanel_lifecycle")
	wh := filepath.Join(dir, "wh")
	var out, errs bytes.Buffer
	e := env{stdout: &out, stderr: &errs}
	if err := runWith(context.Background(), []string{"run", "-c", filepath.Join(dir, "config.yaml"), "--warehouse", wh}, e); err != nil {
		t.Fatalf("run: %v\n%s", err, errs.String())
	}
	out.Reset()
	if err := runWith(context.Background(), []string{"show", "mrr_monthly", "--warehouse", wh, "--money", "major", "--columns", "month,mrr_end,customers_end"}, e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2024-03-01  299.00  3", "2024-09-01  150.00  2"} {
		if !strings.Contains(strings.Join(strings.Fields(out.String()), "  "), want) {
			t.Errorf("show --money major lacks %q:\n%s", want, out.String())
		}
	}
	if err := runWith(context.Background(), []string{"show", "mrr_movements", "--warehouse", wh, "--money", "major"}, e); exitCode(err) != exitUsage {
		t.Errorf("--money major on mrr_movements: %v, want a usage error", err)
	}
	page := filepath.Join(dir, "r.html")
	out.Reset()
	if err := runWith(context.Background(), []string{"report", "--warehouse", wh, "--out", page, "--from", "2024-02"}, e); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(page)
	if err != nil || !bytes.Contains(b, []byte(`<script id="report-data"`)) || !bytes.Contains(b, []byte(`"month":"2024-02"`)) || bytes.Contains(b, []byte(`"month":"2024-01"`)) {
		t.Errorf("report page: %v, %d bytes", err, len(b))
	}
	for _, bad := range [][]string{{"report", "--warehouse", wh, "--from", "2024-13"}, {"report", "--warehouse", wh, "--currency-format", "emoji"}} {
		if err := runWith(context.Background(), bad, e); exitCode(err) != exitUsage {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
}

// scenario copies one of the repository's scenarios into a new folder.
func scenario(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "..", "jobs", "testdata", "scenarios", name)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
