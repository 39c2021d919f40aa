package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/trinityprice/trinity/internal/price"
)

// cryptocomVenue simulates the Crypto.com Exchange v1 market-data WebSocket
// (wss://stream.crypto.com/exchange/v1/market) on /cryptocom/exchange/v1/market, and its public
// REST ticker (https://api.crypto.com/exchange/v1/public/get-tickers) under /cryptocom-rest:
//
//   - a request that arrives in the calendar second the connection opened is refused with
//     {"id":N,"method":M,"code":42901,"message":"TOO_MANY_REQUESTS"} and otherwise ignored
//     (the connection stays open);
//   - {"id":N,"method":"subscribe","params":{"channels":["ticker.BTC_USD",...]},"nonce":ms}:
//     the nonce must be within 60 s of the simulator's clock (else code 40102
//     INVALID_NONCE); channels other than ticker.{known instrument} get one code 10004
//     "invalid channel {...}" response naming them, the others of the same request are
//     subscribed; a request that would take the connection past 400 subscriptions is refused
//     whole with code 40107 EXCEED_MAX_SUBSCRIPTIONS; an accepted request is acknowledged
//     with {"id":N,"method":"subscribe","code":0}, then every new instrument gets a ticker
//     push with its current quote, and later one push per change; unsubscribe removes the
//     named instruments and is acknowledged the same way;
//   - pushes are {"id":-1,"method":"subscribe","code":0,"result":{"instrument_name":...,
//     "subscription":"ticker.X","channel":"ticker","data":[{"h":...,"a":last,"b":bid,
//     "k":ask,...,"i":X,"t":ms}]}} with decimal strings;
//   - {"id":ms,"method":"public/heartbeat","code":0} every Options.HeartbeatInterval (never in
//     the first calendar second, which the real 30 s period never reaches either); a heartbeat
//     that is not answered with {"id":same,"method":"public/respond-heartbeat"} within
//     the client timeout (5 s, as on the real exchange; tests shorten it with
//     Server.SetClientIdleTimeout) closes the connection (close code 1008, policy violation:
//     the real close code is not documented).
//
// The exchange's exact behaviour for partly invalid or over-limit subscribe requests, its
// error code for an unknown method, and its close code are not documented; the choices above
// are the simulator's.
type cryptocomVenue struct {
	// clientTimeout overrides cdcHeartbeatTimeout when positive (nanoseconds).
	clientTimeout atomic.Int64
}

// Crypto.com's rules and response codes.
const (
	cdcMaxSubscriptions = 400
	cdcHeartbeatTimeout = 5 * time.Second
	cdcNonceWindow      = 60 * time.Second

	cdcBadRequest       = 10004
	cdcInvalidNonce     = 40102
	cdcExceedMaxSubs    = 40107
	cdcTooManyRequests  = 42901
	cdcTooManyReqsText  = "TOO_MANY_REQUESTS"
	cdcExceedMaxSubText = "EXCEED_MAX_SUBSCRIPTIONS"
)

func (*cryptocomVenue) exchange() price.Exchange               { return price.Cryptocom }
func (*cryptocomVenue) path() string                           { return "/cryptocom/exchange/v1/market" }
func (*cryptocomVenue) subscribeWithin(*Options) time.Duration { return 0 }

func (v *cryptocomVenue) newHandler(c *conn) handler {
	return &cryptocomConn{c: c, v: v, opened: time.Now(), pending: map[int64]struct{}{}}
}

// timeout is how soon a client must answer a heartbeat.
func (v *cryptocomVenue) timeout() time.Duration {
	if d := time.Duration(v.clientTimeout.Load()); d > 0 {
		return d
	}
	return cdcHeartbeatTimeout
}

// setClientTimeout implements clientTimeoutVenue (Server.SetClientIdleTimeout): it sets how
// soon a client must answer a heartbeat, for heartbeats sent after the call.
func (v *cryptocomVenue) setClientTimeout(d time.Duration) { v.clientTimeout.Store(int64(d)) }

type cryptocomConn struct {
	c      *conn
	v      *cryptocomVenue
	opened time.Time
	lastHB int64 // id of the last heartbeat sent

	mu      sync.Mutex         // guards pending, shared with the heartbeat timers
	pending map[int64]struct{} // heartbeats sent and not answered yet
}

