package sim_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/bybit"
	"github.com/trinityprice/trinity/internal/feed/okx"
	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
)

// End-to-end tests of the OKX and Bybit adapters against their simulated venues. They reuse
// book, env, waitFor, flowing and matches from e2e_test.go.

const okxBybitE2EUniverse = `{"assets":{
	"BTC":  {"okx":"BTC-USDT", "bybit":"BTCUSDT"},
	"ETH":  {"okx":"ETH-USDC", "bybit":"ETHUSDC"},
	"SOL":  {"okx":"SOL-USDT", "bybit":"SOLUSDT"},
	"SHIB": {"okx":"SHIB-USDT","bybit":"SHIBUSDT"},
	"USDC": {"okx":"USDC-USDT","bybit":"USDCUSDT"}
}}`

// okxBybitProtocols are the adapters under test, by exchange.
var okxBybitProtocols = map[price.Exchange]feed.Protocol{price.OKX: okx.Protocol{}, price.Bybit: bybit.Protocol{}}

func okxBybitExchanges() []price.Exchange { return []price.Exchange{price.OKX, price.Bybit} }

// keepAliveTimeout is the venues' client timeout in these tests; the runner pings every
// 100 ms, so a healthy connection is never closed for it.
const keepAliveTimeout = 500 * time.Millisecond

// startOKXBybitE2E runs a simulator moving every 20 ms and a runner with proto against ex's
// venue, whose keep-alive timeout is cut to keepAliveTimeout.
func startOKXBybitE2E(t *testing.T, ex price.Exchange, proto feed.Protocol, u *price.Universe, extraSymbols ...string) *env {
	t.Helper()
	if u == nil {
		var err error
		if u, err = price.ParseUniverse([]byte(okxBybitE2EUniverse)); err != nil {
			t.Fatal(err)
		}
	}
	s := sim.New(u, sim.Options{Seed: 1, TickInterval: 20 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond})
	if !s.SetClientIdleTimeout(ex, keepAliveTimeout) {
		t.Fatalf("SetClientIdleTimeout(%v) = false", ex)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() { simDone <- s.Run(ctx) }()
	e := &env{sim: s, book: &book{}, ex: ex, syms: u.Symbols(ex)}
	e.runner = feed.NewRunner(feed.RunnerConfig{
		Protocol: proto, URL: s.URL(ex), Symbols: append(append([]string{}, e.syms...), extraSymbols...), Sink: e.book,
		BackoffBase: 10 * time.Millisecond, BackoffCap: 100 * time.Millisecond, ConnectSpacing: time.Millisecond,
		Limits: feed.Limits{IdleTimeout: 400 * time.Millisecond, PingInterval: 100 * time.Millisecond},
	})
	runDone := make(chan error, 1)
	go func() { runDone <- e.runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for _, ch := range []chan error{runDone, simDone} {
			select {
			case err := <-ch:
				if err != nil {
					t.Error(err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return")
			}
		}
		s.Close()
	})
	return e
}

func TestOKXBybitE2EQuotesMatch(t *testing.T) {
	for _, ex := range okxBybitExchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			e := startOKXBybitE2E(t, ex, okxBybitProtocols[ex], nil)
			e.flowing(t, uint64(5*len(e.syms)))
			e.matches(t)
			e.flowing(t, uint64(2*len(e.syms)))
			e.matches(t)
			// Longer than the venue's keep-alive timeout: the adapter's pings keep the
			// connection.
			time.Sleep(keepAliveTimeout + 200*time.Millisecond)
			e.matches(t)
			st := e.runner.Status()
			if !st.Connected || st.DecodeErrors != 0 || st.Reconnects != 0 {
				t.Fatalf("Status() = %+v", st)
			}
		})
	}
}

func TestOKXBybitE2EUnknownSymbolRefused(t *testing.T) {
	for _, ex := range okxBybitExchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			nope := map[price.Exchange]string{price.OKX: "NOPE-USDT", price.Bybit: "NOPEUSDT"}[ex]
			e := startOKXBybitE2E(t, ex, okxBybitProtocols[ex], nil, nope)
			e.flowing(t, uint64(3*len(e.syms)))
			e.matches(t)
			st := e.runner.Status()
			if st.DecodeErrors != 1 || !strings.Contains(st.LastError, nope) || st.Reconnects != 0 {
				t.Fatalf("Status() = %+v, want one counted refusal naming %s", st, nope)
			}
		})
	}
}

func TestOKXBybitE2EDisconnect(t *testing.T) {
	for _, ex := range okxBybitExchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			e := startOKXBybitE2E(t, ex, okxBybitProtocols[ex], nil)
			e.flowing(t, uint64(len(e.syms)))
			if n := e.sim.Disconnect(ex); n != 1 {
				t.Fatalf("Disconnect dropped %d connections, want 1", n)
			}
			waitFor(t, "a reconnect", 3*time.Second, func() bool {
				st := e.runner.Status()
				return st.Reconnects == 1 && st.Connected
			})
			// Ticks flow again only if the new connection subscribed again.
			e.flowing(t, uint64(3*len(e.syms)))
			e.matches(t)
			if n := e.sim.Connections(ex); n != 1 {
				t.Fatalf("simulator sees %d connections, want 1", n)
			}
		})
	}
}

