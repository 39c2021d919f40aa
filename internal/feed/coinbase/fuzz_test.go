package coinbase

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed/feedtest"
)

func FuzzHandle(f *testing.F) {
	feedtest.AddFrames(f, frames)
	f.Add([]byte(`{"channel":"ticker","events":[{"tickers":[{"product_id":"ETH-USD","price":"1e3","best_bid":"-0","best_ask":"9.2e6"}]}]}`))
	syms := []string{"BTC-USD", "ETH-USDC", "SOL-USD"}
	s := newSession(syms)
	f.Fuzz(func(t *testing.T, frame []byte) {
		// One session across inputs, as on a live connection: state must never go bad.
		feedtest.CheckFuzz(t, s, syms, frame)
	})
}
