package fallback

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/bybit"
	"github.com/trinityprice/trinity/internal/feed/coinbase"
	"github.com/trinityprice/trinity/internal/feed/cryptocom"
	"github.com/trinityprice/trinity/internal/feed/gateio"
	"github.com/trinityprice/trinity/internal/feed/gemini"
	"github.com/trinityprice/trinity/internal/feed/kraken"
	"github.com/trinityprice/trinity/internal/feed/okx"
	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
)

// adapters are the real REST tickers of the seven exchanges.
var adapters = map[price.Exchange]feed.RESTTicker{
	price.Coinbase:  coinbase.Protocol{},
	price.Kraken:    kraken.Protocol{},
	price.Gemini:    gemini.Protocol{},
	price.Gateio:    gateio.Protocol{},
	price.OKX:       okx.Protocol{},
	price.Cryptocom: cryptocom.Protocol{},
	price.Bybit:     bybit.Protocol{},
}

// simUniverse lists one asset per exchange, on that exchange only (so its REST price must come
// from there), and ETH on all seven.
const simUniverse = `{"assets":{
	"BTCCB": {"coinbase":"BTC-USD"},
	"BTCKR": {"kraken":"BTC/USD"},
	"BTCGE": {"gemini":"btcusd"},
	"BTCGT": {"gateio":"BTC_USD"},
	"BTCOK": {"okx":"BTC-USD"},
	"BTCCD": {"cryptocom":"BTC_USD"},
	"BTCBY": {"bybit":"BTCUSD"},
	"ETH":   {"coinbase":"ETH-USD","kraken":"ETH/USD","gemini":"ethusd","gateio":"ETH_USD","okx":"ETH-USD","cryptocom":"ETH_USD","bybit":"ETHUSD"}
}}`

func mustUniverse(t *testing.T, doc string) *price.Universe {
	t.Helper()
	u, err := price.ParseUniverse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newBook(u *price.Universe, freshness time.Duration) *price.Book {
	p := price.DefaultParams()
	p.Freshness = freshness
	return price.NewBook(price.BookConfig{Universe: u, Params: p})
}

// start runs f until the test ends.
func start(t *testing.T, f *Fallback) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5 s of cancellation")
		}
	})
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

type answerSource struct {
	Exchange string  `json:"exchange"`
	Symbol   string  `json:"symbol"`
	Bid      float64 `json:"bid"`
	Ask      float64 `json:"ask"`
	Last     float64 `json:"last"`
	Fresh    bool    `json:"fresh"`
}

func sources(t *testing.T, a *price.Answer) []answerSource {
	t.Helper()
	var v struct {
		Sources []answerSource `json:"sources"`
	}
	if err := json.Unmarshal(a.JSON, &v); err != nil {
		t.Fatalf("answer %s: %v", a.JSON, err)
	}
	return v.Sources
}

