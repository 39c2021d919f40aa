package sim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/cryptocom"
	"github.com/trinityprice/trinity/internal/price"
)

// End-to-end: a feed.Runner with the Crypto.com adapter against the simulator.

// cdcUniverse has a market on each of the three REST-simulated exchanges for most assets
// (rest_test.go uses it too).
const cdcUniverse = `{"assets":{
	"BTC":  {"coinbase":"BTC-USD",  "kraken":"BTC/USD",   "cryptocom":"BTC_USD"},
	"ETH":  {"coinbase":"ETH-USDC", "kraken":"ETH/USDT",  "cryptocom":"ETH_USDT"},
	"SOL":  {"coinbase":"SOL-USD",  "kraken":"SOL/USD",   "cryptocom":"SOL_USD"},
	"SHIB": {"coinbase":"SHIB-USD", "kraken":"SHIB/USD",  "cryptocom":"SHIB_USD"},
	"DOGE": {"coinbase":"DOGE-USD", "kraken":"DOGE/USD",  "cryptocom":"DOGE_USD"},
	"USDT": {"kraken":"USDT/USD",   "cryptocom":"USDT_USD"},
	"ZORK": {"coinbase":"ZORK-USDT","kraken":"ZORK/USDC", "cryptocom":"ZORK_USDC"}
}}`

// e2eHeartbeatTimeout is the heartbeat deadline in these tests: short, so that a late answer
// would show, but longer than the adapter's 1 s subscribe delay, during which heartbeats
// wait unread.
const e2eHeartbeatTimeout = 1500 * time.Millisecond

// cdcDeafProto is the Crypto.com adapter with its heartbeat answers thrown away.
type cdcDeafProto struct{ cryptocom.Protocol }

func (p cdcDeafProto) NewSession(symbols []string) feed.Session {
	return cdcDeafSession{p.Protocol.NewSession(symbols)}
}

type cdcDeafSession struct{ feed.Session }

func (s cdcDeafSession) Handle(frame []byte, received int64, sink price.Sink) ([]byte, error) {
	_, err := s.Session.Handle(frame, received, sink)
	return nil, err
}

// cdcHastyProto is the Crypto.com adapter without its subscribe delay.
type cdcHastyProto struct{ cryptocom.Protocol }

func (p cdcHastyProto) Limits() feed.Limits {
	l := p.Protocol.Limits()
	l.SubscribeDelay = 0
	return l
}

// cryptocomE2E is the shared scenarios' case for Crypto.com, whose heartbeat deadline is cut
// to e2eHeartbeatTimeout.
var cryptocomE2E = e2eCase{
	ex: price.Cryptocom, proto: cryptocom.Protocol{}, universe: cdcUniverse, clientIdleTimeout: e2eHeartbeatTimeout,
	nope: "NOPE_USD", refusalText: "ticker.NOPE_USD", restTime: restTimeRecent,
	quotesExtra: func(t *testing.T, e *env) {
		// The subscribe delay kept the subscription out of the connection's first second.
		if d := time.Duration(e.first.first.Load() - e.started.UnixNano()); d < cryptocom.SubscribeDelay {
			t.Fatalf("first tick %v after the runner started, want the %v subscribe delay first", d, cryptocom.SubscribeDelay)
		}
		// The connection outlives several heartbeat deadlines.
		time.Sleep(2 * e2eHeartbeatTimeout)
		e.flowing(t, uint64(2*len(e.syms)))
		e.matches(t)
	},
}

// startCDC starts the runner of cryptocomE2E with proto (a Crypto.com protocol) instead.
func startCDC(t *testing.T, proto feed.Protocol) *env {
	t.Helper()
	c := cryptocomE2E
	c.proto = proto
	return c.start(t, nil)
}

// TestCryptocomE2E runs the shared scenarios: among them, quotes match after the walk
// pauses, the subscribe delay keeps the subscription out of the connection's first calendar
// second, heartbeats are answered in time (the connection outlives several heartbeat
// deadlines), and a new connection honours the subscribe delay too.
func TestCryptocomE2E(t *testing.T) { cryptocomE2E.run(t) }

// TestCryptocomE2ENoSubscribeDelay shows what the delay is for: without it the subscription
// lands in the connection's first calendar second and is refused with TOO_MANY_REQUESTS.
func TestCryptocomE2ENoSubscribeDelay(t *testing.T) {
	if ns := time.Now().Nanosecond(); ns > 300_000_000 { // connect early in a second
		time.Sleep(time.Duration(1_000_000_000-ns) + time.Millisecond)
	}
	e := startCDC(t, cdcHastyProto{})
	waitFor(t, "the refusal", 3*time.Second, func() bool {
		return strings.Contains(e.runner.Status().LastError, "TOO_MANY_REQUESTS")
	})
	if st := e.runner.Status(); st.Ticks != 0 || !strings.Contains(st.LastError, "42901") {
		t.Fatalf("Status() = %+v, want no ticks and code 42901", st)
	}
}

// TestCryptocomE2EHeartbeatIgnored: a session that does not answer heartbeats is closed by
// the exchange, and the runner reconnects.
func TestCryptocomE2EHeartbeatIgnored(t *testing.T) {
	e := startCDC(t, cdcDeafProto{})
	e.flowing(t, uint64(len(e.syms)))
	waitFor(t, "the exchange to drop the deaf connection", 5*time.Second, func() bool {
		st := e.runner.Status()
		return st.Reconnects >= 1 && strings.Contains(st.LastError, "respond-heartbeat")
	})
	e.flowing(t, uint64(len(e.syms))) // the runner reconnected and subscribed again
}
