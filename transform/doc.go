// Package transform turns raw records into canonical ones (docs/RULES.md
// §1): it validates every field, maps enums and spellings, checks that
// invoices reference customers and plans that exist in their source,
// rejects what is wrong with a reason naming the record and the field,
// and upserts the rest by id into the normalized tables, which persist
// across runs.
//
// It may import: configs, extract, schemas, internal/store, internal/arena,
// internal/civil.
package transform
