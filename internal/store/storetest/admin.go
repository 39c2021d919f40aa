package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/trinityprice/trinity/internal/store"
)

// mustAdminKeyHash returns s.AdminKeyHash.
func mustAdminKeyHash(tb testing.TB, s store.Store) (hash [32]byte, ok bool) {
	tb.Helper()
	hash, ok, err := s.AdminKeyHash(context.Background())
	if err != nil {
		tb.Fatalf("AdminKeyHash: %v", err)
	}
	return hash, ok
}

// wantAdminKeyHash checks that s stores want as the admin key hash.
func wantAdminKeyHash(tb testing.TB, s store.Store, want [32]byte) {
	tb.Helper()
	if got, ok := mustAdminKeyHash(tb, s); !ok || got != want {
		tb.Fatalf("AdminKeyHash = %x, %v; want %x, true", got, ok, want)
	}
}

func testAdminKeyAbsent(t *testing.T, s store.Store) {
	if got, ok := mustAdminKeyHash(t, s); ok || got != ([32]byte{}) {
		t.Fatalf("AdminKeyHash on a new store = %x, %v; want zero, false", got, ok)
	}
}

func testAdminKeyInit(t *testing.T, s store.Store) {
	ctx := context.Background()
	first, second := sha256.Sum256([]byte("first")), sha256.Sum256([]byte("second"))
	stored, created, err := s.InitAdminKeyHash(ctx, first)
	if err != nil || !created || stored != first {
		t.Fatalf("first InitAdminKeyHash = %x, %v, %v; want %x, true, nil", stored, created, err, first)
	}
	wantAdminKeyHash(t, s, first)
	stored, created, err = s.InitAdminKeyHash(ctx, second)
	if err != nil || created || stored != first {
		t.Fatalf("second InitAdminKeyHash = %x, %v, %v; want the first, %x, false, nil", stored, created, err, first)
	}
	stored, created, err = s.InitAdminKeyHash(ctx, first) // the stored hash again: still not created
	if err != nil || created || stored != first {
		t.Fatalf("InitAdminKeyHash of the stored hash = %x, %v, %v; want %x, false, nil", stored, created, err, first)
	}
	wantAdminKeyHash(t, s, first)
}

func testAdminKeyInitConcurrent(t *testing.T, s store.Store) {
	const n = 8
	stores := make([]store.Store, n)
	for i := range stores {
		stores[i] = s
	}
	RaceAdminKeyInit(t, stores...)
}

// RaceAdminKeyInit calls InitAdminKeyHash at once on each of stores (which share one
// database, on which no admin key hash is stored), each call with a different hash, as
// instances starting together do. It checks that exactly one call created its hash, that
// every call returned that hash, and that it is stored.
func RaceAdminKeyInit(tb testing.TB, stores ...store.Store) {
	tb.Helper()
	type result struct {
		hash, stored [32]byte
		created      bool
		err          error
	}
	results := make([]result, len(stores))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, s := range stores {
		wg.Go(func() {
			r := &results[i]
			r.hash = sha256.Sum256(fmt.Appendf(nil, "instance %d", i))
			<-start
			r.stored, r.created, r.err = s.InitAdminKeyHash(context.Background(), r.hash)
		})
	}
	close(start)
	wg.Wait()
	var winner *result
	for i := range results {
		r := &results[i]
		if r.err != nil {
			tb.Fatalf("concurrent InitAdminKeyHash %d: %v", i, r.err)
		}
		if r.created {
			if winner != nil {
				tb.Fatalf("concurrent InitAdminKeyHash: calls with %x and %x both created", winner.hash, r.hash)
			}
			winner = r
		}
	}
	if winner == nil {
		tb.Fatalf("concurrent InitAdminKeyHash: no call created")
	}
	for i, r := range results {
		if r.stored != winner.hash {
			tb.Errorf("concurrent InitAdminKeyHash %d returned %x, want the winner's %x", i, r.stored, winner.hash)
		}
	}
	for i, s := range stores {
		if got, ok := mustAdminKeyHash(tb, s); !ok || got != winner.hash {
			tb.Errorf("store %d: AdminKeyHash = %x, %v; want %x, true", i, got, ok, winner.hash)
		}
	}
}

func testAdminKeySet(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b, c := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b")), sha256.Sum256([]byte("c"))
	if err := s.SetAdminKeyHash(ctx, a); err != nil { // none stored yet
		t.Fatalf("SetAdminKeyHash on a new store: %v", err)
	}
	wantAdminKeyHash(t, s, a)
	if err := s.SetAdminKeyHash(ctx, b); err != nil {
		t.Fatalf("SetAdminKeyHash: %v", err)
	}
	wantAdminKeyHash(t, s, b)
	stored, created, err := s.InitAdminKeyHash(ctx, c)
	if err != nil || created || stored != b {
		t.Fatalf("InitAdminKeyHash after Set = %x, %v, %v; want %x, false, nil", stored, created, err, b)
	}
	wantAdminKeyHash(t, s, b)
}

func testAdminKeyZero(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, _, err := s.InitAdminKeyHash(ctx, [32]byte{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("InitAdminKeyHash(zero): err = %v, want ErrInvalid", err)
	}
	if err := s.SetAdminKeyHash(ctx, [32]byte{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SetAdminKeyHash(zero): err = %v, want ErrInvalid", err)
	}
	testAdminKeyAbsent(t, s)
}
