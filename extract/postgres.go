package extract

import (
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/mrrflow/mrrflow/configs"
)

// postgresKind reads billing data out of PostgreSQL: one query per entity,
// with the stored cursor as its $1 when the source has a cursor column.
var postgresKind = Kind{
	Name:        "postgres",
	DefaultMode: configs.ModeUpsert,
	Open: opener(func(src configs.Source, c *PostgresConfig) (Extractor, error) {
		return &sqlSource{src: src, cfg: c.SQLConfig, driver: "pgx", dsn: c.DSN, maxWait: 60 * time.Second}, nil
	}),
}

// PostgresConfig is a postgres source's block.
type PostgresConfig struct {
	SQLConfig `yaml:",inline"`
}

// classifyPostgres sorts PostgreSQL errors by SQLSTATE class.
func classifyPostgres(err error) (matched, transient bool, hint string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), pe.Code == "40001", pe.Code == "40P01", pe.Code == "53300", pe.Code == "57P03":
			return true, true, ""
		case strings.HasPrefix(pe.Code, "28"):
			return true, false, "check the user and password in dsn"
		case pe.Code == "3D000":
			return true, false, "check the database name in dsn"
		case strings.HasPrefix(pe.Code, "42"):
			return true, false, "check the query in queries"
		}
		return true, false, ""
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		var inner *pgconn.PgError
		if errors.As(ce.Unwrap(), &inner) {
			return classifyPostgres(inner)
		}
		return true, true, ""
	}
	return false, false, ""
}
