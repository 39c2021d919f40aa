package coinbase

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/price"
)

// BenchmarkTickToServe measures DESIGN §5's tick-to-serve latency in process: from a ticker
// frame read off the socket to the new answer bytes being visible to readers (decode, book
// update, median and outliers over seven sources, both answers built, atomic publish). It
// reports the p50 and p99 of the per-frame latency; the target is p99 < 100 µs.
func BenchmarkTickToServe(b *testing.B) {
	frame, err := os.ReadFile("testdata/frames/ticker_snapshot.json")
	if err != nil {
		b.Fatal(err)
	}
	u, err := price.ParseUniverse([]byte(`{"assets":{"BTC":{"coinbase":"BTC-USD","kraken":"BTC/USD","gemini":"btcusd",
		"gateio":"BTC_USDT","okx":"BTC-USDT","cryptocom":"BTC_USD","bybit":"BTCUSDT"}}}`))
	if err != nil {
		b.Fatal(err)
	}
	book := price.NewBook(price.BookConfig{Universe: u, Params: price.DefaultParams()})
	now := time.Now().UnixNano()
	for _, m := range u.Assets[0].Markets {
		book.Apply(&price.Tick{Exchange: m.Exchange, Symbol: m.Symbol, Last: price.MustParse("21932.9"),
			Bid: price.MustParse("21932.8"), Ask: price.MustParse("21933"), Received: now})
	}
	s := Protocol{}.NewSession([]string{"BTC-USD"})
	lat := make([]time.Duration, 0, 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		before := book.Answer(0)
		t0 := time.Now()
		if _, err := s.Handle(frame, t0.UnixNano(), book); err != nil {
			b.Fatal(err)
		}
		if book.Answer(0) == before {
			b.Fatal("no new answer published")
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	}
}
