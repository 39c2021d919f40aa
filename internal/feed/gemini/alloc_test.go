//go:build !race

package gemini

import (
	"os"
	"testing"
)

func TestHandleAllocs(t *testing.T) {
	for _, name := range []string{"book_ticker", "book_ticker_sdk_fields", "book_ticker_upper_symbol", "book_ticker_number_prices", "trade", "trade_ns_upper_symbol", "combined_stream", "depth_update", "response_ok", "response_ping"} {
		frame, err := os.ReadFile("testdata/frames/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		s := Protocol{}.NewSession(testSymbols)
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
