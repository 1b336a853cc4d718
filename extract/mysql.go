package extract

import (
	"errors"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mrrflow/mrrflow/configs"
)

// mysqlKind reads billing data out of MySQL or MariaDB: one query per
// entity, with the stored cursor as its ? when the source has a cursor
// column. Times are parsed (parseTime is set on the DSN).
var mysqlKind = Kind{
	Name:        "mysql",
	DefaultMode: configs.ModeUpsert,
	Open: opener(func(src configs.Source, c *MySQLConfig) (Extractor, error) {
		cfg, err := mysql.ParseDSN(c.DSN)
		if err != nil {
			return nil, err
		}
		cfg.ParseTime = true
		cfg.Loc = time.UTC
		return &sqlSource{src: src, cfg: c.SQLConfig, driver: "mysql", dsn: cfg.FormatDSN(), maxWait: 60 * time.Second}, nil
	}),
}

// MySQLConfig is a mysql source's block.
type MySQLConfig struct {
	SQLConfig `yaml:",inline"`
}

// Validate checks the database keys and that dsn is a MySQL DSN.
func (c *MySQLConfig) Validate(src configs.Source) error {
	if err := c.SQLConfig.Validate(src); err != nil {
		return err
	}
	if _, err := mysql.ParseDSN(c.DSN); err != nil {
		return src.Errorf("dsn", "not a MySQL DSN (user:password@tcp(host:3306)/database): %v", err)
	}
	return nil
}

// classifyMySQL sorts MySQL errors by their numbers.
func classifyMySQL(err error) (matched, transient bool, hint string) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1213, 1205, 1040, 1053, 2006, 2013:
			return true, true, ""
		case 1045, 1044:
			return true, false, "check the user and password in dsn"
		case 1049:
			return true, false, "check the database name in dsn"
		case 1146, 1064, 1054:
			return true, false, "check the query in queries"
		}
		return true, false, ""
	}
	if errors.Is(err, mysql.ErrInvalidConn) {
		return true, true, ""
	}
	return false, false, ""
}
