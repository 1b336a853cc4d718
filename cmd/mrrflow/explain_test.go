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
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "fixtures", "growpanel_lifecycle", f))
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
	if err := runWith(context.Background(), []string{"explain", "-c", cfg, "--customer", "cust_123"}, e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Acme Inc  active  4950",
		`2024-03-01  expansion     20000   9900        29900      usd       20000            plan_enterprise  ["inv_001","inv_002"]`,
		`2024-08-15  contraction   4950    9900        4950       usd       4950             plan_pro         ["inv_006"]`,
		"2024-08-15              4950",
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
