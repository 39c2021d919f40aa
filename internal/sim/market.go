package sim

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/trinityprice/trinity/internal/price"
)

// The market model: every asset has a common USD mid price that follows a seeded,
// deterministic random walk (log-normal steps); every exchange quotes each of its markets a
// little off that common price (a fixed per-exchange offset of at most ±0.05 %), with a bid
// below and an ask above it and a last trade between them. Markets quoted in USDT or USDC are
// priced in that coin, at a USDT/USD (USDC/USD) rate that itself wanders close to 1.0, so
// converting them at the live rate gives about the same USD price. Coinbase's -USDC products
// are aliases of its -USD books (as on the real exchange) and are priced in USD.

const (
	// walkSigma is the standard deviation of one step's log return (0.05 %).
	walkSigma = 0.0005
	// stableSigma and stableRevert drive the stablecoin rates: 1 + small mean-reverting noise.
	stableSigma  = 0.0001
	stableRevert = 0.1
	// halfSpread is half the bid-ask spread, relative to the mid (1 bp each side).
	halfSpread = 0.0001
	// maxOffset is the largest per-exchange deviation from the common price (0.05 %).
	maxOffset = 0.0005
)

// basePrices are plausible starting USD prices for well-known assets; other assets start at a
// price derived from their name (between 0.01 and 1000).
var basePrices = map[string]float64{
	"BTC": 100000, "ETH": 4000, "SOL": 200, "BNB": 650, "XRP": 2.5, "DOGE": 0.2, "ADA": 0.8,
	"AVAX": 35, "LINK": 20, "DOT": 7, "LTC": 100, "BCH": 450, "SHIB": 0.00002, "PEPE": 0.00001,
	"USDT": 1, "USDC": 1, "DAI": 1,
}

// asset is the common state of one asset.
type asset struct {
	name string
	mid  float64 // USD
	// stable assets (USDT, USDC, DAI) follow the stablecoin model instead of the walk.
	stable bool
}

// market is one exchange's market for an asset. Guarded by Server.mu.
type market struct {
	ex     price.Exchange
	symbol string
	asset  *asset
	quote  price.Quote
	offset float64 // relative deviation of this exchange from the common price

	last, bid, ask price.Value
	time           int64  // Unix nanos of the last move
	version        uint64 // bumped on every move

	// spike, when > 0 and before spikeUntil (Unix nanos), multiplies this market's price: the
	// Spike fault (an outlier quote on one exchange).
	spike      float64
	spikeUntil int64
}

// quoteSnap is a consistent copy of a market's values.
type quoteSnap struct {
	last, bid, ask price.Value
	time           int64
	version        uint64
}

func (m *market) snap() quoteSnap {
	return quoteSnap{last: m.last, bid: m.bid, ask: m.ask, time: m.time, version: m.version}
}

// world is the whole simulated market. Guarded by Server.mu.
type world struct {
	rng     *rand.Rand
	assets  []*asset
	markets map[marketKey]*market
	byEx    [price.NumExchanges][]*market
	usdt    float64 // USD per USDT
	usdc    float64 // USD per USDC
}

type marketKey struct {
	ex     price.Exchange
	symbol string
}

func newWorld(u *price.Universe, seed int64) *world {
	w := &world{
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x7472696e697479)),
		markets: map[marketKey]*market{},
		usdt:    1,
		usdc:    1,
	}
	for _, a := range u.Assets {
		as := &asset{name: a.Name, mid: basePrice(a.Name)}
		switch a.Name {
		case "USDT", "USDC", "DAI":
			as.stable = true
		}
		w.assets = append(w.assets, as)
		for _, mk := range a.Markets {
			m := &market{ex: mk.Exchange, symbol: mk.Symbol, asset: as, quote: mk.Quote, offset: exchangeOffset(mk.Exchange)}
			if mk.Exchange == price.Coinbase && mk.Quote == price.USDC && strings.HasSuffix(mk.Symbol, "-USDC") {
				m.quote = price.USD // Coinbase -USDC products are the -USD books
			}
			w.markets[marketKey{mk.Exchange, mk.Symbol}] = m
			w.byEx[mk.Exchange] = append(w.byEx[mk.Exchange], m)
		}
	}
	w.reprice(time.Now().UnixNano())
	return w
}

// basePrice is the starting USD price of an asset.
func basePrice(name string) float64 {
	if p, ok := basePrices[name]; ok {
		return p
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return math.Pow(10, float64(h.Sum32()%500)/100-2) // 0.01 .. 1000
}

// exchangeOffset is a fixed per-exchange deviation in [-maxOffset, maxOffset].
func exchangeOffset(ex price.Exchange) float64 {
	h := fnv.New32a()
	h.Write([]byte(ex.String()))
	return (float64(h.Sum32()%201)/100 - 1) * maxOffset
}

// step moves every asset one step and reprices every market at time now.
func (w *world) step(now int64) {
	w.usdt = 1 + (w.usdt-1)*(1-stableRevert) + stableSigma*w.rng.NormFloat64()
	w.usdc = 1 + (w.usdc-1)*(1-stableRevert) + stableSigma*w.rng.NormFloat64()
	for _, a := range w.assets {
		switch {
		case a.name == "USDT":
			a.mid = w.usdt
		case a.name == "USDC":
			a.mid = w.usdc
		case a.stable:
			a.mid = 1 + (a.mid-1)*(1-stableRevert) + stableSigma*w.rng.NormFloat64()
		default:
			a.mid *= math.Exp(walkSigma * w.rng.NormFloat64())
		}
	}
	w.reprice(now)
}

// reprice recomputes every market's bid, ask and last from the common prices.
func (w *world) reprice(now int64) {
	for _, ex := range w.byEx {
		for _, m := range ex {
			w.repriceMarket(m, now, w.rng.Float64())
		}
	}
}

// repriceMarket recomputes m's bid, ask and last from the common price of its asset (times
// its spike factor while a spike lasts) and marks it moved at now. r in [0, 1) places the last
// trade between bid and ask.
func (w *world) repriceMarket(m *market, now int64, r float64) {
	rate := 1.0
	switch m.quote {
	case price.USDT:
		rate = w.usdt
	case price.USDC:
		rate = w.usdc
	}
	if m.asset.name == "USDT" && m.quote == price.USDT || m.asset.name == "USDC" && m.quote == price.USDC {
		rate = m.asset.mid // a coin quoted in itself is 1
	}
	mid := m.asset.mid * (1 + m.offset) / rate
	if m.spike > 0 && now < m.spikeUntil {
		mid *= m.spike
	}
	dec := decimals(mid)
	scale := math.Pow(10, float64(dec))
	bidU := math.Floor(mid * (1 - halfSpread) * scale)
	askU := math.Ceil(mid * (1 + halfSpread) * scale)
	if askU <= bidU {
		askU = bidU + 1
	}
	if bidU < 1 {
		bidU, askU = 1, max(askU, 2)
	}
	lastU := bidU + math.Floor(r*(askU-bidU+1))
	m.bid, m.ask, m.last = toValue(bidU, dec), toValue(askU, dec), toValue(lastU, dec)
	m.time = now
	m.version++
}

// decimals is the number of decimal places quoted for a price of about p: six to seven
// significant digits, between 2 and 10 decimals.
func decimals(p float64) int {
	if p <= 0 {
		return 2
	}
	d := 6 - int(math.Floor(math.Log10(p)))
	return min(max(d, 2), 10)
}

// toValue converts units of 10^-dec to a price.Value.
func toValue(units float64, dec int) price.Value {
	v := price.Value(units)
	for i := dec; i < price.Scale; i++ {
		v *= 10
	}
	return v
}
