package okx

import (
	"os"
	"testing"
)

func BenchmarkHandle(b *testing.B) {
	for _, name := range []string{"ticker.json", "ticker_multi.json", "pong.txt"} {
		b.Run(name, func(b *testing.B) {
			frame, err := os.ReadFile("testdata/frames/" + name)
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
