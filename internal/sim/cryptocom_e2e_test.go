package sim_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/cryptocom"
	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
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

// cdcFirstTick records when the first tick was received, then passes ticks on.
type cdcFirstTick struct {
	next  price.Sink
	first atomic.Int64
}

func (f *cdcFirstTick) Apply(t *price.Tick) {
	f.first.CompareAndSwap(0, t.Received)
	f.next.Apply(t)
}

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

// startCDC runs a simulator of cdcUniverse moving every 20 ms with 50 ms heartbeats and a
// runner for proto (a Crypto.com protocol) against it. It returns when the runner starts.
func startCDC(t *testing.T, proto feed.Protocol, extraSymbols ...string) (*env, *cdcFirstTick, time.Time) {
	t.Helper()
	u, err := price.ParseUniverse([]byte(cdcUniverse))
	if err != nil {
		t.Fatal(err)
	}
	return startCDCUniverse(t, u, proto, extraSymbols...)
}

func startCDCUniverse(t *testing.T, u *price.Universe, proto feed.Protocol, extraSymbols ...string) (*env, *cdcFirstTick, time.Time) {
	t.Helper()
	s := sim.New(u, sim.Options{Seed: 1, TickInterval: 20 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond})
	if !s.SetClientIdleTimeout(price.Cryptocom, e2eHeartbeatTimeout) {
		t.Fatal("SetClientIdleTimeout(cryptocom) = false")
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() { simDone <- s.Run(ctx) }()

	e := &env{sim: s, book: &book{}, ex: price.Cryptocom, syms: u.Symbols(price.Cryptocom)}
	ft := &cdcFirstTick{next: e.book}
	e.runner = feed.NewRunner(feed.RunnerConfig{
		Protocol: proto, URL: s.URL(price.Cryptocom), Symbols: append(append([]string{}, e.syms...), extraSymbols...), Sink: ft,
		BackoffBase: 10 * time.Millisecond, BackoffCap: 100 * time.Millisecond, ConnectSpacing: time.Millisecond,
		Limits: feed.Limits{IdleTimeout: 400 * time.Millisecond, PingInterval: 100 * time.Millisecond},
	})
	runDone := make(chan error, 1)
	started := time.Now()
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
	return e, ft, started
}

// TestCryptocomE2E: quotes match after the walk pauses, the subscribe delay keeps the
// subscription out of the connection's first calendar second, and heartbeats are answered in
// time (the connection outlives several heartbeat deadlines).
func TestCryptocomE2E(t *testing.T) {
	e, ft, started := startCDC(t, cryptocom.Protocol{})
	e.flowing(t, uint64(5*len(e.syms)))
	if d := time.Duration(ft.first.Load() - started.UnixNano()); d < cryptocom.SubscribeDelay {
		t.Fatalf("first tick %v after the runner started, want the %v subscribe delay first", d, cryptocom.SubscribeDelay)
	}
	e.matches(t)
	time.Sleep(2 * e2eHeartbeatTimeout)
	e.flowing(t, uint64(2*len(e.syms)))
	e.matches(t)
	st := e.runner.Status()
	if !st.Connected || st.DecodeErrors != 0 || st.Reconnects != 0 {
		t.Fatalf("Status() = %+v", st)
	}
}

// TestCryptocomE2ENoSubscribeDelay shows what the delay is for: without it the subscription
// lands in the connection's first calendar second and is refused with TOO_MANY_REQUESTS.
func TestCryptocomE2ENoSubscribeDelay(t *testing.T) {
	if ns := time.Now().Nanosecond(); ns > 300_000_000 { // connect early in a second
		time.Sleep(time.Duration(1_000_000_000-ns) + time.Millisecond)
	}
	e, _, _ := startCDC(t, cdcHastyProto{})
	waitFor(t, "the refusal", 3*time.Second, func() bool {
		return strings.Contains(e.runner.Status().LastError, "TOO_MANY_REQUESTS")
	})
	if st := e.runner.Status(); st.Ticks != 0 || !strings.Contains(st.LastError, "42901") {
		t.Fatalf("Status() = %+v, want no ticks and code 42901", st)
	}
}

func TestCryptocomE2EUnknownSymbolRefused(t *testing.T) {
	e, _, _ := startCDC(t, cryptocom.Protocol{}, "NOPE_USD")
	e.flowing(t, uint64(3*len(e.syms)))
	e.matches(t)
	st := e.runner.Status()
	if st.DecodeErrors != 1 || !strings.Contains(st.LastError, "ticker.NOPE_USD") || st.Reconnects != 0 {
		t.Fatalf("Status() = %+v, want one counted refusal naming NOPE_USD", st)
	}
}

// TestCryptocomE2EHeartbeatIgnored: a session that does not answer heartbeats is closed by
// the exchange, and the runner reconnects.
func TestCryptocomE2EHeartbeatIgnored(t *testing.T) {
	e, _, _ := startCDC(t, cdcDeafProto{})
	e.flowing(t, uint64(len(e.syms)))
	waitFor(t, "the exchange to drop the deaf connection", 5*time.Second, func() bool {
		st := e.runner.Status()
		return st.Reconnects >= 1 && strings.Contains(st.LastError, "respond-heartbeat")
	})
	e.flowing(t, uint64(len(e.syms))) // the runner reconnected and subscribed again
}

func TestCryptocomE2EDisconnect(t *testing.T) {
	e, _, _ := startCDC(t, cryptocom.Protocol{})
	e.flowing(t, uint64(len(e.syms)))
	if n := e.sim.Disconnect(price.Cryptocom); n != 1 {
		t.Fatalf("Disconnect dropped %d connections, want 1", n)
	}
	waitFor(t, "a reconnect", 3*time.Second, func() bool {
		st := e.runner.Status()
		return st.Reconnects == 1 && st.Connected
	})
	e.flowing(t, uint64(3*len(e.syms)))
	e.matches(t)
	if n := e.sim.Connections(price.Cryptocom); n != 1 {
		t.Fatalf("simulator sees %d connections, want 1", n)
	}
	if st := e.runner.Status(); st.DecodeErrors != 0 {
		t.Fatalf("Status() = %+v: the new connection must honour the subscribe delay too", st)
	}
}

func TestCryptocomE2EStall(t *testing.T) {
	e, _, _ := startCDC(t, cryptocom.Protocol{})
	e.flowing(t, uint64(len(e.syms)))
	e.sim.Stall(price.Cryptocom, 700*time.Millisecond) // longer than the 400 ms idle timeout
	waitFor(t, "an idle-timeout reconnect", 3*time.Second, func() bool {
		st := e.runner.Status()
		return st.Reconnects >= 1 && strings.Contains(st.LastError, "idle timeout")
	})
	e.flowing(t, uint64(3*len(e.syms)))
	waitFor(t, "connected", 3*time.Second, func() bool { return e.runner.Status().Connected })
	e.matches(t)
}

func TestCryptocomE2EMalformed(t *testing.T) {
	e, _, _ := startCDC(t, cryptocom.Protocol{})
	e.flowing(t, uint64(len(e.syms)))
	if n := e.sim.SendMalformed(price.Cryptocom); n != 1 {
		t.Fatalf("SendMalformed reached %d connections", n)
	}
	waitFor(t, "the decode error", 3*time.Second, func() bool { return e.runner.Status().DecodeErrors == 1 })
	e.flowing(t, uint64(2*len(e.syms)))
	e.matches(t)
	if st := e.runner.Status(); st.Reconnects != 0 || !st.Connected {
		t.Fatalf("Status() = %+v, want the feed to continue on the same connection", st)
	}
}

// TestCryptocomE2EDefaultUniverse runs the compiled-in asset map's Crypto.com markets through
// the adapter: one connection (up to 400 subscriptions), chunked subscribe requests.
func TestCryptocomE2EDefaultUniverse(t *testing.T) {
	u, err := price.DefaultUniverse()
	if err != nil {
		t.Fatal(err)
	}
	e, _, _ := startCDCUniverse(t, u, cryptocom.Protocol{})
	if len(e.syms) == 0 {
		t.Fatal("no Crypto.com markets in the default universe")
	}
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
	want := (len(e.syms) + cryptocom.SymbolsPerConn - 1) / cryptocom.SymbolsPerConn
	if st.Connections != want || !st.Connected || st.DecodeErrors != 0 || st.Symbols != len(e.syms) {
		t.Fatalf("Status() = %+v, want %d connections", st, want)
	}
	if n := e.sim.Connections(price.Cryptocom); n != want {
		t.Fatalf("simulator sees %d connections, want %d", n, want)
	}
}
