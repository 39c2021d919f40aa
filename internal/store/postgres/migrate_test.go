package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"

	"github.com/trinityprice/trinity/internal/keys"
)

// TestMigrateKeysToTiers upgrades a schema at version 1 that holds a key: the key survives,
// references its tier, and can change tier.
func TestMigrateKeysToTiers(t *testing.T) {
	base := os.Getenv("TRINITY_TEST_POSTGRES")
	if base == "" {
		t.Skip("TRINITY_TEST_POSTGRES not set")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { admin.Close(ctx) })
	var b [8]byte
	rand.Read(b[:])
	schema := "trinity_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsn := u.String()

	// Version 1, with a key, as a store of the previous release left it.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys)
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
		`INSERT INTO api_keys (id, prefix, key_hash, name, tier, quota, revoked, created_at) VALUES ($1, $2, $3, $4, $5, 0, false, $6)`,
		k.ID, k.Prefix, k.Hash[:], k.Name, k.Tier, k.CreatedAt); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open (migrating to the latest version): %v", err)
	}
	defer s.Close()
	ks, err := s.ListKeys(ctx)
	if err != nil || len(ks) != 1 || ks[0].ID != k.ID || ks[0].Tier != keys.TierPro {
		t.Fatalf("after migrating: ListKeys = %+v, %v; want the old key", ks, err)
	}
	if got, err := s.SetKeyTier(ctx, k.ID, keys.TierFree); err != nil || got.Tier != keys.TierFree {
		t.Fatalf("SetKeyTier = %+v, %v", got, err)
	}
	// The foreign key holds even for writes that bypass the store's own check.
	if _, err := db.ExecContext(ctx, `UPDATE api_keys SET tier = 'gold' WHERE id = $1`, k.ID); !isForeignKeyViolation(err) {
		t.Errorf("setting an unknown tier directly: err = %v, want a foreign key violation", err)
	}
}
