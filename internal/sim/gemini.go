package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/trinityprice/trinity/internal/price"
)

// geminiVenue simulates Gemini's new market-data WebSocket API, the "Fast API"
// (wss://ws.gemini.com), on /gemini, and its public REST ticker
// (GET /v1/pubticker/{symbol}) under /gemini-rest:
//
//   - requests are {"id":...,"method":"SUBSCRIBE","params":["btcusd@bookTicker",...]} (method
//     names in any case, as the documentation's examples use both); every request is answered
//     with its id echoed as sent, {"id":...,"status":200,"result":...} or
//     {"id":...,"status":400,"error":{"code":n,"msg":"..."}};
//   - stream names must be a lower-case symbol of letters and digits, "@" and a stream; the
//     bookTicker and trade streams are served, depth streams are refused as not simulated, and
//     an unknown symbol is refused with code -1121 "Invalid symbol: ..." naming its streams.
//     A request with any bad stream subscribes nothing (the real exchange's exact error codes
//     and texts, and whether it refuses the whole request, are not documented);
//   - bookTicker pushes {"u":update_id,"E":ns,"s":"btcusd","b":..,"B":..,"a":..,"A":..} when the
//     market moves (no snapshot on subscribe); trade pushes {"e":"trade","E":ms,"s":...,"t":id,
//     "p":..,"q":..,"m":bool} with every move; every other trade frame spells the symbol in
//     upper case, as inbound symbols may differ in case from the subscription;
//   - "ping" is answered with status 200 and an empty result; LIST_SUBSCRIPTIONS lists the
//     streams; there are no server heartbeats and no subscribe deadline.
type geminiVenue struct{}

func (geminiVenue) exchange() price.Exchange               { return price.Gemini }
func (geminiVenue) path() string                           { return "/gemini" }
func (geminiVenue) subscribeWithin(*Options) time.Duration { return 0 }
func (geminiVenue) newHandler(c *conn) handler {
	return &geminiConn{c: c, streams: map[*market]uint8{}, book: map[*market]uint64{}, trade: map[*market]uint64{}}
}

// Gemini streams, as bits of geminiConn.streams.
const (
	gmStreamBook uint8 = 1 << iota
	gmStreamTrade
)

type geminiConn struct {
	c       *conn
	streams map[*market]uint8  // subscribed streams per market
	book    map[*market]uint64 // version last sent on bookTicker
	trade   map[*market]uint64 // version last sent on trade
	tradeID int64
	trades  int // trade frames sent, to alternate the symbol's case
}

type gmRequest struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type gmOK struct {
	ID     json.RawMessage `json:"id"`
	Status int             `json:"status"`
	Result any             `json:"result"`
}

type gmError struct {
	ID     json.RawMessage `json:"id"`
	Status int             `json:"status"`
	Error  gmErrorBody     `json:"error"`
}

type gmErrorBody struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

type gmBookTicker struct {
	UpdateID  uint64 `json:"u"`
	EventTime int64  `json:"E"`
	Symbol    string `json:"s"`
	Bid       string `json:"b"`
	BidQty    string `json:"B"`
	Ask       string `json:"a"`
	AskQty    string `json:"A"`
}

type gmTradeMsg struct {
	Event        string `json:"e"`
	EventTime    int64  `json:"E"`
	Symbol       string `json:"s"`
	TradeID      int64  `json:"t"`
	Price        string `json:"p"`
	Quantity     string `json:"q"`
	BuyerIsMaker bool   `json:"m"`
}

// Error codes the simulator answers with (Binance-style, as Gemini's documented -1002
// "Authentication required" and -1003 rate limit are).
const (
	gmCodeUnknownMethod = -1000
	gmCodeBadRequest    = -1100
	gmCodeInvalidSymbol = -1121
)

func (h *geminiConn) open() error { return nil }

func (h *geminiConn) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return h.c.write(b)
}

func (h *geminiConn) fail(id json.RawMessage, code int, msg string) error {
	return h.send(gmError{ID: gmID(id), Status: http.StatusBadRequest, Error: gmErrorBody{Code: code, Msg: msg}})
}

// gmID is the id to echo: as sent, or null.
func gmID(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return json.RawMessage("null")
	}
	return id
}

