package coinbase

import (
	"os"
	"path/filepath"
	"testing"
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
	f.Add([]byte(`{"channel":"ticker","events":[{"tickers":[{"product_id":"ETH-USD","price":"1e3","best_bid":"-0","best_ask":"9.2e6"}]}]}`))
	syms := []string{"BTC-USD", "ETH-USDC", "SOL-USD"}
	s := newSession(syms)
	f.Fuzz(func(t *testing.T, frame []byte) {
		rec := &recorder{t: t, want: syms}
		// One session across inputs, as on a live connection: state must never go bad.
		_, _ = s.Handle(frame, 1, rec)
		for _, tk := range rec.ticks {
			if tk.Last < 0 || tk.Bid < 0 || tk.Ask < 0 {
				t.Fatalf("negative price in %+v", tk)
			}
		}
	})
}
