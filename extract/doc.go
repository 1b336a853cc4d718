// Package extract reads billing data out of exports and databases and
// yields raw records: each with its entity, the origin it came from (file
// and line, or table and key), the record as received, and its fields under
// their canonical names (docs/RULES.md §1). It decides nothing about whether
// a value is valid: that is package transform's job.
//
// One file per source kind (growpanel.go, ...), each holding its config
// type with its Validate, its constructor and its read loop; registry.go
// lists the kinds, one line each.
//
// It may import: configs, schemas, internal/arena, internal/retry.
package extract
