package sim_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/coinbase"
	"github.com/trinityprice/trinity/internal/feed/kraken"
	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
)

// End-to-end: a feed.Runner with the real adapters against the simulator.

const universe = `{"assets":{
	"BTC":  {"coinbase":"BTC-USD",  "kraken":"BTC/USD"},
	"ETH":  {"coinbase":"ETH-USDC", "kraken":"ETH/USDT"},
	"SOL":  {"coinbase":"SOL-USD",  "kraken":"SOL/USD"},
	"SHIB": {"coinbase":"SHIB-USD", "kraken":"SHIB/USD"},
	"USDT": {"kraken":"USDT/USD"},
	"ZORK": {"coinbase":"ZORK-USDT","kraken":"ZORK/USDC"}
}}`

// book is a sink that keeps the latest known values per symbol, as the price book would
// (zero fields leave the previous value).
type book struct {
	mu   sync.Mutex
	last map[string]price.Tick
}

func (b *book) Apply(t *price.Tick) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		b.last = map[string]price.Tick{}
	}
	cur := b.last[t.Symbol]
	cur.Exchange, cur.Symbol, cur.ExchangeTime, cur.Received = t.Exchange, t.Symbol, t.ExchangeTime, t.Received
	if t.Last != 0 {
		cur.Last = t.Last
	}
	if t.Bid != 0 {
		cur.Bid = t.Bid
	}
	if t.Ask != 0 {
		cur.Ask = t.Ask
	}
	b.last[t.Symbol] = cur
}

func (b *book) get(sym string) (price.Tick, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.last[sym]
	return t, ok
}

type env struct {
	sim    *sim.Server
	runner *feed.Runner
	book   *book
	ex     price.Exchange
	syms   []string
}

// start runs a simulator of the test universe moving every 20 ms and a runner for ex against
// it.
func start(t *testing.T, ex price.Exchange, extraSymbols ...string) *env {
	t.Helper()
	u, err := price.ParseUniverse([]byte(universe))
	if err != nil {
		t.Fatal(err)
	}
	return startUniverse(t, ex, u, extraSymbols...)
}

func startUniverse(t *testing.T, ex price.Exchange, u *price.Universe, extraSymbols ...string) *env {
	t.Helper()
	s := sim.New(u, sim.Options{Seed: 1, TickInterval: 20 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() { simDone <- s.Run(ctx) }()

	var proto feed.Protocol
	switch ex {
	case price.Coinbase:
		proto = coinbase.Protocol{}
	case price.Kraken:
		proto = kraken.Protocol{}
	}
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

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// flowing waits until at least n more ticks (in total) have arrived.
func (e *env) flowing(t *testing.T, n uint64) {
	t.Helper()
	base := e.runner.Status().Ticks
	waitFor(t, "ticks to flow", 3*time.Second, func() bool { return e.runner.Status().Ticks >= base+n })
}

// matches pauses the walk and waits until the feed's latest values equal the simulator's
// quotes for every symbol, then resumes.
func (e *env) matches(t *testing.T) {
	t.Helper()
	e.sim.Pause()
	defer e.sim.Resume()
	var diff string
	deadline := time.Now().Add(3 * time.Second)
	for {
		diff = ""
		for _, sym := range e.syms {
			last, bid, ask, ok := e.sim.Quote(e.ex, sym)
			if !ok {
				t.Fatalf("no quote for %s", sym)
			}
			got, ok := e.book.get(sym)
			if !ok || got.Last != last || got.Bid != bid || got.Ask != ask {
				diff += " " + sym + ": got " + got.Last.String() + "/" + got.Bid.String() + "/" + got.Ask.String() +
					" want " + last.String() + "/" + bid.String() + "/" + ask.String()
				continue
			}
			if got.Exchange != e.ex || got.ExchangeTime == 0 || got.Received == 0 || got.Received < got.ExchangeTime-int64(time.Second) {
				t.Fatalf("%s: tick %+v", sym, got)
			}
		}
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("feed does not match the simulator:%s", diff)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exchanges() []price.Exchange { return []price.Exchange{price.Coinbase, price.Kraken} }

func TestE2EQuotesMatch(t *testing.T) {
	for _, ex := range exchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			e := start(t, ex)
			e.flowing(t, uint64(5*len(e.syms)))
			e.matches(t)
			e.flowing(t, uint64(2*len(e.syms)))
			e.matches(t)
			st := e.runner.Status()
			if !st.Connected || st.DecodeErrors != 0 || st.Reconnects != 0 {
				t.Fatalf("Status() = %+v", st)
			}
		})
	}
}

func TestE2EUnknownSymbolRefused(t *testing.T) {
	for _, ex := range exchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			nope := map[price.Exchange]string{price.Coinbase: "NOPE-USD", price.Kraken: "NOPE/USD"}[ex]
			e := start(t, ex, nope)
			e.flowing(t, uint64(3*len(e.syms)))
			e.matches(t)
			st := e.runner.Status()
			if st.DecodeErrors != 1 || !strings.Contains(st.LastError, nope) || st.Reconnects != 0 {
				t.Fatalf("Status() = %+v, want one counted refusal naming %s", st, nope)
			}
		})
	}
}

func TestE2EDisconnect(t *testing.T) {
	for _, ex := range exchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			e := start(t, ex)
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

func TestE2EStall(t *testing.T) {
	for _, ex := range exchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			e := start(t, ex)
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

func TestE2EMalformed(t *testing.T) {
	for _, ex := range exchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			e := start(t, ex)
			e.flowing(t, uint64(len(e.syms)))
			if n := e.sim.SendMalformed(ex); n != 1 {
				t.Fatalf("SendMalformed reached %d connections", n)
			}
			waitFor(t, "the decode error", 3*time.Second, func() bool { return e.runner.Status().DecodeErrors == 1 })
			e.flowing(t, uint64(2*len(e.syms)))
			e.matches(t)
			if st := e.runner.Status(); st.Reconnects != 0 || !st.Connected {
				t.Fatalf("Status() = %+v, want the feed to continue on the same connection", st)
			}
		})
	}
}

// TestE2EDefaultUniverse runs the whole compiled-in asset map through both adapters: several
// connections per exchange (SymbolsPerConn) and chunked subscribe messages (Kraken: 20
// symbols per message).
func TestE2EDefaultUniverse(t *testing.T) {
	u, err := price.DefaultUniverse()
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range exchanges() {
		t.Run(ex.String(), func(t *testing.T) {
			e := startUniverse(t, ex, u)
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
