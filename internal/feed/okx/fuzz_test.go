package okx

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed/feedtest"
	"github.com/trinityprice/trinity/internal/price"
)

func FuzzHandle(f *testing.F) {
	feedtest.AddFrames(f, frames)
	f.Add([]byte(`{"arg":{"channel":"tickers"},"data":[{"instId":"ETH-USDT","last":"1e-13","bidPx":"-0","askPx":"9.2e6","ts":"999999999999999"}]}`))
	syms := []string{"BTC-USDT", "ETH-USDT", "SHIB-USDT"}
	s := newSession(syms)
	f.Fuzz(func(t *testing.T, frame []byte) {
		// One session across inputs, as on a live connection: state must never go bad.
		feedtest.CheckFuzz(t, s, syms, frame)
		var tk Protocol
		var got price.Tick
		_ = tk.ParseTicker("BTC-USDT", frame, &got)
	})
}
