package gemini

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
	f.Add([]byte(`{"E":1e30,"s":"BTCUSD","b":"1e3","a":"9.2e6","c":"-0"}`))
	f.Add([]byte(`{"id":"1","status":400,"error":{"code":-1121,"msg":"Invalid symbol: btcusd ethusd"}}`))
	syms := []string{"btcusd", "ETHUSD", "shibusd"}
	s := newSession(syms)
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
		_ = Protocol{}.ParseTicker("btcusd", frame, &tk)
	})
}
