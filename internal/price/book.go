package price

import (
	"sync"
	"sync/atomic"
	"time"
)

// Params are the aggregation parameters. They can be changed while the book runs.
type Params struct {
	// Freshness is how long a source's last update counts as fresh (default 10 s).
	Freshness time.Duration
	// OutlierFraction drops a source further than this fraction from the median of the fresh
	// sources (default 0.02 = 2 %). It applies when at least three sources are fresh.
	OutlierFraction float64
	// StaleLimit is how long the last price is still served, marked stale, after its last
	// fresh source went quiet (default 5 min). After that the asset has no answer (503).
	StaleLimit time.Duration
}

// DefaultParams returns the documented defaults.
func DefaultParams() Params {
	return Params{Freshness: 10 * time.Second, OutlierFraction: 0.02, StaleLimit: 5 * time.Minute}
}

// Answer is the published state of one asset: the aggregate and its pre-built JSON. An
// Answer is immutable once published; readers get it with one atomic load and never lock.
type Answer struct {
	Asset string
	Price Value
	// Source is "aggregate" when several sources were used, else the one exchange's name.
	Source string
	Bid    Value // median of the used sources' bids, 0 when none known
	Ask    Value // median of the used sources' asks, 0 when none known
	// Changed is when the price last changed, in Unix nanoseconds.
	Changed int64
	Stale   bool
	// Used is the number of sources in the aggregate (0 when stale).
	Used int
	// JSON is the full answer object with per-source provenance.
	JSON []byte
	// Brief is the same object without the per-source list, for size-bounded transports.
	Brief []byte
}

// source is one exchange's last known market state for an asset.
type source struct {
	listed   bool
	symbol   string
	quote    Quote
	last     Value
	bid      Value
	ask      Value
	exTime   int64
	received int64
}

// assetState is the mutable state of one asset, guarded by mu; answer is read without it.
type assetState struct {
	mu        sync.Mutex
	name      string
	sources   [NumExchanges]source
	price     Value
	changed   int64 // when price last changed
	freshAt   int64 // last time the aggregate had a fresh source
	nextCheck int64 // when the sweeper must recompute (a source expires or stale limit ends)
	rates     [4]Value
	answer    atomic.Pointer[Answer]
}

type route struct {
	asset int32
}

// Book keeps every asset's sources and publishes each asset's Answer on change. Apply is safe
// for concurrent use by many feeds; Lookup is lock-free and allocation-free.
type Book struct {
	universe *Universe
	assets   []*assetState
	byName   map[string]int32
	routes   [NumExchanges]map[string]route
	params   atomic.Pointer[Params]
	// rate[q] is the USD value of one unit of quote q (USD is always 1).
	rate [4]atomic.Int64
	// usdt and usdc are the asset indexes of the stablecoins, -1 when not in the universe.
	usdt, usdc int32
	// onPublish, when set, observes tick-to-serve latency: frame received → answer visible.
	onPublish func(d time.Duration)
	ticks     atomic.Uint64
	now       func() int64
	assetList []byte
}

// BookConfig configures a Book.
type BookConfig struct {
	Universe *Universe
	Params   Params
	// OnPublish, when set, is called with the tick-to-serve latency of every published answer
	// that a tick caused. It runs on the feed goroutine and must be fast.
	OnPublish func(d time.Duration)
	// Now returns the time in Unix nanoseconds; nil means the wall clock. For tests.
	Now func() int64
}

// NewBook builds an empty book for a universe.
func NewBook(cfg BookConfig) *Book {
	b := &Book{universe: cfg.Universe, byName: make(map[string]int32), onPublish: cfg.OnPublish, now: cfg.Now, usdt: -1, usdc: -1}
	if b.now == nil {
		b.now = NowNanos
	}
	p := cfg.Params
	b.params.Store(&p)
	for q := range b.rate {
		b.rate[q].Store(int64(one))
	}
	for i := range b.routes {
		b.routes[i] = make(map[string]route)
	}
	for i, a := range cfg.Universe.Assets {
		st := &assetState{name: a.Name}
		for _, m := range a.Markets {
			st.sources[m.Exchange] = source{listed: true, symbol: m.Symbol, quote: m.Quote}
			b.routes[m.Exchange][m.Symbol] = route{asset: int32(i)}
		}
		b.assets = append(b.assets, st)
		b.byName[a.Name] = int32(i)
		switch a.Name {
		case "USDT":
			b.usdt = int32(i)
		case "USDC":
			b.usdc = int32(i)
		}
	}
	b.assetList = buildAssetList(cfg.Universe)
	return b
}

// Universe returns the book's asset universe.
func (b *Book) Universe() *Universe { return b.universe }

// Params returns the current aggregation parameters.
func (b *Book) Params() Params { return *b.params.Load() }

// SetParams replaces the aggregation parameters; the next sweep applies them to every asset.
func (b *Book) SetParams(p Params) {
	b.params.Store(&p)
	for _, st := range b.assets {
		st.mu.Lock()
		st.nextCheck = 0
		st.mu.Unlock()
	}
}

