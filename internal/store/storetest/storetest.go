// Package storetest is the conformance suite every store.Store backend must pass. Backend
// tests call Run with a function that opens a fresh, empty store.
package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/store"
)

// Run runs the conformance suite, one subtest per behaviour. open must return a new, empty
// store for each call and close it when the test ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Empty", testEmpty},
		{"CreateList", testCreateList},
		{"CreateInvalid", testCreateInvalid},
		{"CreateDuplicate", testCreateDuplicate},
		{"RevokeByID", testRevokeByID},
		{"RevokeByPrefix", testRevokeByPrefix},
		{"RevokeByPlaintext", testRevokeByPlaintext},
		{"RevokeNotFound", testRevokeNotFound},
		{"RevokeAmbiguous", testRevokeAmbiguous},
		{"RevokeTwice", testRevokeTwice},
		{"KeysVersion", testKeysVersion},
		{"KeysIncludesRevoked", testKeysIncludesRevoked},
		{"ConcurrentCreate", testConcurrentCreate},
		{"Table", testTable},
		{"Ping", testPing},
		{"WriteUsageAdds", testWriteUsageAdds},
		{"WriteUsageInvalid", testWriteUsageInvalid},
		{"WriteUsageConcurrent", testWriteUsageConcurrent},
		{"MonthUsage", testMonthUsage},
		{"UsagePaging", testUsagePaging},
		{"UsageMonth", testUsageMonth},
		{"DailyUsage", testDailyUsage},
		{"LogReport", testLogReport},
		{"LogReportConcurrent", testLogReportConcurrent},
		{"PruneUsage", testPruneUsage},
		{"DefaultTiers", testDefaultTiers},
		{"PutTier", testPutTier},
		{"SetKeyTier", testSetKeyTier},
		{"SetKeyQuota", testSetKeyQuota},
		{"AdminKeyAbsent", testAdminKeyAbsent},
		{"AdminKeyInit", testAdminKeyInit},
		{"AdminKeyInitConcurrent", testAdminKeyInitConcurrent},
		{"AdminKeySet", testAdminKeySet},
		{"AdminKeyZero", testAdminKeyZero},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// MustNewKey returns a new key of tier free named name, and its plaintext.
func MustNewKey(tb testing.TB, name string) (plaintext string, k keys.Key) {
	tb.Helper()
	plaintext, k, err := keys.New(keys.TierFree, name, 0, time.Now())
	if err != nil {
		tb.Fatalf("new key: %v", err)
	}
	return plaintext, k
}

// MustCreate stores k in s.
func MustCreate(tb testing.TB, s store.Store, k keys.Key) {
	tb.Helper()
	if err := s.CreateKey(context.Background(), k); err != nil {
		tb.Fatalf("CreateKey(%s): %v", k.ID, err)
	}
}

// MustVersion returns s's keys version.
func MustVersion(tb testing.TB, s store.Store) int64 {
	tb.Helper()
	v, err := s.KeysVersion(context.Background())
	if err != nil {
		tb.Fatalf("KeysVersion: %v", err)
	}
	return v
}

// MustList returns s.ListKeys.
func MustList(tb testing.TB, s store.Store) []keys.Key {
	tb.Helper()
	ks, err := s.ListKeys(context.Background())
	if err != nil {
		tb.Fatalf("ListKeys: %v", err)
	}
	return ks
}

// mustKeys returns s.Keys sorted by ID.
func mustKeys(tb testing.TB, s store.Store) []keys.Key {
	tb.Helper()
	ks, err := s.Keys(context.Background())
	if err != nil {
		tb.Fatalf("Keys: %v", err)
	}
	slices.SortFunc(ks, func(a, b keys.Key) int { return cmp.Compare(a.ID, b.ID) })
	return ks
}

// KeyDiff describes how got differs from want, or returns "" if they are equal (CreatedAt
// compared as an instant).
func KeyDiff(got, want keys.Key) string {
	if got.CreatedAt.Equal(want.CreatedAt) {
		got.CreatedAt = want.CreatedAt
	}
	if got == want {
		return ""
	}
	return fmt.Sprintf("got  %+v\nwant %+v", got, want)
}

