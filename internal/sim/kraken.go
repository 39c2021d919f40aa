package sim

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/trinityprice/trinity/internal/price"
)

// krakenVenue simulates Kraken's Spot WebSocket v2 (wss://ws.kraken.com/v2) on /kraken/v2:
//
//   - a status message on connect (connection_id larger than int64, as on the real feed);
//   - {"method":"subscribe","params":{"channel":"ticker","symbol":[...]}}: one ack per
//     symbol; success:false with "Currency pair not supported SYM" for an unknown symbol;
//     a ticker snapshot per symbol unless "snapshot":false, then updates on every change;
//     other channels are refused with success:false;
//   - {"channel":"heartbeat"} about every HeartbeatInterval when nothing else was sent, once
//     anything is subscribed;
//   - {"method":"ping","req_id":N} is answered with {"method":"pong","req_id":N,...};
//   - prices are JSON numbers; every other ticker message pads them with digits beyond
//     float64's precision (as in Kraken's own precision fixture) that do not change the value.
type krakenVenue struct{}

func (krakenVenue) exchange() price.Exchange               { return price.Kraken }
func (krakenVenue) path() string                           { return "/kraken/v2" }
func (krakenVenue) subscribeWithin(*Options) time.Duration { return 0 }
func (krakenVenue) newHandler(c *conn) handler             { return &krakenConn{c: c} }

type krakenConn struct {
	c       *conn
	tickers int // ticker messages sent, to alternate the number padding
}

type krRequest struct {
	Method string `json:"method"`
	Params struct {
		Channel      string   `json:"channel"`
		Symbol       []string `json:"symbol"`
		EventTrigger string   `json:"event_trigger"`
		Snapshot     *bool    `json:"snapshot"`
	} `json:"params"`
	ReqID *int64 `json:"req_id"`
}

type krResult struct {
	Channel      string `json:"channel"`
	Symbol       string `json:"symbol"`
	Snapshot     bool   `json:"snapshot"`
	EventTrigger string `json:"event_trigger,omitempty"`
}

type krResponse struct {
	Method  string    `json:"method,omitempty"`
	Result  *krResult `json:"result,omitempty"`
	Error   string    `json:"error,omitempty"`
	Symbol  string    `json:"symbol,omitempty"`
	Success *bool     `json:"success,omitempty"`
	TimeIn  string    `json:"time_in"`
	TimeOut string    `json:"time_out"`
	ReqID   *int64    `json:"req_id,omitempty"`
}

type krTickerMsg struct {
	Channel string     `json:"channel"`
	Type    string     `json:"type"`
	Data    []krTicker `json:"data"`
}

type krTicker struct {
	Symbol    string      `json:"symbol"`
	Bid       json.Number `json:"bid"`
	BidQty    json.Number `json:"bid_qty"`
	Ask       json.Number `json:"ask"`
	AskQty    json.Number `json:"ask_qty"`
	Last      json.Number `json:"last"`
	Volume    json.Number `json:"volume"`
	Vwap      json.Number `json:"vwap"`
	Low       json.Number `json:"low"`
	High      json.Number `json:"high"`
	Change    json.Number `json:"change"`
	ChangePct json.Number `json:"change_pct"`
	Timestamp string      `json:"timestamp"`
}

func (h *krakenConn) open() error {
	id := 1<<63 + h.c.s.connSeq.Add(1)
	return h.c.write([]byte(`{"channel":"status","data":[{"api_version":"v2","connection_id":` +
		strconv.FormatUint(id, 10) + `,"system":"online","version":"2.0.0"}],"type":"update"}`))
}

func (h *krakenConn) respond(r krResponse) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return h.c.write(b)
}

func krTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