// TestStaleAssetsPricedFromSimulatorREST: assets whose only WebSocket source went stale are
// priced over each exchange's real REST ticker, at exactly the simulator's quote.
func TestStaleAssetsPricedFromSimulatorREST(t *testing.T) {
	u := mustUniverse(t, simUniverse)
	s := sim.New(u, sim.Options{Seed: 11})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.Step()
	s.Pause() // Run is not running anyway: the quotes stay put

	book := newBook(u, 10*time.Second)
	// Every asset had a WebSocket price once, long ago: stale now.
	old := time.Now().Add(-time.Minute).UnixNano()
	for _, a := range u.Assets {
		m := a.Markets[0]
		book.Apply(&price.Tick{Exchange: m.Exchange, Symbol: m.Symbol, Last: price.MustParse("1"), Received: old})
	}
	if got := len(book.Unfresh(time.Now().UnixNano(), nil)); got != len(u.Assets) {
		t.Fatalf("%d unfresh assets before the fallback, want %d", got, len(u.Assets))
	}

	srcs := map[price.Exchange]Source{}
	for ex, tk := range adapters {
		srcs[ex] = Source{Ticker: tk, BaseURL: s.RESTURL(ex)}
	}
	set := metrics.NewSet()
	f := New(Config{Book: book, Sources: srcs, Interval: 20 * time.Millisecond, Grace: -1, MaxConcurrent: 4, Metrics: set})
	start(t, f)
	waitFor(t, 5*time.Second, "every asset fresh", func() bool { return len(book.Unfresh(time.Now().UnixNano(), nil)) == 0 })

	for i, a := range u.Assets {
		ans := book.Answer(i)
		if ans == nil || ans.Stale {
			t.Fatalf("%s: answer %+v", a.Name, ans)
		}
		fresh := 0
		for _, src := range sources(t, ans) {
			if !src.Fresh {
				continue
			}
			fresh++
			ex, _ := price.ExchangeByName(src.Exchange)
			last, bid, ask, ok := s.Quote(ex, src.Symbol)
			if !ok || src.Last != last.Float() || src.Bid != bid.Float() || src.Ask != ask.Float() {
				t.Errorf("%s from %s %s: last/bid/ask %v/%v/%v, simulator quotes %v/%v/%v", a.Name, src.Exchange, src.Symbol, src.Last, src.Bid, src.Ask, last, bid, ask)
			}
		}
		if fresh != 1 {
			t.Errorf("%s: %d fresh sources, want exactly 1 (one REST request per asset): %s", a.Name, fresh, ans.JSON)
		}
	}
	// One request per asset: each exchange answered its own asset, one of them also ETH.
	var total uint64
	for ex := range adapters {
		req, errs := f.Stats(ex)
		if req < 1 || req > 2 || errs != 0 {
			t.Errorf("%s: %d requests, %d errors; want 1 or 2 and 0", ex, req, errs)
		}
		total += req
	}
	if total != uint64(len(u.Assets)) {
		t.Errorf("%d requests for %d assets", total, len(u.Assets))
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	if !strings.Contains(buf.String(), `trinity_rest_fallback_requests_total{exchange="kraken",outcome="ok"} `) {
		t.Errorf("metrics lack the kraken ok counter:\n%s", buf.String())
	}
	// Fresh assets are left alone.
	time.Sleep(100 * time.Millisecond)
	var after uint64
	for ex := range adapters {
		req, _ := f.Stats(ex)
		after += req
	}
	if after != total {
		t.Errorf("%d more requests while every asset was fresh", after-total)
	}
}

// fakeTicker is a RESTTicker for a test server: GET /ticker?ex=EX&symbol=SYM answers a bare
// decimal price.
type fakeTicker struct{ ex price.Exchange }

func (fakeTicker) DefaultRESTURL() string { return "http://127.0.0.1:1" }

func (f fakeTicker) TickerPath(symbol string) string {
	return "/ticker?ex=" + f.ex.String() + "&symbol=" + url.QueryEscape(symbol)
}

func (fakeTicker) ParseTicker(symbol string, body []byte, t *price.Tick) error {
	v, err := price.ParseValue(bytes.TrimSpace(body))
	if err != nil {
		return fmt.Errorf("bad body %q", body)
	}
	t.Last = v
	return nil
}

// restServer is a fake REST API that records every request and answers with handle.
type restServer struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []string // "ex symbol" in arrival order
	starts  []time.Time
	now     atomic.Int32
	maxSeen atomic.Int32
}

func newRESTServer(t *testing.T, handle func(w http.ResponseWriter, ex, symbol string)) *restServer {
	t.Helper()
	rs := &restServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := rs.now.Add(1)
		defer rs.now.Add(-1)
		for {
			m := rs.maxSeen.Load()
			if n <= m || rs.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		ex, sym := r.URL.Query().Get("ex"), r.URL.Query().Get("symbol")
		rs.mu.Lock()
		rs.reqs = append(rs.reqs, ex+" "+sym)
		rs.starts = append(rs.starts, time.Now())
		rs.mu.Unlock()
		handle(w, ex, sym)
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *restServer) count(key string) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	n := 0
	for _, r := range rs.reqs {
		if key == "" || r == key {
			n++
		}
	}
	return n
}

func fakeSources(base string, exs ...price.Exchange) map[price.Exchange]Source {
	out := map[price.Exchange]Source{}
	for _, ex := range exs {
		out[ex] = Source{Ticker: fakeTicker{ex}, BaseURL: base}
	}
	return out
}

// manyAssets lists n assets A0..A(n-1) on the given exchanges, with symbol "A<i>-USD".
func manyAssets(t *testing.T, n int, exs ...price.Exchange) *price.Universe {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"assets":{`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"A%d":{`, i)
		for j, ex := range exs {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `%q:"A%d-USD"`, ex.String(), i)
		}
		b.WriteString("}")
	}
	b.WriteString("}}")
	return mustUniverse(t, b.String())
}

