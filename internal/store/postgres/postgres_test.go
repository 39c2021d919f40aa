package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/store"
	"github.com/trinityprice/trinity/internal/store/postgres"
	"github.com/trinityprice/trinity/internal/store/storetest"
)

// testDSN returns the database the integration tests use, from TRINITY_TEST_POSTGRES (e.g.
// "postgres://root@127.0.0.1:5432/test?sslmode=disable"), or skips the test.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("TRINITY_TEST_POSTGRES")
	if dsn == "" {
		tb.Skip("TRINITY_TEST_POSTGRES not set")
	}
	return dsn
}

// freshSchema creates an empty schema with a random name in the test database, drops it (and
// everything in it) when the test ends, and returns a DSN whose search_path is that schema,
// and the schema's name.
func freshSchema(tb testing.TB) (dsn, schema string) {
	tb.Helper()
	base := testDSN(tb)
	var b [8]byte
	rand.Read(b[:])
	schema = "trinity_test_" + hex.EncodeToString(b[:])
	exec(tb, base, `CREATE SCHEMA `+schema)
	tb.Cleanup(func() { exec(tb, base, `DROP SCHEMA `+schema+` CASCADE`) })
	return withParam(tb, base, "search_path", schema), schema
}

// withParam returns the URL dsn with the query parameter name set to value.
func withParam(tb testing.TB, dsn, name, value string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("TRINITY_TEST_POSTGRES must be a postgres:// URL (err %v)", err)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// exec runs sql on its own connection to dsn.
func exec(tb testing.TB, dsn, sql string, args ...any) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// queryInt returns the int64 that sql selects, on its own connection to dsn.
func queryInt(tb testing.TB, dsn, sql string) int64 {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}

// mustOpen opens the PostgreSQL store at dsn and closes it when the test ends.
func mustOpen(tb testing.TB, dsn string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestPostgresConformance(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		dsn, _ := freshSchema(t)
		return mustOpen(t, dsn)
	})
}

