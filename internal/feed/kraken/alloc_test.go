//go:build !race

package kraken

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
)

func TestHandleAllocs(t *testing.T) {
	feedtest.ZeroAllocsPerFrame(t, func() feed.Session { return Protocol{}.NewSession(testSymbols) }, frames,
		"ticker_snapshot", "ticker_precision_in_range", "heartbeat", "status", "subscribe_ack", "pong")
}
