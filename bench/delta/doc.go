// Command delta makes the next night's export for bench/incremental.sh: a
// GrowPanel invoices CSV that changes a share of a warehouse's stored
// invoice lines. With --by lines (the default) the lines are any: half of
// them sent again with another amount, half new lines of their customers
// dated the day after as_of, so that 1% of the lines touch about a third
// of the customers. With --by customers they are all the lines of a share
// of the customers, sent again with another amount, and one new line each
// (a billing fix re-exported, and the day's renewals).
//
//	go run ./bench/delta --warehouse W --source gen --share 0.01 --day 2024-12-21 > invoices.csv
//
// It may import: schemas, transform, internal/store.
package main