// Ticks returns how many ticks the book has applied.
func (b *Book) Ticks() uint64 { return b.ticks.Load() }

// AssetListJSON returns the pre-built JSON of GET /assets.
func (b *Book) AssetListJSON() []byte { return b.assetList }

// Index returns the index of the asset named by name, matched case-insensitively, or -1.
// It does not allocate.
func (b *Book) Index(name []byte) int {
	var buf [24]byte
	if len(name) == 0 || len(name) > len(buf) {
		return -1
	}
	for i, c := range name {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	i, ok := b.byName[string(buf[:len(name)])]
	if !ok {
		return -1
	}
	return int(i)
}

// Name returns the name of asset i.
func (b *Book) Name(i int) string { return b.assets[i].name }

// Len returns the number of assets.
func (b *Book) Len() int { return len(b.assets) }

// Answer returns the published answer of asset i, or nil when it has no price (never priced,
// or stale beyond the limit). It is lock-free and does not allocate.
func (b *Book) Answer(i int) *Answer { return b.assets[i].answer.Load() }

// Lookup returns the index and published answer of the named asset; index -1 means the
// asset is unknown, a nil answer that it has no price now.
func (b *Book) Lookup(name []byte) (int, *Answer) {
	i := b.Index(name)
	if i < 0 {
		return -1, nil
	}
	return i, b.assets[i].answer.Load()
}

// Apply records a tick and republishes the asset's answer. It is safe for concurrent use.
func (b *Book) Apply(t *Tick) {
	if int(t.Exchange) >= NumExchanges {
		return
	}
	r, ok := b.routes[t.Exchange][t.Symbol]
	if !ok {
		return
	}
	b.ticks.Add(1)
	st := b.assets[r.asset]
	st.mu.Lock()
	s := &st.sources[t.Exchange]
	if t.Last > 0 {
		s.last = t.Last
	}
	if t.Bid > 0 {
		s.bid = t.Bid
	}
	if t.Ask > 0 {
		s.ask = t.Ask
	}
	if t.ExchangeTime != 0 {
		s.exTime = t.ExchangeTime
	}
	s.received = t.Received
	if s.received == 0 {
		s.received = b.now()
	}
	b.recompute(st, int(r.asset), b.now())
	st.mu.Unlock()
	if b.onPublish != nil && t.Received > 0 {
		b.onPublish(time.Duration(b.now() - t.Received))
	}
}

// Sweep recomputes every asset whose freshness may have changed since its last computation
// (a source aged out, the stale limit passed, a conversion rate moved). Run calls it
// periodically; tests call it directly.
func (b *Book) Sweep() {
	now := b.now()
	for i, st := range b.assets {
		st.mu.Lock()
		if now >= st.nextCheck || st.rates != b.rates() {
			b.recompute(st, i, now)
		}
		st.mu.Unlock()
	}
}

// Unfresh appends to dst the indexes of the assets that have no fresh source at time now
// (Unix nanoseconds) and returns it: assets never priced, and assets whose every source's last
// update is older than Params.Freshness at now (stale, or past the stale limit). A source
// counts exactly as in the aggregate: received at some time and carrying a usable price.
// Index i is the book's asset i (Name(i), Answer(i)), which is also Universe().Assets[i].
// Passing a time ahead of the clock asks which assets will have no fresh source by then if
// nothing new arrives (the REST fallback looks ahead so as to refresh before expiry). It
// locks each asset briefly, one at a time, and allocates only when dst must grow.
func (b *Book) Unfresh(now int64, dst []int) []int {
	freshness := int64(b.params.Load().Freshness)
	for i, st := range b.assets {
		fresh := false
		st.mu.Lock()
		for ex := 1; ex < NumExchanges && !fresh; ex++ {
			s := &st.sources[ex]
			priced := s.last > 0 || (s.bid > 0 && s.ask > 0 && s.bid <= s.ask)
			fresh = s.listed && s.received != 0 && priced && now < s.received+freshness
		}
		st.mu.Unlock()
		if !fresh {
			dst = append(dst, i)
		}
	}
	return dst
}

// Run sweeps every interval until done is closed.
func (b *Book) Run(done <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			b.Sweep()
		}
	}
}

func (b *Book) rates() [4]Value {
	return [4]Value{0, one, Value(b.rate[USDT].Load()), Value(b.rate[USDC].Load())}
}

// contribution is one source's part in an aggregate, in USD.
type contribution struct {
	ex      Exchange
	price   Value // reference price in USD
	bid     Value
	ask     Value
	last    Value
	fresh   bool
	used    bool
	src     *source
	outlier bool
}

