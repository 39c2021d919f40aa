package sim_test

import (
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/gemini"
	"github.com/trinityprice/trinity/internal/price"
)

// End-to-end: a feed.Runner with the Gemini adapter (and, in gateio_e2e_test.go, the Gate
// adapter) against the simulator, through the shared scenarios of e2eharness_test.go.

// ggE2EUniverse is the market map of the Gemini and Gate end-to-end tests.
const ggE2EUniverse = `{"assets":{
	"BTC":  {"gemini":"btcusd",  "gateio":"BTC_USDT"},
	"ETH":  {"gemini":"ethusd",  "gateio":"ETH_USDC"},
	"SOL":  {"gemini":"solusd",  "gateio":"SOL_USDT"},
	"SHIB": {"gemini":"shibusd", "gateio":"SHIB_USDT"},
	"USDC": {"gateio":"USDC_USDT"},
	"ZORK": {"gemini":"zorkusd", "gateio":"ZORK_USDT"}
}}`

// ggCase is the shared scenarios' case for ex (Gemini or Gate). refusals is how many errors
// one unknown symbol causes (one per subscribe message that names it).
func ggCase(ex price.Exchange, proto feed.Protocol, nope string, refusals uint64) e2eCase {
	return e2eCase{
		ex: ex, proto: proto, universe: ggE2EUniverse, nope: nope, refusals: refusals,
		malformedText: "malformed JSON", restUnknownStatus: 400, restTime: restTimeOptional, restSetsIDs: true,
		quotesExtra: func(t *testing.T, e *env) {
			// Paused markets send no data: the pings' answers keep the connection from idling.
			e.sim.Pause()
			time.Sleep(time.Second)
			e.sim.Resume()
		},
	}
}

func TestGeminiE2E(t *testing.T) {
	// One SUBSCRIBE names both streams of the unknown symbol: one refusal.
	ggCase(price.Gemini, gemini.Protocol{}, "nopeusd", 1).run(t)
}
