package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/trinityprice/trinity/internal/price"
)

// The simulated public REST ticker endpoints the REST fallback uses. Each venue serves its
// exchange's REST API by implementing restVenue (sim.go); Coinbase's and Kraken's are here,
// Crypto.com's is in cryptocom.go. Every answer carries the market's current simulated quote,
// in the exchange's real response shape, so an adapter's feed.RESTTicker.ParseTicker reads back
// exactly what Quote returns. Faults (Stall, Disconnect, SendMalformed, Refuse) apply to the
// WebSocket feeds only; a Spike moves the market, so the REST ticker shows it too.

// writeJSON answers with status and v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// marketsOf returns ex's markets in universe order.
func (s *Server) marketsOf(ex price.Exchange) []*market {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]*market(nil), s.world.byEx[ex]...)
}

// ---- Coinbase Advanced Trade: GET /api/v3/brokerage/market/products/{product_id}/ticker ----

func (coinbaseVenue) restPrefix() string { return "/coinbase-rest" }

// cbRESTTicker is the public product ticker response: the latest trades and the best bid/ask.
type cbRESTTicker struct {
	Trades  []cbRESTTrade `json:"trades"`
	BestBid string        `json:"best_bid"`
	BestAsk string        `json:"best_ask"`
}

type cbRESTTrade struct {
	TradeID   string `json:"trade_id"`
	ProductID string `json:"product_id"`
	Price     string `json:"price"`
	Size      string `json:"size"`
	Time      string `json:"time"`
	Side      string `json:"side"`
	Bid       string `json:"bid"`
	Ask       string `json:"ask"`
	Exchange  string `json:"exchange"`
}

// serveREST answers GET /api/v3/brokerage/market/products/{product_id}/ticker with one trade
// at the simulated last price (time = the market's last move) and the simulated best bid and
// ask. An unknown product gets 404 {"error":"NOT_FOUND",...}. As on the real exchange, a -USDC
// product answers with its -USD book (product_id BTC-USD).
func (coinbaseVenue) serveREST(s *Server, w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/api/v3/brokerage/market/products/")
	if ok {
		id, ok = strings.CutSuffix(id, "/ticker")
	}
	if !ok || id == "" || strings.Contains(id, "/") {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "NOT_FOUND", "error_details": "not found", "message": "not found"})
		return
	}
	m := s.market(price.Coinbase, id)
	if m == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "NOT_FOUND", "error_details": "ProductID not found", "message": "ProductID not found"})
		return
	}
	q := s.snap(m)
	writeJSON(w, http.StatusOK, cbRESTTicker{
		Trades: []cbRESTTrade{{
			TradeID:   strconv.FormatUint(q.version, 10),
			ProductID: cbProductID(m.symbol),
			Price:     q.last.String(),
			Size:      "0.00064",
			Time:      time.Unix(0, q.time).UTC().Format(time.RFC3339Nano),
			Side:      "SELL",
			Exchange:  "coinbase",
		}},
		BestBid: q.bid.String(),
		BestAsk: q.ask.String(),
	})
}

// ---- Kraken: GET /0/public/Ticker?pair=XBTUSD ----

func (krakenVenue) restPrefix() string { return "/kraken-rest" }

// krRESTAssets are the v2 asset codes whose REST code differs; krLegacy the assets Kraken
// names with an X (crypto) or Z (fiat) prefix in its internal pair names (XXBTZUSD).
var (
	krRESTAssets = map[string]string{"BTC": "XBT", "DOGE": "XDG"}
	krLegacy     = map[string]string{
		"XBT": "X", "ETH": "X", "LTC": "X", "XRP": "X", "XLM": "X", "XDG": "X", "ETC": "X", "XMR": "X",
		"ZEC": "X", "REP": "X", "MLN": "X", "USD": "Z", "EUR": "Z", "GBP": "Z", "JPY": "Z", "CAD": "Z",
	}
)

// krPairNames returns the names Kraken's REST API knows the v2 symbol ("BTC/USD") by: the
// altname ("XBTUSD"), the plain name ("BTCUSD") and the internal name ("XXBTZUSD"; an
// approximation of Kraken's rule: legacy assets get an X or Z prefix when both sides are
// legacy assets). The internal name is the result key of a Ticker answer.
func krPairNames(symbol string) (alt, plain, internal string) {
	base, quote, ok := strings.Cut(symbol, "/")
	if !ok {
		return symbol, symbol, symbol
	}
	rb, rq := base, quote
	if r, ok := krRESTAssets[base]; ok {
		rb = r
	}
	if r, ok := krRESTAssets[quote]; ok {
		rq = r
	}
	alt, plain, internal = rb+rq, base+quote, rb+rq
	pb, okb := krLegacy[rb]
	pq, okq := krLegacy[rq]
	if okb && okq {
		internal = pb + rb + pq + rq
	}
	return alt, plain, internal
}

type krRESTTicker struct {
	A []string `json:"a"`
	B []string `json:"b"`
	C []string `json:"c"`
	V []string `json:"v"`
	P []string `json:"p"`
	T []int    `json:"t"`
	L []string `json:"l"`
	H []string `json:"h"`
	O string   `json:"o"`
}

// krRESTPrice formats v as Kraken's REST API does: a decimal string with at least five
// decimals ("105944.30000"); more when the price needs them.
func krRESTPrice(v price.Value) string {
	s := v.String()
	frac := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		frac = len(s) - i - 1
	} else {
		s += "."
	}
	if frac < 5 {
		s += strings.Repeat("0", 5-frac)
	}
	return s
}

// serveREST answers GET /0/public/Ticker?pair=P[,P...] with {"error":[],"result":{...}}, keyed
// by each pair's internal name. A pair may be named by its altname (XBTUSD), plain name
// (BTCUSD), internal name (XXBTZUSD) or v2 symbol (BTC/USD). A missing or unknown pair gets
// {"error":["EQuery:Unknown asset pair"]} with status 200, as Kraken does.
func (krakenVenue) serveREST(s *Server, w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/0/public/Ticker" {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": []string{"EGeneral:Unknown method"}})
		return
	}
	unknown := map[string]any{"error": []string{"EQuery:Unknown asset pair"}}
	pairs := r.URL.Query().Get("pair")
	if pairs == "" {
		writeJSON(w, http.StatusOK, unknown)
		return
	}
	markets := s.marketsOf(price.Kraken)
	result := map[string]krRESTTicker{}
	for _, pair := range strings.Split(pairs, ",") {
		var found *market
		var key string
		for _, m := range markets {
			alt, plain, internal := krPairNames(m.symbol)
			if pair == alt || pair == plain || pair == internal || pair == m.symbol {
				found, key = m, internal
				break
			}
		}
		if found == nil {
			writeJSON(w, http.StatusOK, unknown)
			return
		}
		q := s.snap(found)
		result[key] = krRESTTicker{
			A: []string{krRESTPrice(q.ask), "1", "1.000"},
			B: []string{krRESTPrice(q.bid), "1", "1.000"},
			C: []string{krRESTPrice(q.last), "0.00009443"},
			V: []string{"0.78648221", "163.28908096"},
			P: []string{krRESTPrice(q.last), krRESTPrice(q.last)},
			T: []int{35, 3276},
			L: []string{krRESTPrice(q.bid - q.bid/20), krRESTPrice(q.bid - q.bid/20)},
			H: []string{krRESTPrice(q.ask + q.ask/20), krRESTPrice(q.ask + q.ask/20)},
			O: krRESTPrice(q.last),
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"error": []string{}, "result": result})
}
