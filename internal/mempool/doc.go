// Package mempool is an Arrow allocator that keeps the buffers freed to it
// and hands them out again. Reading a stream of batches of about the same
// shape, each released before the next few are read, then allocates almost
// nothing new: without it every batch becomes garbage, and the Go
// collector lets the heap grow to twice what is live before it collects.
//
// It may import: nothing of mrrflow.
package mempool
