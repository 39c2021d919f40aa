// Package okx is the feed adapter for OKX's v5 public WebSocket
// (wss://ws.okx.com:8443/ws/v5/public): it subscribes to the tickers channel, which carries
// the last trade and the best bid and ask of a spot instrument, and turns ticker pushes into
// ticks. The same Protocol type implements feed.RESTTicker for OKX's REST ticker endpoint
// (GET /api/v5/market/ticker?instId=BTC-USDT).
//
// Protocol rules followed (exchange-protocols.md §6): one subscribe request carries a list of
// {"channel":"tickers","instId":"BTC-USDT"} arguments (at most 64 KB of them; at most 480
// subscribe/unsubscribe requests per connection per hour; the adapter sends one request per
// connection); each accepted argument is acknowledged with {"event":"subscribe",...} and a
// refused one answered with {"event":"error","code":"60018",...}; tickers are pushed at most
// every 100 ms and only when the last trade or the best bid/ask changes, so a quiet
// instrument may stay silent. OKX closes a connection after 30 s without data (close code
// 4004, "No data received in 30s"): the client sends the literal text frame "ping" (not
// JSON) every PingInterval (15 s) whatever the traffic, and OKX answers with the text frame
// "pong", so a connection silent for IdleTimeout (30 s, two missed pongs) is dead. Every
// number is a decimal string, including the millisecond timestamp "ts"; bidPx/askPx may be
// "" (no order on that side), which is read as 0 (unknown). New connections are limited to 3
// per second per IP; the runner's default connect spacing (500 ms) stays below that. Symbols
// are instIds: "BTC-USDT".
package okx

