// Package dbtest gives tests a PostgreSQL schema or a MariaDB database of
// their own on the machine's servers, with billing tables, dropped when the
// test ends. A server that cannot be reached fails the test: database tests
// never skip.
//
// dbtest is for tests only.
//
// It may import: nothing of mrrflow.
package dbtest
