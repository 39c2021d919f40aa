package sim

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/trinityprice/trinity/internal/price"
)

// coinbaseVenue simulates the Coinbase Advanced Trade market-data feed
// (wss://advanced-trade-ws.coinbase.com) on /coinbase:
//
//   - a client that has not subscribed within Options.SubscribeTimeout (5 s) is closed;
//   - a subscribe message names exactly one channel ("channel"); a message with several
//     ("channels": [...]) or none gets {"type":"error",...} and subscribes nothing;
//   - channels: ticker (snapshot event on subscribe, then one update event per change) and
//     heartbeats (one message per HeartbeatInterval, heartbeat_counter as a JSON number); any
//     other channel gets an error message;
//   - every accepted subscribe or unsubscribe is acknowledged with a "subscriptions" message;
//   - unknown product IDs get an error message naming them, the known ones of the same message
//     are subscribed (the exact error text of the real exchange is not documented);
//   - -USDC products are the -USD books: subscribing to BTC-USDC delivers product_id BTC-USD.
type coinbaseVenue struct{}

func (coinbaseVenue) exchange() price.Exchange                 { return price.Coinbase }
func (coinbaseVenue) path() string                             { return "/coinbase" }
func (coinbaseVenue) subscribeWithin(o *Options) time.Duration { return o.SubscribeTimeout }
func (coinbaseVenue) newHandler(c *conn) handler               { return &coinbaseConn{c: c} }

type coinbaseConn struct {
	c          *conn
	seq        int64
	heartbeats []string // products of the heartbeats subscription; non-nil when subscribed
	counter    int64
}

type cbRequest struct {
	Type       string          `json:"type"`
	ProductIDs []string        `json:"product_ids"`
	Channel    string          `json:"channel"`
	Channels   json.RawMessage `json:"channels"`
}

type cbEnvelope struct {
	Channel     string `json:"channel"`
	ClientID    string `json:"client_id"`
	Timestamp   string `json:"timestamp"`
	SequenceNum int64  `json:"sequence_num"`
	Events      any    `json:"events"`
}

type cbTickerEvent struct {
	Type    string     `json:"type"`
	Tickers []cbTicker `json:"tickers"`
}

type cbTicker struct {
	Type           string `json:"type"`
	ProductID      string `json:"product_id"`
	Price          string `json:"price"`
	Volume24h      string `json:"volume_24_h"`
	Low24h         string `json:"low_24_h"`
	High24h        string `json:"high_24_h"`
	Low52w         string `json:"low_52_w"`
	High52w        string `json:"high_52_w"`
	PricePctChg24h string `json:"price_percent_chg_24_h"`
	BestBid        string `json:"best_bid"`
	BestBidQty     string `json:"best_bid_quantity"`
	BestAsk        string `json:"best_ask"`
	BestAskQty     string `json:"best_ask_quantity"`
}

type cbHeartbeat struct {
	CurrentTime      string `json:"current_time"`
	HeartbeatCounter int64  `json:"heartbeat_counter"`
}

func (h *coinbaseConn) open() error { return nil }

func (h *coinbaseConn) send(channel string, ts int64, events any) error {
	h.seq++
	b, err := json.Marshal(cbEnvelope{
		Channel:     channel,
		Timestamp:   time.Unix(0, ts).UTC().Format(time.RFC3339Nano),
		SequenceNum: h.seq - 1,
		Events:      events,
	})
	if err != nil {
		return err
	}
	return h.c.write(b)
}

func (h *coinbaseConn) sendError(msg, reason string) error {
	b, err := json.Marshal(struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Reason  string `json:"reason,omitempty"`
	}{"error", msg, reason})
	if err != nil {
		return err
	}
	return h.c.write(b)
}

