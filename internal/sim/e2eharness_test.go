package sim_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
)

// The shared end-to-end harness: a feed.Runner with a real adapter against the simulator,
// and the scenarios every exchange goes through (e2eCase.run). Each exchange's
// *_e2e_test.go holds its e2eCase and the checks only it needs.

// restTimeMode is what a REST ticker answer says about the exchange time.
type restTimeMode int

const (
	restTimeOptional restTimeMode = iota // none, or a recent one
	restTimeRecent                       // a recent one
	restTimeNone                         // none: the answer has no time
)

// e2eCase is one exchange's adapter and what differs between exchanges in the shared
// scenarios.
type e2eCase struct {
	ex    price.Exchange
	proto feed.Protocol
	// universe is the market map (JSON) of every scenario but DefaultUniverse.
	universe string
	// clientIdleTimeout, if set, cuts the venue's keep-alive timeout to it.
	clientIdleTimeout time.Duration
	// nope is an unknown symbol of the exchange.
	nope string
	// refusals is how many decode errors subscribing nope causes (0 means 1); refusalText is
	// what LastError then contains (nope if empty).
	refusals    uint64
	refusalText string
	// malformedText, if set, is what LastError contains after SendMalformed.
	malformedText string
	// quotesExtra runs more QuotesMatch steps before its final Status check.
	quotesExtra func(t *testing.T, e *env)
	// restUnknownStatus, if set, is the HTTP status of the REST ticker of nope.
	restUnknownStatus int
	restTime          restTimeMode
	// restSetsIDs: ParseTicker fills in the tick's Exchange and Symbol (else the caller
	// does, as the REST fallback does).
	restSetsIDs bool
}

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

// firstTick records when the first tick was received, then passes ticks on.
type firstTick struct {
	next  price.Sink
	first atomic.Int64
}

func (f *firstTick) Apply(t *price.Tick) {
	f.first.CompareAndSwap(0, t.Received)
	f.next.Apply(t)
}

type env struct {
	sim    *sim.Server
	runner *feed.Runner
	book   *book
	ex     price.Exchange
	syms   []string
	// started is when the runner started; first.first when its first tick arrived.
	started time.Time
	first   *firstTick
}