func TestPostgresSharedSchema(t *testing.T) {
	dsn, _ := freshSchema(t)
	a := mustOpen(t, dsn) // say, a server
	b := mustOpen(t, dsn) // say, `trinity keys`, or a second server
	ctx := context.Background()

	plain, k := storetest.MustNewKey(t, "shared")
	v0 := storetest.MustVersion(t, a)
	storetest.MustCreate(t, b, k)
	if v := storetest.MustVersion(t, a); v <= v0 {
		t.Fatalf("a's KeysVersion = %d after b created a key, want > %d", v, v0)
	}
	if ks := storetest.MustList(t, a); len(ks) != 1 || storetest.KeyDiff(ks[0], k) != "" {
		t.Fatalf("a lists %+v, want only %+v", ks, k)
	}

	// A table fed by a sees b's revocation on its next poll.
	tab := keys.NewTable(a, slog.New(slog.DiscardHandler))
	if err := tab.Load(ctx); err != nil {
		t.Fatalf("Load: %v", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tab.Run(runCtx, 10*time.Millisecond) }()
	v1 := storetest.MustVersion(t, a)
	if _, err := b.RevokeKey(ctx, k.Prefix); err != nil {
		t.Fatalf("b.RevokeKey: %v", err)
	}
	if v := storetest.MustVersion(t, a); v <= v1 {
		t.Fatalf("a's KeysVersion = %d after b revoked a key, want > %d", v, v1)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, ok := tab.Lookup([]byte(plain)); ok && got.Revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a's table did not see b's revocation within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestPostgresConcurrentWriters(t *testing.T) {
	dsn, _ := freshSchema(t)
	stores := []*postgres.Store{mustOpen(t, dsn), mustOpen(t, dsn), mustOpen(t, dsn)}
	const perStore = 30
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*perStore*2)
	for _, s := range stores {
		wg.Go(func() {
			for i := range perStore {
				_, k := storetest.MustNewKey(t, fmt.Sprint(i))
				if err := s.CreateKey(context.Background(), k); err != nil {
					errs <- err
					continue
				}
				if _, err := s.RevokeKey(context.Background(), k.ID); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent writer: %v", err)
	}
	n := len(stores) * perStore
	if ks := storetest.MustList(t, stores[0]); len(ks) != n {
		t.Errorf("ListKeys = %d keys, want %d", len(ks), n)
	}
	if v := storetest.MustVersion(t, stores[0]); v != int64(2*n) {
		t.Errorf("KeysVersion = %d, want %d (one per create and per revoke)", v, 2*n)
	}
}

func TestPostgresAdminKeyInstances(t *testing.T) {
	// Instances starting at once on one schema, two goroutines each: one admin key hash wins.
	dsn, _ := freshSchema(t)
	var stores []store.Store
	for range 4 {
		s := mustOpen(t, dsn)
		stores = append(stores, s, s)
	}
	storetest.RaceAdminKeyInit(t, stores...)
}

func TestPostgresConcurrentRevokes(t *testing.T) {
	// Several stores revoke the same key at once: all succeed, and the version moves once.
	dsn, _ := freshSchema(t)
	stores := []*postgres.Store{mustOpen(t, dsn), mustOpen(t, dsn), mustOpen(t, dsn), mustOpen(t, dsn)}
	for round := range 5 {
		_, k := storetest.MustNewKey(t, fmt.Sprint(round))
		storetest.MustCreate(t, stores[0], k)
		v0 := storetest.MustVersion(t, stores[0])
		var wg sync.WaitGroup
		errs := make(chan error, len(stores))
		for _, s := range stores {
			wg.Go(func() {
				got, err := s.RevokeKey(context.Background(), k.ID)
				if err == nil && !got.Revoked {
					err = fmt.Errorf("RevokeKey returned %+v, not revoked", got)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
		if v := storetest.MustVersion(t, stores[0]); v != v0+1 {
			t.Errorf("round %d: KeysVersion went from %d to %d, want one bump", round, v0, v)
		}
	}
}

func TestPostgresReopen(t *testing.T) {
	dsn, _ := freshSchema(t)
	s, err := postgres.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, k := storetest.MustNewKey(t, "persisted")
	storetest.MustCreate(t, s, k)
	v := storetest.MustVersion(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := mustOpen(t, dsn) // migrations already applied: nothing to do
	if ks := storetest.MustList(t, s2); len(ks) != 1 || storetest.KeyDiff(ks[0], k) != "" {
		t.Fatalf("after reopening: %+v, want %+v", ks, k)
	}
	if v2 := storetest.MustVersion(t, s2); v2 != v {
		t.Fatalf("KeysVersion after reopening = %d, want %d", v2, v)
	}
}

func TestPostgresOpenFreshConcurrently(t *testing.T) {
	// Several servers starting against a new database: one migrates, the others wait for it,
	// and all end up usable.
	for round := range 2 {
		dsn, schema := freshSchema(t)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				s, err := postgres.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
				if err != nil {
					errs <- err
					return
				}
				_, k := storetest.MustNewKey(t, "")
				errs <- errors.Join(s.CreateKey(context.Background(), k), s.Close())
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
		base := testDSN(t)
		if got := queryInt(t, base, `SELECT count(*) FROM `+schema+`.goose_db_version WHERE version_id = 1`); got != 1 {
			t.Errorf("round %d: migration 1 recorded %d times, want once", round, got)
		}
		if got := queryInt(t, base, `SELECT count(*) FROM `+schema+`.meta`); got != 1 {
			t.Errorf("round %d: %d meta rows, want 1", round, got)
		}
		if got := queryInt(t, base, `SELECT value FROM `+schema+`.meta WHERE name = 'keys_version'`); got != n {
			t.Errorf("round %d: keys_version = %d, want %d", round, got, n)
		}
	}
}

func TestPostgresSchemasAreSeparate(t *testing.T) {
	dsnA, _ := freshSchema(t)
	dsnB, _ := freshSchema(t)
	a, b := mustOpen(t, dsnA), mustOpen(t, dsnB)
	_, k := storetest.MustNewKey(t, "in a")
	storetest.MustCreate(t, a, k)
	if ks := storetest.MustList(t, b); len(ks) != 0 {
		t.Errorf("schema b lists %+v, want none", ks)
	}
	if v := storetest.MustVersion(t, b); v != 0 {
		t.Errorf("schema b's KeysVersion = %d, want 0", v)
	}
}

func TestPostgresMicroseconds(t *testing.T) {
	// CreatedAt is kept to the microsecond, truncated (not rounded) like the SQLite store, and
	// read back in UTC.
	dsn, _ := freshSchema(t)
	s := mustOpen(t, dsn)
	_, k := storetest.MustNewKey(t, "ns")
	k.CreatedAt = time.Date(2025, 6, 1, 12, 0, 0, 123456999, time.FixedZone("X", 3600))
	storetest.MustCreate(t, s, k)
	ks := storetest.MustList(t, s)
	if len(ks) != 1 {
		t.Fatalf("ListKeys = %+v, want one key", ks)
	}
	want := time.Date(2025, 6, 1, 11, 0, 0, 123456000, time.UTC)
	if got := ks[0].CreatedAt; got != want {
		t.Errorf("CreatedAt = %v (%s), want %v", got, got.Location(), want)
	}
}

func TestPostgresUnstorableText(t *testing.T) {
	dsn, _ := freshSchema(t)
	s := mustOpen(t, dsn)
	ctx := context.Background()
	plain, k := storetest.MustNewKey(t, "a")
	storetest.MustCreate(t, s, k)
	v0 := storetest.MustVersion(t, s)

	// PostgreSQL text holds neither NUL nor invalid UTF-8: such keys are invalid...
	for _, mutate := range []func(k *keys.Key){
		func(k *keys.Key) { k.Name = "a\x00b" },
		func(k *keys.Key) { k.Name = "a\xffb" },
		func(k *keys.Key) { k.ID += "\x00" },
		func(k *keys.Key) { k.Prefix = "tb_live_\xff" },
	} {
		_, bad := storetest.MustNewKey(t, "bad")
		mutate(&bad)
		if err := s.CreateKey(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateKey(%+v): err = %v, want ErrInvalid", bad, err)
		}
	}
	// ...and such names match no key, rather than failing.
	for _, in := range []string{"\x00", k.ID + "\x00", k.Prefix[:10] + "\xff", plain + "\x00"} {
		if got, err := s.RevokeKey(ctx, in); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeKey(%q) = %+v, %v; want ErrNotFound", in, got, err)
		}
	}
	if v := storetest.MustVersion(t, s); v != v0 {
		t.Errorf("KeysVersion changed from %d to %d", v0, v)
	}
}

func TestPostgresOpenMissingSchema(t *testing.T) {
	dsn := withParam(t, testDSN(t), "search_path", "trinity_test_no_such_schema")
	s, err := postgres.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err == nil {
		s.Close()
		t.Fatal("Open with a missing schema: want error")
	}
	if !strings.Contains(err.Error(), "trinity_test_no_such_schema") {
		t.Errorf("Open with a missing schema = %q, want it to name the schema", err)
	}
}

func TestPostgresPingAfterClose(t *testing.T) {
	dsn, _ := freshSchema(t)
	s, err := postgres.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("Ping after Close: want error")
	}
}

func TestStoreOpenPostgres(t *testing.T) {
	dsn, _ := freshSchema(t)
	for _, dsn := range []string{dsn, "postgresql" + strings.TrimPrefix(dsn, "postgres")} {
		s, err := store.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("store.Open(%s): %v", dsn, err)
		}
		if _, ok := s.(*postgres.Store); !ok {
			t.Errorf("store.Open(%s) = %T, want *postgres.Store", dsn, s)
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Errorf("Ping: %v", err)
		}
		_, k := storetest.MustNewKey(t, dsn[:10])
		storetest.MustCreate(t, s, k)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	// No server needed: the DSN does not parse, or nothing listens on port 1.
	f := func(dsn string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := postgres.Open(ctx, dsn, slog.New(slog.DiscardHandler))
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q): want error", dsn)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %q, leaks the password", dsn, err)
		}
		s2, err := store.Open(ctx, dsn, slog.New(slog.DiscardHandler))
		if err == nil {
			s2.Close()
			t.Fatalf("store.Open(%q): want error", dsn)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("store.Open(%q) = %q, leaks the password", dsn, err)
		}
	}
	f("postgres://root:s3cret@127.0.0.1:1/test?sslmode=disable")
	f("postgres://root:s3cret@127.0.0.1:notaport/test")
	f("postgres://root:s3cret@127.0.0.1/test?sslmode=bogus")
	f("postgresql://root:s3cret@127.0.0.1:1/test?connect_timeout=1&sslmode=disable")
	f("postgres://root:s3cret@127.0.0.1:1/test?pool_max_conns=1") // see lockMigrations
}

// BenchmarkPostgresUsagePaging: ns/op is one page of 1000 rows of a key with a month of
// per-minute rows (3 combinations a minute), among 4 other keys' rows.
func BenchmarkPostgresUsagePaging(b *testing.B) {
	dsn, _ := freshSchema(b)
	storetest.BenchUsagePaging(b, mustOpen(b, dsn), 3)
}

// BenchmarkPostgresWriteUsage: ns/op is one flush of 5000 records.
func BenchmarkPostgresWriteUsage(b *testing.B) {
	for _, insert := range []bool{true, false} {
		b.Run(map[bool]string{true: "insert", false: "update"}[insert], func(b *testing.B) {
			dsn, _ := freshSchema(b)
			storetest.BenchWriteUsage(b, mustOpen(b, dsn), 5000, insert)
		})
	}
}
