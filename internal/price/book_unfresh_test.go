package price

import (
	"slices"
	"testing"
	"time"
)

func TestUnfresh(t *testing.T) {
	b, now := testBook(t)
	names := func(idx []int) []string {
		var out []string
		for _, i := range idx {
			if b.Name(i) != b.Universe().Assets[i].Name {
				t.Fatalf("index %d: book asset %s, universe asset %s", i, b.Name(i), b.Universe().Assets[i].Name)
			}
			out = append(out, b.Name(i))
		}
		return out
	}
	// Nothing priced yet: every asset is unfresh, in universe order.
	if got := names(b.Unfresh(*now, nil)); !slices.Equal(got, []string{"BTC", "ETH", "SOL", "USDT"}) {
		t.Fatalf("empty book: %v", got)
	}

	tick(b, *now, Coinbase, "BTC-USD", "100", "", "")
	tick(b, *now-int64(6*time.Second), Kraken, "ETH/USD", "3000", "", "")
	// A tick without a usable price (crossed book, no last) does not make SOL fresh.
	tick(b, *now, OKX, "SOL-USDT", "", "201", "200")
	if got := names(b.Unfresh(*now, nil)); !slices.Equal(got, []string{"SOL", "USDT"}) {
		t.Fatalf("after ticks: %v", got)
	}
	// Looking 5 s ahead: ETH's only source (6 s old) expires at 10 s.
	dst := make([]int, 0, 8)
	got := b.Unfresh(*now+int64(5*time.Second), dst)
	if !slices.Equal(names(got), []string{"ETH", "SOL", "USDT"}) {
		t.Fatalf("5 s ahead: %v", names(got))
	}
	if &got[0] != &dst[:1][0] {
		t.Error("Unfresh did not append to dst")
	}
	// The freshness parameter is the book's current one.
	p := b.Params()
	p.Freshness = time.Second
	b.SetParams(p)
	*now += int64(2 * time.Second)
	if got := names(b.Unfresh(*now, nil)); !slices.Equal(got, []string{"BTC", "ETH", "SOL", "USDT"}) {
		t.Fatalf("1 s freshness, 2 s later: %v", got)
	}
	// A fresh source on any one exchange is enough.
	tick(b, *now, Kraken, "BTC/USD", "101", "", "")
	if got := names(b.Unfresh(*now, nil)); !slices.Equal(got, []string{"ETH", "SOL", "USDT"}) {
		t.Fatalf("kraken fresh: %v", got)
	}
}

func TestUnfreshAllocs(t *testing.T) {
	b, now := testBook(t)
	dst := make([]int, 0, 8)
	if n := testing.AllocsPerRun(100, func() { dst = b.Unfresh(*now, dst[:0]) }); n != 0 {
		t.Errorf("Unfresh allocates %v times per call with room in dst", n)
	}
}
