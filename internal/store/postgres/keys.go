package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/trinityprice/trinity/internal/keys"
)

// keyColumns lists the api_keys columns queryKeys reads, in its order.
const keyColumns = "id, prefix, key_hash, name, tier, quota, revoked, created_at"

// CreateKey stores a new key and bumps the keys version. It returns an error wrapping
// keys.ErrInvalid if k does not pass k.Validate or has text PostgreSQL cannot store (invalid
// UTF-8 or NUL), or keys.ErrDuplicate if its ID or hash is already stored. CreatedAt is
// stored truncated to the microsecond.
func (s *Store) CreateKey(ctx context.Context, k keys.Key) error {
	if err := k.Validate(); err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	for _, f := range []struct{ name, v string }{{"id", k.ID}, {"prefix", k.Prefix}, {"name", k.Name}} {
		if !storable(f.v) {
			return fmt.Errorf("create key: %w: %s is not valid UTF-8 text without NUL", keys.ErrInvalid, f.name)
		}
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO api_keys (id, prefix, key_hash, name, tier, quota, revoked, created_at)
			 VALUES ($1, $2, $3, $4, $5, $6, false, $7)`,
			k.ID, k.Prefix, k.Hash[:], k.Name, k.Tier, k.Quota, k.CreatedAt.UTC().Truncate(time.Microsecond))
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
	ks, err := queryKeys(ctx, s.pool, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return ks, nil
}

// Keys returns every key, revoked ones included, in no particular order. It implements
// keys.Source.
func (s *Store) Keys(ctx context.Context) ([]keys.Key, error) {
	ks, err := queryKeys(ctx, s.pool, `SELECT `+keyColumns+` FROM api_keys`)
	if err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	return ks, nil
}

// KeysVersion returns the keys version, which every key change increments. It implements
// keys.Source.
func (s *Store) KeysVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE name = 'keys_version'`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read keys version: %w", err)
	}
	return v, nil
}

// RevokeKey marks one key revoked and bumps the keys version. idOrPrefix is, in order of
// precedence, a key's exact ID, a prefix of one key's Prefix (e.g. "tb_live_AbCd" or
// "tb_live_Ab"), or a full plaintext key. It returns the key as revoked. Revoking a revoked key
// changes nothing and is not an error; of concurrent revocations of one key, only the first
// bumps the version. No match returns an error wrapping keys.ErrNotFound; a prefix matching
// several keys, one wrapping keys.ErrAmbiguous.
func (s *Store) RevokeKey(ctx context.Context, idOrPrefix string) (keys.Key, error) {
	var k keys.Key
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if k, err = findKey(ctx, tx, idOrPrefix); err != nil {
			return err
		}
		if k.Revoked {
			return nil
		}
		// "AND NOT revoked": a concurrent revocation that committed first wins, and this one
		// changes nothing (READ COMMITTED re-checks the row once its lock is free).
		tag, err := tx.Exec(ctx,
			`UPDATE api_keys SET revoked = true, revoked_at = $1 WHERE id = $2 AND NOT revoked`,
			time.Now().UTC().Truncate(time.Microsecond), k.ID)
		if err != nil {
			return err
		}
		k.Revoked = true
		if tag.RowsAffected() == 0 {
			return nil
		}
		return bumpKeysVersion(ctx, tx)
	})
	if err != nil {
		return keys.Key{}, fmt.Errorf("revoke key %q: %w", idOrPrefix, err)
	}
	return k, nil
}

// findKey returns the one key idOrPrefix names (see RevokeKey).
func findKey(ctx context.Context, tx pgx.Tx, idOrPrefix string) (keys.Key, error) {
	if idOrPrefix == "" {
		return keys.Key{}, keys.ErrNotFound
	}
	// Text PostgreSQL cannot hold is no stored ID or Prefix (and would be an error to send),
	// but it may still be a plaintext, which is looked up by hash.
	if storable(idOrPrefix) {
		ks, err := queryKeys(ctx, tx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1`, idOrPrefix)
		if err != nil || len(ks) == 1 {
			return first(ks), err
		}
		// starts_with, not LIKE: LIKE treats '_' (in every prefix) and '%' as wildcards.
		// prefix is COLLATE "C", so the match is by bytes and case-sensitive.
		ks, err = queryKeys(ctx, tx,
			`SELECT `+keyColumns+` FROM api_keys WHERE starts_with(prefix, $1) LIMIT 2`, idOrPrefix)
		if err != nil {
			return keys.Key{}, err
		}
		switch len(ks) {
		case 1:
			return ks[0], nil
		case 2:
			return keys.Key{}, keys.ErrAmbiguous
		}
	}
	h := keys.HashOf([]byte(idOrPrefix))
	ks, err := queryKeys(ctx, tx, `SELECT `+keyColumns+` FROM api_keys WHERE key_hash = $1`, h[:])
	if err != nil || len(ks) == 1 {
		return first(ks), err
	}
	return keys.Key{}, keys.ErrNotFound
}

// storable reports whether s can be stored in, or compared with, a text column: valid UTF-8
// without NUL bytes.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.Contains(s, "\x00")
}

// first returns ks[0], or the zero Key if ks is empty.
func first(ks []keys.Key) keys.Key {
	if len(ks) == 0 {
		return keys.Key{}
	}
	return ks[0]
}

// querier is what queryKeys needs from a *pgxpool.Pool or pgx.Tx.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryKeys runs query, which selects keyColumns, and returns the keys.
func queryKeys(ctx context.Context, q querier, query string, args ...any) ([]keys.Key, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ks []keys.Key
	for rows.Next() {
		var (
			k    keys.Key
			hash []byte
		)
		if err := rows.Scan(&k.ID, &k.Prefix, &hash, &k.Name, &k.Tier, &k.Quota, &k.Revoked, &k.CreatedAt); err != nil {
			return nil, err
		}
		if len(hash) != len(k.Hash) {
			return nil, fmt.Errorf("key %s: hash is %d bytes, want %d", k.ID, len(hash), len(k.Hash))
		}
		copy(k.Hash[:], hash)
		k.CreatedAt = k.CreatedAt.UTC()
		ks = append(ks, k)
	}
	return ks, rows.Err()
}

// bumpKeysVersion increments keys_version inside tx.
func bumpKeysVersion(ctx context.Context, tx pgx.Tx) error {
	tag, err := tx.Exec(ctx, `UPDATE meta SET value = value + 1 WHERE name = 'keys_version'`)
	if err != nil {
		return fmt.Errorf("bump keys version: %w", err)
	}
	if n := tag.RowsAffected(); n != 1 {
		return fmt.Errorf("bump keys version: %d keys_version rows, want 1", n)
	}
	return nil
}

// inTx runs fn in a transaction and commits if fn returns nil. fn's error is returned
// unwrapped.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx)) // fn's error says what went wrong
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation (a PRIMARY KEY or
// UNIQUE constraint).
func isUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}