func (h *geminiConn) request(frame []byte) error {
	var req gmRequest
	if err := json.Unmarshal(frame, &req); err != nil {
		return h.fail(nil, gmCodeBadRequest, "Malformed request: "+err.Error())
	}
	switch strings.ToUpper(req.Method) {
	case "PING":
		return h.send(gmOK{ID: gmID(req.ID), Status: http.StatusOK, Result: struct{}{}})
	case "LIST_SUBSCRIPTIONS":
		list := []string{}
		for _, m := range h.c.order {
			if h.streams[m]&gmStreamBook != 0 {
				list = append(list, m.symbol+"@bookTicker")
			}
			if h.streams[m]&gmStreamTrade != 0 {
				list = append(list, m.symbol+"@trade")
			}
		}
		return h.send(gmOK{ID: gmID(req.ID), Status: http.StatusOK, Result: list})
	case "SUBSCRIBE", "UNSUBSCRIBE":
	default:
		return h.fail(req.ID, gmCodeUnknownMethod, "Unknown method "+strconv.Quote(req.Method))
	}
	var params []string
	if err := json.Unmarshal(req.Params, &params); err != nil || len(params) == 0 {
		return h.fail(req.ID, gmCodeBadRequest, "params must be a non-empty array of stream names")
	}
	type sub struct {
		m   *market
		bit uint8
	}
	var subs []sub
	var unknown []string
	for _, p := range params {
		sym, stream, ok := strings.Cut(p, "@")
		if !ok || !gmSymbolFormat(sym) {
			return h.fail(req.ID, gmCodeBadRequest, "Invalid stream name "+strconv.Quote(p)+": want a lower-case symbol, '@' and a stream")
		}
		var bit uint8
		switch stream {
		case "bookTicker":
			bit = gmStreamBook
		case "trade":
			bit = gmStreamTrade
		case "depth", "depth@100ms", "depth5", "depth10", "depth20", "depth5@100ms", "depth10@100ms", "depth20@100ms":
			return h.fail(req.ID, gmCodeBadRequest, "Stream "+strconv.Quote(p)+" is not simulated")
		default:
			return h.fail(req.ID, gmCodeBadRequest, "Invalid stream name "+strconv.Quote(p))
		}
		m := h.c.s.market(price.Gemini, sym)
		if m == nil {
			unknown = append(unknown, p)
			continue
		}
		subs = append(subs, sub{m, bit})
	}
	if len(unknown) > 0 {
		return h.fail(req.ID, gmCodeInvalidSymbol, "Invalid symbol: "+strings.Join(unknown, ", "))
	}
	for _, sb := range subs {
		if strings.EqualFold(req.Method, "UNSUBSCRIBE") {
			h.streams[sb.m] &^= sb.bit
			if h.streams[sb.m] == 0 {
				delete(h.streams, sb.m)
				h.c.unsubscribe(sb.m)
			}
			continue
		}
		h.c.subscribe(sb.m)
		if h.streams[sb.m]&sb.bit == 0 {
			h.streams[sb.m] |= sb.bit
			// Push from the next move on, not the values of earlier moves.
			q := h.c.s.snap(sb.m)
			if sb.bit == gmStreamBook {
				h.book[sb.m] = q.version
			} else {
				h.trade[sb.m] = q.version
			}
		}
	}
	return h.send(gmOK{ID: gmID(req.ID), Status: http.StatusOK, Result: nil})
}

// gmSymbolFormat reports whether sym is a symbol as stream names spell it: lower-case letters
// and digits.
func gmSymbolFormat(sym string) bool {
	if sym == "" {
		return false
	}
	for i := 0; i < len(sym); i++ {
		if c := sym[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func (h *geminiConn) moved() error {
	stalled := h.c.s.stalled(h.c.ex)
	for _, m := range h.c.order {
		st := h.streams[m]
		q := h.c.s.snap(m)
		if st&gmStreamBook != 0 && h.book[m] != q.version {
			err := h.send(gmBookTicker{
				UpdateID: q.version, EventTime: q.time, Symbol: m.symbol,
				Bid: q.bid.String(), BidQty: "1.25000000", Ask: q.ask.String(), AskQty: "0.75000000",
			})
			if err != nil {
				return err
			}
			if !stalled {
				h.book[m] = q.version
			}
		}
		if st&gmStreamTrade != 0 && h.trade[m] != q.version {
			h.trades++
			h.tradeID++
			sym := m.symbol
			if h.trades%2 == 0 {
				sym = strings.ToUpper(sym)
			}
			err := h.send(gmTradeMsg{
				Event: "trade", EventTime: q.time / 1e6, Symbol: sym, TradeID: h.tradeID,
				Price: q.last.String(), Quantity: "0.25", BuyerIsMaker: h.trades%3 == 0,
			})
			if err != nil {
				return err
			}
			if !stalled {
				h.trade[m] = q.version
			}
		}
	}
	return nil
}

func (h *geminiConn) heartbeat() error { return nil }

// ---- REST: GET /v1/pubticker/{symbol} ----

func (geminiVenue) restPrefix() string { return "/gemini-rest" }

// serveREST answers GET /v1/pubticker/{symbol} (symbol in any case) with
// {"bid":..,"ask":..,"last":..,"volume":{"BTC":..,"USD":..,"timestamp":ms}} at the simulated
// quote (timestamp = the market's last move). An unknown symbol gets 400
// {"result":"error","reason":"InvalidSymbol","message":"..."}.
func (geminiVenue) serveREST(s *Server, w http.ResponseWriter, r *http.Request) {
	sym, ok := strings.CutPrefix(r.URL.Path, "/v1/pubticker/")
	if !ok || sym == "" || strings.Contains(sym, "/") {
		gmWriteREST(w, http.StatusNotFound, map[string]string{"result": "error", "reason": "EndpointNotFound", "message": "API entry point `" + r.URL.Path + "` not found"})
		return
	}
	m := s.market(price.Gemini, strings.ToLower(sym))
	if m == nil {
		gmWriteREST(w, http.StatusBadRequest, map[string]string{"result": "error", "reason": "InvalidSymbol", "message": "Supplied value '" + sym + "' is not a valid symbol"})
		return
	}
	q := s.snap(m)
	quote := m.quote.String()
	base := strings.ToUpper(m.symbol[:max(len(m.symbol)-len(quote), 0)])
	gmWriteREST(w, http.StatusOK, map[string]any{
		"bid":  q.bid.String(),
		"ask":  q.ask.String(),
		"last": q.last.String(),
		"volume": map[string]any{
			base:        "2210.505328803",
			quote:       "2135477.463379586263",
			"timestamp": q.time / 1e6,
		},
	})
}

func gmWriteREST(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
