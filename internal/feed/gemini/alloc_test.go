//go:build !race

package gemini

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
)

func TestHandleAllocs(t *testing.T) {
	feedtest.ZeroAllocsPerFrame(t, func() feed.Session {
		s := Protocol{}.NewSession(testSymbols)
		s.Subscribe()
		return s
	}, frames,
		"book_ticker", "book_ticker_sdk_fields", "book_ticker_upper_symbol", "book_ticker_number_prices", "trade", "trade_ns_upper_symbol", "combined_stream", "depth_update", "response_ok", "response_ping")
}
