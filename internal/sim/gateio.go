package sim

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/trinityprice/trinity/internal/price"
)

// gateioVenue simulates Gate's Spot WebSocket v4 (wss://api.gateio.ws/ws/v4/) on
// /gateio/ws/v4/, and its public REST tickers (GET /api/v4/spot/tickers) under /gateio-rest:
//
//   - requests are {"time":s,"id":n,"channel":"...","event":"subscribe"|"unsubscribe",
//     "payload":[...]}; a request whose "time" is missing or more than 60 s from the server's
//     clock is refused (Gate's documented rule; the error code and text here are not
//     documented);
//   - channels spot.book_ticker (pushed on every move; Gate pushes every 10 ms),
//     spot.tickers (pushed every HeartbeatInterval for the pairs that moved: Gate's 1000 ms
//     with the default 1 s) and spot.trades (one trade per move and pair, one object per push);
//     other channels are refused with code 2;
//   - an unknown pair is refused with code 2 "unknown currency pair X" (Gate's text) naming
//     the first unknown pair, and the request subscribes nothing;
//   - answers echo "id" when the request had one, with "time", "time_ms", "channel", "event",
//     "error" (null or {"code","message"}) and "result" ({"status":"success"} or null);
//   - {"channel":"spot.ping"} is answered with {"channel":"spot.pong","event":"",...};
//   - the server sends a WebSocket ping control frame every gatePingEvery heartbeats and drops
//     a client whose pong does not come within gatePongTimeout, as Gate uses protocol pings to
//     detect dead clients (the real interval and timeout are not documented); there is no
//     subscribe deadline.
type gateioVenue struct{}

func (gateioVenue) exchange() price.Exchange               { return price.Gateio }
func (gateioVenue) path() string                           { return "/gateio/ws/v4/" }
func (gateioVenue) subscribeWithin(*Options) time.Duration { return 0 }
func (gateioVenue) newHandler(c *conn) handler {
	return &gateioConn{c: c, chans: map[*market]uint8{}, book: map[*market]uint64{}, tick: map[*market]uint64{}, trade: map[*market]uint64{}}
}

// Gate channels, as bits of gateioConn.chans.
const (
	gtChanBook uint8 = 1 << iota
	gtChanTickers
	gtChanTrades
)

const (
	// gateMaxSkew is how far a request's time may be from the server's clock.
	gateMaxSkew = 60 * time.Second
	// gatePingEvery is how many heartbeats pass between two WebSocket pings to a client (10 s
	// with the default 1 s heartbeats).
	gatePingEvery = 10
)

// gatePongTimeout is how long a client has to answer a WebSocket ping: the ping period, and at
// least a second.
func gatePongTimeout(o *Options) time.Duration {
	return max(gatePingEvery*o.HeartbeatInterval, time.Second)
}

type gateioConn struct {
	c       *conn
	chans   map[*market]uint8  // subscribed channels per market
	book    map[*market]uint64 // version last sent on spot.book_ticker
	tick    map[*market]uint64 // version last sent on spot.tickers
	trade   map[*market]uint64 // version last sent on spot.trades
	tradeID int64
	beats   int
	pinging atomic.Bool
}

