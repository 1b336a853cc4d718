package jobs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// seedExample cuts the JSON body of the first `curl ... -d '...'` after
// marker out of a seed document, exactly as printed.
func seedExample(t *testing.T, glob, marker string) string {
	t.Helper()
	path := firstSeed(t, glob)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, marker)
	j := strings.Index(text[i:], "-d '")
	if i < 0 || j < 0 {
		t.Fatalf("no example after %q in %s", marker, path)
	}
	body := text[i+j+4:]
	return body[:strings.Index(body, "}'")+1]
}

// The bulk import printed in seed 003, typos included, loads: what is wrong
// becomes rejected rows with reasons, the rest is imported.
func TestSeed003BulkExampleLoads(t *testing.T) {
	dir, wh := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"import.json": seedExample(t, "003_*.txt", "json_imports"),
		"config.yaml": "as_of: 2023-09-15\nsources:\n  - {name: seed, kind: chartmogul, path: import.json}\n",
	})
	if _, err := runDir(t, dir, wh); err != nil {
		t.Fatal(err)
	}
	rejected := tableRows(t, wh, "rejected_rows", []string{"entity", "record_id", "error"})
	for _, want := range []string{
		`transaction,trans_0001,field type: "payments" is not one of payment, refund`,
		`transaction,trans_0003,field date: 2005-05-03 is before the date of invoice "inv_002" (2023-05-02)`,
	} {
		if !slices.Contains(rejected, want) {
			t.Errorf("no rejected row %q in %v", want, rejected)
		}
	}
	if got := tableRows(t, wh, "invoice_lines", []string{"invoice_id", "amount"}); len(got) != 3 {
		t.Errorf("invoice_lines = %v, want the 3 line items", got)
	}
	if got := tableRows(t, wh, "transactions", []string{"transaction_id"}); !slices.Equal(got, []string{"trans_0002", "trans_0004"}) {
		t.Errorf("transactions = %v", got)
	}
	if got := tableRows(t, wh, "customers", []string{"customer_id", "state", "attributes"}); len(got) != 1 ||
		!strings.Contains(got[0], `"company":"CA Printing Company"`) {
		t.Errorf("customers = %v", got)
	}
}

// Seed 002 prints no payload, only its responses; fed in as a payload,
// each fails the run cleanly with the file named, never a crash.
func TestSeed002ExamplesFailCleanly(t *testing.T) {
	for _, marker := range []string{"Success Response", "Error Response"} {
		dir, wh := t.TempDir(), t.TempDir()
		b, err := os.ReadFile(firstSeed(t, "002_*.txt"))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		i := strings.Index(text, marker)
		j := strings.Index(text[i:], "{")
		var raw json.RawMessage
		if err := json.NewDecoder(strings.NewReader(text[i+j:])).Decode(&raw); err != nil {
			t.Fatalf("%s: %v", marker, err)
		}
		body := string(raw)
		writeFiles(t, dir, map[string]string{
			"payload.json": body,
			"config.yaml":  "sources:\n  - {name: crm, kind: subscriptions, path: payload.json}\n",
		})
		_, err = runDir(t, dir, wh)
		if err == nil || !strings.Contains(err.Error(), "payload.json") || !strings.Contains(err.Error(), "no subscriptions array") {
			t.Errorf("%s: err = %v, want a clear error naming the file", marker, err)
		}
	}
}

func firstSeed(t *testing.T, glob string) string {
	t.Helper()
	dir := os.Getenv("MRRFLOW_SEEDS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "seeds")
	}
	paths, _ := filepath.Glob(filepath.Join(dir, glob))
	if len(paths) != 1 {
		t.Fatalf("seed %s not found in %s (set MRRFLOW_SEEDS)", glob, dir)
	}
	return paths[0]
}
