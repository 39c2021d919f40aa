// Package fallback prices assets that have no fresh WebSocket source from the exchanges' REST
// ticker endpoints (DESIGN §5, "REST fallback").
//
// Every Interval the fallback asks the book which assets will have no fresh source within a
// short look-ahead (price.Book.Unfresh) and fetches, for each, one REST ticker from one
// exchange that lists the asset, through that exchange's adapter (feed.RESTTicker: its real
// endpoint and response shape). The tick goes into the book like any other, with Received set
// to the time the response was read, so a REST price is exactly as fresh as its age and the
// asset leaves the unfresh list until it ages out again.
//
// Choosing the exchange: an unfresh asset has, by definition, no fresh WebSocket source on any
// of its exchanges, so every exchange that lists it is equally "down" for it. The fallback
// sticks to the exchange that last answered for the asset (one consistent source) and moves on
// to the next listed exchange, in the universe's order, after that exchange fails, is backing
// off, is out of request budget for this sweep, or was already asked for this symbol within the
// cache TTL.
//
// Caution towards the exchanges:
//   - at most MaxConcurrent requests in flight in total (a semaphore; default 4);
//   - at most one request in flight per asset (singleflight: an asset whose request is still
//     running is skipped by later sweeps, never queued twice);
//   - at most PerExchangeRate request starts per second per exchange (default 5/s: requests to
//     one exchange start at least 200 ms apart, whatever the concurrency), and less where the
//     exchange asks for less (PublicRate: 1/s for Gemini, whose documentation limits public
//     endpoints to 120 requests a minute and recommends at most one a second, and for Kraken,
//     whose public endpoints are throttled per IP, reportedly to about one call a second
//     sustained). An
//     asset whose exchange is out of budget in a sweep is asked of another exchange that lists
//     it;
//   - at most one request per (exchange, symbol) per cache TTL (default 2 s, and never more
//     than half the book's freshness so a cached success cannot delay a refresh): the cache
//     records when each (exchange, symbol) was last asked; a success is already in the book
//     with its true receive time and is never re-applied, and after a failure the next sweeps
//     ask another exchange that lists the asset (if any) until the entry expires;
//   - after a transport error, HTTP 429 or a 5xx answer, the exchange is left alone for a
//     backoff that doubles from 1 s to 30 s (or the Retry-After it sent, up to 60 s), reset by
//     the next success.
//
// Metrics: trinity_rest_fallback_requests_total{exchange,outcome="ok|error|cached"}, where
// cached counts the times a sweep skipped an (exchange, symbol) because it was asked within
// the TTL. Stats returns the per-exchange request and error counts for GET /exchanges.
package fallback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

// Defaults for the Config fields left zero.
const (
	DefaultInterval        = time.Second
	DefaultMaxConcurrent   = 4
	DefaultCacheTTL        = 2 * time.Second
	DefaultPerExchangeRate = 5.0 // requests per second per exchange
	DefaultRequestTimeout  = 5 * time.Second
	// maxBody bounds a ticker response; the largest real one (Crypto.com's get-tickers for one
	// instrument) is well under 2 KiB.
	maxBody = 256 << 10
	// backoffBase and backoffCap shape the per-exchange pause after failures.
	backoffBase = time.Second
	backoffCap  = 30 * time.Second
	// retryAfterCap bounds how long a Retry-After header can silence an exchange.
	retryAfterCap = time.Minute
)

// Source is one exchange's REST ticker.
type Source struct {
	// Ticker is the exchange adapter's REST ticker (its Protocol). Required.
	Ticker feed.RESTTicker
	// BaseURL is the REST base URL ("https://api.kraken.com"); empty means
	// Ticker.DefaultRESTURL().
	BaseURL string
	// Rate, when > 0, is the most request starts per second to this exchange, replacing
	// min(Config.PerExchangeRate, PublicRate(exchange)).
	Rate float64
}

// PublicRate returns the request rate (per second) an exchange asks unauthenticated clients of
// its public REST API not to exceed, where it is lower than DefaultPerExchangeRate, else 0
// (no particular limit known).
func PublicRate(ex price.Exchange) float64 {
	switch ex {
	case price.Gemini, price.Kraken:
		return 1
	}
	return 0
}

