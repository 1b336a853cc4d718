// Package report makes the revenue report: one self-contained HTML page
// (styles, the vendored Apache ECharts library, the data and the code that
// draws it, all inline: it opens from disk with no network) from the
// published mart tables of a warehouse. It reads the tables only; it
// computes nothing the engine has not: every number on the page is one of
// the tables'.
//
// It may import: schemas, load, internal/store.
package report
