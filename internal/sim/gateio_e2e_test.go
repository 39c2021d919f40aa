package sim_test

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed/gateio"
	"github.com/trinityprice/trinity/internal/price"
)

func TestGateioE2E(t *testing.T) {
	// The unknown pair is refused once per channel (spot.book_ticker and spot.tickers), and
	// each refusal is answered by subscribing the other pairs again.
	ggCase(price.Gateio, gateio.Protocol{}, "NOPE_USDT", 2).run(t)
}
