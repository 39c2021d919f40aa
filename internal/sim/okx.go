package sim

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/trinityprice/trinity/internal/price"
)

// okxVenue simulates OKX's v5 public WebSocket (wss://ws.okx.com:8443/ws/v5/public) on
// /okx/ws/v5/public, and its REST ticker (GET /api/v5/market/ticker?instId=...) under
// /okx-rest:
//
//   - the text frame "ping" (not JSON) is answered with the text frame "pong";
//   - a connection on which the client has sent nothing (not even "ping") for the client
//     timeout (30 s, as on the real exchange; see SetClientIdleTimeout) is closed with close
//     code 4004 "No data received in 30s", and one without a subscription after that time is
//     closed too;
//   - {"op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"},...]}: one
//     {"event":"subscribe","arg":{...},"connId":"..."} per argument, then the instrument's
//     current ticker, then a push on every change; an unknown instId, or a channel other
//     than tickers (the only one simulated), gets {"event":"error","code":"60018","msg":
//     "Wrong URL or channel:tickers,instId:X doesn't exist. ...","connId":"..."} and the
//     other arguments of the request are still subscribed; unsubscribe likewise;
//   - a frame that is not such a request gets error 60012 "Illegal request: ...", an unknown
//     op error 60019, and more than 480 subscribe/unsubscribe requests within an hour error
//     60014 "Requests too frequent." (OKX's per-connection limit);
//   - a request larger than 64 KiB closes the connection (the listener's read limit; OKX
//     allows 64 KB of channel arguments per request);
//   - ticker pushes carry every number as a decimal string, ts as a string of milliseconds.
type okxVenue struct {
	// clientTimeout overrides okxClientTimeout when positive (nanoseconds).
	clientTimeout atomic.Int64
}

// okxClientTimeout is how long OKX keeps a connection on which the client sent nothing.
const okxClientTimeout = 30 * time.Second

// okxRequestsPerHour is OKX's limit of subscribe/unsubscribe/login requests per connection.
const okxRequestsPerHour = 480

func (*okxVenue) exchange() price.Exchange                 { return price.OKX }
func (*okxVenue) path() string                             { return "/okx/ws/v5/public" }
func (v *okxVenue) subscribeWithin(*Options) time.Duration { return v.timeout() }
func (v *okxVenue) newHandler(c *conn) handler {
	return &okxConn{c: c, v: v, connID: okxConnID(c.s.connSeq.Add(1)), lastClient: time.Now()}
}

func (v *okxVenue) timeout() time.Duration {
	if d := time.Duration(v.clientTimeout.Load()); d > 0 {
		return d
	}
	return okxClientTimeout
}

func (v *okxVenue) setClientTimeout(d time.Duration) { v.clientTimeout.Store(int64(d)) }

// clientTimeoutVenue is a venue that closes connections whose client does not keep them
// alive (OKX: sends nothing; Bybit: sends no ping) after a timeout tests may shorten.
type clientTimeoutVenue interface {
	setClientTimeout(d time.Duration)
}

// SetClientIdleTimeout sets how long ex's venue keeps a connection whose client does not keep
// it alive: OKX closes a connection on which the client sent nothing for 30 s, Bybit one on
// which the client sent no {"op":"ping"} for 10 minutes. d <= 0 restores the exchange's own
// value. It applies to connections whose next check comes after the call (checks run every
// Options.HeartbeatInterval) and reports false if ex's venue has no such rule. Tests use it
// to check an adapter's keep-alive in milliseconds instead of minutes.
func (s *Server) SetClientIdleTimeout(ex price.Exchange, d time.Duration) bool {
	if int(ex) >= len(s.venues) {
		return false
	}
	v, ok := s.venues[ex].(clientTimeoutVenue)
	if ok {
		v.setClientTimeout(d)
	}
	return ok
}

// okxConnID is an 8-hex-digit connection id, like OKX's "accb8e21".
func okxConnID(n uint64) string {
	s := strconv.FormatUint(uint64(uint32(n*2654435761)), 16)
	for len(s) < 8 {
		s = "0" + s
	}
	return s
}

type okxConn struct {
	c          *conn
	v          *okxVenue
	connID     string
	lastClient time.Time // when the client last sent a frame
	// requests counts subscribe/unsubscribe requests since windowStart (the hourly limit).
	requests    int
	windowStart time.Time
}

type okxArg struct {
	Channel string `json:"channel"`
	InstID  string `json:"instId"`
}

type okxRequest struct {
	ID   string   `json:"id,omitempty"`
	Op   string   `json:"op"`
	Args []okxArg `json:"args"`
}

type okxEvent struct {
	ID     string  `json:"id,omitempty"`
	Event  string  `json:"event"`
	Arg    *okxArg `json:"arg,omitempty"`
	Code   string  `json:"code,omitempty"`
	Msg    string  `json:"msg,omitempty"`
	ConnID string  `json:"connId"`
}

type okxPush struct {
	Arg  okxArg      `json:"arg"`
	Data []okxTicker `json:"data"`
}

type okxTicker struct {
	InstType  string `json:"instType"`
	InstID    string `json:"instId"`
	Last      string `json:"last"`
	LastSz    string `json:"lastSz"`
	AskPx     string `json:"askPx"`
	AskSz     string `json:"askSz"`
	BidPx     string `json:"bidPx"`
	BidSz     string `json:"bidSz"`
	Open24h   string `json:"open24h"`
	High24h   string `json:"high24h"`
	Low24h    string `json:"low24h"`
	VolCcy24h string `json:"volCcy24h"`
	Vol24h    string `json:"vol24h"`
	SodUtc0   string `json:"sodUtc0"`
	SodUtc8   string `json:"sodUtc8"`
	Ts        string `json:"ts"`
}

