// Package load writes the mart tables to sinks: the local Parquet
// warehouse (local.go: staged in the run's transaction, a file rewritten
// only when its bytes change, mrr_movements split by month) and BigQuery
// (bigquery.go: tables created and partitioned, changed partitions
// replaced in one transaction per table, a state file saying what was
// loaded so that unchanged tables cost nothing). It reads the warehouse's
// tables back too (local_read.go).
//
// It may import: configs, schemas, internal/store, internal/retry.
package load
