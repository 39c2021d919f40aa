package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/store"
	"github.com/trinityprice/trinity/internal/store/sqlite"
	"github.com/trinityprice/trinity/internal/store/storetest"
)

// mustOpen opens the SQLite store at path and closes it when the test ends.
func mustOpen(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "trinity.db"))
	})
}

func TestSQLiteSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trinity.db")
	a := mustOpen(t, path) // say, the server
	b := mustOpen(t, path) // say, `trinity keys`
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
	if _, err := b.RevokeKey(ctx, k.Prefix); err != nil {
		t.Fatalf("b.RevokeKey: %v", err)
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

func TestSQLiteConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trinity.db")
	stores := []*sqlite.Store{mustOpen(t, path), mustOpen(t, path), mustOpen(t, path)}
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

func TestSQLiteAdminKeyInstances(t *testing.T) {
	// Instances starting at once on one file, two goroutines each: one admin key hash wins.
	path := filepath.Join(t.TempDir(), "trinity.db")
	var stores []store.Store
	for range 4 {
		s := mustOpen(t, path)
		stores = append(stores, s, s)
	}
	storetest.RaceAdminKeyInit(t, stores...)
}

func TestSQLiteReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trinity.db")
	s, err := sqlite.Open(context.Background(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, k := storetest.MustNewKey(t, "persisted")
	storetest.MustCreate(t, s, k)
	v := storetest.MustVersion(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := mustOpen(t, path) // migrations already applied: nothing to do
	if ks := storetest.MustList(t, s2); len(ks) != 1 || storetest.KeyDiff(ks[0], k) != "" {
		t.Fatalf("after reopening: %+v, want %+v", ks, k)
	}
	if v2 := storetest.MustVersion(t, s2); v2 != v {
		t.Fatalf("KeysVersion after reopening = %d, want %d", v2, v)
	}
}

func TestSQLiteOpenFreshConcurrently(t *testing.T) {
	// The CLI and the server may both create the file at once; both must end up usable.
	// (Losers of goose's own version-table race wait 1s before retrying.)
	for round := range 2 {
		path := filepath.Join(t.TempDir(), "trinity.db")
		const n = 4
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				s, err := sqlite.Open(context.Background(), path, slog.New(slog.DiscardHandler))
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
	}
}

func TestSQLiteOpenCreatesDirectories(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "trinity.db")
	mustOpen(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
}

func TestSQLiteOpenOddPath(t *testing.T) {
	// Characters that mean something in a file: URI must reach the file name literally.
	dir := t.TempDir()
	path := filepath.Join(dir, "odd ?name#50%.db")
	s := mustOpen(t, path)
	storetest.MustCreate(t, s, keyOnly(storetest.MustNewKey(t, "x")))
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != filepath.Base(path) && e.Name() != filepath.Base(path)+"-wal" && e.Name() != filepath.Base(path)+"-shm" {
			t.Errorf("unexpected file %q in %s", e.Name(), dir)
		}
	}
}

// keyOnly drops MustNewKey's plaintext.
func keyOnly(_ string, k keys.Key) keys.Key { return k }

func TestSQLiteOpenBadPath(t *testing.T) {
	for _, path := range []string{"", ":memory:"} {
		if s, err := sqlite.Open(context.Background(), path, slog.New(slog.DiscardHandler)); err == nil {
			s.Close()
			t.Errorf("Open(%q): want error", path)
		}
	}
	// A directory where the file should be.
	if s, err := sqlite.Open(context.Background(), t.TempDir(), slog.New(slog.DiscardHandler)); err == nil {
		s.Close()
		t.Errorf("Open(a directory): want error")
	}
}

// BenchmarkSQLiteUsagePaging: ns/op is one page of 1000 rows of a key with a month of
// per-minute rows (3 combinations a minute), among 4 other keys' rows.
func BenchmarkSQLiteUsagePaging(b *testing.B) {
	storetest.BenchUsagePaging(b, mustOpen(b, filepath.Join(b.TempDir(), "trinity.db")), 3)
}

// BenchmarkSQLiteWriteUsage: ns/op is one flush of 5000 records.
func BenchmarkSQLiteWriteUsage(b *testing.B) {
	for _, insert := range []bool{true, false} {
		b.Run(map[bool]string{true: "insert", false: "update"}[insert], func(b *testing.B) {
			storetest.BenchWriteUsage(b, mustOpen(b, filepath.Join(b.TempDir(), "trinity.db")), 5000, insert)
		})
	}
}
