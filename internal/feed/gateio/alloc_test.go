//go:build !race

package gateio

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
)

func TestHandleAllocs(t *testing.T) {
	feedtest.ZeroAllocsPerFrame(t, func() feed.Session {
		s := newSession(testSymbols, testNow)
		s.Subscribe()
		return s
	}, frames,
		"book_ticker", "book_ticker_lower_pair", "book_ticker_no_t", "tickers", "trades", "trades_number_create_time_ms", "trades_batch", "subscribe_ack", "subscribe_ack_with_id", "pong", "upgrade", "order_book_update")
}
