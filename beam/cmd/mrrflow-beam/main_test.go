package main

import (
	"strings"
	"testing"
)

// Workers elsewhere need the data on Cloud Storage; Prism's, and a dry
// run, do not.
func TestDataLocation(t *testing.T) {
	for _, c := range []struct {
		runner string
		dryRun bool
		data   string
		ok     bool
	}{
		{"", false, "", true},
		{"prism", false, "/tmp/x", true},
		{"dataflow", true, "", true},
		{"dataflow", false, "gs://b/p", true},
		{"dataflow", false, "", false},
		{"dataflow", false, "/mnt/data", false},
	} {
		err := checkDataLocation(c.runner, c.dryRun, c.data)
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "--data_location gs://")) {
			t.Errorf("runner %q, dry run %v, data %q: %v", c.runner, c.dryRun, c.data, err)
		}
	}
}
