package sim_test

import (
	"testing"

	"github.com/trinityprice/trinity/internal/feed/coinbase"
	"github.com/trinityprice/trinity/internal/feed/kraken"
	"github.com/trinityprice/trinity/internal/price"
)

// End-to-end: the Coinbase and Kraken adapters against the simulator, through the shared
// scenarios of e2eharness_test.go.

const universe = `{"assets":{
	"BTC":  {"coinbase":"BTC-USD",  "kraken":"BTC/USD"},
	"ETH":  {"coinbase":"ETH-USDC", "kraken":"ETH/USDT"},
	"SOL":  {"coinbase":"SOL-USD",  "kraken":"SOL/USD"},
	"SHIB": {"coinbase":"SHIB-USD", "kraken":"SHIB/USD"},
	"USDT": {"kraken":"USDT/USD"},
	"ZORK": {"coinbase":"ZORK-USDT","kraken":"ZORK/USDC"}
}}`

var (
	coinbaseE2E = e2eCase{ex: price.Coinbase, proto: coinbase.Protocol{}, universe: universe, nope: "NOPE-USD", restTime: restTimeRecent}
	// Kraken's REST ticker has no exchange time.
	krakenE2E = e2eCase{ex: price.Kraken, proto: kraken.Protocol{}, universe: universe, nope: "NOPE/USD", restTime: restTimeNone}
)

func TestE2E(t *testing.T) {
	for _, c := range []e2eCase{coinbaseE2E, krakenE2E} {
		t.Run(c.ex.String(), c.run)
	}
}
