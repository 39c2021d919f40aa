// Package kraken is the feed adapter for Kraken's Spot WebSocket API v2
// (wss://ws.kraken.com/v2): it subscribes to the ticker channel with event_trigger "bbo", so
// every change of the best bid or offer is pushed, and turns ticker snapshots and updates into
// ticks.
//
// Protocol rules followed (exchange-protocols.md §3): the server sends a status message on
// connect, one ack per subscribed symbol (success:false with an error string for a refused
// symbol), a ticker snapshot then updates, and {"channel":"heartbeat"} about once a second
// once anything is subscribed, so a connection silent for IdleTimeout (10 s) is dead. The
// client sends the optional {"method":"ping"} every 30 s. Prices are JSON numbers that may
// carry more digits than float64 holds; they are parsed from their text with
// price.ParseValue. Symbols are "BTC/USD".
package kraken

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fastjson"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

// DefaultURL is the public Spot WebSocket v2 endpoint.
const DefaultURL = "wss://ws.kraken.com/v2"

// Connection limits. Kraken documents a dynamic message-rate limit but no symbol limit per
// subscribe message or per connection; cryptofeed uses 20 symbols per connection. We send
// subscribe messages of 20 symbols (a few messages per connection stay well within the rate
// limit) and put up to 100 symbols on a connection, so ~150 assets need two connections.
const (
	SymbolsPerConn    = 100
	SymbolsPerMessage = 20
	IdleTimeout       = 10 * time.Second
	PingInterval      = 30 * time.Second
)

// Protocol is the Kraken Spot v2 protocol. The zero value is ready to use.
type Protocol struct{}

var _ feed.Protocol = Protocol{}

// Exchange returns price.Kraken.
func (Protocol) Exchange() price.Exchange { return price.Kraken }

// DefaultURL returns DefaultURL.
func (Protocol) DefaultURL() string { return DefaultURL }

// Limits returns Kraken's connection rules. Kraken names no subscribe deadline, so the
// runner's default applies.
func (Protocol) Limits() feed.Limits {
	return feed.Limits{
		SymbolsPerConn:    SymbolsPerConn,
		SymbolsPerMessage: SymbolsPerMessage,
		PingInterval:      PingInterval,
		IdleTimeout:       IdleTimeout,
	}
}

// NewSession returns the state of one connection subscribed to symbols ("BTC/USD", ...).
func (Protocol) NewSession(symbols []string) feed.Session {
	return newSession(symbols)
}

type session struct {
	symbols []string
	bySym   map[string]string
	reqID   atomic.Int64
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
	s.tick.Exchange = price.Kraken
	return s
}

// Subscribe returns one ticker subscribe message per SymbolsPerMessage symbols, each with its
// own req_id (1, 2, ...).
func (s *session) Subscribe() [][]byte {
	var out [][]byte
	for _, c := range feed.Chunk(s.symbols, SymbolsPerMessage) {
		b := append([]byte(nil), `{"method":"subscribe","params":{"channel":"ticker","symbol":`...)
		b = feed.AppendJSONStrings(b, c)
		b = append(b, `,"event_trigger":"bbo","snapshot":true},"req_id":`...)
		b = strconv.AppendInt(b, s.reqID.Add(1), 10)
		out = append(out, append(b, '}'))
	}
	return out
}

// Ping returns {"method":"ping","req_id":N}. Safe to call concurrently with Handle.
func (s *session) Ping() []byte {
	b := append([]byte(nil), `{"method":"ping","req_id":`...)
	b = strconv.AppendInt(b, s.reqID.Add(1), 10)
	return append(b, '}')
}

// Errors Handle returns for frames it cannot use.
var (
	errNotObject    = errors.New("kraken: frame is not a JSON object")
	errUnknown      = errors.New("kraken: frame has neither channel nor method")
	errNoData       = errors.New("kraken: ticker frame without data")
	errBadTimestamp = errors.New("kraken: bad ticker timestamp")
	errBadTicker    = errors.New("kraken: ticker with a bad price field")
)

// Handle decodes one frame. Ticker snapshots and updates become ticks; status, heartbeat,
// pong and successful acks are dropped; a refused request is returned as an error carrying
// Kraken's message.
func (s *session) Handle(frame []byte, received int64, sink price.Sink) ([]byte, error) {
	v, err := s.parser.ParseBytes(frame)
	if err != nil {
		return nil, errors.New("kraken: malformed JSON: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return nil, errNotObject
	}
	if ch := feed.JSONString(o, "channel"); ch != nil {
		if string(ch) == "ticker" {
			return nil, s.ticker(o, received, sink)
		}
		return nil, nil // status, heartbeat, and channels we never subscribe to
	}
	// Responses to our requests: subscribe/unsubscribe acks, pong, and errors.
	if sv := o.Get("success"); sv != nil && sv.Type() == fastjson.TypeFalse {
		return nil, requestError(o)
	}
	if feed.JSONString(o, "method") != nil {
		return nil, nil
	}
	if o.Get("error") != nil {
		return nil, requestError(o)
	}
	return nil, errUnknown
}

func (s *session) ticker(o *fastjson.Object, received int64, sink price.Sink) error {
	data := feed.JSONArray(o, "data")
	if data == nil {
		return errNoData
	}
	var bad error
	for _, dv := range data {
		d := feed.JSONObject(dv)
		sym, ok := s.bySym[string(feed.JSONString(d, "symbol"))]
		if !ok {
			continue // a symbol this connection did not ask for
		}
		bid, err1 := feed.JSONPrice(d, "bid", &s.scratch)
		ask, err2 := feed.JSONPrice(d, "ask", &s.scratch)
		last, err3 := feed.JSONPrice(d, "last", &s.scratch)
		if err1 != nil || err2 != nil || err3 != nil {
			bad = errBadTicker
			continue
		}
		var exTime int64
		if ts := feed.JSONString(d, "timestamp"); len(ts) > 0 {
			t, ok := feed.ParseTime(ts)
			if !ok {
				bad = errBadTimestamp
				continue
			}
			exTime = t
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
	return bad
}

// requestError turns a refused request ({"method":"subscribe","success":false,"error":"...",
// "symbol":"..."}) into an error.
func requestError(o *fastjson.Object) error {
	msg := "kraken: "
	if m := feed.JSONString(o, "method"); len(m) > 0 {
		msg += string(m) + " "
	}
	msg += "refused"
	sym := feed.JSONString(o, "symbol")
	if len(sym) == 0 {
		sym = feed.JSONString(feed.JSONObject(o.Get("result")), "symbol")
	}
	if len(sym) > 0 {
		msg += " for " + string(sym)
	}
	if e := feed.JSONString(o, "error"); len(e) > 0 {
		msg += ": " + string(e)
	}
	return errors.New(msg)
}
