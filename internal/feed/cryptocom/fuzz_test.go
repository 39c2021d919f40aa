package cryptocom

import (
	"bytes"
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
	f.Add([]byte(`{"method":"subscribe","result":{"channel":"ticker","instrument_name":"ETH_USDT","data":[{"a":"1e3","b":"-0","k":"9.2e6","t":-5}]}}`))
	f.Add([]byte(`{"id":-0,"method":"public/heartbeat"}`))
	syms := []string{"BTC_USD", "ETH_USDT", "SHIB_USD"}
	s := newSession(syms)
	f.Fuzz(func(t *testing.T, frame []byte) {
		rec := &recorder{t: t, want: syms}
		// One session across inputs, as on a live connection: state must never go bad.
		reply, _ := s.Handle(frame, 1, rec)
		for _, tk := range rec.ticks {
			if tk.Last < 0 || tk.Bid < 0 || tk.Ask < 0 || tk.ExchangeTime < 0 {
				t.Fatalf("negative value in %+v", tk)
			}
		}
		if reply != nil && (!bytes.HasPrefix(reply, []byte(`{"id":`)) || !bytes.HasSuffix(reply, []byte(`,"method":"public/respond-heartbeat"}`))) {
			t.Fatalf("reply %s", reply)
		}
	})
}
