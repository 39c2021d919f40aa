package gemini

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed/feedtest"
	"github.com/trinityprice/trinity/internal/price"
)

func FuzzHandle(f *testing.F) {
	feedtest.AddFrames(f, frames)
	f.Add([]byte(`{"E":1e30,"s":"BTCUSD","b":"1e3","a":"9.2e6","c":"-0"}`))
	f.Add([]byte(`{"id":"1","status":400,"error":{"code":-1121,"msg":"Invalid symbol: btcusd ethusd"}}`))
	syms := []string{"btcusd", "ETHUSD", "shibusd"}
	s := newSession(syms)
	s.Subscribe()
	f.Fuzz(func(t *testing.T, frame []byte) {
		// One session across inputs, as on a live connection: state must never go bad.
		feedtest.CheckFuzz(t, s, syms, frame)
		// The REST parser must not panic either.
		var tk price.Tick
		_ = Protocol{}.ParseTicker("btcusd", frame, &tk)
	})
}