type gtRequest struct {
	Time    *int64          `json:"time"`
	ID      *int64          `json:"id"`
	Channel string          `json:"channel"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
}

// gtMessage is every frame the server sends: answers (event = the request's) and pushes
// (event "update").
type gtMessage struct {
	Time    int64    `json:"time"`
	TimeMs  int64    `json:"time_ms"`
	ID      *int64   `json:"id,omitempty"`
	Channel string   `json:"channel"`
	Event   string   `json:"event"`
	Error   *gtError `json:"error"`
	Result  any      `json:"result"`
}

type gtError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type gtBookTicker struct {
	T      int64  `json:"t"`
	U      uint64 `json:"u"`
	S      string `json:"s"`
	Bid    string `json:"b"`
	BidQty string `json:"B"`
	Ask    string `json:"a"`
	AskQty string `json:"A"`
}

type gtTicker struct {
	CurrencyPair     string `json:"currency_pair"`
	Last             string `json:"last"`
	LowestAsk        string `json:"lowest_ask"`
	HighestBid       string `json:"highest_bid"`
	ChangePercentage string `json:"change_percentage"`
	BaseVolume       string `json:"base_volume"`
	QuoteVolume      string `json:"quote_volume"`
	High24h          string `json:"high_24h"`
	Low24h           string `json:"low_24h"`
}

type gtTrade struct {
	ID           int64  `json:"id"`
	CreateTime   int64  `json:"create_time"`
	CreateTimeMs string `json:"create_time_ms"`
	Side         string `json:"side"`
	CurrencyPair string `json:"currency_pair"`
	Amount       string `json:"amount"`
	Price        string `json:"price"`
	Range        string `json:"range"`
	IDMarket     int64  `json:"id_market"`
}

// Gate's error codes: 1 invalid request body, 2 invalid argument, 3 server error.
const (
	gtCodeBadBody  = 1
	gtCodeBadParam = 2
)

func (h *gateioConn) open() error { return nil }

func (h *gateioConn) send(id *int64, channel, event string, e *gtError, result any) error {
	now := time.Now()
	b, err := json.Marshal(gtMessage{Time: now.Unix(), TimeMs: now.UnixMilli(), ID: id, Channel: channel, Event: event, Error: e, Result: result})
	if err != nil {
		return err
	}
	return h.c.write(b)
}

func (h *gateioConn) request(frame []byte) error {
	var req gtRequest
	if err := json.Unmarshal(frame, &req); err != nil {
		return h.send(nil, "", "", &gtError{gtCodeBadBody, "invalid request body: " + err.Error()}, nil)
	}
	if req.Time == nil {
		return h.send(req.ID, req.Channel, req.Event, &gtError{gtCodeBadBody, "invalid request body: time is required"}, nil)
	}
	if skew := time.Since(time.Unix(*req.Time, 0)); skew > gateMaxSkew || skew < -gateMaxSkew {
		return h.send(req.ID, req.Channel, req.Event, &gtError{gtCodeBadParam, "invalid argument: request time " + strconv.FormatInt(*req.Time, 10) + " is more than 60s away from server time"}, nil)
	}
	if req.Channel == "spot.ping" {
		return h.send(req.ID, "spot.pong", "", nil, nil)
	}
	var bit uint8
	switch req.Channel {
	case "spot.book_ticker":
		bit = gtChanBook
	case "spot.tickers":
		bit = gtChanTickers
	case "spot.trades":
		bit = gtChanTrades
	default:
		return h.send(req.ID, req.Channel, req.Event, &gtError{gtCodeBadParam, "unknown channel " + req.Channel}, nil)
	}
	if req.Event != "subscribe" && req.Event != "unsubscribe" {
		return h.send(req.ID, req.Channel, req.Event, &gtError{gtCodeBadParam, "unknown event " + strconv.Quote(req.Event)}, nil)
	}
	var pairs []string
	if err := json.Unmarshal(req.Payload, &pairs); err != nil || len(pairs) == 0 {
		return h.send(req.ID, req.Channel, req.Event, &gtError{gtCodeBadParam, "payload must be a non-empty array of currency pairs"}, nil)
	}
	ms := make([]*market, len(pairs))
	for i, p := range pairs {
		if ms[i] = h.c.s.market(price.Gateio, p); ms[i] == nil {
			return h.send(req.ID, req.Channel, req.Event, &gtError{gtCodeBadParam, "unknown currency pair " + p}, nil)
		}
	}
	for _, m := range ms {
		if req.Event == "unsubscribe" {
			h.chans[m] &^= bit
			if h.chans[m] == 0 {
				delete(h.chans, m)
				h.c.unsubscribe(m)
			}
			continue
		}
		h.c.subscribe(m)
		if h.chans[m]&bit != 0 {
			continue
		}
		h.chans[m] |= bit
		// book_ticker and trades push from the next move on; tickers at the next push.
		v := h.c.s.snap(m).version
		switch bit {
		case gtChanBook:
			h.book[m] = v
		case gtChanTrades:
			h.trade[m] = v
		case gtChanTickers:
			h.tick[m] = 0
		}
	}
	return h.send(req.ID, req.Channel, req.Event, nil, map[string]string{"status": "success"})
}

func (h *gateioConn) moved() error {
	stalled := h.c.s.stalled(h.c.ex)
	for _, m := range h.c.order {
		ch := h.chans[m]
		q := h.c.s.snap(m)
		if ch&gtChanBook != 0 && h.book[m] != q.version {
			err := h.send(nil, "spot.book_ticker", "update", nil, gtBookTicker{
				T: q.time / 1e6, U: q.version, S: m.symbol,
				Bid: q.bid.String(), BidQty: "0.0003341504", Ask: q.ask.String(), AskQty: "0.09",
			})
			if err != nil {
				return err
			}
			if !stalled {
				h.book[m] = q.version
			}
		}
		if ch&gtChanTrades != 0 && h.trade[m] != q.version {
			h.tradeID++
			side := "buy"
			if h.tradeID%2 == 0 {
				side = "sell"
			}
			err := h.send(nil, "spot.trades", "update", nil, gtTrade{
				ID: 309143070 + h.tradeID, CreateTime: q.time / 1e9, CreateTimeMs: gtFractionalMillis(q.time),
				Side: side, CurrencyPair: m.symbol, Amount: "16.4700000000", Price: q.last.String(),
				Range: "2390902-2390902", IDMarket: 917143 + h.tradeID,
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

// gtFractionalMillis formats Unix nanoseconds as Gate's create_time_ms: milliseconds with a
// four-digit fraction ("1606292218213.4578").
func gtFractionalMillis(ns int64) string {
	frac := strconv.FormatInt(ns%1e6/100, 10)
	return strconv.FormatInt(ns/1e6, 10) + "." + strings.Repeat("0", 4-len(frac)) + frac
}

// heartbeat pushes spot.tickers for the pairs that moved since their last push, and every
// gatePingEvery beats sends a WebSocket ping.
func (h *gateioConn) heartbeat() error {
	h.beats++
	if h.beats%gatePingEvery == 0 && !h.pinging.Swap(true) {
		go h.ping()
	}
	stalled := h.c.s.stalled(h.c.ex)
	for _, m := range h.c.order {
		if h.chans[m]&gtChanTickers == 0 {
			continue
		}
		q := h.c.s.snap(m)
		if h.tick[m] == q.version {
			continue
		}
		err := h.send(nil, "spot.tickers", "update", nil, gtTicker{
			CurrencyPair: m.symbol, Last: q.last.String(), LowestAsk: q.ask.String(), HighestBid: q.bid.String(),
			ChangePercentage: "-1.8254", BaseVolume: "9110.473081735", QuoteVolume: "145082083.2535",
			High24h: (q.ask + q.ask/20).String(), Low24h: (q.bid - q.bid/20).String(),
		})
		if err != nil {
			return err
		}
		if !stalled {
			h.tick[m] = q.version
		}
	}
	return nil
}

// ping sends one WebSocket ping and drops the client if its pong does not come in time.
func (h *gateioConn) ping() {
	defer h.pinging.Store(false)
	ctx, cancel := context.WithTimeout(h.c.ctx, gatePongTimeout(&h.c.s.opts))
	defer cancel()
	if err := h.c.ws.Ping(ctx); err != nil && h.c.ctx.Err() == nil {
		h.c.s.log.Debug("sim: gateio client did not answer a ping; closing", "err", err)
		h.c.ws.CloseNow()
	}
}

// ---- REST: GET /api/v4/spot/tickers[?currency_pair=BTC_USDT] ----

func (gateioVenue) restPrefix() string { return "/gateio-rest" }

// gtRESTTicker is one element of the /spot/tickers answer.
type gtRESTTicker struct {
	CurrencyPair     string `json:"currency_pair"`
	Last             string `json:"last"`
	LowestAsk        string `json:"lowest_ask"`
	LowestSize       string `json:"lowest_size,omitempty"`
	HighestBid       string `json:"highest_bid"`
	HighestSize      string `json:"highest_size,omitempty"`
	ChangePercentage string `json:"change_percentage"`
	ChangeUTC0       string `json:"change_utc0"`
	ChangeUTC8       string `json:"change_utc8"`
	BaseVolume       string `json:"base_volume"`
	QuoteVolume      string `json:"quote_volume"`
	High24h          string `json:"high_24h"`
	Low24h           string `json:"low_24h"`
}

// serveREST answers GET /api/v4/spot/tickers with an array of tickers at the simulated quotes:
// the one pair asked for with ?currency_pair= (with lowest_size/highest_size, as Gate fills
// them only then), or every Gate market. An unknown pair gets 400
// {"label":"INVALID_CURRENCY_PAIR","message":"..."} (label and text not confirmed).
func (gateioVenue) serveREST(s *Server, w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v4/spot/tickers" {
		gtWriteREST(w, http.StatusNotFound, map[string]string{"label": "NOT_FOUND", "message": "Not found: " + r.URL.Path})
		return
	}
	ticker := func(m *market, single bool) gtRESTTicker {
		q := s.snap(m)
		t := gtRESTTicker{
			CurrencyPair: m.symbol, Last: q.last.String(), LowestAsk: q.ask.String(), HighestBid: q.bid.String(),
			ChangePercentage: "-1.82", ChangeUTC0: "-1.5", ChangeUTC8: "-1.7", BaseVolume: "9110.47",
			QuoteVolume: "145082083.25", High24h: (q.ask + q.ask/20).String(), Low24h: (q.bid - q.bid/20).String(),
		}
		if single {
			t.LowestSize, t.HighestSize = "0.5", "0.2"
		}
		return t
	}
	pair := r.URL.Query().Get("currency_pair")
	if pair == "" {
		out := []gtRESTTicker{}
		for _, m := range s.gateMarkets() {
			out = append(out, ticker(m, false))
		}
		gtWriteREST(w, http.StatusOK, out)
		return
	}
	m := s.market(price.Gateio, pair)
	if m == nil {
		gtWriteREST(w, http.StatusBadRequest, map[string]string{"label": "INVALID_CURRENCY_PAIR", "message": "Invalid currency pair " + pair})
		return
	}
	gtWriteREST(w, http.StatusOK, []gtRESTTicker{ticker(m, true)})
}

// gateMarkets returns Gate's markets in universe order.
func (s *Server) gateMarkets() []*market {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]*market(nil), s.world.byEx[price.Gateio]...)
}

func gtWriteREST(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
