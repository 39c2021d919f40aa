//go:build !race

package coinbase

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
)

func TestHandleAllocs(t *testing.T) {
	feedtest.ZeroAllocsPerFrame(t, func() feed.Session { return Protocol{}.NewSession(testSymbols) }, frames,
		"ticker_snapshot", "ticker_update_multi", "heartbeats_number", "heartbeats_string", "subscriptions")
}
