package gateio

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed/feedtest"
	"github.com/trinityprice/trinity/internal/price"
)

func FuzzHandle(f *testing.F) {
	feedtest.AddFrames(f, frames)
	f.Add([]byte(`{"time_ms":1e30,"channel":"spot.book_ticker","event":"update","result":{"t":-1,"s":"btc_usdt","b":"1e3","a":"9.2e6"}}`))
	f.Add([]byte(`{"id":1,"channel":"spot.book_ticker","event":"subscribe","error":"unknown currency pair BTC_USDT ETH_USDT"}`))
	syms := []string{"BTC_USDT", "eth_usdt", "GT_USDT"}
	s := newSession(syms, testNow)
	s.Subscribe()
	f.Fuzz(func(t *testing.T, frame []byte) {
		// One session across inputs, as on a live connection: state must never go bad.
		feedtest.CheckFuzz(t, s, syms, frame)
		// The REST parser must not panic either.
		var tk price.Tick
		_ = Protocol{}.ParseTicker("BTC_USDT", frame, &tk)
	})
}
