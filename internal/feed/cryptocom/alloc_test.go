//go:build !race

package cryptocom

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
)

func TestHandleAllocs(t *testing.T) {
	feedtest.ZeroAllocsPerFrame(t, func() feed.Session { return Protocol{}.NewSession(testSymbols) }, frames,
		"ticker_spot", "ticker_reference", "ticker_multi", "ticker_string_time", "heartbeat", "subscribe_ack", "trade")
}
