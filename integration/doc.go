// Package integration holds mrrflow's integration tests that need heavy
// dependencies the main module should not carry: the BigQuery emulator
// (github.com/goccy/bigquery-emulator), run in-process and reached through
// the real cloud.google.com/go/bigquery client.
package integration
