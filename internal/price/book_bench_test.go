package price

import (
	"testing"
)

func BenchmarkLookup(b *testing.B) {
	bk, now := testBook(&testing.T{})
	tick(bk, *now, Coinbase, "BTC-USD", "100", "", "")
	name := []byte("btc")
	b.ReportAllocs()
	for b.Loop() {
		bk.Lookup(name)
	}
}

// BenchmarkApply measures a tick's way through the book: aggregate, build both answers,
// publish. This is the in-process part of tick-to-serve latency.
func BenchmarkApply(b *testing.B) {
	bk, now := testBook(&testing.T{})
	for _, s := range []struct {
		ex  Exchange
		sym string
	}{{Coinbase, "BTC-USD"}, {Kraken, "BTC/USD"}, {Gemini, "btcusd"}, {OKX, "BTC-USDT"}} {
		tick(bk, *now, s.ex, s.sym, "100000", "99999.5", "100000.5")
	}
	t := Tick{Exchange: Bybit, Symbol: "BTCUSDT", Bid: MustParse("100000.1"), Ask: MustParse("100000.3"), Received: *now}
	b.ReportAllocs()
	for b.Loop() {
		t.Bid++
		bk.Apply(&t)
	}
}