// Config configures a Fallback. Zero fields take the defaults noted.
type Config struct {
	// Book is the price book to read freshness from and apply REST ticks to. Required.
	Book *price.Book
	// Sources are the exchanges with a REST ticker; an asset none of whose exchanges is here
	// is never fetched.
	Sources map[price.Exchange]Source
	// Client makes the requests; nil means a client with a RequestTimeout overall timeout.
	// Every request also carries a RequestTimeout deadline.
	Client *http.Client
	// Interval is how often the book is checked. Default 1 s.
	Interval time.Duration
	// Grace delays the first check after Run starts, so that the WebSocket feeds can connect
	// before assets that were never priced are fetched over REST. 0 means the book's
	// freshness when Run starts; negative means no delay.
	Grace time.Duration
	// Lead is how far ahead the fallback looks: an asset whose last fresh source expires within
	// Lead is refreshed now, so a REST-fed asset does not turn stale between two checks.
	// Default Interval + Interval/4; always capped at half the book's freshness.
	Lead time.Duration
	// MaxConcurrent bounds the requests in flight, over all exchanges. Default 4.
	MaxConcurrent int
	// PerExchangeRate bounds the request starts per second to one exchange, lowered to
	// PublicRate where that is lower; Source.Rate overrides both. Default 5.
	PerExchangeRate float64
	// CacheTTL is how long an (exchange, symbol) is not asked again; it is capped at half the
	// book's freshness. Default 2 s.
	CacheTTL time.Duration
	// RequestTimeout bounds one request, body included. Default 5 s.
	RequestTimeout time.Duration
	// Logger logs failures (throttled per exchange); nil discards.
	Logger *slog.Logger
	// Metrics receives trinity_rest_fallback_requests_total; nil keeps the counts private
	// (Stats still works).
	Metrics *metrics.Set
}

// candidate is one exchange's market for an asset.
type candidate struct {
	ex     *exchange
	symbol string
}

// exchange is the fallback's state for one exchange.
type exchange struct {
	id      price.Exchange
	ticker  feed.RESTTicker
	base    string
	spacing time.Duration // between request starts

	ok, failed, cached *metrics.Counter

	mu       sync.Mutex
	next     time.Time // earliest start of the next request (rate limit)
	blocked  time.Time // no request before this (backoff after failures)
	failures int       // consecutive failures
	lastLog  time.Time // throttles the failure log
}

type cacheKey struct {
	ex     price.Exchange
	symbol string
}

// Fallback fetches REST tickers for the book's unfresh assets. Create it with New and call Run
// once.
type Fallback struct {
	book   *price.Book
	client *http.Client
	log    *slog.Logger
	cfgErr error

	interval, grace, lead, cacheTTL, timeout time.Duration

	sem       chan struct{}
	exchanges [price.NumExchanges]*exchange
	markets   [][]candidate   // per asset (book index): the exchanges with a Source
	cursor    []atomic.Uint32 // per asset: the candidate to try first
	inflight  []atomic.Bool   // per asset: a request is queued or running

	cacheMu sync.Mutex
	cache   map[cacheKey]time.Time // when each (exchange, symbol) was last asked

	unfresh []int // scratch for sweep; only the Run goroutine uses it
	wg      sync.WaitGroup
}

