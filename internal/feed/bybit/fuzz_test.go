package bybit

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
	f.Add([]byte(`{"topic":"orderbook.1.ETHUSDT","type":"delta","ts":9223372036854775807,"data":{"b":[["1e-13","1"],["-0","0"]],"a":[["9.2e6","0."]]}}`))
	f.Add([]byte(`{"retCode":0,"result":{"list":[{"symbol":"BTCUSDT","lastPrice":"1","bid1Price":"-1"}]},"time":-5}`))
	syms := []string{"BTCUSDT", "ETHUSDT", "SHIBUSDT"}
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
		var tk price.Tick
		if err := (Protocol{}).ParseTicker("BTCUSDT", frame, &tk); err == nil && (tk.Last < 0 || tk.Bid < 0 || tk.Ask < 0 || tk.ExchangeTime < 0) {
			t.Fatalf("ParseTicker: negative value in %+v", tk)
		}
	})
}
