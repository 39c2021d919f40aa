package keys

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

func TestLookupCached(t *testing.T) {
	plain, k, err := New(TierFree, "a", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	plain2, k2, _ := New(TierPro, "b", 0, time.Now())
	src := &fakeCacheSource{keys: []Key{k, k2}, version: 1}
	tab := NewTable(src, slog.New(slog.DiscardHandler))
	if err := tab.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := NewCache()
	for i := 0; i < 3; i++ { // miss, then hits
		if got, ok := tab.LookupCached(c, []byte(plain)); !ok || got.ID != k.ID || got.Revoked {
			t.Fatalf("lookup %d: %v %v", i, got, ok)
		}
		if got, ok := tab.LookupCached(c, []byte(plain2)); !ok || got.ID != k2.ID {
			t.Fatalf("lookup2 %d: %v %v", i, got, ok)
		}
	}
	// A key differing in one byte is not served from the cache.
	wrong := []byte(plain)
	wrong[len(wrong)-1] ^= 1
	if _, ok := tab.LookupCached(c, wrong); ok {
		t.Fatal("a wrong key was accepted")
	}
	// A revocation reloads the table: the cached entry must not be served.
	k.Revoked = true
	src.keys, src.version = []Key{k, k2}, 2
	if err := tab.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, ok := tab.LookupCached(c, []byte(plain)); !ok || !got.Revoked {
		t.Fatalf("after revocation: %+v %v", got, ok)
	}
	if _, ok := tab.LookupCached(c, []byte("short")); ok {
		t.Fatal("unknown short key found")
	}
}

type fakeCacheSource struct {
	keys    []Key
	version int64
}

func (f *fakeCacheSource) Keys(context.Context) ([]Key, error)        { return f.keys, nil }
func (f *fakeCacheSource) KeysVersion(context.Context) (int64, error) { return f.version, nil }