import (
	"bytes"
	"errors"
	"net/url"
	"time"

	"github.com/valyala/fastjson"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

// DefaultURL is the public v5 WebSocket endpoint.
const DefaultURL = "wss://ws.okx.com:8443/ws/v5/public"

// DefaultRESTURL is the REST base URL. www.okx.com rather than another host avoids redirects
// that strip headers.
const DefaultRESTURL = "https://www.okx.com"

// Connection rules. OKX limits subscribe requests (480 per connection per hour, 64 KB of
// arguments per request) rather than symbols per connection; 100 instruments per connection
// in one request of about 4 KB keeps the push rate of one connection moderate and a reconnect
// cheap, so ~130 assets need two connections.
const (
	SymbolsPerConn    = 100
	SymbolsPerMessage = 100
	// PingInterval is how often the text "ping" goes out: well inside OKX's 30 s, so one
	// late ping does not get the connection closed.
	PingInterval = 15 * time.Second
	// IdleTimeout is how long a connection may stay without any frame, pongs included.
	IdleTimeout = 30 * time.Second
	// ServerTimeout is how long OKX keeps a connection on which the client sent nothing.
	ServerTimeout = 30 * time.Second
	// MaxRequestBytes is the most bytes of channel arguments one subscribe request may carry.
	MaxRequestBytes = 64 << 10
	// RequestsPerHour is the most subscribe/unsubscribe/login requests per connection per
	// hour.
	RequestsPerHour = 480
)

// Protocol is the OKX v5 public protocol. The zero value is ready to use.
type Protocol struct{}

var (
	_ feed.Protocol   = Protocol{}
	_ feed.RESTTicker = Protocol{}
)

// Exchange returns price.OKX.
func (Protocol) Exchange() price.Exchange { return price.OKX }

// DefaultURL returns DefaultURL.
func (Protocol) DefaultURL() string { return DefaultURL }

// Limits returns OKX's connection rules. OKX closes a connection that has not subscribed
// within 30 s; the runner subscribes at once, so its default subscribe deadline applies.
func (Protocol) Limits() feed.Limits {
	return feed.Limits{
		SymbolsPerConn:    SymbolsPerConn,
		SymbolsPerMessage: SymbolsPerMessage,
		PingInterval:      PingInterval,
		IdleTimeout:       IdleTimeout,
	}
}

// NewSession returns the state of one connection subscribed to symbols ("BTC-USDT", ...).
func (Protocol) NewSession(symbols []string) feed.Session {
	return newSession(symbols)
}

type session struct {
	symbols []string
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
	s.tick.Exchange = price.OKX
	return s
}

// Subscribe returns one request per SymbolsPerMessage instruments:
// {"op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"},...]}.
func (s *session) Subscribe() [][]byte {
	var out [][]byte
	for _, c := range feed.Chunk(s.symbols, SymbolsPerMessage) {
		out = append(out, subscribeFrame("subscribe", c))
	}
	return out
}

// subscribeFrame builds an OKX subscribe or unsubscribe request (op) for the tickers channel
// of instIDs.
func subscribeFrame(op string, instIDs []string) []byte {
	b := append([]byte(nil), `{"op":`...)
	b = feed.AppendJSONString(b, op)
	b = append(b, `,"args":[`...)
	for i, id := range instIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"channel":"tickers","instId":`...)
		b = feed.AppendJSONString(b, id)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// Ping returns the text frame "ping" (OKX's keep-alive is not JSON). Safe to call
// concurrently with Handle.
func (s *session) Ping() []byte { return []byte("ping") }

// Errors Handle and ParseTicker return for frames they cannot use.
var (
	errNotObject    = errors.New("okx: frame is not a JSON object")
	errUnknown      = errors.New("okx: frame has neither arg nor event")
	errNoData       = errors.New("okx: tickers push without data")
	errBadTimestamp = errors.New("okx: bad ts")
	errBadTicker    = errors.New("okx: ticker with a bad price field")
)

var pong = []byte("pong")

// Handle decodes one frame. Tickers pushes become ticks; the text "pong", subscribe and
// unsubscribe acks, notices and pushes of other channels are dropped; an error event (a
// refused subscription, for one) is returned as an error carrying OKX's code and message.
func (s *session) Handle(frame []byte, received int64, sink price.Sink) ([]byte, error) {
	if bytes.Equal(frame, pong) {
		return nil, nil
	}
	v, err := s.parser.ParseBytes(frame)
	if err != nil {
		return nil, errors.New("okx: malformed frame: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return nil, errNotObject
	}
	if ev := feed.JSONString(o, "event"); ev != nil {
		if string(ev) == "error" {
			return nil, eventError(o)
		}
		// subscribe, unsubscribe, notice (service upgrade ahead: the disconnect that follows
		// is handled as any other), channel-conn-count, ...
		return nil, nil
	}
	arg := feed.JSONObject(o.Get("arg"))
	if arg == nil {
		return nil, errUnknown
	}
	if string(feed.JSONString(arg, "channel")) != "tickers" {
		return nil, nil // a channel we never subscribe to
	}
	return nil, s.tickers(o, received, sink)
}

func (s *session) tickers(o *fastjson.Object, received int64, sink price.Sink) error {
	data := feed.JSONArray(o, "data")
	if data == nil {
		return errNoData
	}
	var bad error
	for _, dv := range data {
		d := feed.JSONObject(dv)
		sym, ok := s.bySym[string(feed.JSONString(d, "instId"))]
		if !ok {
			continue // an instrument this connection did not ask for
		}
		last, bid, ask, exTime, err := decodeTicker(d, &s.scratch)
		if err != nil {
			bad = err
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
	return bad
}

// decodeTicker reads a ticker object, the same in WebSocket pushes and REST answers.
func decodeTicker(d *fastjson.Object, scratch *[]byte) (last, bid, ask price.Value, exTime int64, err error) {
	var err1, err2, err3 error
	last, err1 = feed.JSONPrice(d, "last", scratch)
	bid, err2 = feed.JSONPrice(d, "bidPx", scratch)
	ask, err3 = feed.JSONPrice(d, "askPx", scratch)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, 0, errBadTicker
	}
	if ts := feed.JSONString(d, "ts"); len(ts) > 0 {
		t, ok := parseMillis(ts)
		if !ok {
			return 0, 0, 0, 0, errBadTimestamp
		}
		exTime = t
	}
	return last, bid, ask, exTime, nil
}

// parseMillis parses a decimal count of Unix milliseconds ("1597026383085") into Unix
// nanoseconds. Counts beyond int64 nanoseconds (after the year 2262) are rejected.
func parseMillis(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 13 {
		return 0, false
	}
	var ms int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		ms = ms*10 + int64(c-'0')
	}
	if ms > maxMillis {
		return 0, false
	}
	return ms * int64(time.Millisecond), true
}

// maxMillis is the largest count of milliseconds whose nanoseconds fit in an int64.
const maxMillis = (1<<63 - 1) / int64(time.Millisecond)

// eventError turns {"event":"error","code":"60018","msg":"..."} into an error.
func eventError(o *fastjson.Object) error {
	msg := "okx: error event"
	if c := feed.JSONString(o, "code"); len(c) > 0 {
		msg += " " + string(c)
	}
	if m := feed.JSONString(o, "msg"); len(m) > 0 {
		msg += ": " + string(m)
	}
	return errors.New(msg)
}

// DefaultRESTURL returns DefaultRESTURL.
func (Protocol) DefaultRESTURL() string { return DefaultRESTURL }

// TickerPath returns "/api/v5/market/ticker?instId=" and the instrument.
func (Protocol) TickerPath(symbol string) string {
	return "/api/v5/market/ticker?instId=" + url.QueryEscape(symbol)
}

// ParseTicker decodes the answer of GET /api/v5/market/ticker:
// {"code":"0","msg":"","data":[{"instId":"BTC-USDT","last":"...","bidPx":"...","askPx":"...",
// "ts":"...",...}]}. OKX reports errors (an unknown instrument: code 51001) in the body, often
// with HTTP 200, so a code other than "0" is an error carrying OKX's code and message.
func (Protocol) ParseTicker(symbol string, body []byte, t *price.Tick) error {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return errors.New("okx: REST ticker: malformed JSON: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return errors.New("okx: REST ticker: not a JSON object")
	}
	code := feed.JSONString(o, "code")
	if code == nil {
		return errors.New("okx: REST ticker: no code")
	}
	if string(code) != "0" {
		msg := "okx: REST ticker: code " + string(code)
		if m := feed.JSONString(o, "msg"); len(m) > 0 {
			msg += ": " + string(m)
		}
		return errors.New(msg)
	}
	for _, dv := range feed.JSONArray(o, "data") {
		d := feed.JSONObject(dv)
		if string(feed.JSONString(d, "instId")) != symbol {
			continue
		}
		var scratch []byte
		last, bid, ask, exTime, err := decodeTicker(d, &scratch)
		if err != nil {
			return errors.New("okx: REST ticker " + symbol + ": bad last, bidPx, askPx or ts")
		}
		t.Last, t.Bid, t.Ask, t.ExchangeTime = last, bid, ask, exTime
		return nil
	}
	return errors.New("okx: REST ticker: no data for " + symbol)
}
