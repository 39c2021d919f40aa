//go:build !race

package feed

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestRunnerReadPathAllocs checks that reading, counting and decoding a frame allocates nothing
// in steady state (the read buffer is reused, the read context never arms a timer).
func TestRunnerReadPathAllocs(t *testing.T) {
	const frames = 20000
	frame := []byte("tick AAA 105944.2")
	start := make(chan struct{})
	fs := newFakeServer(t, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		<-start
		bg := context.Background()
		for range frames {
			if err := c.Write(bg, websocket.MessageText, frame); err != nil {
				return
			}
		}
		<-ctx.Done()
	})
	r := startRunner(t, RunnerConfig{Protocol: testProto{}, URL: fs.url, Symbols: []string{"AAA"}, Sink: &lastSink{}})
	waitFor(t, "connected", 3*time.Second, func() bool { return r.Status().Connected })
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	close(start)
	waitFor(t, "all frames", 30*time.Second, func() bool { return r.Status().Messages == frames })
	runtime.ReadMemStats(&after)
	// The whole process is measured (server writes, the polling loop, the runtime), so allow a
	// little noise: well under one allocation per 20 frames.
	per := float64(after.Mallocs-before.Mallocs) / frames
	t.Logf("%d frames, %d allocations in the process (%.4f per frame)", frames, after.Mallocs-before.Mallocs, per)
	if per > 0.05 {
		t.Fatalf("%.3f allocations per frame, want ~0", per)
	}
}
