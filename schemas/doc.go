// Package schemas defines every table mrrflow reads or writes, once: its
// columns, their Arrow types and their descriptions. The Parquet files, the
// BigQuery schemas and the column docs are all made from these definitions.
//
// It also holds the canonical record types of docs/RULES.md §1 and their
// conversion to and from Arrow record batches.
//
// It may import: nothing of mrrflow.
package schemas
