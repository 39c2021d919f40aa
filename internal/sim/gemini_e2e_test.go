package sim_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/gemini"
	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
)

// End-to-end: a feed.Runner with the Gemini adapter (and, in gateio_e2e_test.go, the Gate
// adapter) against the simulator.

// ggE2EUniverse is the market map of the Gemini and Gate end-to-end tests.
const ggE2EUniverse = `{"assets":{
	"BTC":  {"gemini":"btcusd",  "gateio":"BTC_USDT"},
	"ETH":  {"gemini":"ethusd",  "gateio":"ETH_USDC"},
	"SOL":  {"gemini":"solusd",  "gateio":"SOL_USDT"},
	"SHIB": {"gemini":"shibusd", "gateio":"SHIB_USDT"},
	"USDC": {"gateio":"USDC_USDT"},
	"ZORK": {"gemini":"zorkusd", "gateio":"ZORK_USDT"}
}}`

// startGGE2E runs a simulator of u (ggE2EUniverse if nil) moving every 20 ms with 50 ms
// heartbeats and a runner for ex's proto against it (idle timeout 400 ms, pings every 100 ms).
func startGGE2E(t *testing.T, ex price.Exchange, proto feed.Protocol, u *price.Universe, extraSymbols ...string) *env {
	t.Helper()
	if u == nil {
		var err error
		if u, err = price.ParseUniverse([]byte(ggE2EUniverse)); err != nil {
			t.Fatal(err)
		}
	}
	s := sim.New(u, sim.Options{Seed: 1, TickInterval: 20 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond})
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

// ggE2E runs the scenarios of the existing adapters' end-to-end tests for ex.
// refusals is how many errors one unknown symbol causes (one per subscribe message that
// names it).
func ggE2E(t *testing.T, ex price.Exchange, proto feed.Protocol, nope string, refusals uint64) {
	t.Run("QuotesMatch", func(t *testing.T) {
		e := startGGE2E(t, ex, proto, nil)
		e.flowing(t, uint64(5*len(e.syms)))
		e.matches(t)
		e.flowing(t, uint64(2*len(e.syms)))
		e.matches(t)
		// Paused markets send no data: the pings' answers keep the connection from idling.
		e.sim.Pause()
		time.Sleep(time.Second)
		e.sim.Resume()
		st := e.runner.Status()
		if !st.Connected || st.DecodeErrors != 0 || st.Reconnects != 0 {
			t.Fatalf("Status() = %+v", st)
		}
	})
	t.Run("UnknownSymbolRefused", func(t *testing.T) {
		e := startGGE2E(t, ex, proto, nil, nope)
		e.flowing(t, uint64(3*len(e.syms)))
		e.matches(t)
		st := e.runner.Status()
		if st.DecodeErrors != refusals || !strings.Contains(st.LastError, nope) || st.Reconnects != 0 {
			t.Fatalf("Status() = %+v, want %d counted refusals naming %s", st, refusals, nope)
		}
	})
	t.Run("Disconnect", func(t *testing.T) {
		e := startGGE2E(t, ex, proto, nil)
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
	t.Run("Stall", func(t *testing.T) {
		e := startGGE2E(t, ex, proto, nil)
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
	t.Run("Malformed", func(t *testing.T) {
		e := startGGE2E(t, ex, proto, nil)
		e.flowing(t, uint64(len(e.syms)))
		if n := e.sim.SendMalformed(ex); n != 1 {
			t.Fatalf("SendMalformed reached %d connections", n)
		}
		waitFor(t, "the decode error", 3*time.Second, func() bool { return e.runner.Status().DecodeErrors == 1 })
		e.flowing(t, uint64(2*len(e.syms)))
		e.matches(t)
		if st := e.runner.Status(); st.Reconnects != 0 || !st.Connected || !strings.Contains(st.LastError, "malformed JSON") {
			t.Fatalf("Status() = %+v, want the feed to continue on the same connection", st)
		}
	})
	t.Run("DefaultUniverse", func(t *testing.T) {
		u, err := price.DefaultUniverse()
		if err != nil {
			t.Fatal(err)
		}
		e := startGGE2E(t, ex, proto, u)
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
		perConn := proto.Limits().SymbolsPerConn
		want := (len(e.syms) + perConn - 1) / perConn
		if st.Connections != want || !st.Connected || st.DecodeErrors != 0 || st.Symbols != len(e.syms) {
			t.Fatalf("Status() = %+v, want %d connections", st, want)
		}
		if n := e.sim.Connections(ex); n != want {
			t.Fatalf("simulator sees %d connections, want %d", n, want)
		}
	})
	t.Run("REST", func(t *testing.T) {
		e := startGGE2E(t, ex, proto, nil)
		rt := proto.(feed.RESTTicker)
		e.sim.Pause()
		defer e.sim.Resume()
		for _, sym := range e.syms {
			code, body := ggRESTGet(t, e.sim.RESTURL(ex)+rt.TickerPath(sym))
			var tk price.Tick
			if err := rt.ParseTicker(sym, body, &tk); code != 200 || err != nil {
				t.Fatalf("%s: HTTP %d %s: %v", sym, code, body, err)
			}
			last, bid, ask, _ := e.sim.Quote(ex, sym)
			if tk.Exchange != ex || tk.Symbol != sym || tk.Last != last || tk.Bid != bid || tk.Ask != ask {
				t.Fatalf("%s: ParseTicker gave %+v, want %v/%v/%v", sym, tk, last, bid, ask)
			}
			if tk.ExchangeTime != 0 && (tk.ExchangeTime > time.Now().UnixNano() || tk.ExchangeTime < time.Now().Add(-time.Minute).UnixNano()) {
				t.Fatalf("%s: exchange time %v", sym, time.Unix(0, tk.ExchangeTime))
			}
		}
		code, body := ggRESTGet(t, e.sim.RESTURL(ex)+rt.TickerPath(nope))
		var tk price.Tick
		if err := rt.ParseTicker(nope, body, &tk); code != 400 || err == nil {
			t.Fatalf("%s: HTTP %d %s: ParseTicker err %v, want a refusal", nope, code, body, err)
		}
	})
}

func ggRESTGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestGeminiE2E(t *testing.T) {
	// One SUBSCRIBE names both streams of the unknown symbol: one refusal.
	ggE2E(t, price.Gemini, gemini.Protocol{}, "nopeusd", 1)
}
