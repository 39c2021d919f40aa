package gateio

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
	"github.com/trinityprice/trinity/internal/price"
)

func BenchmarkHandle(b *testing.B) {
	feedtest.BenchFrames(b, func() feed.Session { return newSession(testSymbols, testNow) }, frames, "book_ticker", "tickers", "trades")
}

func BenchmarkParseTicker(b *testing.B) {
	body := []byte(`[{"currency_pair": "BTC_USDT", "last": "15743.4", "lowest_ask": "15744.4", "lowest_size": "0.5", "highest_bid": "15743.5", "highest_size": "0.2", "change_percentage": "-1.82", "change_utc0": "-1.5", "change_utc8": "-1.7", "base_volume": "9110.47", "quote_volume": "145082083.25", "high_24h": "16280.9", "low_24h": "15468.5"}]`)
	var p Protocol
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var t price.Tick
		if err := p.ParseTicker("BTC_USDT", body, &t); err != nil {
			b.Fatal(err)
		}
	}
}
