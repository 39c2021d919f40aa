package gemini

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
	"github.com/trinityprice/trinity/internal/price"
)

func BenchmarkHandle(b *testing.B) {
	feedtest.BenchFrames(b, func() feed.Session { return Protocol{}.NewSession(testSymbols) }, frames, "book_ticker", "trade", "book_ticker_upper_symbol")
}

func BenchmarkParseTicker(b *testing.B) {
	body := []byte(`{"bid": "977.59", "ask": "977.35", "last": "977.65", "volume": {"BTC": "2210.505328803", "USD": "2135477.463379586263", "timestamp": 1483018200000}}`)
	var p Protocol
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var t price.Tick
		if err := p.ParseTicker("btcusd", body, &t); err != nil {
			b.Fatal(err)
		}
	}
}
