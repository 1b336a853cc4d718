// Package retry runs an operation again, with exponential backoff, while
// it fails in a way that may pass (a network error, an overloaded
// server), and says each time what failed, which attempt it was and how
// long it waits; a permanent failure ends it at once.
//
// It may import: nothing of mrrflow.
package retry
