package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/trinityprice/trinity/internal/price"
)

// bybitVenue simulates Bybit's v5 public spot WebSocket (wss://stream.bybit.com/v5/public/spot)
// on /bybit/v5/public/spot, and its REST tickers endpoint
// (GET /v5/market/tickers?category=spot&symbol=...) under /bybit-rest:
//
//   - {"req_id":"1","op":"subscribe","args":["tickers.BTCUSDT","orderbook.1.BTCUSDT"]}: a
//     request with more than 10 args is refused whole with {"success":false,"ret_msg":
//     "args size >10",...}; so is one that would take the connection's args over 21,000
//     characters; otherwise one response per request: {"success":true,"ret_msg":"subscribe",
//     "conn_id":"...","req_id":"1","op":"subscribe"}, or success:false with "Invalid symbol
//     :[topic,...]" listing the topics of unknown symbols (and of channels other than the two
//     simulated, tickers and orderbook.1), the valid topics of the request being subscribed
//     anyway;
//   - tickers.{symbol}: a "snapshot" message (data is one object, no bid/ask, as on spot) on
//     subscribe and on every change;
//   - orderbook.1.{symbol}: a snapshot on subscribe, then deltas (the old best level with size
//     "0" and the new one when a side's price moved, the level with its new size when only
//     the size changed, an empty side when nothing changed) and every tenth message a fresh
//     snapshot, since whether spot level 1 sends deltas is not documented;
//   - {"req_id":"N","op":"ping"} is answered with {"success":true,"ret_msg":"pong",
//     "conn_id":"...","req_id":"N","op":"ping"};
//   - a connection whose client has sent no ping for the client timeout is closed. Bybit
//     documents a 10-minute cut for connections without ping-pong and without data; the
//     simulator counts only the client's pings (stricter, since it always has data to send),
//     and tests shorten the time with SetClientIdleTimeout.
type bybitVenue struct {
	// clientTimeout overrides bybitClientTimeout when positive (nanoseconds).
	clientTimeout atomic.Int64
}

// Bybit's rules.
const (
	bybitClientTimeout  = 10 * time.Minute
	bybitArgsPerRequest = 10
	bybitMaxArgsChars   = 21000
	bybitSnapshotEvery  = 10
)

func (*bybitVenue) exchange() price.Exchange               { return price.Bybit }
func (*bybitVenue) path() string                           { return "/bybit/v5/public/spot" }
func (*bybitVenue) subscribeWithin(*Options) time.Duration { return 0 }
func (v *bybitVenue) newHandler(c *conn) handler {
	n := c.s.connSeq.Add(1)
	return &bybitConn{
		c: c, v: v,
		connID:   bybitConnID(n),
		lastPing: time.Now(),
		topics:   map[*market]uint8{},
		books:    map[*market]bybitBookState{},
		argsLen:  1, // "[]" less the first topic's comma
	}
}

func (v *bybitVenue) timeout() time.Duration {
	if d := time.Duration(v.clientTimeout.Load()); d > 0 {
		return d
	}
	return bybitClientTimeout
}

func (v *bybitVenue) setClientTimeout(d time.Duration) { v.clientTimeout.Store(int64(d)) }

