package gateio

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/trinityprice/trinity/internal/price"
)

func FuzzHandle(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "frames", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"time_ms":1e30,"channel":"spot.book_ticker","event":"update","result":{"t":-1,"s":"btc_usdt","b":"1e3","a":"9.2e6"}}`))
	f.Add([]byte(`{"id":1,"channel":"spot.book_ticker","event":"subscribe","error":"unknown currency pair BTC_USDT ETH_USDT"}`))
	syms := []string{"BTC_USDT", "eth_usdt", "GT_USDT"}
	s := newSession(syms, testNow)
	s.Subscribe()
	f.Fuzz(func(t *testing.T, frame []byte) {
		rec := &recorder{t: t, want: syms}
		// One session across inputs, as on a live connection: state must never go bad.
		_, _ = s.Handle(frame, 1, rec)
		for _, tk := range rec.ticks {
			if tk.Last < 0 || tk.Bid < 0 || tk.Ask < 0 || tk.ExchangeTime < 0 {
				t.Fatalf("negative value in %+v", tk)
			}
		}
		// The REST parser must not panic either.
		var tk price.Tick
		_ = Protocol{}.ParseTicker("BTC_USDT", frame, &tk)
	})
}