func TestConcurrencyBound(t *testing.T) {
	all := price.Exchanges()
	u := manyAssets(t, 24, all...)
	rs := newRESTServer(t, func(w http.ResponseWriter, ex, sym string) {
		time.Sleep(100 * time.Millisecond)
		fmt.Fprint(w, "42.5")
	})
	book := newBook(u, time.Minute)
	f := New(Config{Book: book, Sources: fakeSources(rs.URL, all...), Interval: 10 * time.Millisecond, Grace: -1,
		MaxConcurrent: 3, PerExchangeRate: 1000})
	start(t, f)
	waitFor(t, 10*time.Second, "every asset priced", func() bool { return len(book.Unfresh(time.Now().UnixNano(), nil)) == 0 })
	if m := rs.maxSeen.Load(); m > 3 || m < 2 {
		t.Errorf("at most %d requests were in flight at once, want 2..3 (MaxConcurrent 3)", m)
	}
	if n := rs.count(""); n != len(u.Assets) {
		t.Errorf("%d requests for %d assets", n, len(u.Assets))
	}
	for i := range u.Assets {
		if a := book.Answer(i); a == nil || a.Price != price.MustParse("42.5") {
			t.Fatalf("asset %d: %+v", i, a)
		}
	}
}

func TestOneRequestInFlightPerAsset(t *testing.T) {
	u := manyAssets(t, 1, price.Coinbase, price.Kraken)
	release := make(chan struct{})
	rs := newRESTServer(t, func(w http.ResponseWriter, ex, sym string) {
		<-release
		fmt.Fprint(w, "7")
	})
	book := newBook(u, time.Minute)
	f := New(Config{Book: book, Sources: fakeSources(rs.URL, price.Coinbase, price.Kraken), Interval: 5 * time.Millisecond,
		Grace: -1, PerExchangeRate: 1000, CacheTTL: time.Millisecond})
	start(t, f)
	waitFor(t, 2*time.Second, "the first request", func() bool { return rs.count("") == 1 })
	time.Sleep(300 * time.Millisecond) // some 60 sweeps, every one of them seeing A0 unfresh
	if n := rs.count(""); n != 1 {
		t.Fatalf("%d requests while the first was in flight, want 1", n)
	}
	close(release)
	waitFor(t, 2*time.Second, "A0 priced", func() bool { return book.Answer(0) != nil })
	time.Sleep(50 * time.Millisecond)
	if n := rs.count(""); n != 1 {
		t.Fatalf("%d requests in all, want 1", n)
	}
}

func TestPerExchangeRate(t *testing.T) {
	u := manyAssets(t, 8, price.OKX)
	rs := newRESTServer(t, func(w http.ResponseWriter, ex, sym string) { fmt.Fprint(w, "3") })
	book := newBook(u, time.Minute)
	f := New(Config{Book: book, Sources: fakeSources(rs.URL, price.OKX), Interval: 20 * time.Millisecond, Grace: -1,
		MaxConcurrent: 8, PerExchangeRate: 20}) // at most one request start per 50 ms
	start(t, f)
	waitFor(t, 5*time.Second, "every asset priced", func() bool { return len(book.Unfresh(time.Now().UnixNano(), nil)) == 0 })
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.starts) != 8 {
		t.Fatalf("%d requests, want 8", len(rs.starts))
	}
	for i := 1; i < len(rs.starts); i++ {
		if gap := rs.starts[i].Sub(rs.starts[i-1]); gap < 40*time.Millisecond {
			t.Errorf("requests %d and %d to one exchange %v apart, want >= 50 ms", i-1, i, gap)
		}
	}
}

