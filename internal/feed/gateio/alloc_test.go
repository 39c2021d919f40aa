//go:build !race

package gateio

import (
	"os"
	"testing"
)

func TestHandleAllocs(t *testing.T) {
	for _, name := range []string{"book_ticker", "book_ticker_lower_pair", "book_ticker_no_t", "tickers", "trades", "trades_number_create_time_ms", "trades_batch", "subscribe_ack", "subscribe_ack_with_id", "pong", "upgrade", "order_book_update"} {
		frame, err := os.ReadFile("testdata/frames/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		s := newSession(testSymbols, testNow)
		s.Subscribe()
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
