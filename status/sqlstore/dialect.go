package sqlstore

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/fastflow-dev/fastflow/status"
)

// sqliteTimeLayout has a fixed width, so comparing two stored times as text
// gives the same answer as comparing them as times: ORDER BY and range
// filters work on the column as is.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

// dialect holds everything that differs between SQLite and PostgreSQL.
type dialect struct {
	name     string
	goose    goose.Dialect
	postgres bool
}

func sqliteDialect() dialect {
	return dialect{name: "sqlite", goose: goose.DialectSQLite3}
}

func postgresDialect() dialect {
	return dialect{name: "postgres", goose: goose.DialectPostgres, postgres: true}
}

// rebind turns the ? placeholders every query is written with into $n for
// PostgreSQL. No query in this package has a ? inside a string literal.
func (d dialect) rebind(q string) string {
	if !d.postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// skipLocked ends a SELECT whose rows the transaction goes on to claim. On
// PostgreSQL it locks them, passing over rows another transaction holds
// (a run being cancelled or claimed elsewhere) instead of waiting for it;
// SQLite needs nothing, its write transaction already excludes every other.
func (d dialect) skipLocked() string {
	if d.postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// forUpdate ends a SELECT whose row the transaction goes on to change, on
// PostgreSQL locking it until the transaction ends; SQLite's write
// transaction already excludes every other.
func (d dialect) forUpdate() string {
	if d.postgres {
		return " FOR UPDATE"
	}
	return ""
}

// normTime is the form every time takes in the store: UTC, microseconds.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// timeArg binds a time; the zero time becomes NULL.
func (d dialect) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = normTime(t)
	if d.postgres {
		return t
	}
	return t.Format(sqliteTimeLayout)
}

// timeDest scans a nullable time column of either dialect into a
// time.Time, NULL becoming the zero time.
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.t = time.Time{}
	case time.Time:
		*d.t = normTime(x)
	case string:
		return d.parse(x)
	case []byte:
		return d.parse(string(x))
	default:
		return fmt.Errorf("scan time from %T", v)
	}
	return nil
}

func (d timeDest) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("parse time %q: %w", s, err)
	}
	*d.t = normTime(t)
	return nil
}

// scanTime is shorthand for a timeDest in a Scan argument list.
func scanTime(t *time.Time) timeDest { return timeDest{t: t} }

// classify maps the drivers' constraint errors onto the status sentinels,
// keeping the driver error in the chain for the log.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", status.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: referenced record: %w", status.ErrNotFound, err)
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", status.ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: referenced record: %w", status.ErrNotFound, err)
		}
	}
	return err
}

// placeholders returns "?, ?, ?" for n arguments.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}
