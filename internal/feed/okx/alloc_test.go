//go:build !race

package okx

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
)

func TestHandleAllocs(t *testing.T) {
	feedtest.ZeroAllocsPerFrame(t, func() feed.Session { return Protocol{}.NewSession(testSymbols) }, frames,
		"ticker.json", "ticker_multi.json", "ticker_empty_bid_ask.json", "ticker_precision.json", "subscribe_ack.json", "pong.txt")
}