func (c e2eCase) parseUniverse(t *testing.T) *price.Universe {
	t.Helper()
	u, err := price.ParseUniverse([]byte(c.universe))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// start runs a simulator of u (c.universe if nil) moving every 20 ms with 50 ms heartbeats
// and a runner for c.proto against it (idle timeout 400 ms, pings every 100 ms), subscribed
// to the exchange's symbols and extraSymbols.
func (c e2eCase) start(t *testing.T, u *price.Universe, extraSymbols ...string) *env {
	t.Helper()
	if u == nil {
		u = c.parseUniverse(t)
	}
	s := sim.New(u, sim.Options{Seed: 1, TickInterval: 20 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond})
	if c.clientIdleTimeout != 0 && !s.SetClientIdleTimeout(c.ex, c.clientIdleTimeout) {
		t.Fatalf("SetClientIdleTimeout(%v) = false", c.ex)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() { simDone <- s.Run(ctx) }()

	e := &env{sim: s, book: &book{}, ex: c.ex, syms: u.Symbols(c.ex)}
	e.first = &firstTick{next: e.book}
	e.runner = feed.NewRunner(feed.RunnerConfig{
		Protocol: c.proto, URL: s.URL(c.ex), Symbols: append(append([]string{}, e.syms...), extraSymbols...), Sink: e.first,
		BackoffBase: 10 * time.Millisecond, BackoffCap: 100 * time.Millisecond, ConnectSpacing: time.Millisecond,
		Limits: feed.Limits{IdleTimeout: 400 * time.Millisecond, PingInterval: 100 * time.Millisecond},
	})
	runDone := make(chan error, 1)
	e.started = time.Now()
	go func() { runDone <- e.runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		waitRuns(t, runDone, simDone)
		s.Close()
	})
	return e
}

// waitRuns waits up to 5 s for each Run's result and reports errors.
func waitRuns(t *testing.T, done ...chan error) {
	t.Helper()
	for _, ch := range done {
		select {
		case err := <-ch:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return")
		}
	}
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

// run runs the shared scenarios for c as subtests.
func (c e2eCase) run(t *testing.T) {
	t.Run("QuotesMatch", func(t *testing.T) {
		e := c.start(t, nil)
		e.flowing(t, uint64(5*len(e.syms)))
		e.matches(t)
		e.flowing(t, uint64(2*len(e.syms)))
		e.matches(t)
		if c.quotesExtra != nil {
			c.quotesExtra(t, e)
		}
		st := e.runner.Status()
		if !st.Connected || st.DecodeErrors != 0 || st.Reconnects != 0 {
			t.Fatalf("Status() = %+v", st)
		}
	})
	t.Run("UnknownSymbolRefused", func(t *testing.T) {
		refusals, text := max(c.refusals, 1), c.refusalText
		if text == "" {
			text = c.nope
		}
		e := c.start(t, nil, c.nope)
		e.flowing(t, uint64(3*len(e.syms)))
		e.matches(t)
		st := e.runner.Status()
		if st.DecodeErrors != refusals || !strings.Contains(st.LastError, text) || st.Reconnects != 0 {
			t.Fatalf("Status() = %+v, want %d counted refusals naming %s", st, refusals, text)
		}
	})
	t.Run("Disconnect", func(t *testing.T) {
		e := c.start(t, nil)
		e.flowing(t, uint64(len(e.syms)))
		if n := e.sim.Disconnect(c.ex); n != 1 {
			t.Fatalf("Disconnect dropped %d connections, want 1", n)
		}
		waitFor(t, "a reconnect", 3*time.Second, func() bool {
			st := e.runner.Status()
			return st.Reconnects == 1 && st.Connected
		})
		// Ticks flow again only if the new connection subscribed again.
		e.flowing(t, uint64(3*len(e.syms)))
		e.matches(t)
		if n := e.sim.Connections(c.ex); n != 1 {
			t.Fatalf("simulator sees %d connections, want 1", n)
		}
		// The new connection keeps the venue's rules too (e.g. Crypto.com's subscribe delay).
		if st := e.runner.Status(); st.DecodeErrors != 0 {
			t.Fatalf("Status() = %+v: the new connection was refused", st)
		}
	})
	t.Run("Stall", func(t *testing.T) {
		e := c.start(t, nil)
		e.flowing(t, uint64(len(e.syms)))
		e.sim.Stall(c.ex, 700*time.Millisecond) // longer than the 400 ms idle timeout
		waitFor(t, "an idle-timeout reconnect", 3*time.Second, func() bool {
			st := e.runner.Status()
			return st.Reconnects >= 1 && strings.Contains(st.LastError, "idle timeout")
		})
		e.flowing(t, uint64(3*len(e.syms)))
		waitFor(t, "connected", 3*time.Second, func() bool { return e.runner.Status().Connected })
		e.matches(t)
	})
	t.Run("Malformed", func(t *testing.T) {
		e := c.start(t, nil)
		e.flowing(t, uint64(len(e.syms)))
		if n := e.sim.SendMalformed(c.ex); n != 1 {
			t.Fatalf("SendMalformed reached %d connections", n)
		}
		waitFor(t, "the decode error", 3*time.Second, func() bool { return e.runner.Status().DecodeErrors == 1 })
		e.flowing(t, uint64(2*len(e.syms)))
		e.matches(t)
		if st := e.runner.Status(); st.Reconnects != 0 || !st.Connected || !strings.Contains(st.LastError, c.malformedText) {
			t.Fatalf("Status() = %+v, want the feed to continue on the same connection", st)
		}
	})
	// The whole compiled-in asset map: as many connections as SymbolsPerConn asks for, and
	// the adapter's chunked subscribe messages.
	t.Run("DefaultUniverse", func(t *testing.T) {
		u, err := price.DefaultUniverse()
		if err != nil {
			t.Fatal(err)
		}
		e := c.start(t, u)
		if len(e.syms) == 0 {
			t.Fatalf("no %v markets in the default universe", c.ex)
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
		perConn := c.proto.Limits().SymbolsPerConn
		want := (len(e.syms) + perConn - 1) / perConn
		if st.Connections != want || !st.Connected || st.DecodeErrors != 0 || st.Symbols != len(e.syms) {
			t.Fatalf("Status() = %+v, want %d connections", st, want)
		}
		if n := e.sim.Connections(c.ex); n != want {
			t.Fatalf("simulator sees %d connections, want %d", n, want)
		}
	})
	// The adapter's REST ticker against the simulator's REST API, over a few steps of the
	// walk.
	t.Run("REST", func(t *testing.T) {
		u := c.parseUniverse(t)
		s := sim.New(u, sim.Options{Seed: 2})
		if err := s.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		for i := range 3 {
			s.Step()
			t.Logf("step %d", i) // shown with a failure
			c.checkREST(t, s, u.Symbols(c.ex))
		}
	})
}

// checkREST fetches the simulator's REST ticker of every symbol in syms and of c.nope: the
// adapter's ParseTicker reads each known one back as exactly the simulator's quote and
// refuses nope.
func (c e2eCase) checkREST(t *testing.T, s *sim.Server, syms []string) {
	t.Helper()
	rt, ok := c.proto.(feed.RESTTicker)
	if !ok {
		t.Fatalf("%v: no feed.RESTTicker", c.ex)
	}
	base := s.RESTURL(c.ex)
	if base == "" {
		t.Fatalf("RESTURL(%v) = \"\"", c.ex)
	}
	for _, sym := range syms {
		code, body := restGetBody(t, base+rt.TickerPath(sym))
		var tk price.Tick
		if !c.restSetsIDs {
			tk.Exchange, tk.Symbol = c.ex, sym
		}
		if err := rt.ParseTicker(sym, body, &tk); code != http.StatusOK || err != nil {
			t.Fatalf("%v %s: HTTP %d %s: %v", c.ex, sym, code, body, err)
		}
		last, bid, ask, known := s.Quote(c.ex, sym)
		if !known || tk.Exchange != c.ex || tk.Symbol != sym || tk.Last != last || tk.Bid != bid || tk.Ask != ask {
			t.Fatalf("%v %s: ParseTicker gave %+v, want %v/%v/%v (body %s)", c.ex, sym, tk, last, bid, ask, body)
		}
		recent := tk.ExchangeTime <= time.Now().UnixNano() && tk.ExchangeTime >= time.Now().Add(-time.Minute).UnixNano()
		switch {
		case c.restTime == restTimeNone && tk.ExchangeTime != 0,
			c.restTime == restTimeRecent && !recent,
			c.restTime == restTimeOptional && tk.ExchangeTime != 0 && !recent:
			t.Fatalf("%v %s: exchange time %v (%d)", c.ex, sym, time.Unix(0, tk.ExchangeTime), tk.ExchangeTime)
		}
	}
	code, body := restGetBody(t, base+rt.TickerPath(c.nope))
	var tk price.Tick
	if err := rt.ParseTicker(c.nope, body, &tk); err == nil || c.restUnknownStatus != 0 && code != c.restUnknownStatus {
		t.Fatalf("%v %s: HTTP %d %s: ParseTicker err %v, want a refusal", c.ex, c.nope, code, body, err)
	}
}

func restGetBody(t *testing.T, url string) (int, []byte) {
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
