// Package sqlite is Trinity's SQLite store (modernc.org/sqlite, no cgo). It keeps API keys,
// tiers, metered usage, the report log and the admin key's hash in one database file that a
// running server and the `trinity keys` CLI can share: the file is opened in WAL mode with a
// busy timeout, and writes take the write lock up front.
//
// The schema lives in migrations/*.sql, embedded and applied with goose on Open.
//
// Package sqlite implements the store.Store interface; it must not import internal/store (the
// usage types it shares with it are in internal/store/usage).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeoutMillis is how long a statement waits for another connection's (or process's)
// write lock before failing with SQLITE_BUSY.
const busyTimeoutMillis = 5000

// Store is Trinity's store in one SQLite file. It is safe for concurrent use, also with other
// Stores and processes on the same file.
type Store struct {
	db   *sql.DB
	path string
	log  *slog.Logger
}

// Open opens (creating it and its parent directories if needed) the SQLite database at path,
// applies any pending migrations, and returns the Store. Close it when done.
func Open(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("open sqlite: need a file path, got %q", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s := &Store{db: db, path: path, log: log}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}

// dsn returns the modernc.org/sqlite data source name for the file at path: a "file:" URI
// (so '?', '#' and '%' in the path are escaped, not parsed) with the connection pragmas.
// Each new pooled connection runs them:
//   - busy_timeout first, so the others wait for a lock instead of failing;
//   - journal_mode(WAL): readers and one writer at a time, across processes;
//   - synchronous(NORMAL): durable at checkpoints, the usual choice with WAL;
//   - foreign_keys(1): enforce references (later tables use them).
//
// _txlock=immediate makes every transaction take the write lock at BEGIN, so two writers
// queue on the busy timeout rather than one failing when it upgrades a read lock.
func dsn(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path // relative; SQLite resolves it against the working directory
	}
	u := url.URL{Path: filepath.ToSlash(abs)}
	return "file:" + u.EscapedPath() +
		"?_pragma=busy_timeout(" + strconv.Itoa(busyTimeoutMillis) + ")" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(1)" +
		"&_txlock=immediate"
}

// migrate applies the embedded migrations that are not yet applied.
func (s *Store) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("BUG: migrations directory: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.db, fsys)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// Provider.Close would close s.db, so p is simply dropped.
	res, err := p.Up(ctx)
	if err != nil {
		// Another process opening the same new file at the same moment may have applied the
		// migrations first, so our attempt failed on "table already exists". Look again.
		s.log.LogAttrs(ctx, slog.LevelDebug, "migration failed, retrying once",
			slog.String("db", s.path), slog.String("err", err.Error()))
		if res, err = p.Up(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	for _, r := range res {
		s.log.LogAttrs(ctx, slog.LevelInfo, "applied migration",
			slog.String("db", s.path), slog.String("migration", r.Source.Path),
			slog.Duration("took", r.Duration))
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close sqlite %s: %w", s.path, err)
	}
	return nil
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.KeysVersion(ctx); err != nil {
		return fmt.Errorf("ping sqlite %s: %w", s.path, err)
	}
	return nil
}
