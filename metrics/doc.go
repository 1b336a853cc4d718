// Package metrics is mrrflow's columnar engine: from the normalized
// invoice lines, plans and customers (Arrow record batches) it computes
// every subscription's MRR over time, each customer's daily MRR, the
// movements between, the monthly figures, the cohorts and the customer
// snapshot, by the rules of docs/RULES.md §2 to §6 and the policies of §8.
//
// The engine encodes string keys to integers once, sorts the lines once,
// and works in linear scans over typed slices with scratch buffers reused
// across customers, so that the hot path neither looks up maps nor
// allocates.
//
// It never reads or writes data itself (the line files it is given are
// read through schemas). It may import: configs, schemas, internal/civil,
// internal/mempool.
package metrics
