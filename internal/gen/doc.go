// Package gen makes deterministic synthetic billing data for demos, tests
// and benchmarks: customers on monthly, quarterly, annual and weekly plans
// who upgrade, downgrade, get prorated, refunded, cancel, lapse and come
// back, with trials, one-time fees and a few bad records. The same seed
// gives the same bytes. Records are written as they are made, never held.
//
// It may import: schemas, internal/store.
package gen
