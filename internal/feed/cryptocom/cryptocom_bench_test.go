package cryptocom

import (
	"os"
	"testing"
)

func BenchmarkHandle(b *testing.B) {
	for _, name := range []string{"ticker_spot", "ticker_multi", "heartbeat"} {
		b.Run(name, func(b *testing.B) {
			frame, err := os.ReadFile("testdata/frames/" + name + ".json")
			if err != nil {
				b.Fatal(err)
			}
			s := Protocol{}.NewSession(testSymbols)
			sink := &nopSink{}
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := s.Handle(frame, 1, sink); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