type cdcRequest struct {
	ID     int64  `json:"id"`
	Method string `json:"method"`
	Params struct {
		Channels []string `json:"channels"`
	} `json:"params"`
	Nonce *int64 `json:"nonce"`
}

type cdcResponse struct {
	ID      int64  `json:"id"`
	Method  string `json:"method,omitempty"`
	Code    int    `json:"code"`
	Message string `json:"message,omitempty"`
	Result  any    `json:"result,omitempty"`
}

// cdcTickerResult is the result of a ticker push; its fields are in the exchange's order.
type cdcTickerResult struct {
	InstrumentName string      `json:"instrument_name"`
	Subscription   string      `json:"subscription"`
	Channel        string      `json:"channel"`
	Data           []cdcTicker `json:"data"`
}

// cdcTicker is one ticker: a last trade, b best bid, k best ask, t update time in Unix ms. The
// REST ticker has the same fields without the sizes bs and ks.
type cdcTicker struct {
	H  string `json:"h"`
	L  string `json:"l"`
	A  string `json:"a"`
	C  string `json:"c"`
	B  string `json:"b"`
	BS string `json:"bs,omitempty"`
	K  string `json:"k"`
	KS string `json:"ks,omitempty"`
	I  string `json:"i"`
	V  string `json:"v"`
	VV string `json:"vv"`
	T  int64  `json:"t"`
}

func cdcTickerOf(m *market, q quoteSnap, sizes bool) cdcTicker {
	t := cdcTicker{
		H: (q.ask + q.ask/20).String(),
		L: (q.bid - q.bid/20).String(),
		A: q.last.String(),
		C: "0.0240",
		B: q.bid.String(),
		K: q.ask.String(),
		I: m.symbol,
		V: "163.2891", VV: "17290000.00",
		T: q.time / int64(time.Millisecond),
	}
	if sizes {
		t.BS, t.KS = "0.51000", "0.12000"
	}
	return t
}

func (h *cryptocomConn) open() error { return nil }

func (h *cryptocomConn) respond(r cdcResponse) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return h.c.write(b)
}

func (h *cryptocomConn) request(frame []byte) error {
	var req cdcRequest
	if err := json.Unmarshal(frame, &req); err != nil {
		return h.respond(cdcResponse{Code: cdcBadRequest, Message: "BAD_REQUEST"})
	}
	now := time.Now()
	if now.Unix() == h.opened.Unix() {
		return h.respond(cdcResponse{ID: req.ID, Method: req.Method, Code: cdcTooManyRequests, Message: cdcTooManyReqsText})
	}
	switch req.Method {
	case "public/respond-heartbeat":
		h.mu.Lock()
		delete(h.pending, req.ID) // an answer to no heartbeat is ignored
		h.mu.Unlock()
		return nil
	case "subscribe", "unsubscribe":
	default:
		return h.respond(cdcResponse{ID: req.ID, Method: req.Method, Code: cdcBadRequest, Message: "BAD_REQUEST"})
	}
	if ms := now.UnixMilli(); req.Nonce == nil || *req.Nonce < ms-cdcNonceWindow.Milliseconds() || *req.Nonce > ms+cdcNonceWindow.Milliseconds() {
		return h.respond(cdcResponse{ID: req.ID, Method: req.Method, Code: cdcInvalidNonce, Message: "INVALID_NONCE"})
	}
	var known []*market
	var invalid []string
	for _, ch := range req.Params.Channels {
		inst, ok := strings.CutPrefix(ch, "ticker.")
		if m := h.c.s.market(price.Cryptocom, inst); ok && m != nil {
			known = append(known, m)
		} else {
			invalid = append(invalid, ch)
		}
	}
	if len(req.Params.Channels) == 0 {
		return h.respond(cdcResponse{ID: req.ID, Method: req.Method, Code: cdcBadRequest, Message: "BAD_REQUEST: no channels"})
	}
	if len(invalid) > 0 {
		b, _ := json.Marshal(map[string][]string{"channels": invalid})
		if err := h.respond(cdcResponse{ID: req.ID, Method: req.Method, Code: cdcBadRequest, Message: "invalid channel " + string(b)}); err != nil {
			return err
		}
	}
	if len(known) == 0 {
		return nil
	}
	if req.Method == "unsubscribe" {
		for _, m := range known {
			h.c.unsubscribe(m)
		}
		return h.respond(cdcResponse{ID: req.ID, Method: req.Method})
	}
	var added []*market
	seen := map[*market]bool{}
	for _, m := range known {
		if _, dup := h.c.subs[m]; !dup && !seen[m] {
			seen[m] = true
			added = append(added, m)
		}
	}
	if len(h.c.subs)+len(added) > cdcMaxSubscriptions {
		return h.respond(cdcResponse{ID: req.ID, Method: req.Method, Code: cdcExceedMaxSubs, Message: cdcExceedMaxSubText})
	}
	for _, m := range added {
		h.c.subscribe(m)
	}
	if err := h.respond(cdcResponse{ID: req.ID, Method: req.Method}); err != nil {
		return err
	}
	for _, m := range added {
		q := h.c.s.snap(m)
		if err := h.push(m, q); err != nil {
			return err
		}
		h.c.markSent(m, q)
	}
	return nil
}

