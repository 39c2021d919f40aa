package gemini

import (
	"os"
	"testing"

	"github.com/trinityprice/trinity/internal/price"
)

func BenchmarkHandle(b *testing.B) {
	for _, name := range []string{"book_ticker", "trade", "book_ticker_upper_symbol"} {
		b.Run(name, func(b *testing.B) {
			frame, err := os.ReadFile("testdata/frames/" + name + ".json")
			if err != nil {
				b.Fatal(err)
			}
			s := Protocol{}.NewSession(testSymbols)
			sink := &nopSink{}
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := s.Handle(frame, 1, sink); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
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