// mustRevoke revokes idOrPrefix and checks the answer is want, revoked.
func mustRevoke(tb testing.TB, s store.Store, idOrPrefix string, want keys.Key) {
	tb.Helper()
	got, err := s.RevokeKey(context.Background(), idOrPrefix)
	if err != nil {
		tb.Fatalf("RevokeKey(%q): %v", idOrPrefix, err)
	}
	want.Revoked = true
	if d := KeyDiff(got, want); d != "" {
		tb.Fatalf("RevokeKey(%q):\n%s", idOrPrefix, d)
	}
}

// wantRevoked checks which of s's keys are revoked: exactly the IDs in revoked.
func wantRevoked(tb testing.TB, s store.Store, revoked ...string) {
	tb.Helper()
	for _, k := range MustList(tb, s) {
		if want := slices.Contains(revoked, k.ID); k.Revoked != want {
			tb.Errorf("key %s: Revoked = %v, want %v", k.ID, k.Revoked, want)
		}
	}
}

// withPrefix returns a new key whose Prefix is prefix (not derived from its secret: stores
// must not care).
func withPrefix(tb testing.TB, prefix string) keys.Key {
	tb.Helper()
	_, k := MustNewKey(tb, prefix)
	k.Prefix = prefix
	return k
}

func testEmpty(t *testing.T, s store.Store) {
	if ks := MustList(t, s); len(ks) != 0 {
		t.Errorf("ListKeys on a new store = %v, want none", ks)
	}
	if ks := mustKeys(t, s); len(ks) != 0 {
		t.Errorf("Keys on a new store = %v, want none", ks)
	}
	MustVersion(t, s)
}

func testCreateList(t *testing.T, s store.Store) {
	base := time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)
	var want []keys.Key
	for i, tier := range keys.Tiers() {
		_, k := MustNewKey(t, fmt.Sprintf("key %d ✓", i))
		k.Tier = tier
		k.Quota = int64(i) * 1000
		k.CreatedAt = base.Add(time.Duration(i) * time.Microsecond)
		want = append(want, k)
	}
	// A later key with the same CreatedAt as the first: ListKeys orders it by ID.
	_, same := MustNewKey(t, "same time")
	same.CreatedAt = base
	want = append(want, same)

	for _, i := range []int{3, 0, 5, 1, 6, 4, 2} { // not in time order
		MustCreate(t, s, want[i])
	}
	slices.SortStableFunc(want, func(a, b keys.Key) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	got := MustList(t, s)
	if len(got) != len(want) {
		t.Fatalf("ListKeys returned %d keys, want %d", len(got), len(want))
	}
	for i := range want {
		if d := KeyDiff(got[i], want[i]); d != "" {
			t.Errorf("ListKeys()[%d]:\n%s", i, d)
		}
	}

	slices.SortFunc(want, func(a, b keys.Key) int { return cmp.Compare(a.ID, b.ID) })
	got = mustKeys(t, s)
	if len(got) != len(want) {
		t.Fatalf("Keys returned %d keys, want %d", len(got), len(want))
	}
	for i := range want {
		if d := KeyDiff(got[i], want[i]); d != "" {
			t.Errorf("Keys() (sorted by ID) [%d]:\n%s", i, d)
		}
	}
}

func testCreateInvalid(t *testing.T, s store.Store) {
	v0 := MustVersion(t, s)
	f := func(name string, mutate func(k *keys.Key)) {
		t.Helper()
		_, k := MustNewKey(t, name)
		mutate(&k)
		if err := s.CreateKey(context.Background(), k); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateKey with %s: err = %v, want ErrInvalid", name, err)
		}
	}
	f("no id", func(k *keys.Key) { k.ID = "" })
	f("no prefix", func(k *keys.Key) { k.Prefix = "" })
	f("unknown tier", func(k *keys.Key) { k.Tier = "gold" })
	f("negative quota", func(k *keys.Key) { k.Quota = -1 })
	f("no creation time", func(k *keys.Key) { k.CreatedAt = time.Time{} })
	f("zero hash", func(k *keys.Key) { k.Hash = [32]byte{} })
	f("revoked", func(k *keys.Key) { k.Revoked = true })
	if ks := MustList(t, s); len(ks) != 0 {
		t.Errorf("invalid keys were stored: %v", ks)
	}
	if v := MustVersion(t, s); v != v0 {
		t.Errorf("KeysVersion changed from %d to %d without a change", v0, v)
	}
}

