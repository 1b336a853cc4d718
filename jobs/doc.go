// Package jobs plans and runs mrrflow's jobs: a run reads every source,
// normalizes it, computes the marts and loads them, all inside one
// warehouse transaction under the warehouse lock, and keeps a record of
// what it read, rejected and wrote.
//
// It may import: configs, extract, transform, metrics, load, schemas, internal/store, internal/retry.
package jobs
