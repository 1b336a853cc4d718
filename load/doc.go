// Package load writes the mart tables to sinks: the local Parquet
// warehouse (local.go), and later BigQuery. A sink rewrites only the
// partitions whose content changed.
//
// load may import schemas, metrics (for its result type) and
// internal/store; never extract or transform.
package load