func (h *coinbaseConn) request(frame []byte) error {
	var req cbRequest
	if err := json.Unmarshal(frame, &req); err != nil {
		return h.sendError("Failed to parse message", err.Error())
	}
	if req.Type != "subscribe" && req.Type != "unsubscribe" {
		return h.sendError("Unknown message type", "type must be subscribe or unsubscribe")
	}
	if len(req.Channels) > 0 || req.Channel == "" {
		return h.sendError("Failed to "+req.Type, "exactly one channel per message: use \"channel\"")
	}
	switch req.Channel {
	case "heartbeats":
		if req.Type == "subscribe" {
			h.heartbeats = append([]string{}, req.ProductIDs...)
			h.c.subscribed = true
		} else {
			h.heartbeats = nil
		}
		return h.ack()
	case "ticker":
	default:
		return h.sendError("Failed to "+req.Type, "channel "+req.Channel+" is not simulated")
	}
	var known []*market
	var unknown []string
	for _, id := range req.ProductIDs {
		if m := h.c.s.market(price.Coinbase, id); m != nil {
			known = append(known, m)
		} else {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		if err := h.sendError("Failed to "+req.Type, "unknown product_ids: "+strings.Join(unknown, ",")); err != nil {
			return err
		}
	}
	if len(known) == 0 {
		return nil
	}
	if req.Type == "unsubscribe" {
		for _, m := range known {
			h.c.unsubscribe(m)
		}
		return h.ack()
	}
	var added []*market
	for _, m := range known {
		if h.c.subscribe(m) {
			added = append(added, m)
		}
	}
	if err := h.ack(); err != nil {
		return err
	}
	if len(added) == 0 {
		return nil
	}
	ev := cbTickerEvent{Type: "snapshot"}
	now := time.Now().UnixNano()
	for _, m := range added {
		q := h.c.s.snap(m)
		ev.Tickers = append(ev.Tickers, cbTickerOf(m, q))
		h.c.markSent(m, q)
	}
	return h.send("ticker", now, []cbTickerEvent{ev})
}

// ack sends the "subscriptions" message listing every current subscription.
func (h *coinbaseConn) ack() error {
	subs := map[string][]string{}
	for _, m := range h.c.order {
		subs["ticker"] = append(subs["ticker"], m.symbol)
	}
	if h.heartbeats != nil {
		subs["heartbeats"] = h.heartbeats
	}
	return h.send("subscriptions", time.Now().UnixNano(), []map[string]any{{"subscriptions": subs}})
}

func (h *coinbaseConn) moved() error {
	return h.c.changed(func(m *market, q quoteSnap) error {
		return h.send("ticker", q.time, []cbTickerEvent{{Type: "update", Tickers: []cbTicker{cbTickerOf(m, q)}}})
	})
}

func (h *coinbaseConn) heartbeat() error {
	if h.heartbeats == nil {
		return nil
	}
	h.counter++
	now := time.Now()
	return h.send("heartbeats", now.UnixNano(), []cbHeartbeat{{CurrentTime: now.UTC().String(), HeartbeatCounter: h.counter}})
}

// cbProductID is the product_id Coinbase puts on the wire for symbol: -USDC products are
// served as their -USD book.
func cbProductID(symbol string) string {
	if base, ok := strings.CutSuffix(symbol, "-USDC"); ok {
		return base + "-USD"
	}
	return symbol
}

func cbTickerOf(m *market, q quoteSnap) cbTicker {
	return cbTicker{
		Type:           "ticker",
		ProductID:      cbProductID(m.symbol),
		Price:          q.last.String(),
		Volume24h:      "16038.28770938",
		Low24h:         (q.bid - q.bid/20).String(),
		High24h:        (q.ask + q.ask/20).String(),
		Low52w:         (q.bid / 2).String(),
		High52w:        (q.ask + q.ask/2).String(),
		PricePctChg24h: "-1.25",
		BestBid:        q.bid.String(),
		BestBidQty:     "0.02000000",
		BestAsk:        q.ask.String(),
		BestAskQty:     "0.01500000",
	}
}