func (h *krakenConn) request(frame []byte) error {
	timeIn := krTime(time.Now())
	var req krRequest
	if err := json.Unmarshal(frame, &req); err != nil {
		return h.respond(krResponse{Error: "Malformed request", Success: new(false), TimeIn: timeIn, TimeOut: krTime(time.Now())})
	}
	switch req.Method {
	case "ping":
		return h.respond(krResponse{Method: "pong", ReqID: req.ReqID, TimeIn: timeIn, TimeOut: krTime(time.Now())})
	case "subscribe", "unsubscribe":
	default:
		return h.respond(krResponse{Method: req.Method, Error: "Method not supported", Success: new(false), ReqID: req.ReqID, TimeIn: timeIn, TimeOut: krTime(time.Now())})
	}
	p := req.Params
	if p.Channel != "ticker" {
		return h.respond(krResponse{Method: req.Method, Error: "Channel " + strconv.Quote(p.Channel) + " is not simulated", Success: new(false), ReqID: req.ReqID, TimeIn: timeIn, TimeOut: krTime(time.Now())})
	}
	if len(p.Symbol) == 0 {
		return h.respond(krResponse{Method: req.Method, Error: "Missing symbol", Success: new(false), ReqID: req.ReqID, TimeIn: timeIn, TimeOut: krTime(time.Now())})
	}
	snapshot := p.Snapshot == nil || *p.Snapshot
	for _, sym := range p.Symbol {
		m := h.c.s.market(price.Kraken, sym)
		if m == nil {
			if err := h.respond(krResponse{Method: req.Method, Error: "Currency pair not supported " + sym, Symbol: sym, Success: new(false), ReqID: req.ReqID, TimeIn: timeIn, TimeOut: krTime(time.Now())}); err != nil {
				return err
			}
			continue
		}
		res := &krResult{Channel: "ticker", Symbol: sym, Snapshot: snapshot, EventTrigger: p.EventTrigger}
		if req.Method == "unsubscribe" {
			h.c.unsubscribe(m)
			if err := h.respond(krResponse{Method: req.Method, Result: res, Success: new(true), ReqID: req.ReqID, TimeIn: timeIn, TimeOut: krTime(time.Now())}); err != nil {
				return err
			}
			continue
		}
		added := h.c.subscribe(m)
		if err := h.respond(krResponse{Method: req.Method, Result: res, Success: new(true), ReqID: req.ReqID, TimeIn: timeIn, TimeOut: krTime(time.Now())}); err != nil {
			return err
		}
		if added && snapshot {
			q := h.c.s.snap(m)
			if err := h.ticker("snapshot", m, q); err != nil {
				return err
			}
			h.c.markSent(m, q)
		}
	}
	return nil
}

func (h *krakenConn) ticker(typ string, m *market, q quoteSnap) error {
	h.tickers++
	wide := h.tickers%2 == 0
	b, err := json.Marshal(krTickerMsg{Channel: "ticker", Type: typ, Data: []krTicker{{
		Symbol:    m.symbol,
		Bid:       krNumber(q.bid, wide),
		BidQty:    "2.5",
		Ask:       krNumber(q.ask, wide),
		AskQty:    "3.2",
		Last:      krNumber(q.last, wide),
		Volume:    "163.28908096",
		Vwap:      krNumber(q.last, false),
		Low:       krNumber(q.bid-q.bid/20, false),
		High:      krNumber(q.ask+q.ask/20, false),
		Change:    "250.0",
		ChangePct: "0.24",
		Timestamp: krTime(time.Unix(0, q.time)),
	}}})
	if err != nil {
		return err
	}
	return h.c.write(b)
}

// krNumber formats v as a JSON number; wide pads it with digits beyond the 12th decimal that
// price.ParseValue truncates away (so the value read back is still exactly v) but float64
// cannot hold.
func krNumber(v price.Value, wide bool) json.Number {
	s := v.String()
	if !wide {
		return json.Number(s)
	}
	var b strings.Builder
	b.WriteString(s)
	frac := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		frac = len(s) - i - 1
	} else {
		b.WriteByte('.')
	}
	b.WriteString(strings.Repeat("0", price.Scale-frac))
	b.WriteString("0000000000000001")
	return json.Number(b.String())
}

func (h *krakenConn) moved() error {
	return h.c.changed(func(m *market, q quoteSnap) error { return h.ticker("update", m, q) })
}

func (h *krakenConn) heartbeat() error {
	if len(h.c.subs) == 0 || time.Since(h.c.lastWrite) < h.c.s.opts.HeartbeatInterval*9/10 {
		return nil
	}
	return h.c.write([]byte(`{"channel":"heartbeat"}`))
}