func testCreateDuplicate(t *testing.T, s store.Store) {
	_, k := MustNewKey(t, "original")
	MustCreate(t, s, k)
	v0 := MustVersion(t, s)

	_, sameID := MustNewKey(t, "same id")
	sameID.ID = k.ID
	if err := s.CreateKey(context.Background(), sameID); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("CreateKey with a taken ID: err = %v, want ErrDuplicate", err)
	}
	_, sameHash := MustNewKey(t, "same hash")
	sameHash.Hash = k.Hash
	if err := s.CreateKey(context.Background(), sameHash); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("CreateKey with a taken hash: err = %v, want ErrDuplicate", err)
	}
	if ks := MustList(t, s); len(ks) != 1 || KeyDiff(ks[0], k) != "" {
		t.Errorf("after duplicates, ListKeys = %+v, want only %+v", ks, k)
	}
	if v := MustVersion(t, s); v != v0 {
		t.Errorf("KeysVersion changed from %d to %d on failed creates", v0, v)
	}
}

func testRevokeByID(t *testing.T, s store.Store) {
	_, a := MustNewKey(t, "a")
	_, b := MustNewKey(t, "b")
	MustCreate(t, s, a)
	MustCreate(t, s, b)
	mustRevoke(t, s, a.ID, a)
	wantRevoked(t, s, a.ID)
}

func testRevokeByPrefix(t *testing.T, s store.Store) {
	a := withPrefix(t, "tb_live_AAAA")
	b := withPrefix(t, "tb_live_BBBB")
	c := withPrefix(t, "tb_live_bbbb") // differs from b only in case: matching is case-sensitive
	for _, k := range []keys.Key{a, b, c} {
		MustCreate(t, s, k)
	}
	mustRevoke(t, s, "tb_live_AAAA", a) // the whole Prefix
	wantRevoked(t, s, a.ID)
	mustRevoke(t, s, "tb_live_BB", b) // a shorter, still unique, prefix
	wantRevoked(t, s, a.ID, b.ID)
	mustRevoke(t, s, "tb_live_b", c)
	wantRevoked(t, s, a.ID, b.ID, c.ID)
}

func testRevokeByPlaintext(t *testing.T, s store.Store) {
	plain, k := MustNewKey(t, "leaked")
	_, other := MustNewKey(t, "other")
	MustCreate(t, s, k)
	MustCreate(t, s, other)
	mustRevoke(t, s, plain, k)
	wantRevoked(t, s, k.ID)
}

func testRevokeNotFound(t *testing.T, s store.Store) {
	plain, k := MustNewKey(t, "a")
	k.Prefix = "tb_live_AAAA"
	MustCreate(t, s, k)
	otherPlain, _ := MustNewKey(t, "never stored")
	v0 := MustVersion(t, s)
	for _, in := range []string{
		"",                   // names nothing, though it prefixes everything
		"key_000000000000",   // no such ID
		k.ID[:len(k.ID)-1],   // IDs must match exactly
		k.ID + "0",           // ...
		"tb_live_AAAB",       // no such prefix
		"tb_live_AAAA0",      // longer than the Prefix
		"tb_live_aaaa",       // prefixes are case-sensitive
		"tb_live_%",          // no LIKE wildcards
		"tb\\live\\",         // ...
		otherPlain,           // a plaintext that was never stored
		plain[:len(plain)-1], // not the whole plaintext
	} {
		if got, err := s.RevokeKey(context.Background(), in); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeKey(%q) = %+v, %v; want ErrNotFound", in, got, err)
		}
	}
	wantRevoked(t, s)
	if v := MustVersion(t, s); v != v0 {
		t.Errorf("KeysVersion changed from %d to %d on failed revokes", v0, v)
	}
}