func TestOKXBybitE2EStall(t *testing.T) {
	for _, ex := range okxBybitExchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			e := startOKXBybitE2E(t, ex, okxBybitProtocols[ex], nil)
			e.flowing(t, uint64(len(e.syms)))
			e.sim.Stall(ex, 700*time.Millisecond) // longer than the 400 ms idle timeout
			waitFor(t, "an idle-timeout reconnect", 3*time.Second, func() bool {
				st := e.runner.Status()
				return st.Reconnects >= 1 && strings.Contains(st.LastError, "idle timeout")
			})
			e.flowing(t, uint64(3*len(e.syms)))
			waitFor(t, "connected", 3*time.Second, func() bool { return e.runner.Status().Connected })
			e.matches(t)
		})
	}
}

func TestOKXBybitE2EMalformed(t *testing.T) {
	for _, ex := range okxBybitExchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			e := startOKXBybitE2E(t, ex, okxBybitProtocols[ex], nil)
			e.flowing(t, uint64(len(e.syms)))
			if n := e.sim.SendMalformed(ex); n != 1 {
				t.Fatalf("SendMalformed reached %d connections", n)
			}
			waitFor(t, "the decode error", 3*time.Second, func() bool { return e.runner.Status().DecodeErrors == 1 })
			e.flowing(t, uint64(2*len(e.syms)))
			e.matches(t)
			if st := e.runner.Status(); st.Reconnects != 0 || !st.Connected || !strings.Contains(st.LastError, "malformed") {
				t.Fatalf("Status() = %+v, want the feed to continue on the same connection", st)
			}
		})
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
	for _, ex := range okxBybitExchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			e := startOKXBybitE2E(t, ex, noPing{okxBybitProtocols[ex]}, nil)
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
			if ex == price.OKX && !strings.Contains(st.LastError, "4004") {
				t.Fatalf("LastError = %q, want OKX's close code 4004", st.LastError)
			}
		})
	}
}

// TestOKXBybitE2EREST checks the adapters' REST ticker against the simulator's REST API: the
// parsed answer for every symbol equals the simulator's quote.
func TestOKXBybitE2EREST(t *testing.T) {
	u, err := price.ParseUniverse([]byte(okxBybitE2EUniverse))
	if err != nil {
		t.Fatal(err)
	}
	s := sim.New(u, sim.Options{Seed: 2})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range 3 {
		s.Step()
		for _, ex := range okxBybitExchanges() {
			rt, ok := okxBybitProtocols[ex].(feed.RESTTicker)
			if !ok {
				t.Fatalf("%v: no feed.RESTTicker", ex)
			}
			base := s.RESTURL(ex)
			if base == "" {
				t.Fatalf("RESTURL(%v) = \"\"", ex)
			}
			for _, sym := range append(u.Symbols(ex), map[price.Exchange]string{price.OKX: "NOPE-USDT", price.Bybit: "NOPEUSDT"}[ex]) {
				resp, err := http.Get(base + rt.TickerPath(sym))
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				var got price.Tick
				perr := rt.ParseTicker(sym, body, &got)
				last, bid, ask, known := s.Quote(ex, sym)
				if !known {
					if perr == nil {
						t.Fatalf("%v %s: ParseTicker accepted %s", ex, sym, body)
					}
					continue
				}
				if perr != nil {
					t.Fatalf("%v %s: %v (%s)", ex, sym, perr, body)
				}
				if got.Last != last || got.Bid != bid || got.Ask != ask || got.ExchangeTime == 0 {
					t.Fatalf("step %d %v %s: REST %v/%v/%v at %d, quote %v/%v/%v", i, ex, sym, got.Last, got.Bid, got.Ask, got.ExchangeTime, last, bid, ask)
				}
			}
		}
	}
}

// TestOKXBybitE2EDefaultUniverse runs the whole compiled-in asset map through both adapters:
// two connections per exchange (SymbolsPerConn 100) and, for Bybit, subscribe requests of 10
// args.
func TestOKXBybitE2EDefaultUniverse(t *testing.T) {
	u, err := price.DefaultUniverse()
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range okxBybitExchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			e := startOKXBybitE2E(t, ex, okxBybitProtocols[ex], u)
			waitFor(t, "a tick for every symbol", 10*time.Second, func() bool {
				for _, sym := range e.syms {
					if _, ok := e.book.get(sym); !ok {
						return false
					}
				}
				return true
			})
			e.matches(t)
			st := e.runner.Status()
			want := (len(e.syms) + 99) / 100
			if st.Connections != want || !st.Connected || st.DecodeErrors != 0 || st.Symbols != len(e.syms) {
				t.Fatalf("Status() = %+v, want %d connections", st, want)
			}
			if n := e.sim.Connections(ex); n != want {
				t.Fatalf("simulator sees %d connections, want %d", n, want)
			}
		})
	}
}
