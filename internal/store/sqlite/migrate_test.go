package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/trinityprice/trinity/internal/keys"
)

// TestMigrateKeysToTiers upgrades a file at version 1 that holds a key: the key survives and
// can change tier.
func TestMigrateKeysToTiers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "trinity.db")
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	_, k, err := keys.New(keys.TierPro, "old", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx,
		`INSERT INTO api_keys (id, prefix, key_hash, name, tier, quota, revoked, created_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?)`,
		k.ID, k.Prefix, k.Hash[:], k.Name, k.Tier, k.CreatedAt.UTC().Format(timeLayout)); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open (migrating to the latest version): %v", err)
	}
	defer s.Close()
	ks, err := s.ListKeys(ctx)
	if err != nil || len(ks) != 1 || ks[0].ID != k.ID || ks[0].Tier != keys.TierPro {
		t.Fatalf("after migrating: ListKeys = %+v, %v; want the old key", ks, err)
	}
	if got, err := s.SetKeyTier(ctx, k.Prefix, keys.TierFree); err != nil || got.Tier != keys.TierFree {
		t.Fatalf("SetKeyTier = %+v, %v", got, err)
	}
	if ts, err := s.Tiers(ctx); err != nil || len(ts) != len(keys.Tiers()) {
		t.Fatalf("Tiers = %+v, %v", ts, err)
	}
}
