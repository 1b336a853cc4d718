// Package deps holds the test that keeps every package to the imports its
// doc.go allows ("It may import: configs, schemas." or "It may import:
// nothing of mrrflow."): the rules are read from the doc comments, so
// that they and the code cannot drift apart.
//
// It may import: nothing of mrrflow.
package deps