func okxTickerOf(m *market, q quoteSnap) okxTicker {
	return okxTicker{
		InstType:  "SPOT",
		InstID:    m.symbol,
		Last:      q.last.String(),
		LastSz:    "0.0123",
		AskPx:     q.ask.String(),
		AskSz:     "1.84",
		BidPx:     q.bid.String(),
		BidSz:     "0.92",
		Open24h:   (q.last - q.last/40).String(),
		High24h:   (q.ask + q.ask/20).String(),
		Low24h:    (q.bid - q.bid/20).String(),
		VolCcy24h: "123456789.12",
		Vol24h:    "4567.891",
		SodUtc0:   (q.last - q.last/50).String(),
		SodUtc8:   (q.last - q.last/60).String(),
		Ts:        strconv.FormatInt(q.time/int64(time.Millisecond), 10),
	}
}

func (h *okxConn) open() error { return nil }

func (h *okxConn) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return h.c.write(b)
}

func (h *okxConn) sendError(id, code, msg string) error {
	return h.send(okxEvent{ID: id, Event: "error", Code: code, Msg: msg, ConnID: h.connID})
}

func (h *okxConn) request(frame []byte) error {
	now := time.Now()
	h.lastClient = now
	if string(frame) == "ping" {
		return h.c.write([]byte("pong"))
	}
	var req okxRequest
	if err := json.Unmarshal(frame, &req); err != nil {
		return h.sendError("", "60012", "Illegal request: "+string(frame))
	}
	switch req.Op {
	case "subscribe", "unsubscribe":
	default:
		return h.sendError(req.ID, "60019", "Invalid op: "+req.Op)
	}
	if now.Sub(h.windowStart) > time.Hour {
		h.windowStart, h.requests = now, 0
	}
	h.requests++
	if h.requests > okxRequestsPerHour {
		return h.sendError(req.ID, "60014", "Requests too frequent.")
	}
	if len(req.Args) == 0 {
		return h.sendError(req.ID, "60013", "Invalid args")
	}
	for _, a := range req.Args {
		m := h.c.s.market(price.OKX, a.InstID)
		if m == nil || a.Channel != "tickers" {
			msg := "Wrong URL or channel:" + a.Channel + ",instId:" + a.InstID +
				" doesn't exist. Please use the correct URL, channel and parameters referring to API document."
			if err := h.sendError(req.ID, "60018", msg); err != nil {
				return err
			}
			continue
		}
		if req.Op == "unsubscribe" {
			h.c.unsubscribe(m)
			if err := h.send(okxEvent{ID: req.ID, Event: "unsubscribe", Arg: &okxArg{"tickers", a.InstID}, ConnID: h.connID}); err != nil {
				return err
			}
			continue
		}
		added := h.c.subscribe(m)
		if err := h.send(okxEvent{ID: req.ID, Event: "subscribe", Arg: &okxArg{"tickers", a.InstID}, ConnID: h.connID}); err != nil {
			return err
		}
		if added {
			q := h.c.s.snap(m)
			if err := h.ticker(m, q); err != nil {
				return err
			}
			h.c.markSent(m, q)
		}
	}
	return nil
}

func (h *okxConn) ticker(m *market, q quoteSnap) error {
	return h.send(okxPush{Arg: okxArg{"tickers", m.symbol}, Data: []okxTicker{okxTickerOf(m, q)}})
}

func (h *okxConn) moved() error {
	return h.c.changed(h.ticker)
}

// heartbeat enforces the client timeout (OKX itself sends no heartbeats).
func (h *okxConn) heartbeat() error {
	if time.Since(h.lastClient) <= h.v.timeout() {
		return nil
	}
	h.c.ws.Close(websocket.StatusCode(4004), "No data received in 30s")
	return errKeepAliveTimeout
}

// errKeepAliveTimeout ends a connection whose client did not keep it alive.
var errKeepAliveTimeout = errors.New("client did not keep the connection alive")

func (*okxVenue) restPrefix() string { return "/okx-rest" }

// serveREST answers GET /api/v5/market/ticker?instId=... with the current quote:
// {"code":"0","msg":"","data":[{<the WebSocket ticker object>}]}. An unknown instrument gets
// HTTP 200 with code 51001 and no data, a missing instId HTTP 400 with code 50014, as on the
// real exchange.
func (*okxVenue) serveREST(s *Server, w http.ResponseWriter, r *http.Request) {
	type answer struct {
		Code string      `json:"code"`
		Msg  string      `json:"msg"`
		Data []okxTicker `json:"data"`
	}
	reply := func(status int, a answer) {
		if a.Data == nil {
			a.Data = []okxTicker{}
		}
		b, _ := json.Marshal(a)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(b)
	}
	if r.URL.Path != "/api/v5/market/ticker" {
		reply(http.StatusNotFound, answer{Code: "404", Msg: "Not Found"})
		return
	}
	id := r.URL.Query().Get("instId")
	if id == "" {
		reply(http.StatusBadRequest, answer{Code: "50014", Msg: "Parameter instId can not be empty."})
		return
	}
	m := s.market(price.OKX, id)
	if m == nil {
		reply(http.StatusOK, answer{Code: "51001", Msg: "Instrument ID, Instrument ID code, or Spread ID doesn't exist."})
		return
	}
	reply(http.StatusOK, answer{Code: "0", Data: []okxTicker{okxTickerOf(m, s.snap(m))}})
}
