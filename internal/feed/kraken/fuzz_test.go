package kraken

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
	f.Add([]byte(`{"channel":"ticker","data":[{"symbol":"ETH/USDT","bid":1e-13,"ask":9.2e6,"last":-0}]}`))
	syms := []string{"BTC/USD", "ETH/USDT", "SHIB/USD"}
	s := newSession(syms)
	f.Fuzz(func(t *testing.T, frame []byte) {
		rec := &recorder{t: t, want: syms}
		_, _ = s.Handle(frame, 1, rec)
		for _, tk := range rec.ticks {
			if tk.Last < 0 || tk.Bid < 0 || tk.Ask < 0 {
				t.Fatalf("negative price in %+v", tk)
			}
		}
	})
}
