package sim_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/coinbase"
	"github.com/trinityprice/trinity/internal/feed/gemini"
	"github.com/trinityprice/trinity/internal/feed/kraken"
	"github.com/trinityprice/trinity/internal/feed/okx"
	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
)

// Faults end to end: real runners and the real price book against the simulator.

const faultUniverse = `{"assets":{
	"BTC": {"coinbase":"BTC-USD", "kraken":"BTC/USD", "gemini":"btcusd", "okx":"BTC-USD"},
	"ETH": {"coinbase":"ETH-USD", "kraken":"ETH/USD", "gemini":"ethusd", "okx":"ETH-USD"}
}}`

type faultEnv struct {
	sim     *sim.Server
	book    *price.Book
	runners map[price.Exchange]*feed.Runner
}

// startFaultEnv runs a simulator of faultUniverse and one runner per exchange with short
// backoffs, feeding one price book.
func startFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	u, err := price.ParseUniverse([]byte(faultUniverse))
	if err != nil {
		t.Fatal(err)
	}
	s := sim.New(u, sim.Options{Seed: 3, TickInterval: 20 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	p := price.DefaultParams()
	p.Freshness = 2 * time.Second
	e := &faultEnv{sim: s, book: price.NewBook(price.BookConfig{Universe: u, Params: p}), runners: map[price.Exchange]*feed.Runner{}}
	ctx, cancel := context.WithCancel(context.Background())
	var done []chan error
	run := func(f func(context.Context) error) {
		ch := make(chan error, 1)
		done = append(done, ch)
		go func() { ch <- f(ctx) }()
	}
	run(s.Run)
	for ex, proto := range map[price.Exchange]feed.Protocol{price.Coinbase: coinbase.Protocol{}, price.Kraken: kraken.Protocol{}, price.Gemini: gemini.Protocol{}, price.OKX: okx.Protocol{}} {
		r := feed.NewRunner(feed.RunnerConfig{
			Protocol: proto, URL: s.URL(ex), Symbols: u.Symbols(ex), Sink: e.book,
			BackoffBase: 50 * time.Millisecond, BackoffCap: 200 * time.Millisecond, ConnectSpacing: time.Millisecond,
			Limits: feed.Limits{IdleTimeout: 400 * time.Millisecond, PingInterval: 100 * time.Millisecond},
		})
		e.runners[ex] = r
		run(r.Run)
	}
	t.Cleanup(func() {
		cancel()
		waitRuns(t, done...)
		s.Close()
	})
	e.waitConnected(t, 5*time.Second)
	return e
}

func (e *faultEnv) waitConnected(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for ex, r := range e.runners {
		for !r.Status().Connected {
			if time.Now().After(deadline) {
				t.Fatalf("%s not connected: %+v", ex, r.Status())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestRefuseMakesRunnerBackOffAndRecover: while Kraken refuses connections (HTTP 429), a
// dropped runner keeps retrying with backoff and fails each time; once the refusal ends it
// reconnects on its own.
func TestRefuseMakesRunnerBackOffAndRecover(t *testing.T) {
	e := startFaultEnv(t)
	r := e.runners[price.Kraken]
	before := r.Status().Reconnects
	const refusal = 1500 * time.Millisecond
	e.sim.Refuse(price.Kraken, refusal)
	refusedAt := time.Now()
	if n := e.sim.Disconnect(price.Kraken); n == 0 {
		t.Fatal("no kraken connection to drop")
	}
	time.Sleep(refusal - 300*time.Millisecond)
	st := r.Status()
	if st.Connected || st.ConnectionsUp != 0 {
		t.Fatalf("connected while refused: %+v", st)
	}
	if !strings.Contains(st.LastError, "429") {
		t.Errorf("last error %q, want the HTTP 429 refusal", st.LastError)
	}
	// Base 50 ms, cap 200 ms: at least a few refused attempts, but backed off, not a tight
	// loop (which would be hundreds).
	if n := st.Reconnects - before; n < 3 || n > 20 {
		t.Errorf("%d reconnect attempts in %v of refusal", n, refusal-300*time.Millisecond)
	}
	for !r.Status().Connected {
		if time.Since(refusedAt) > refusal+2*time.Second {
			t.Fatalf("not reconnected %v after the refusal ended: %+v", time.Since(refusedAt)-refusal, r.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Since(refusedAt); d < refusal {
		t.Fatalf("reconnected after %v, during the refusal", d)
	}
	// The other exchanges never noticed.
	for ex, other := range e.runners {
		if ex != price.Kraken && !other.Status().Connected {
			t.Errorf("%s disconnected", ex)
		}
	}
}

type bookSource struct {
	Exchange string  `json:"exchange"`
	Price    float64 `json:"price"`
	Fresh    bool    `json:"fresh"`
	Used     bool    `json:"used"`
}

func bookAnswer(t *testing.T, b *price.Book, asset string) (float64, []bookSource) {
	t.Helper()
	_, a := b.Lookup([]byte(asset))
	if a == nil {
		t.Fatalf("%s has no answer", asset)
	}
	var v struct {
		Price   float64      `json:"price"`
		Sources []bookSource `json:"sources"`
	}
	if err := json.Unmarshal(a.JSON, &v); err != nil {
		t.Fatal(err)
	}
	return v.Price, v.Sources
}

// TestSpikeIsDroppedAsOutlier: OKX quotes BTC at 1.5× for a while; with four exchanges
// quoting, the book drops it (used:false) and the aggregate stays within the honest
// exchanges' range. ETH is untouched.
func TestSpikeIsDroppedAsOutlier(t *testing.T) {
	e := startFaultEnv(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, srcs := bookAnswer(t, e.book, "BTC")
		if len(srcs) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("BTC never priced by all four exchanges: %v", srcs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := e.sim.Spike(price.OKX, "BTC", 1.5, 3*time.Second); n != 1 {
		t.Fatalf("Spike spiked %d markets", n)
	}
	// Wait for the spiked quote to reach the book.
	var agg float64
	var srcs []bookSource
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		agg, srcs = bookAnswer(t, e.book, "BTC")
		spiked := false
		for _, s := range srcs {
			spiked = spiked || s.Exchange == "okx" && s.Fresh && s.Price > 1.4*agg
		}
		if spiked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the spike never reached the book: %v", srcs)
		}
	}
	lo, hi := 0.0, 0.0
	for _, s := range srcs {
		if s.Exchange == "okx" {
			if s.Used {
				t.Errorf("the spiking source is used: %+v", s)
			}
			continue
		}
		if !s.Used || !s.Fresh {
			t.Errorf("honest source not used: %+v", s)
		}
		if lo == 0 || s.Price < lo {
			lo = s.Price
		}
		hi = max(hi, s.Price)
	}
	if agg < lo || agg > hi {
		t.Errorf("aggregate %v outside the honest range [%v, %v]", agg, lo, hi)
	}
	if _, eth := bookAnswer(t, e.book, "ETH"); len(eth) != 4 {
		t.Errorf("ETH sources %v", eth)
	} else {
		for _, s := range eth {
			if !s.Used {
				t.Errorf("ETH source dropped during a BTC spike: %+v", s)
			}
		}
	}
}
