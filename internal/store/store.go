// Package store opens Trinity's persistent store from a DSN (the --db flag) and defines Store,
// the interface every backend implements. Backends live in subpackages (sqlite, postgres)
// and are checked by the conformance suite in storetest.
package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/store/postgres"
	"github.com/trinityprice/trinity/internal/store/sqlite"
)

// DefaultDSN is the --db default: a SQLite file under the working directory.
const DefaultDSN = "sqlite:./trinity-data/trinity.db"

// ErrNotFound is returned (wrapped) by RevokeKey when nothing matches. It is keys.ErrNotFound,
// so errors.Is works with either name.
var ErrNotFound = keys.ErrNotFound

// ErrAmbiguous is returned (wrapped) by RevokeKey when a prefix matches several keys. It is
// keys.ErrAmbiguous.
var ErrAmbiguous = keys.ErrAmbiguous

// ErrInvalid is returned (wrapped) by CreateKey for a key that fails keys.Key.Validate. It is
// keys.ErrInvalid.
var ErrInvalid = keys.ErrInvalid

// ErrDuplicate is returned (wrapped) by CreateKey when the key's ID or hash is already stored.
// It is keys.ErrDuplicate.
var ErrDuplicate = keys.ErrDuplicate

// Store is Trinity's persistent state. Implementations are safe for concurrent use, and
// several Stores (in one or more processes) may share one database.
type Store interface {
	// Keys and KeysVersion feed a keys.Table: Keys returns every key, revoked ones included,
	// in any order, and KeysVersion increases with every committed key change.
	keys.Source

	// CreateKey stores a new key and bumps the keys version. Errors wrap ErrInvalid if
	// k.Validate fails and ErrDuplicate if its ID or hash is taken. Stores keep CreatedAt to
	// the microsecond.
	CreateKey(ctx context.Context, k keys.Key) error
	// ListKeys returns every key, revoked ones included, ordered by CreatedAt, then ID.
	ListKeys(ctx context.Context) ([]keys.Key, error)
	// RevokeKey revokes the key named by idOrPrefix and bumps the keys version. idOrPrefix is,
	// by precedence, an exact ID, a prefix of exactly one key's Prefix, or a full plaintext
	// key. It returns the key, now revoked. Revoking a revoked key is a no-op and not an
	// error. Errors wrap ErrNotFound (no match, or "") or ErrAmbiguous (several prefixes
	// match).
	RevokeKey(ctx context.Context, idOrPrefix string) (keys.Key, error)
	// UsageStore keeps metered usage and the report log; TierStore the tier table; KeyAdmin
	// changes keys' tiers and quotas (usage.go).
	UsageStore
	TierStore
	KeyAdmin
	// AdminKeyStore keeps the admin key's hash.
	AdminKeyStore

	// Ping checks that the store answers queries.
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}

// AdminKeyStore keeps the SHA-256 of the admin credential (--admin-key); the key itself is
// never stored. A zero hash is ErrInvalid.
type AdminKeyStore interface {
	// AdminKeyHash returns the stored hash; ok is false if none is stored yet.
	AdminKeyHash(ctx context.Context) (hash [32]byte, ok bool, err error)
	// InitAdminKeyHash stores hash if no hash is stored yet (an atomic insert-if-absent) and
	// returns the hash stored now. created is true only for the call whose hash was stored:
	// of instances starting at once, each with a generated key, exactly one wins, and the
	// others get its hash.
	InitAdminKeyHash(ctx context.Context, hash [32]byte) (stored [32]byte, created bool, err error)
	// SetAdminKeyHash stores hash, replacing any stored one (for a key configured explicitly).
	SetAdminKeyHash(ctx context.Context, hash [32]byte) error
}

// Open opens the store named by dsn and brings its schema up to date:
//   - "sqlite:PATH" opens the SQLite file PATH, creating it and its parent directories;
//   - "postgres://…" or "postgresql://…" opens PostgreSQL; the tables go in the current schema,
//     which a search_path parameter may choose (e.g. "postgres://host/db?search_path=trinity").
func Open(ctx context.Context, dsn string, log *slog.Logger) (Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("open store: %q has no file path (want sqlite:PATH)", dsn)
		}
		s, err := sqlite.Open(ctx, path, log.With("component", "sqlite"))
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s, err := postgres.Open(ctx, dsn, log.With("component", "postgres"))
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("open store: unsupported DSN %q: want sqlite:PATH, postgres://… or postgresql://…", redact(dsn))
}

// redact hides a password in a URL-shaped DSN so errors can be logged.
func redact(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	authority, path, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return dsn
	}
	user, _, hasPass := strings.Cut(authority[:at], ":")
	if !hasPass {
		return dsn
	}
	out := scheme + "://" + user + ":xxxxx" + authority[at:]
	if len(rest) > len(authority) {
		out += "/" + path
	}
	return out
}