// bybitConnID looks like Bybit's public conn_id, a UUID.
func bybitConnID(n uint64) string {
	h := strconv.FormatUint(n*0x9e3779b97f4a7c15|1<<63, 16) + strconv.FormatUint((n+1)*0xbf58476d1ce4e5b9|1<<63, 16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Topic bits of one market on one connection.
const (
	bybitTickersTopic uint8 = 1 << iota
	bybitBookTopic
)

type bybitConn struct {
	c        *conn
	v        *bybitVenue
	connID   string
	lastPing time.Time
	topics   map[*market]uint8
	books    map[*market]bybitBookState
	argsLen  int    // length of the JSON array of the subscribed topics: 1 + Σ (len(topic)+3)
	cs       uint64 // ticker cross sequence
}

// bybitBookState is what the client was last sent of a market's level-1 book.
type bybitBookState struct {
	bid, ask price.Value
	u, n     uint64 // update id; messages sent
}

type bybitRequest struct {
	ReqID string   `json:"req_id,omitempty"`
	Op    string   `json:"op"`
	Args  []string `json:"args"`
}

type bybitResponse struct {
	Success bool   `json:"success"`
	RetMsg  string `json:"ret_msg"`
	ConnID  string `json:"conn_id"`
	ReqID   string `json:"req_id,omitempty"`
	Op      string `json:"op"`
}

type bybitTickerMsg struct {
	Topic string         `json:"topic"`
	Ts    int64          `json:"ts"`
	Type  string         `json:"type"`
	Cs    uint64         `json:"cs"`
	Data  bybitTickerObj `json:"data"`
}

type bybitTickerObj struct {
	Symbol        string `json:"symbol"`
	LastPrice     string `json:"lastPrice"`
	HighPrice24h  string `json:"highPrice24h"`
	LowPrice24h   string `json:"lowPrice24h"`
	PrevPrice24h  string `json:"prevPrice24h"`
	Volume24h     string `json:"volume24h"`
	Turnover24h   string `json:"turnover24h"`
	Price24hPcnt  string `json:"price24hPcnt"`
	USDIndexPrice string `json:"usdIndexPrice"`
}

type bybitBookMsg struct {
	Topic string        `json:"topic"`
	Type  string        `json:"type"`
	Ts    int64         `json:"ts"`
	Data  bybitBookData `json:"data"`
	Cts   int64         `json:"cts"`
}

type bybitBookData struct {
	S   string      `json:"s"`
	B   [][2]string `json:"b"`
	A   [][2]string `json:"a"`
	U   uint64      `json:"u"`
	Seq uint64      `json:"seq"`
}

func (h *bybitConn) open() error { return nil }

func (h *bybitConn) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return h.c.write(b)
}

func (h *bybitConn) respond(req bybitRequest, ok bool, msg string) error {
	return h.send(bybitResponse{Success: ok, RetMsg: msg, ConnID: h.connID, ReqID: req.ReqID, Op: req.Op})
}

// bybitTopic splits a topic into its kind (bybitTickersTopic, bybitBookTopic, or 0 for a
// channel that is not simulated) and symbol.
func bybitTopic(topic string) (uint8, string) {
	if sym, ok := strings.CutPrefix(topic, "tickers."); ok {
		return bybitTickersTopic, sym
	}
	if sym, ok := strings.CutPrefix(topic, "orderbook.1."); ok {
		return bybitBookTopic, sym
	}
	return 0, ""
}

func (h *bybitConn) request(frame []byte) error {
	var req bybitRequest
	if err := json.Unmarshal(frame, &req); err != nil {
		return h.respond(bybitRequest{}, false, "error:request not json")
	}
	switch req.Op {
	case "ping":
		h.lastPing = time.Now()
		return h.respond(req, true, "pong")
	case "subscribe", "unsubscribe":
	default:
		return h.respond(req, false, "error:invalid op "+req.Op)
	}
	if len(req.Args) > bybitArgsPerRequest {
		return h.respond(req, false, "args size >10")
	}
	type sub struct {
		m    *market
		kind uint8
	}
	var subs []sub
	var bad []string
	grow := 0
	seen := map[string]bool{}
	for _, topic := range req.Args {
		kind, sym := bybitTopic(topic)
		m := h.c.s.market(price.Bybit, sym)
		if kind == 0 || m == nil {
			bad = append(bad, topic)
			continue
		}
		if req.Op == "subscribe" && h.topics[m]&kind == 0 && !seen[topic] {
			grow += len(topic) + 3 // quotes and comma
			seen[topic] = true
		}
		subs = append(subs, sub{m, kind})
	}
	if req.Op == "subscribe" && h.argsLen+grow > bybitMaxArgsChars {
		return h.respond(req, false, "args length exceeds "+strconv.Itoa(bybitMaxArgsChars)+" characters")
	}
	var added []sub
	for _, sb := range subs {
		had := h.topics[sb.m]
		topic := "tickers." + sb.m.symbol
		if sb.kind == bybitBookTopic {
			topic = "orderbook.1." + sb.m.symbol
		}
		if req.Op == "unsubscribe" {
			if had&sb.kind != 0 {
				h.topics[sb.m] = had &^ sb.kind
				h.argsLen -= len(topic) + 3
				if h.topics[sb.m] == 0 {
					delete(h.topics, sb.m)
					delete(h.books, sb.m)
					h.c.unsubscribe(sb.m)
				}
			}
			continue
		}
		if had&sb.kind != 0 {
			continue
		}
		h.topics[sb.m] = had | sb.kind
		h.argsLen += len(topic) + 3
		h.c.subscribe(sb.m)
		added = append(added, sb)
	}
	if len(bad) > 0 {
		if err := h.respond(req, false, "Invalid symbol :["+strings.Join(bad, ",")+"]"); err != nil {
			return err
		}
	} else if err := h.respond(req, true, req.Op); err != nil {
		return err
	}
	// One snapshot of the values per market, so that a market whose every subscribed topic
	// went out can be marked sent.
	snaps := map[*market]quoteSnap{}
	sent := map[*market]uint8{}
	for _, sb := range added {
		q, ok := snaps[sb.m]
		if !ok {
			q = h.c.s.snap(sb.m)
			snaps[sb.m] = q
		}
		var err error
		if sb.kind == bybitTickersTopic {
			err = h.ticker(sb.m, q)
		} else {
			err = h.book(sb.m, q, true)
		}
		if err != nil {
			return err
		}
		sent[sb.m] |= sb.kind
	}
	for m, kinds := range sent {
		if kinds == h.topics[m] {
			h.c.markSent(m, snaps[m])
		}
	}
	return nil
}

func bybitMillis(ns int64) int64 { return ns / int64(time.Millisecond) }

func (h *bybitConn) ticker(m *market, q quoteSnap) error {
	h.cs++
	return h.send(bybitTickerMsg{
		Topic: "tickers." + m.symbol,
		Ts:    bybitMillis(q.time),
		Type:  "snapshot",
		Cs:    h.cs,
		Data: bybitTickerObj{
			Symbol:        m.symbol,
			LastPrice:     q.last.String(),
			HighPrice24h:  (q.ask + q.ask/20).String(),
			LowPrice24h:   (q.bid - q.bid/20).String(),
			PrevPrice24h:  (q.last - q.last/40).String(),
			Volume24h:     "5865.470182",
			Turnover24h:   "95949815.680875",
			Price24hPcnt:  "0.025",
			USDIndexPrice: q.last.String(),
		},
	})
}

// bybitSize is a plausible level size that changes with the version.
func bybitSize(v uint64) string {
	return strconv.FormatUint(v%7+1, 10) + "." + strconv.FormatUint(v%1000, 10)
}

// book sends m's level-1 book: a snapshot when asked or every bybitSnapshotEvery messages,
// otherwise a delta against what the client was last sent (nothing at all when nothing
// changed).
func (h *bybitConn) book(m *market, q quoteSnap, snapshot bool) error {
	st, known := h.books[m]
	if !known {
		st.u = 1_000_000 + h.c.s.connSeq.Load()*1000
	}
	msg := bybitBookMsg{Topic: "orderbook.1." + m.symbol, Type: "delta", Ts: bybitMillis(q.time), Cts: bybitMillis(q.time) - 2}
	msg.Data.S = m.symbol
	msg.Data.B, msg.Data.A = [][2]string{}, [][2]string{}
	if snapshot || !known || (st.n+1)%bybitSnapshotEvery == 0 {
		msg.Type = "snapshot"
		msg.Data.B = append(msg.Data.B, [2]string{q.bid.String(), bybitSize(q.version)})
		msg.Data.A = append(msg.Data.A, [2]string{q.ask.String(), bybitSize(q.version + 3)})
	} else {
		side := func(old, cur price.Value, size string) [][2]string {
			switch {
			case cur != old && old != 0:
				return [][2]string{{old.String(), "0"}, {cur.String(), size}}
			case cur != old || q.version%3 == 0:
				return [][2]string{{cur.String(), size}}
			}
			return [][2]string{}
		}
		msg.Data.B = side(st.bid, q.bid, bybitSize(q.version))
		msg.Data.A = side(st.ask, q.ask, bybitSize(q.version+3))
		if len(msg.Data.B) == 0 && len(msg.Data.A) == 0 {
			return nil
		}
	}
	st.u++
	st.n++
	msg.Data.U = st.u
	msg.Data.Seq = q.version + 7_961_638_000
	if err := h.send(msg); err != nil {
		return err
	}
	if !h.c.s.stalled(h.c.ex) { // a stalled venue sent nothing
		st.bid, st.ask = q.bid, q.ask
		h.books[m] = st
	}
	return nil
}

func (h *bybitConn) moved() error {
	return h.c.changed(func(m *market, q quoteSnap) error {
		t := h.topics[m]
		if t&bybitTickersTopic != 0 {
			if err := h.ticker(m, q); err != nil {
				return err
			}
		}
		if t&bybitBookTopic != 0 {
			return h.book(m, q, false)
		}
		return nil
	})
}

// heartbeat enforces the ping rule (Bybit sends no heartbeats of its own).
func (h *bybitConn) heartbeat() error {
	if time.Since(h.lastPing) <= h.v.timeout() {
		return nil
	}
	h.c.ws.Close(websocket.StatusNormalClosure, "no ping")
	return errKeepAliveTimeout
}

func (*bybitVenue) restPrefix() string { return "/bybit-rest" }

type bybitRESTTicker struct {
	Symbol        string `json:"symbol"`
	Bid1Price     string `json:"bid1Price"`
	Bid1Size      string `json:"bid1Size"`
	Ask1Price     string `json:"ask1Price"`
	Ask1Size      string `json:"ask1Size"`
	LastPrice     string `json:"lastPrice"`
	PrevPrice24h  string `json:"prevPrice24h"`
	Price24hPcnt  string `json:"price24hPcnt"`
	HighPrice24h  string `json:"highPrice24h"`
	LowPrice24h   string `json:"lowPrice24h"`
	Turnover24h   string `json:"turnover24h"`
	Volume24h     string `json:"volume24h"`
	USDIndexPrice string `json:"usdIndexPrice"`
}

func bybitRESTTickerOf(m *market, q quoteSnap) bybitRESTTicker {
	return bybitRESTTicker{
		Symbol:        m.symbol,
		Bid1Price:     q.bid.String(),
		Bid1Size:      bybitSize(q.version),
		Ask1Price:     q.ask.String(),
		Ask1Size:      bybitSize(q.version + 3),
		LastPrice:     q.last.String(),
		PrevPrice24h:  (q.last - q.last/40).String(),
		Price24hPcnt:  "0.025",
		HighPrice24h:  (q.ask + q.ask/20).String(),
		LowPrice24h:   (q.bid - q.bid/20).String(),
		Turnover24h:   "243765620.65899866",
		Volume24h:     "11801.27771",
		USDIndexPrice: q.last.String(),
	}
}

// serveREST answers GET /v5/market/tickers?category=spot&symbol=... with the current quote:
// {"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[...]},"retExtInfo":{},
// "time":...}; without symbol, with every Bybit market. Errors come with HTTP 200 and a
// non-zero retCode, as on the real exchange: 10001 "Not supported symbols" for an unknown
// symbol; the text for a bad category is the simulator's.
func (*bybitVenue) serveREST(s *Server, w http.ResponseWriter, r *http.Request) {
	type result struct {
		Category string            `json:"category,omitempty"`
		List     []bybitRESTTicker `json:"list,omitempty"`
	}
	type answer struct {
		RetCode    int      `json:"retCode"`
		RetMsg     string   `json:"retMsg"`
		Result     result   `json:"result"`
		RetExtInfo struct{} `json:"retExtInfo"`
		Time       int64    `json:"time"`
	}
	reply := func(status int, a answer) {
		a.Time = bybitMillis(time.Now().UnixNano())
		b, _ := json.Marshal(a)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(b)
	}
	if r.URL.Path != "/v5/market/tickers" {
		reply(http.StatusNotFound, answer{RetCode: 10001, RetMsg: "path not simulated"})
		return
	}
	q := r.URL.Query()
	if q.Get("category") != "spot" {
		reply(http.StatusOK, answer{RetCode: 10001, RetMsg: "Illegal category"})
		return
	}
	res := result{Category: "spot", List: []bybitRESTTicker{}}
	if sym := q.Get("symbol"); sym != "" {
		m := s.market(price.Bybit, sym)
		if m == nil {
			reply(http.StatusOK, answer{RetCode: 10001, RetMsg: "Not supported symbols"})
			return
		}
		res.List = append(res.List, bybitRESTTickerOf(m, s.snap(m)))
	} else {
		s.mu.RLock()
		ms := append([]*market(nil), s.world.byEx[price.Bybit]...)
		s.mu.RUnlock()
		for _, m := range ms {
			res.List = append(res.List, bybitRESTTickerOf(m, s.snap(m)))
		}
	}
	reply(http.StatusOK, answer{RetCode: 0, RetMsg: "OK", Result: res})
}