// New returns a fallback for cfg. Configuration errors (no book) are reported by Run.
func New(cfg Config) *Fallback {
	f := &Fallback{
		book:     cfg.Book,
		client:   cfg.Client,
		log:      cfg.Logger,
		interval: orDefault(cfg.Interval, DefaultInterval),
		grace:    cfg.Grace,
		cacheTTL: orDefault(cfg.CacheTTL, DefaultCacheTTL),
		timeout:  orDefault(cfg.RequestTimeout, DefaultRequestTimeout),
		cache:    map[cacheKey]time.Time{},
	}
	f.lead = cfg.Lead
	if f.lead <= 0 {
		f.lead = f.interval + f.interval/4
	}
	n := cfg.MaxConcurrent
	if n <= 0 {
		n = DefaultMaxConcurrent
	}
	f.sem = make(chan struct{}, n)
	rate := cfg.PerExchangeRate
	if !(rate > 0) {
		rate = DefaultPerExchangeRate
	}
	if f.client == nil {
		f.client = &http.Client{Timeout: f.timeout}
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	set := cfg.Metrics
	if set == nil {
		set = metrics.NewSet()
	}
	for ex, src := range cfg.Sources {
		if int(ex) == 0 || int(ex) >= price.NumExchanges || src.Ticker == nil {
			continue
		}
		base := src.BaseURL
		if base == "" {
			base = src.Ticker.DefaultRESTURL()
		}
		r := src.Rate
		if !(r > 0) {
			r = rate
			if p := PublicRate(ex); p > 0 {
				r = min(r, p)
			}
		}
		label := `trinity_rest_fallback_requests_total{exchange="` + ex.String() + `",outcome="`
		f.exchanges[ex] = &exchange{
			id: ex, ticker: src.Ticker, base: strings.TrimSuffix(base, "/"), spacing: time.Duration(float64(time.Second) / r),
			ok:     set.GetOrCreateCounter(label + `ok"}`),
			failed: set.GetOrCreateCounter(label + `error"}`),
			cached: set.GetOrCreateCounter(label + `cached"}`),
		}
	}
	if f.book == nil {
		f.cfgErr = errors.New("fallback: Config.Book is required")
		return f
	}
	assets := f.book.Universe().Assets
	f.markets = make([][]candidate, len(assets))
	f.cursor = make([]atomic.Uint32, len(assets))
	f.inflight = make([]atomic.Bool, len(assets))
	for i, a := range assets {
		for _, m := range a.Markets {
			if e := f.exchanges[m.Exchange]; e != nil {
				f.markets[i] = append(f.markets[i], candidate{ex: e, symbol: m.Symbol})
			}
		}
	}
	return f
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Stats returns how many REST requests the fallback made to ex (answered or not) and how
// many of them failed. Cache skips are not requests. It is safe for concurrent use.
func (f *Fallback) Stats(ex price.Exchange) (requests, errors uint64) {
	if int(ex) >= len(f.exchanges) || f.exchanges[ex] == nil {
		return 0, 0
	}
	e := f.exchanges[ex]
	return e.ok.Get() + e.failed.Get(), e.failed.Get()
}

// Run checks the book every Interval (after Grace) until ctx is done, then waits for the
// requests in flight to end and returns nil. It returns an error only for an invalid
// configuration.
func (f *Fallback) Run(ctx context.Context) error {
	if f.cfgErr != nil {
		return f.cfgErr
	}
	defer f.wg.Wait()
	grace := f.grace
	if grace == 0 {
		grace = f.book.Params().Freshness
	}
	if grace > 0 {
		t := time.NewTimer(grace)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		f.sweep(ctx, time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sweep starts a request for every asset that has no fresh source within the look-ahead and
// none in flight. Requests run in the background; sweep does not wait for them.
func (f *Fallback) sweep(ctx context.Context, now time.Time) {
	freshness := f.book.Params().Freshness
	lead := min(f.lead, freshness/2)
	ttl := min(f.cacheTTL, freshness/2)
	f.unfresh = f.book.Unfresh(now.UnixNano()+int64(lead), f.unfresh[:0])
	if len(f.unfresh) == 0 {
		return
	}
	// Each sweep queues no more requests per exchange than its rate allows in one interval,
	// so a long list of unfresh assets spreads over sweeps and exchanges.
	var budget [price.NumExchanges]int
	for i, e := range f.exchanges {
		if e != nil {
			budget[i] = max(1, int((f.interval+e.spacing-1)/e.spacing))
		}
	}
	f.expire(now, ttl)
	for _, i := range f.unfresh {
		cands := f.markets[i]
		if len(cands) == 0 || f.inflight[i].Load() {
			continue
		}
		start := int(f.cursor[i].Load()) % len(cands)
		for k := range cands {
			j := (start + k) % len(cands)
			c := cands[j]
			if f.askedWithin(c, now, ttl) {
				c.ex.cached.Inc()
				continue
			}
			if budget[c.ex.id] == 0 || c.ex.backingOff(now) {
				continue
			}
			budget[c.ex.id]--
			f.cursor[i].Store(uint32(j))
			f.inflight[i].Store(true)
			f.markAsked(c, now)
			f.wg.Go(func() { f.fetch(ctx, i, j, c) })
			break
		}
	}
}

// askedWithin reports whether c was asked less than ttl before now.
func (f *Fallback) askedWithin(c candidate, now time.Time, ttl time.Duration) bool {
	f.cacheMu.Lock()
	defer f.cacheMu.Unlock()
	at, ok := f.cache[cacheKey{c.ex.id, c.symbol}]
	return ok && now.Sub(at) < ttl
}

func (f *Fallback) markAsked(c candidate, now time.Time) {
	f.cacheMu.Lock()
	f.cache[cacheKey{c.ex.id, c.symbol}] = now
	f.cacheMu.Unlock()
}

// expire drops cache entries older than ttl, so the cache holds at most the symbols asked in
// the last ttl.
func (f *Fallback) expire(now time.Time, ttl time.Duration) {
	f.cacheMu.Lock()
	defer f.cacheMu.Unlock()
	for k, at := range f.cache {
		if now.Sub(at) >= ttl {
			delete(f.cache, k)
		}
	}
}

// fetch asks c's exchange for c's ticker and applies it to the book; j is c's position among
// asset i's candidates.
func (f *Fallback) fetch(ctx context.Context, i, j int, c candidate) {
	defer f.inflight[i].Store(false)
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-f.sem }()
	if !c.ex.wait(ctx) {
		return
	}
	t := price.Tick{Exchange: c.ex.id, Symbol: c.symbol}
	retryAfter, err := f.get(ctx, c, &t)
	if ctx.Err() != nil {
		return // shutting down: neither a success nor the exchange's fault
	}
	if err != nil {
		c.ex.failed.Inc()
		if n := len(f.markets[i]); n > 1 {
			f.cursor[i].CompareAndSwap(uint32(j), uint32((j+1)%n))
		}
		c.ex.fail(err, retryAfter, f.log, c.symbol)
		return
	}
	c.ex.ok.Inc()
	c.ex.succeed()
	f.book.Apply(&t)
}

// errBackoff marks a failure that says the exchange itself is in trouble or wants less
// traffic (transport error, 429, 5xx), as opposed to a bad answer for one symbol.
type errBackoff struct{ error }

// get makes the request and parses the answer into t, with t.Received the time the body was
// read. retryAfter is the Retry-After of a 429 or 503 answer, if any.
func (f *Fallback) get(ctx context.Context, c candidate, t *price.Tick) (retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	url := c.ex.base + c.ex.ticker.TickerPath(c.symbol)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("rest ticker %s: %w", c.symbol, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "trinity-rest-fallback/1")
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, errBackoff{fmt.Errorf("rest ticker %s: %w", c.symbol, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	t.Received = time.Now().UnixNano()
	if err != nil {
		return 0, errBackoff{fmt.Errorf("rest ticker %s: read body: %w", c.symbol, err)}
	}
	if len(body) > maxBody {
		return 0, fmt.Errorf("rest ticker %s: answer larger than %d bytes", c.symbol, maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("rest ticker %s: HTTP %d", c.symbol, resp.StatusCode)
		if perr := c.ex.ticker.ParseTicker(c.symbol, body, &price.Tick{}); perr != nil {
			msg += ": " + perr.Error()
		}
		err := errors.New(msg)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
				retryAfter = time.Duration(s) * time.Second
			}
			return retryAfter, errBackoff{err}
		}
		return 0, err
	}
	if err := c.ex.ticker.ParseTicker(c.symbol, body, t); err != nil {
		return 0, fmt.Errorf("rest ticker %s: %w", c.symbol, err)
	}
	return 0, nil
}

// wait reserves the exchange's next request slot (spacing apart from the previous one) and
// sleeps until it. It returns false, without reserving, when the exchange is backing off
// (the request is dropped; a later sweep tries another exchange), or when ctx ended first.
func (e *exchange) wait(ctx context.Context) bool {
	e.mu.Lock()
	now := time.Now()
	if now.Before(e.blocked) {
		e.mu.Unlock()
		return false
	}
	at := now
	if e.next.After(at) {
		at = e.next
	}
	e.next = at.Add(e.spacing)
	e.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (e *exchange) backingOff(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return now.Before(e.blocked)
}

func (e *exchange) succeed() {
	e.mu.Lock()
	e.failures = 0
	e.mu.Unlock()
}

// fail records a failed request: a transport error, 429 or 5xx pauses the exchange.
func (e *exchange) fail(err error, retryAfter time.Duration, log *slog.Logger, symbol string) {
	now := time.Now()
	e.mu.Lock()
	var pause time.Duration
	if errors.As(err, new(errBackoff)) {
		// Requests that were already running when a pause began fail together; they count
		// as one failure, so a burst of them does not escalate the pause.
		if !now.Before(e.blocked) {
			e.failures++
		}
		pause = backoffBase
		for k := 1; k < e.failures && pause < backoffCap; k++ {
			pause *= 2
		}
		pause = min(pause, backoffCap)
		pause = max(pause, min(retryAfter, retryAfterCap))
		if until := now.Add(pause); until.After(e.blocked) {
			e.blocked = until
		}
	}
	logIt := now.Sub(e.lastLog) >= 10*time.Second
	if logIt {
		e.lastLog = now
	}
	e.mu.Unlock()
	if logIt {
		log.Warn("rest fallback request failed", "exchange", e.id.String(), "symbol", symbol, "err", err, "pause", pause)
	}
}
