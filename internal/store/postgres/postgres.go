// Package postgres is Trinity's PostgreSQL store (pgx v5, a pgxpool.Pool): API keys, tiers,
// metered usage, the report log and the admin key's hash. Several servers and `trinity keys`
// runs may share one database: every key or tier change bumps a version counter in the same
// transaction, which the servers' key tables poll.
//
// The schema lives in migrations/*.sql, embedded and applied with goose on Open. Stores that
// open at once take turns migrating, under a session-level advisory lock per schema.
//
// Tables are created in the connection's current schema, the first existing schema on its
// search_path. A DSN may choose it, e.g. "postgres://host/db?search_path=trinity" (pgx passes
// unknown URL parameters to the server as run-time parameters).
//
// Package postgres implements the store.Store interface; it must not import internal/store
// (the usage types it shares with it are in internal/store/usage).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrations embed.FS

const (
	// connectTimeout bounds each new connection when the DSN sets no connect_timeout.
	connectTimeout = 10 * time.Second
	// pingTimeout bounds Ping.
	pingTimeout = 2 * time.Second
	// migrateLockTimeout bounds the wait for another instance's migrations.
	migrateLockTimeout = 5 * time.Minute
)

// Store is Trinity's store in one PostgreSQL schema. It is safe for concurrent use, also with
// other Stores and processes on the same schema.
type Store struct {
	pool *pgxpool.Pool
	// where names the database for errors and logs, without credentials: "host:port/db".
	where string
	// schema is the connection's current schema, where the tables are.
	schema string
	log    *slog.Logger
}

// Open connects to the PostgreSQL database named by dsn (a postgres:// or postgresql:// URL,
// or key=value pairs, as pgx parses them), applies any pending migrations to the current
// schema, and returns the Store. Close it when done. The current schema must exist: Open does
// not create schemas.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn) // errors from pgx redact the password
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if cfg.MaxConns < 2 {
		// Open holds one connection for the migration lock while goose uses another.
		return nil, fmt.Errorf("open postgres: pool_max_conns is %d, want at least 2", cfg.MaxConns)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	where := cfg.ConnConfig.Host + ":" + strconv.Itoa(int(cfg.ConnConfig.Port)) + "/" + cfg.ConnConfig.Database
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", where, err)
	}
	s := &Store{pool: pool, where: where, log: log}
	if err := s.init(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", where, err)
	}
	return s, nil
}

// init finds the current schema and migrates it.
func (s *Store) init(ctx context.Context) error {
	var schema *string
	if err := s.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return err
	}
	if schema == nil {
		var path string
		if err := s.pool.QueryRow(ctx, `SHOW search_path`).Scan(&path); err != nil {
			return err
		}
		return fmt.Errorf("no schema to create tables in: search_path %q names no existing schema", path)
	}
	s.schema = *schema
	return s.migrate(ctx)
}

// migrate applies the embedded migrations that are not yet applied, holding the schema's
// migration lock (see lockMigrations) so that Stores opening at once take turns: the first
// migrates, the others then find nothing to do.
func (s *Store) migrate(ctx context.Context) (err error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("BUG: migrations directory: %w", err)
	}
	unlock, err := s.lockMigrations(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	db := stdlib.OpenDBFromPool(s.pool) // closing db leaves the pool open
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// Provider.Close would only close db, which the defer does.
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate schema %q: %w", s.schema, err)
	}
	for _, r := range res {
		s.log.LogAttrs(ctx, slog.LevelInfo, "applied migration",
			slog.String("db", s.where), slog.String("schema", s.schema),
			slog.String("migration", r.Source.Path), slog.Duration("took", r.Duration))
	}
	return nil
}

// lockMigrations takes the schema's migration lock, a session-level advisory lock (keyed by
// migrateLockKey) on a connection of its own, and returns the function that releases it.
//
// goose's own locker (goose.WithSessionLocker) is not used: it guards only the migrations, not
// the version-table check that Provider.Up makes first, so Stores opening a new schema at once
// race to create goose_db_version and the losers retry a second later. pg_advisory_lock also
// waits for the holder instead of polling. The wait is bounded by migrateLockTimeout and ends
// with ctx.
func (s *Store) lockMigrations(ctx context.Context) (unlock func() error, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	// drop ends conn's session, which releases any advisory lock it holds, and discards conn.
	drop := func() {
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		conn.Release() // a closed connection leaves the pool
	}
	key := migrateLockKey(s.schema)
	lockCtx, cancel := context.WithTimeout(ctx, migrateLockTimeout)
	defer cancel()
	if _, err := conn.Exec(lockCtx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		drop() // the lock may have been granted as the wait was cancelled
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	return func() error {
		var unlocked bool
		err := conn.QueryRow(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key).Scan(&unlocked)
		if err == nil && !unlocked {
			err = errors.New("lock was not held")
		}
		if err != nil {
			drop()
			return fmt.Errorf("release migration lock: %w", err)
		}
		conn.Release()
		return nil
	}, nil
}

// migrateLockKey returns the advisory lock key that guards migrations of schema: the FNV-1a
// hash of "trinity migrate " and the schema name. Stores on different schemas of one database
// do not wait for each other.
func migrateLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("trinity migrate "))
	h.Write([]byte(schema))
	return int64(h.Sum64())
}

// Close closes the pool's connections, waiting for any in use to be released.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks, within pingTimeout, that the database answers a query on the store's tables.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := s.KeysVersion(ctx); err != nil {
		return fmt.Errorf("ping postgres %s: %w", s.where, err)
	}
	return nil
}
