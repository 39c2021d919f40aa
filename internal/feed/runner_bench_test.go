package feed

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkRunnerFrames measures the whole read path per frame: the websocket library, the
// reused read buffer, counting, the session and the sink, against a loopback server that
// writes pre-built frames. allocs/op includes the server's writes (same process).
func BenchmarkRunnerFrames(b *testing.B) {
	frames := make([][]byte, 64)
	for i := range frames {
		frames[i] = []byte("tick AAA " + strconv.Itoa(100+i))
	}
	start := make(chan int, 1)
	fs := newFakeServer(b, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		total := <-start
		bg := context.Background()
		for i := 0; i < total; i++ {
			if err := c.Write(bg, websocket.MessageText, frames[i%len(frames)]); err != nil {
				return
			}
		}
		<-ctx.Done()
	})
	sink := &lastSink{}
	r := startRunner(b, RunnerConfig{Protocol: testProto{}, URL: fs.url, Symbols: []string{"AAA"}, Sink: sink})
	for r.Status().ConnectionsUp == 0 {
		time.Sleep(time.Millisecond)
	}
	base := r.Status().Messages
	b.ReportAllocs()
	b.ResetTimer()
	start <- b.N
	deadline := time.Now().Add(time.Minute)
	for r.Status().Messages < base+uint64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d frames arrived", r.Status().Messages-base, b.N)
		}
		time.Sleep(50 * time.Microsecond)
	}
}
