package coinbase

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
)

func BenchmarkHandle(b *testing.B) {
	feedtest.BenchFrames(b, func() feed.Session { return Protocol{}.NewSession(testSymbols) }, frames, "ticker_snapshot", "ticker_update_multi", "heartbeats_number")
}
