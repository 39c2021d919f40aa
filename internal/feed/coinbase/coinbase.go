// Package coinbase is the feed adapter for the Coinbase Advanced Trade market-data WebSocket
// (wss://advanced-trade-ws.coinbase.com): it subscribes to the ticker channel, plus the
// heartbeats channel that keeps the subscriptions alive, and turns ticker events into ticks.
//
// Protocol rules followed (see docs reference exchange-protocols.md §1.1): the subscribe
// messages must arrive within 5 s of connecting; one channel per subscribe message; heartbeats
// arrive once a second, so a connection silent for IdleTimeout (12 s) is dead; there is no
// application-level ping, so the runner sends WebSocket pings every 30 s as nautilus_trader
// does. Prices are decimal strings; the only exchange time is the envelope's RFC 3339
// timestamp. -USDC products are aliases of -USD ones on market-data channels: a subscription
// to BTC-USDC delivers product_id BTC-USD, which this adapter maps back to BTC-USDC (unless
// BTC-USD is subscribed too, in which case the data goes to BTC-USD).
package coinbase

import (
	"errors"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

// DefaultURL is the public Advanced Trade market-data endpoint.
const DefaultURL = "wss://advanced-trade-ws.coinbase.com"

// Connection limits. Coinbase documents no per-connection product limit for public channels;
// 100 products per connection keeps each connection's ticker rate moderate and a reconnect
// cheap, and one subscribe message per channel per connection keeps the message rate (8 per
// second per IP, unauthenticated) low.
const (
	SymbolsPerConn    = 100
	SymbolsPerMessage = 100
	IdleTimeout       = 12 * time.Second
	PingInterval      = 30 * time.Second
	SubscribeDeadline = 5 * time.Second
)

// Protocol is the Coinbase Advanced Trade protocol. The zero value is ready to use.
type Protocol struct{}

var _ feed.Protocol = Protocol{}

// Exchange returns price.Coinbase.
func (Protocol) Exchange() price.Exchange { return price.Coinbase }

// DefaultURL returns DefaultURL.
func (Protocol) DefaultURL() string { return DefaultURL }

// Limits returns Coinbase's connection rules.
func (Protocol) Limits() feed.Limits {
	return feed.Limits{
		SymbolsPerConn:    SymbolsPerConn,
		SymbolsPerMessage: SymbolsPerMessage,
		PingInterval:      PingInterval,
		IdleTimeout:       IdleTimeout,
		SubscribeDeadline: SubscribeDeadline,
	}
}

// NewSession returns the state of one connection subscribed to symbols ("BTC-USD", ...).
func (Protocol) NewSession(symbols []string) feed.Session {
	return newSession(symbols)
}

type session struct {
	symbols []string
	// bySym maps a product_id as it arrives to the session's own symbol string.
	bySym   map[string]string
	parser  fastjson.Parser
	scratch []byte
	tick    price.Tick
}

func newSession(symbols []string) *session {
	s := &session{
		symbols: append([]string(nil), symbols...),
		bySym:   feed.Intern(symbols),
		scratch: make([]byte, 0, 64),
	}
	s.tick.Exchange = price.Coinbase
	for _, sym := range s.symbols {
		if base, ok := strings.CutSuffix(sym, "-USDC"); ok {
			if _, dup := s.bySym[base+"-USD"]; !dup {
				s.bySym[base+"-USD"] = sym
			}
		}
	}
	return s
}

// Subscribe returns one heartbeats subscription and one ticker subscription per chunk of
// SymbolsPerMessage products (one channel per message, as Coinbase requires).
func (s *session) Subscribe() [][]byte {
	chunks := feed.Chunk(s.symbols, SymbolsPerMessage)
	if len(chunks) == 0 {
		return nil
	}
	out := [][]byte{subscribeFrame("heartbeats", chunks[0])}
	for _, c := range chunks {
		out = append(out, subscribeFrame("ticker", c))
	}
	return out
}

// subscribeFrame builds {"type":"subscribe","product_ids":[...],"channel":"..."}.
func subscribeFrame(channel string, products []string) []byte {
	b := append([]byte(nil), `{"type":"subscribe","product_ids":`...)
	b = feed.AppendJSONStrings(b, products)
	b = append(b, `,"channel":`...)
	b = feed.AppendJSONString(b, channel)
	return append(b, '}')
}

// Ping returns nil: Advanced Trade has no application-level ping.
func (s *session) Ping() []byte { return nil }

// Errors Handle returns for frames it cannot use.
var (
	errNotObject    = errors.New("coinbase: frame is not a JSON object")
	errNoChannel    = errors.New("coinbase: frame has no channel")
	errNoEvents     = errors.New("coinbase: ticker frame without events")
	errBadTimestamp = errors.New("coinbase: bad timestamp")
	errBadTicker    = errors.New("coinbase: ticker with a bad price field")
	errBadHeartbeat = errors.New("coinbase: heartbeat without a numeric heartbeat_counter")
)

// Handle decodes one frame. Ticker events become ticks; subscriptions acks and heartbeats are
// checked and dropped; an error message from Coinbase is returned as an error.
func (s *session) Handle(frame []byte, received int64, sink price.Sink) ([]byte, error) {
	v, err := s.parser.ParseBytes(frame)
	if err != nil {
		return nil, errors.New("coinbase: malformed JSON: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return nil, errNotObject
	}
	if string(feed.JSONString(o, "type")) == "error" {
		return nil, exchangeError(o)
	}
	switch ch := feed.JSONString(o, "channel"); string(ch) {
	case "ticker", "ticker_batch":
		return nil, s.ticker(o, received, sink)
	case "heartbeats":
		return nil, heartbeats(o)
	case "":
		return nil, errNoChannel
	default:
		// "subscriptions" acks, and channels we never subscribe to.
		return nil, nil
	}
}

func (s *session) ticker(o *fastjson.Object, received int64, sink price.Sink) error {
	var exTime int64
	if ts := feed.JSONString(o, "timestamp"); len(ts) > 0 {
		t, ok := feed.ParseTime(ts)
		if !ok {
			return errBadTimestamp
		}
		exTime = t
	}
	events := feed.JSONArray(o, "events")
	if events == nil {
		return errNoEvents
	}
	var bad error
	for _, ev := range events {
		for _, tv := range feed.JSONArray(feed.JSONObject(ev), "tickers") {
			to := feed.JSONObject(tv)
			sym, ok := s.bySym[string(feed.JSONString(to, "product_id"))]
			if !ok {
				continue // a product this connection did not ask for
			}
			last, err1 := feed.JSONPrice(to, "price", &s.scratch)
			bid, err2 := feed.JSONPrice(to, "best_bid", &s.scratch)
			ask, err3 := feed.JSONPrice(to, "best_ask", &s.scratch)
			if err1 != nil || err2 != nil || err3 != nil {
				bad = errBadTicker
				continue
			}
			if last == 0 && bid == 0 && ask == 0 {
				continue
			}
			s.tick.Symbol = sym
			s.tick.Last, s.tick.Bid, s.tick.Ask = last, bid, ask
			s.tick.ExchangeTime = exTime
			s.tick.Received = received
			sink.Apply(&s.tick)
		}
	}
	return bad
}

// heartbeats checks a heartbeats frame: heartbeat_counter is a number on the wire but a string
// in the docs, so both are accepted.
func heartbeats(o *fastjson.Object) error {
	for _, ev := range feed.JSONArray(o, "events") {
		eo := feed.JSONObject(ev)
		if eo == nil {
			return errBadHeartbeat
		}
		c := eo.Get("heartbeat_counter")
		if c == nil {
			return errBadHeartbeat
		}
		switch c.Type() {
		case fastjson.TypeNumber:
			if _, err := c.Uint64(); err != nil {
				return errBadHeartbeat
			}
		case fastjson.TypeString:
			b, _ := c.StringBytes()
			if !isDigits(b) {
				return errBadHeartbeat
			}
		default:
			return errBadHeartbeat
		}
	}
	return nil
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// exchangeError turns {"type":"error","message":"...","reason":"..."} into an error.
func exchangeError(o *fastjson.Object) error {
	msg := "coinbase: error message"
	if m := feed.JSONString(o, "message"); len(m) > 0 {
		msg += ": " + string(m)
	}
	if r := feed.JSONString(o, "reason"); len(r) > 0 {
		msg += ": " + string(r)
	}
	return errors.New(msg)
}
