package okx

import (
	"os"
	"testing"

	"github.com/trinityprice/trinity/internal/price"
)

func FuzzHandle(f *testing.F) {
	for _, name := range frameFiles(f) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"arg":{"channel":"tickers"},"data":[{"instId":"ETH-USDT","last":"1e-13","bidPx":"-0","askPx":"9.2e6","ts":"999999999999999"}]}`))
	syms := []string{"BTC-USDT", "ETH-USDT", "SHIB-USDT"}
	s := newSession(syms)
	f.Fuzz(func(t *testing.T, frame []byte) {
		rec := &recorder{t: t, want: syms}
		// One session across inputs, as on a live connection: state must never go bad.
		_, _ = s.Handle(frame, 1, rec)
		for _, tk := range rec.ticks {
			if tk.Last < 0 || tk.Bid < 0 || tk.Ask < 0 || tk.ExchangeTime < 0 {
				t.Fatalf("negative value in %+v", tk)
			}
		}
		var tk Protocol
		var got price.Tick
		_ = tk.ParseTicker("BTC-USDT", frame, &got)
	})
}
