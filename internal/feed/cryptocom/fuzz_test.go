package cryptocom

import (
	"bytes"
	"testing"

	"github.com/trinityprice/trinity/internal/feed/feedtest"
)

func FuzzHandle(f *testing.F) {
	feedtest.AddFrames(f, frames)
	f.Add([]byte(`{"method":"subscribe","result":{"channel":"ticker","instrument_name":"ETH_USDT","data":[{"a":"1e3","b":"-0","k":"9.2e6","t":-5}]}}`))
	f.Add([]byte(`{"id":-0,"method":"public/heartbeat"}`))
	syms := []string{"BTC_USD", "ETH_USDT", "SHIB_USD"}
	s := newSession(syms)
	f.Fuzz(func(t *testing.T, frame []byte) {
		// One session across inputs, as on a live connection: state must never go bad.
		reply := feedtest.CheckFuzz(t, s, syms, frame)
		if reply != nil && (!bytes.HasPrefix(reply, []byte(`{"id":`)) || !bytes.HasSuffix(reply, []byte(`,"method":"public/respond-heartbeat"}`))) {
			t.Fatalf("reply %s", reply)
		}
	})
}
