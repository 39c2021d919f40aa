//go:build !race

package keys

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

func TestLookupAllocs(t *testing.T) {
	src := &fakeSource{}
	plain, k := mustNewKey(t, "a")
	src.add(k)
	tab := mustLoadedTable(t, src, discard())
	found := []byte(plain)
	unknown := []byte("tb_live_0000000000000000000000000000000000000000000")
	f := func(name string, fn func()) {
		t.Helper()
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
	f("Lookup found", func() {
		if _, ok := tab.Lookup(found); !ok {
			t.Fatal("miss")
		}
	})
	f("Lookup unknown", func() {
		if _, ok := tab.Lookup(unknown); ok {
			t.Fatal("hit")
		}
	})
	f("HashOf", func() { _ = HashOf(found) })
}

func TestLookupCachedAllocs(t *testing.T) {
	plain, k, _ := New(TierFree, "a", 0, time.Now())
	tab := NewTable(&fakeCacheSource{keys: []Key{k}, version: 1}, slog.New(slog.DiscardHandler))
	if err := tab.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := NewCache()
	p := []byte(plain)
	if n := testing.AllocsPerRun(1000, func() { tab.LookupCached(c, p) }); n != 0 {
		t.Fatalf("LookupCached: %v allocs", n)
	}
}

func BenchmarkLookupCached(b *testing.B) {
	plain, k, _ := New(TierFree, "a", 0, time.Now())
	tab := NewTable(&fakeCacheSource{keys: []Key{k}, version: 1}, slog.New(slog.DiscardHandler))
	tab.Load(context.Background())
	c := NewCache()
	p := []byte(plain)
	b.ReportAllocs()
	for b.Loop() {
		tab.LookupCached(c, p)
	}
}
