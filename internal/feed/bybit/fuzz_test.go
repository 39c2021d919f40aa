package bybit

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed/feedtest"
	"github.com/trinityprice/trinity/internal/price"
)

func FuzzHandle(f *testing.F) {
	feedtest.AddFrames(f, frames)
	f.Add([]byte(`{"topic":"orderbook.1.ETHUSDT","type":"delta","ts":9223372036854775807,"data":{"b":[["1e-13","1"],["-0","0"]],"a":[["9.2e6","0."]]}}`))
	f.Add([]byte(`{"retCode":0,"result":{"list":[{"symbol":"BTCUSDT","lastPrice":"1","bid1Price":"-1"}]},"time":-5}`))
	syms := []string{"BTCUSDT", "ETHUSDT", "SHIBUSDT"}
	s := newSession(syms)
	f.Fuzz(func(t *testing.T, frame []byte) {
		// One session across inputs, as on a live connection: state must never go bad.
		feedtest.CheckFuzz(t, s, syms, frame)
		var tk price.Tick
		if err := (Protocol{}).ParseTicker("BTCUSDT", frame, &tk); err == nil && (tk.Last < 0 || tk.Bid < 0 || tk.Ask < 0 || tk.ExchangeTime < 0) {
			t.Fatalf("ParseTicker: negative value in %+v", tk)
		}
	})
}
