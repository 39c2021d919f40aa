//go:build !race

package keys

import "testing"

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