// recompute aggregates st at time now and publishes a new answer. st.mu must be held.
func (b *Book) recompute(st *assetState, idx int, now int64) {
	p := b.params.Load()
	rates := b.rates()
	st.rates = rates
	var cs [NumExchanges]contribution
	n := 0
	nextCheck := int64(1<<63 - 1)
	fresh := 0
	for ex := 1; ex < NumExchanges; ex++ {
		s := &st.sources[ex]
		if !s.listed || s.received == 0 {
			continue
		}
		ref := s.last
		if s.bid > 0 && s.ask > 0 && s.bid <= s.ask {
			ref = Mid(s.bid, s.ask)
		}
		if ref <= 0 {
			continue
		}
		r := rates[s.quote]
		c := contribution{ex: Exchange(ex), price: ref.Mul(r), bid: s.bid.Mul(r), ask: s.ask.Mul(r), last: s.last.Mul(r), src: s}
		expires := s.received + int64(p.Freshness)
		if now < expires {
			c.fresh = true
			fresh++
			if expires < nextCheck {
				nextCheck = expires
			}
		}
		cs[n] = c
		n++
	}
	used := markUsed(cs[:n], p.OutlierFraction)
	ans := &Answer{Asset: st.name}
	if used > 0 {
		var prices, bids, asks [NumExchanges]Value
		np, nb, na := 0, 0, 0
		for _, c := range cs[:n] {
			if !c.used {
				continue
			}
			prices[np] = c.price
			np++
			if c.bid > 0 {
				bids[nb] = c.bid
				nb++
			}
			if c.ask > 0 {
				asks[na] = c.ask
				na++
			}
		}
		ans.Price = median(prices[:np])
		ans.Bid = median(bids[:nb])
		ans.Ask = median(asks[:na])
		ans.Used = used
		ans.Source = "aggregate"
		if used == 1 {
			for _, c := range cs[:n] {
				if c.used {
					ans.Source = c.ex.String()
				}
			}
		}
		st.freshAt = now
		if ans.Price != st.price {
			st.price = ans.Price
			st.changed = now
		}
	} else {
		// No fresh source: serve the last price, marked stale, until the stale limit.
		if st.price == 0 || now >= st.freshAt+int64(p.StaleLimit) {
			st.answer.Store(nil)
			st.nextCheck = nextCheck
			if st.price == 0 {
				st.nextCheck = 1<<63 - 1
			}
			return
		}
		ans.Price = st.price
		ans.Stale = true
		if lim := st.freshAt + int64(p.StaleLimit); lim < nextCheck {
			nextCheck = lim
		}
		ans.Source = "aggregate"
		if prev := st.answer.Load(); prev != nil {
			ans.Bid, ans.Ask, ans.Source = prev.Bid, prev.Ask, prev.Source
		}
	}
	ans.Changed = st.changed
	st.nextCheck = nextCheck
	ans.JSON = appendAnswer(make([]byte, 0, 256+160*n), ans, cs[:n], true)
	ans.Brief = appendAnswer(make([]byte, 0, 192), ans, nil, false)
	st.answer.Store(ans)
	b.updateRate(idx, ans)
}

// updateRate keeps the USDT and USDC conversion rates equal to those assets' USD prices.
func (b *Book) updateRate(idx int, ans *Answer) {
	if ans.Stale || ans.Price <= 0 {
		return
	}
	switch int32(idx) {
	case b.usdt:
		b.rate[USDT].Store(int64(ans.Price))
	case b.usdc:
		b.rate[USDC].Store(int64(ans.Price))
	}
}

// markUsed marks the fresh contributions that enter the aggregate and returns their number.
// With three or more fresh sources, a source further than frac from the median of all fresh
// sources is an outlier and left out; with fewer there is nothing to compare against.
//
// The reference is the median of all fresh sources rather than of "the others": with three
// sources the median of the two others is their mean, which a single outlier contaminates so
// that every source looks like an outlier. The median of all is robust to any minority.
func markUsed(cs []contribution, frac float64) int {
	var fresh [NumExchanges]Value
	nf := 0
	for _, c := range cs {
		if c.fresh {
			fresh[nf] = c.price
			nf++
		}
	}
	ref := median(fresh[:nf]).Float()
	used := 0
	for i := range cs {
		c := &cs[i]
		if !c.fresh {
			continue
		}
		if nf >= 3 && frac > 0 && ref > 0 {
			if d := (c.price.Float() - ref) / ref; d > frac || d < -frac {
				c.outlier = true
				continue
			}
		}
		c.used = true
		used++
	}
	if used == 0 && nf > 0 {
		// Every fresh source disagrees with the median: keep them all rather than none.
		for i := range cs {
			if cs[i].fresh {
				cs[i].used, cs[i].outlier = true, false
				used++
			}
		}
	}
	return used
}

// median returns the median of vs (mean of the middle two for an even count), 0 for none.
// It sorts vs in place.
func median(vs []Value) Value {
	switch len(vs) {
	case 0:
		return 0
	case 1:
		return vs[0]
	}
	// insertion sort: at most one value per exchange, and no allocation
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && vs[j] < vs[j-1]; j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
	m := len(vs) / 2
	if len(vs)%2 == 1 {
		return vs[m]
	}
	return Mid(vs[m-1], vs[m])
}
