//go:build !race

package cryptocom

import (
	"os"
	"testing"
)

func TestHandleAllocs(t *testing.T) {
	for _, name := range []string{"ticker_spot", "ticker_reference", "ticker_multi", "ticker_string_time", "heartbeat", "subscribe_ack", "trade"} {
		frame, err := os.ReadFile("testdata/frames/" + name + ".json")
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
