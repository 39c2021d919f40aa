//go:build !race

package price

import "testing"

func TestLookupAllocs(t *testing.T) {
	b, now := testBook(t)
	tick(b, *now, Coinbase, "BTC-USD", "100", "", "")
	name := []byte("btc")
	if n := testing.AllocsPerRun(1000, func() {
		if _, a := b.Lookup(name); a == nil {
			t.Fatal("no answer")
		}
	}); n != 0 {
		t.Fatalf("Lookup: %v allocs, want 0", n)
	}
}