func (h *cryptocomConn) push(m *market, q quoteSnap) error {
	return h.respond(cdcResponse{ID: -1, Method: "subscribe", Result: cdcTickerResult{
		InstrumentName: m.symbol,
		Subscription:   "ticker." + m.symbol,
		Channel:        "ticker",
		Data:           []cdcTicker{cdcTickerOf(m, q, true)},
	}})
}

func (h *cryptocomConn) moved() error {
	return h.c.changed(h.push)
}

// heartbeat sends {"id":ms,"method":"public/heartbeat","code":0} and closes the connection if
// the answer is not in within the timeout.
func (h *cryptocomConn) heartbeat() error {
	now := time.Now()
	if now.Unix() == h.opened.Unix() || h.c.s.stalled(h.c.ex) {
		return nil
	}
	id := max(now.UnixMilli(), h.lastHB+1)
	h.lastHB = id
	h.mu.Lock()
	h.pending[id] = struct{}{}
	h.mu.Unlock()
	if err := h.respond(cdcResponse{ID: id, Method: "public/heartbeat"}); err != nil {
		return err
	}
	time.AfterFunc(h.v.timeout(), func() { h.expire(id) })
	return nil
}

// expire closes the connection if heartbeat id is still unanswered. It runs on a timer's
// goroutine.
func (h *cryptocomConn) expire(id int64) {
	h.mu.Lock()
	_, late := h.pending[id]
	h.mu.Unlock()
	if !late || h.c.ctx.Err() != nil {
		return
	}
	h.c.s.log.Debug("sim: heartbeat not answered in time; closing", "exchange", h.c.ex.String(), "id", id)
	h.c.ws.Close(websocket.StatusPolicyViolation, "public/respond-heartbeat not received in time")
	h.c.ws.CloseNow()
}

// ---- REST: GET /exchange/v1/public/get-tickers[?instrument_name=BTC_USD] ----

func (*cryptocomVenue) restPrefix() string { return "/cryptocom-rest" }

// serveREST answers GET /exchange/v1/public/get-tickers with
// {"id":-1,"method":"public/get-tickers","code":0,"result":{"data":[...]}}: the ticker of
// instrument_name, or of every instrument without it. An unknown instrument gets status 400
// with code 10004 (BAD_REQUEST).
func (*cryptocomVenue) serveREST(s *Server, w http.ResponseWriter, r *http.Request) {
	const method = "public/get-tickers"
	if r.URL.Path != "/exchange/v1/"+method {
		writeJSON(w, http.StatusNotFound, cdcResponse{ID: -1, Code: cdcBadRequest, Message: "METHOD_NOT_FOUND"})
		return
	}
	markets := s.marketsOf(price.Cryptocom)
	if inst := r.URL.Query().Get("instrument_name"); inst != "" {
		m := s.market(price.Cryptocom, inst)
		if m == nil {
			writeJSON(w, http.StatusBadRequest, cdcResponse{ID: -1, Method: method, Code: cdcBadRequest, Message: "BAD_REQUEST"})
			return
		}
		markets = []*market{m}
	}
	data := make([]cdcTicker, 0, len(markets))
	for _, m := range markets {
		data = append(data, cdcTickerOf(m, s.snap(m), false))
	}
	writeJSON(w, http.StatusOK, cdcResponse{ID: -1, Method: method, Result: map[string]any{"data": data}})
}