// TestErrorsCountedCachedAndNotFatal: a symbol one exchange cannot answer is asked at most
// once per cache TTL and the asset moves on to another exchange; errors are counted, logged,
// and never stop the fallback.
func TestErrorsCountedCachedAndNotFatal(t *testing.T) {
	// A0 is on coinbase (whose answers for it are bad) and kraken; A1 only on coinbase.
	u := mustUniverse(t, `{"assets":{"A0":{"coinbase":"A0-USD","kraken":"A0/USD"},"A1":{"coinbase":"A1-USD"}}}`)
	rs := newRESTServer(t, func(w http.ResponseWriter, ex, sym string) {
		if ex == "coinbase" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"NOT_FOUND"}`)
			return
		}
		fmt.Fprint(w, "11")
	})
	book := newBook(u, time.Minute)
	set := metrics.NewSet()
	f := New(Config{Book: book, Sources: fakeSources(rs.URL, price.Coinbase, price.Kraken), Interval: 10 * time.Millisecond,
		Grace: -1, PerExchangeRate: 1000, CacheTTL: 200 * time.Millisecond, Metrics: set})
	start(t, f)
	waitFor(t, 2*time.Second, "A0 priced from kraken", func() bool { return book.Answer(0) != nil })
	if a := book.Answer(0); a.Source != "kraken" {
		t.Fatalf("A0 from %s, want kraken", a.Source)
	}
	time.Sleep(500 * time.Millisecond) // some 50 sweeps
	// A1 can only be asked of coinbase, at most once per 200 ms: 3 or 4 times in ~550 ms.
	if n := rs.count("coinbase A1-USD"); n < 2 || n > 4 {
		t.Errorf("coinbase asked %d times for A1 in ~550 ms with a 200 ms cache", n)
	}
	if n := rs.count("coinbase A0-USD"); n != 1 {
		t.Errorf("coinbase asked %d times for A0, want 1 (then kraken)", n)
	}
	req, errs := f.Stats(price.Coinbase)
	if req == 0 || req != errs || int(req) != rs.count("coinbase A0-USD")+rs.count("coinbase A1-USD") {
		t.Errorf("coinbase stats: %d requests, %d errors; server saw %v", req, errs, rs.reqs)
	}
	if req, errs := f.Stats(price.Kraken); req != 1 || errs != 0 {
		t.Errorf("kraken stats: %d requests, %d errors", req, errs)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	for _, want := range []string{
		`trinity_rest_fallback_requests_total{exchange="coinbase",outcome="error"} `,
		`trinity_rest_fallback_requests_total{exchange="kraken",outcome="ok"} 1`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), `exchange="coinbase",outcome="cached"} 0`) {
		t.Errorf("no cached skips counted:\n%s", buf.String())
	}
}

// TestRateLimitedExchangeBacksOff: a 429 pauses the exchange (here for its Retry-After of 1 s)
// instead of retrying every sweep.
func TestRateLimitedExchangeBacksOff(t *testing.T) {
	u := manyAssets(t, 3, price.Bybit)
	var limited atomic.Bool
	limited.Store(true)
	rs := newRESTServer(t, func(w http.ResponseWriter, ex, sym string) {
		if limited.Load() {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"result":"error","reason":"RateLimited"}`)
			return
		}
		fmt.Fprint(w, "5")
	})
	book := newBook(u, time.Minute)
	f := New(Config{Book: book, Sources: fakeSources(rs.URL, price.Bybit), Interval: 10 * time.Millisecond,
		Grace: -1, PerExchangeRate: 1000, CacheTTL: time.Millisecond})
	start(t, f)
	waitFor(t, 2*time.Second, "the first request", func() bool { return rs.count("") >= 1 })
	time.Sleep(500 * time.Millisecond)
	// The first sweep dispatched all three assets; those that had not started when the first
	// 429 came back were dropped. Nothing after that.
	if n := rs.count(""); n > 3 {
		t.Fatalf("%d requests within 500 ms of a 429 with Retry-After 1", n)
	}
	before := rs.count("")
	limited.Store(false)
	waitFor(t, 3*time.Second, "recovery after the pause", func() bool { return len(book.Unfresh(time.Now().UnixNano(), nil)) == 0 })
	req, errs := f.Stats(price.Bybit)
	if errs != uint64(before) || req != errs+3 {
		t.Errorf("stats %d requests, %d errors; want %d errors and 3 successes", req, errs, before)
	}
}

func TestRunWithoutBook(t *testing.T) {
	if err := New(Config{}).Run(context.Background()); err == nil {
		t.Fatal("Run without a book: no error")
	}
}

func TestRatePerExchange(t *testing.T) {
	u := manyAssets(t, 1, price.Gemini, price.Kraken, price.OKX)
	srcs := fakeSources("http://127.0.0.1:1", price.Gemini, price.Kraken, price.OKX)
	kr := srcs[price.Kraken]
	kr.Rate = 10
	srcs[price.Kraken] = kr
	for _, tc := range []struct {
		rate float64
		want map[price.Exchange]time.Duration
	}{
		{0, map[price.Exchange]time.Duration{price.Gemini: time.Second, price.Kraken: 100 * time.Millisecond, price.OKX: 200 * time.Millisecond}},
		{0.5, map[price.Exchange]time.Duration{price.Gemini: 2 * time.Second, price.Kraken: 100 * time.Millisecond, price.OKX: 2 * time.Second}},
	} {
		f := New(Config{Book: newBook(u, time.Minute), Sources: srcs, PerExchangeRate: tc.rate})
		for ex, want := range tc.want {
			if got := f.exchanges[ex].spacing; got != want {
				t.Errorf("PerExchangeRate %v: %s requests %v apart, want %v", tc.rate, ex, got, want)
			}
		}
	}
}
