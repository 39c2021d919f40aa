package sim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/bybit"
	"github.com/trinityprice/trinity/internal/feed/okx"
	"github.com/trinityprice/trinity/internal/price"
)

// End-to-end tests of the OKX and Bybit adapters against their simulated venues: the shared
// scenarios of e2eharness_test.go, and the venues' keep-alive rule.

const okxBybitE2EUniverse = `{"assets":{
	"BTC":  {"okx":"BTC-USDT", "bybit":"BTCUSDT"},
	"ETH":  {"okx":"ETH-USDC", "bybit":"ETHUSDC"},
	"SOL":  {"okx":"SOL-USDT", "bybit":"SOLUSDT"},
	"SHIB": {"okx":"SHIB-USDT","bybit":"SHIBUSDT"},
	"USDC": {"okx":"USDC-USDT","bybit":"USDCUSDT"}
}}`

// keepAliveTimeout is the venues' client timeout in these tests; the runner pings every
// 100 ms, so a healthy connection is never closed for it.
const keepAliveTimeout = 500 * time.Millisecond

// okxBybitCase is the shared scenarios' case for ex (OKX or Bybit), whose venue's keep-alive
// timeout is cut to keepAliveTimeout.
func okxBybitCase(ex price.Exchange, proto feed.Protocol, nope string) e2eCase {
	return e2eCase{
		ex: ex, proto: proto, universe: okxBybitE2EUniverse, clientIdleTimeout: keepAliveTimeout,
		nope: nope, malformedText: "malformed", restTime: restTimeRecent,
		quotesExtra: func(t *testing.T, e *env) {
			// Longer than the venue's keep-alive timeout: the adapter's pings keep the
			// connection.
			time.Sleep(keepAliveTimeout + 200*time.Millisecond)
			e.matches(t)
		},
	}
}

func okxBybitCases() []e2eCase {
	return []e2eCase{okxBybitCase(price.OKX, okx.Protocol{}, "NOPE-USDT"), okxBybitCase(price.Bybit, bybit.Protocol{}, "NOPEUSDT")}
}

func TestOKXBybitE2E(t *testing.T) {
	for _, c := range okxBybitCases() {
		t.Run(c.ex.String(), c.run)
	}
}

// noPing wraps a protocol so that its sessions have no application-level ping: the runner
// then sends WebSocket ping control frames, which neither exchange counts as keep-alive.
type noPing struct{ feed.Protocol }

func (p noPing) NewSession(symbols []string) feed.Session {
	return noPingSession{p.Protocol.NewSession(symbols)}
}

type noPingSession struct{ feed.Session }

func (noPingSession) Ping() []byte { return nil }

// TestOKXBybitE2EKeepAliveRequired shows that the venues enforce the keep-alive rule the
// adapters follow: the same adapter without its application-level ping (WebSocket pings
// only) is disconnected by the venue after the timeout, over and over, although data flows
// all the time.
func TestOKXBybitE2EKeepAliveRequired(t *testing.T) {
	for _, c := range okxBybitCases() {
		t.Run(c.ex.String(), func(t *testing.T) {
			c.proto = noPing{c.proto}
			e := c.start(t, nil)
			e.flowing(t, uint64(len(e.syms)))
			start := time.Now()
			waitFor(t, "the venue to drop the connection", 3*time.Second, func() bool { return e.runner.Status().Reconnects >= 1 })
			if d := time.Since(start); d < keepAliveTimeout/2 {
				t.Fatalf("dropped after %v, before the %v keep-alive timeout", d, keepAliveTimeout)
			}
			st := e.runner.Status()
			if strings.Contains(st.LastError, "idle timeout") {
				t.Fatalf("Status() = %+v: the runner dropped the connection, not the venue", st)
			}
			if c.ex == price.OKX && !strings.Contains(st.LastError, "4004") {
				t.Fatalf("LastError = %q, want OKX's close code 4004", st.LastError)
			}
		})
	}
}