func testRevokeAmbiguous(t *testing.T, s store.Store) {
	a := withPrefix(t, "tb_live_AbCd")
	b := withPrefix(t, "tb_live_AbCe")
	c := withPrefix(t, "tb_live_AbCe") // Prefixes are not unique
	for _, k := range []keys.Key{a, b, c} {
		MustCreate(t, s, k)
	}
	v0 := MustVersion(t, s)
	for _, in := range []string{"tb_live_AbC", "tb_live_", "t", "tb_live_AbCe"} {
		if got, err := s.RevokeKey(context.Background(), in); !errors.Is(err, store.ErrAmbiguous) {
			t.Errorf("RevokeKey(%q) = %+v, %v; want ErrAmbiguous", in, got, err)
		}
	}
	wantRevoked(t, s)
	if v := MustVersion(t, s); v != v0 {
		t.Errorf("KeysVersion changed from %d to %d on ambiguous revokes", v0, v)
	}
	mustRevoke(t, s, "tb_live_AbCd", a) // unique again
	mustRevoke(t, s, b.ID, b)           // the ID always works
	wantRevoked(t, s, a.ID, b.ID)
}

func testRevokeTwice(t *testing.T, s store.Store) {
	_, k := MustNewKey(t, "a")
	MustCreate(t, s, k)
	mustRevoke(t, s, k.ID, k)
	v := MustVersion(t, s)
	mustRevoke(t, s, k.ID, k) // no error, still revoked
	if v2 := MustVersion(t, s); v2 != v {
		t.Errorf("revoking a revoked key changed KeysVersion from %d to %d", v, v2)
	}
	wantRevoked(t, s, k.ID)
}

func testKeysVersion(t *testing.T, s store.Store) {
	last := MustVersion(t, s)
	step := func(what string) {
		t.Helper()
		v := MustVersion(t, s)
		if v <= last {
			t.Fatalf("after %s: KeysVersion = %d, want > %d", what, v, last)
		}
		last = v
	}
	_, a := MustNewKey(t, "a")
	MustCreate(t, s, a)
	step("create a")
	_, b := MustNewKey(t, "b")
	MustCreate(t, s, b)
	step("create b")
	mustRevoke(t, s, a.ID, a)
	step("revoke a")
	mustRevoke(t, s, b.Prefix, b)
	step("revoke b by prefix")
}

func testKeysIncludesRevoked(t *testing.T, s store.Store) {
	_, a := MustNewKey(t, "a")
	_, b := MustNewKey(t, "b")
	MustCreate(t, s, a)
	MustCreate(t, s, b)
	mustRevoke(t, s, b.ID, b)
	b.Revoked = true
	want := []keys.Key{a, b}
	slices.SortFunc(want, func(x, y keys.Key) int { return cmp.Compare(x.ID, y.ID) })
	got := mustKeys(t, s)
	if len(got) != 2 {
		t.Fatalf("Keys returned %d keys, want 2 (revoked included)", len(got))
	}
	for i := range want {
		if d := KeyDiff(got[i], want[i]); d != "" {
			t.Errorf("Keys() (sorted by ID) [%d]:\n%s", i, d)
		}
	}
}

func testConcurrentCreate(t *testing.T, s store.Store) {
	const n = 20
	v0 := MustVersion(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		_, k := MustNewKey(t, fmt.Sprint(i))
		wg.Go(func() { errs <- s.CreateKey(context.Background(), k) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent CreateKey: %v", err)
		}
	}
	if ks := MustList(t, s); len(ks) != n {
		t.Errorf("ListKeys after %d concurrent creates: %d keys", n, len(ks))
	}
	if v := MustVersion(t, s); v < v0+n {
		t.Errorf("KeysVersion after %d creates = %d, want at least %d", n, v, v0+n)
	}
}

func testTable(t *testing.T, s store.Store) {
	plainA, a := MustNewKey(t, "a")
	plainB, b := MustNewKey(t, "b")
	MustCreate(t, s, a)
	tab := keys.NewTable(s, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := tab.Load(ctx); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if k, ok := tab.Lookup([]byte(plainA)); !ok || k.ID != a.ID || k.Revoked {
		t.Fatalf("Lookup(a) = %+v, %v", k, ok)
	}
	done := make(chan error, 1)
	go func() { done <- tab.Run(ctx, 10*time.Millisecond) }()

	MustCreate(t, s, b)
	mustRevoke(t, s, a.ID, a)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ka, _ := tab.Lookup([]byte(plainA))
		_, okB := tab.Lookup([]byte(plainB))
		if ka.Revoked && okB {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("table did not pick up the changes within 5s: a revoked %v, b present %v", ka.Revoked, okB)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
