package kraken

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed/feedtest"
)

func FuzzHandle(f *testing.F) {
	feedtest.AddFrames(f, frames)
	f.Add([]byte(`{"channel":"ticker","data":[{"symbol":"ETH/USDT","bid":1e-13,"ask":9.2e6,"last":-0}]}`))
	syms := []string{"BTC/USD", "ETH/USDT", "SHIB/USD"}
	s := newSession(syms)
	f.Fuzz(func(t *testing.T, frame []byte) {
		feedtest.CheckFuzz(t, s, syms, frame)
	})
}
