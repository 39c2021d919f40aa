package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/trinityprice/trinity/internal/store/usage"
)

// adminKeySetting names the settings row that holds the admin key's SHA-256.
const adminKeySetting = "admin_key_sha256"

// AdminKeyHash returns the stored SHA-256 of the admin key; ok is false if none is stored.
func (s *Store) AdminKeyHash(ctx context.Context) (hash [32]byte, ok bool, err error) {
	hash, ok, err = readAdminKeyHash(ctx, s.db)
	if err != nil {
		return [32]byte{}, false, fmt.Errorf("read admin key hash: %w", err)
	}
	return hash, ok, nil
}

// InitAdminKeyHash stores hash as the admin key's SHA-256 unless one is stored already, and
// returns the stored hash; created is true only if it is hash, stored by this call. A zero
// hash is an error wrapping keys.ErrInvalid.
func (s *Store) InitAdminKeyHash(ctx context.Context, hash [32]byte) (stored [32]byte, created bool, err error) {
	if hash == ([32]byte{}) {
		return [32]byte{}, false, fmt.Errorf("init admin key hash: %w", usage.Invalid("admin key hash is zero"))
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
			adminKeySetting, hash[:])
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		created = n == 1
		var ok bool
		if stored, ok, err = readAdminKeyHash(ctx, tx); err != nil {
			return err
		}
		if !ok {
			return errors.New("admin key hash vanished after insert")
		}
		return nil
	})
	if err != nil {
		return [32]byte{}, false, fmt.Errorf("init admin key hash: %w", err)
	}
	return stored, created, nil
}

// SetAdminKeyHash stores hash as the admin key's SHA-256, replacing any stored one. A zero
// hash is an error wrapping keys.ErrInvalid.
func (s *Store) SetAdminKeyHash(ctx context.Context, hash [32]byte) error {
	if hash == ([32]byte{}) {
		return fmt.Errorf("set admin key hash: %w", usage.Invalid("admin key hash is zero"))
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO settings (name, value) VALUES (?, ?)
		 ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
		adminKeySetting, hash[:])
	if err != nil {
		return fmt.Errorf("set admin key hash: %w", err)
	}
	return nil
}

// rowQuerier is what readAdminKeyHash needs from a *sql.DB or *sql.Tx.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readAdminKeyHash reads the admin key's SHA-256; ok is false if none is stored.
func readAdminKeyHash(ctx context.Context, q rowQuerier) (hash [32]byte, ok bool, err error) {
	var v []byte
	err = q.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, adminKeySetting).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return [32]byte{}, false, nil
	}
	if err != nil {
		return [32]byte{}, false, err
	}
	if len(v) != len(hash) {
		return [32]byte{}, false, fmt.Errorf("%s is %d bytes, want %d", adminKeySetting, len(v), len(hash))
	}
	copy(hash[:], v)
	return hash, true, nil
}
