//go:build !race

package bybit

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
)

func TestHandleAllocs(t *testing.T) {
	feedtest.ZeroAllocsPerFrame(t, func() feed.Session { return Protocol{}.NewSession(testSymbols) }, frames,
		"ticker", "ticker_array", "orderbook_snapshot", "orderbook_delta_both", "orderbook_large_size", "subscribe_ack", "pong")
}
