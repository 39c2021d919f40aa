package kraken

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
)

func BenchmarkHandle(b *testing.B) {
	feedtest.BenchFrames(b, func() feed.Session { return Protocol{}.NewSession(testSymbols) }, frames, "ticker_snapshot", "ticker_precision_in_range", "heartbeat")
}
