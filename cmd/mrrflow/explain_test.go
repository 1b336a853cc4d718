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
	dir := t.TempDir()
	for _, f := range []string{"config.yaml", "customers.json", "plans.json", "invoices.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "jobs", "testdata", "scenarios", "growpanel_lifecycle", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
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
