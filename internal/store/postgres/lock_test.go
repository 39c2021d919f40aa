package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestOpenWaitsForMigrationLock holds a schema's migration lock from outside and checks that
// Open waits for it, gives up when its context ends, and goes ahead once it is released.
func TestOpenWaitsForMigrationLock(t *testing.T) {
	base := os.Getenv("TRINITY_TEST_POSTGRES")
	if base == "" {
		t.Skip("TRINITY_TEST_POSTGRES not set")
	}
	ctx := context.Background()
	holder, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { holder.Close(ctx) }) // after the schema is dropped
	var b [8]byte
	rand.Read(b[:])
	schema := "trinity_test_" + hex.EncodeToString(b[:])
	if _, err := holder.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := holder.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
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
	log := slog.New(slog.DiscardHandler)

	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey(schema)); err != nil {
		t.Fatal(err)
	}

	// While the lock is held, Open waits until its context ends.
	shortCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if s, err := Open(shortCtx, dsn, log); err == nil {
		s.Close()
		t.Fatal("Open succeeded while another session held the migration lock")
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("Open gave up after %v, want about 300ms", d)
	}

	done := make(chan error, 1)
	go func() {
		s, err := Open(ctx, dsn, log)
		if err == nil {
			err = errors.Join(s.Ping(ctx), s.Close())
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Open returned (%v) while another session held the migration lock", err)
	case <-time.After(300 * time.Millisecond):
	}
	var exists bool
	if err := holder.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, schema+".api_keys").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("api_keys was created while another session held the migration lock")
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_unlock($1)`, migrateLockKey(schema)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Open after the lock was released: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open did not finish within 10s of the lock being released")
	}
}

func TestMigrateLockKey(t *testing.T) {
	if migrateLockKey("a") == migrateLockKey("b") {
		t.Error("schemas a and b share a migration lock key")
	}
}
