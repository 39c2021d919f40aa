package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/trinityprice/trinity/internal/keys"
)

// timeLayout is how times are stored: UTC, fixed width, to the microsecond, so text order is
// time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// keyColumns lists the api_keys columns scanKey reads, in its order.
const keyColumns = "id, prefix, key_hash, name, tier, quota, revoked, created_at"

// CreateKey stores a new key and bumps the keys version. It returns an error wrapping
// keys.ErrInvalid if k does not pass k.Validate, or keys.ErrDuplicate if its ID or hash is
// already stored.
func (s *Store) CreateKey(ctx context.Context, k keys.Key) error {
	if err := k.Validate(); err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO api_keys (id, prefix, key_hash, name, tier, quota, revoked, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, 0, ?)`,
			k.ID, k.Prefix, k.Hash[:], k.Name, k.Tier, k.Quota, k.CreatedAt.UTC().Format(timeLayout))
		if isUniqueViolation(err) {
			return keys.ErrDuplicate
		}
		if err != nil {
			return err
		}
		return bumpKeysVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("create key %s: %w", k.ID, err)
	}
	return nil
}

// ListKeys returns every key, revoked ones included, oldest first (by CreatedAt, then ID).
func (s *Store) ListKeys(ctx context.Context) ([]keys.Key, error) {
	ks, err := s.queryKeys(ctx, s.db, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return ks, nil
}

// Keys returns every key, revoked ones included, in no particular order. It implements
// keys.Source.
func (s *Store) Keys(ctx context.Context) ([]keys.Key, error) {
	ks, err := s.queryKeys(ctx, s.db, `SELECT `+keyColumns+` FROM api_keys`)
	if err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	return ks, nil
}

// KeysVersion returns the keys version, which every key change increments. It implements
// keys.Source.
func (s *Store) KeysVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'keys_version'`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read keys version: %w", err)
	}
	return v, nil
}

// RevokeKey marks one key revoked and bumps the keys version. idOrPrefix is, in order of
// precedence, a key's exact ID, a prefix of one key's Prefix (e.g. "tb_live_AbCd" or
// "tb_live_Ab"), or a full plaintext key. It returns the key as revoked. Revoking a revoked key
// changes nothing and is not an error. No match returns an error wrapping keys.ErrNotFound; a
// prefix matching several keys, one wrapping keys.ErrAmbiguous.
func (s *Store) RevokeKey(ctx context.Context, idOrPrefix string) (keys.Key, error) {
	var k keys.Key
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if k, err = s.findKey(ctx, tx, idOrPrefix); err != nil {
			return err
		}
		if k.Revoked {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE api_keys SET revoked = 1, revoked_at = ? WHERE id = ?`,
			time.Now().UTC().Format(timeLayout), k.ID)
		if err != nil {
			return err
		}
		k.Revoked = true
		return bumpKeysVersion(ctx, tx)
	})
	if err != nil {
		return keys.Key{}, fmt.Errorf("revoke key %q: %w", idOrPrefix, err)
	}
	return k, nil
}

// findKey returns the one key idOrPrefix names (see RevokeKey).
func (s *Store) findKey(ctx context.Context, tx *sql.Tx, idOrPrefix string) (keys.Key, error) {
	if idOrPrefix == "" {
		return keys.Key{}, keys.ErrNotFound
	}
	ks, err := s.queryKeys(ctx, tx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, idOrPrefix)
	if err != nil || len(ks) == 1 {
		return first(ks), err
	}
	// substr, not LIKE: LIKE ignores ASCII case and treats '_' (in every prefix) as a wildcard.
	ks, err = s.queryKeys(ctx, tx,
		`SELECT `+keyColumns+` FROM api_keys WHERE substr(prefix, 1, length(?1)) = ?1 LIMIT 2`, idOrPrefix)
	if err != nil {
		return keys.Key{}, err
	}
	switch len(ks) {
	case 1:
		return ks[0], nil
	case 2:
		return keys.Key{}, keys.ErrAmbiguous
	}
	h := keys.HashOf([]byte(idOrPrefix))
	ks, err = s.queryKeys(ctx, tx, `SELECT `+keyColumns+` FROM api_keys WHERE key_hash = ?`, h[:])
	if err != nil || len(ks) == 1 {
		return first(ks), err
	}
	return keys.Key{}, keys.ErrNotFound
}

// first returns ks[0], or the zero Key if ks is empty.
func first(ks []keys.Key) keys.Key {
	if len(ks) == 0 {
		return keys.Key{}
	}
	return ks[0]
}

// querier is what queryKeys needs from a *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryKeys runs query, which selects keyColumns, and returns the keys.
func (s *Store) queryKeys(ctx context.Context, q querier, query string, args ...any) ([]keys.Key, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ks []keys.Key
	for rows.Next() {
		var (
			k       keys.Key
			hash    []byte
			created string
		)
		if err := rows.Scan(&k.ID, &k.Prefix, &hash, &k.Name, &k.Tier, &k.Quota, &k.Revoked, &created); err != nil {
			return nil, err
		}
		if len(hash) != len(k.Hash) {
			return nil, fmt.Errorf("key %s: hash is %d bytes, want %d", k.ID, len(hash), len(k.Hash))
		}
		copy(k.Hash[:], hash)
		if k.CreatedAt, err = time.Parse(timeLayout, created); err != nil {
			return nil, fmt.Errorf("key %s: created_at: %w", k.ID, err)
		}
		ks = append(ks, k)
	}
	return ks, rows.Err()
}

// bumpKeysVersion increments keys_version inside tx.
func bumpKeysVersion(ctx context.Context, tx *sql.Tx) error {
	res, err := tx.ExecContext(ctx, `UPDATE meta SET value = value + 1 WHERE name = 'keys_version'`)
	if err != nil {
		return fmt.Errorf("bump keys version: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("bump keys version: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("bump keys version: %d keys_version rows, want 1", n)
	}
	return nil
}

// inTx runs fn in a transaction (which takes the write lock at once; see dsn) and commits if
// fn returns nil. fn's error is returned unwrapped.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // fn's error says what went wrong
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isUniqueViolation reports whether err is SQLite's PRIMARY KEY or UNIQUE constraint error.
func isUniqueViolation(err error) bool {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
