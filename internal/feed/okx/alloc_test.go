//go:build !race

package okx

import (
	"os"
	"testing"
)

func TestHandleAllocs(t *testing.T) {
	for _, name := range []string{"ticker.json", "ticker_multi.json", "ticker_empty_bid_ask.json", "ticker_precision.json", "subscribe_ack.json", "pong.txt"} {
		frame, err := os.ReadFile("testdata/frames/" + name)
		if err != nil {
			t.Fatal(err)
		}
		s := Protocol{}.NewSession(testSymbols)
		sink := &nopSink{}
		if n := testing.AllocsPerRun(1000, func() {
			if _, err := s.Handle(frame, 1, sink); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("Handle(%s): %v allocs per frame, want 0", name, n)
		}
	}
}
