// Package store is the local warehouse directory: files staged under a run,
// then published together by a commit journal that a crashed run's
// successor rolls forward, so that a reader never sees a half-written file
// and a failed run changes nothing; and the lock that keeps one run at a
// time per warehouse.
//
// It may import: nothing of mrrflow.
package store
