// Package cryptocom is the feed adapter for the Crypto.com Exchange API v1 market-data
// WebSocket (wss://stream.crypto.com/exchange/v1/market): it subscribes to the ticker.{inst}
// channel of every instrument and turns ticker pushes into ticks.
//
// Protocol rules followed (exchange-protocols.md §7):
//   - requests are {"id":N,"method":...,"params":{...},"nonce":<ms>}; the subscribe request
//     lists channels ("ticker.BTC_USD") in params.channels;
//   - nothing may be sent in the calendar second the connection opened (the exchange answers
//     TOO_MANY_REQUESTS, code 42901), so Limits.SubscribeDelay makes the runner wait 1 s
//     before subscribing;
//   - at most 400 subscriptions per market-data connection (EXCEED_MAX_SUBSCRIPTIONS, 40107):
//     one ticker channel per symbol, so SymbolsPerConn is 400;
//   - the server sends {"id":N,"method":"public/heartbeat","code":0} every 30 s and closes the
//     connection unless the client answers {"id":N,"method":"public/respond-heartbeat"} within
//     5 s; Handle returns that answer as its reply and the runner sends it at once;
//   - pushes are {"id":-1,"method":"subscribe","code":0,"result":{"instrument_name":...,
//     "subscription":"ticker.X","channel":"ticker","data":[{...}]}}; in a ticker, "a" is the
//     last trade price, "b" the best bid, "k" the best ask (each a decimal string, or null
//     when there is no trade / no bid / no ask), "i" the instrument and "t" the update time in
//     Unix milliseconds;
//   - a response with a non-zero "code" is a refusal; it is returned as an error with the
//     exchange's code and message.
//
// Symbols are Crypto.com instrument names: "BTC_USD", "ETH_USDT", "BTCUSD-PERP".
package cryptocom

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fastjson"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

// DefaultURL is the public Exchange v1 market-data endpoint.
const DefaultURL = "wss://stream.crypto.com/exchange/v1/market"

// Connection rules.
//
// MaxSubscriptionsPerConn is the exchange's limit; each symbol is one subscription (its
// ticker channel), so a connection carries up to that many symbols. The exchange documents no
// limit of channels per subscribe message; 100 per message keeps a full connection at four
// requests, far below the 100 requests per second market-data limit. The server heartbeat every
// 30 s is the only traffic a quiet connection is guaranteed to carry, so a connection silent
// for IdleTimeout (45 s: a heartbeat 15 s overdue) is dead. There is no application-level
// client ping and the server heartbeat already proves both directions work, so PingInterval is
// 0 (no pings). SubscribeDelay is the wait before the first request.
const (
	MaxSubscriptionsPerConn = 400
	SymbolsPerConn          = MaxSubscriptionsPerConn
	SymbolsPerMessage       = 100
	IdleTimeout             = 45 * time.Second
	SubscribeDelay          = time.Second
	// HeartbeatInterval and HeartbeatReplyWithin are the server's heartbeat period and how
	// soon it wants the answer; Handle answers every heartbeat at once.
	HeartbeatInterval    = 30 * time.Second
	HeartbeatReplyWithin = 5 * time.Second
)

// Protocol is the Crypto.com Exchange v1 market-data protocol. The zero value is ready to use.
// It also implements feed.RESTTicker (rest.go).
type Protocol struct{}

var _ feed.Protocol = Protocol{}

// Exchange returns price.Cryptocom.
func (Protocol) Exchange() price.Exchange { return price.Cryptocom }

// DefaultURL returns DefaultURL.
func (Protocol) DefaultURL() string { return DefaultURL }

// Limits returns Crypto.com's connection rules. Crypto.com names no subscribe deadline, so the
// runner's default applies.
func (Protocol) Limits() feed.Limits {
	return feed.Limits{
		SymbolsPerConn:    SymbolsPerConn,
		SymbolsPerMessage: SymbolsPerMessage,
		IdleTimeout:       IdleTimeout,
		SubscribeDelay:    SubscribeDelay,
	}
}

// NewSession returns the state of one connection subscribed to symbols ("BTC_USD", ...).
func (Protocol) NewSession(symbols []string) feed.Session {
	return newSession(symbols)
}

type session struct {
	symbols []string
	bySym   map[string]string
	reqID   atomic.Int64
	parser  fastjson.Parser
	scratch []byte
	reply   []byte
	tick    price.Tick
	// now returns the current time in Unix milliseconds, for the request nonce (tests fix it).
	now func() int64
}

func newSession(symbols []string) *session {
	s := &session{
		symbols: append([]string(nil), symbols...),
		bySym:   feed.Intern(symbols),
		scratch: make([]byte, 0, 64),
		reply:   make([]byte, 0, 96),
		now:     func() int64 { return time.Now().UnixMilli() },
	}
	s.tick.Exchange = price.Cryptocom
	return s
}

// Subscribe returns one subscribe request per SymbolsPerMessage symbols, each with its own id
// (1, 2, ...) and the current time as nonce (the exchange wants it within 60 s of its clock).
func (s *session) Subscribe() [][]byte {
	var out [][]byte
	nonce := s.now()
	for _, c := range feed.Chunk(s.symbols, SymbolsPerMessage) {
		b := append([]byte(nil), `{"id":`...)
		b = strconv.AppendInt(b, s.reqID.Add(1), 10)
		b = append(b, `,"method":"subscribe","params":{"channels":[`...)
		for i, sym := range c {
			if i > 0 {
				b = append(b, ',')
			}
			b = feed.AppendJSONString(b, "ticker."+sym)
		}
		b = append(b, `]},"nonce":`...)
		b = strconv.AppendInt(b, nonce, 10)
		out = append(out, append(b, '}'))
	}
	return out
}

// Ping returns nil: the market-data API has no client-initiated ping; the server heartbeat
// (answered by Handle) keeps the connection alive.
func (s *session) Ping() []byte { return nil }

// Errors Handle returns for frames it cannot use.
var (
	errNotObject    = errors.New("cryptocom: frame is not a JSON object")
	errUnknown      = errors.New("cryptocom: frame has no method")
	errBadHeartbeat = errors.New("cryptocom: heartbeat without an integer id")
	errNoData       = errors.New("cryptocom: ticker push without data")
	errBadTicker    = errors.New("cryptocom: ticker with a bad price field")
	errBadTime      = errors.New("cryptocom: ticker with a bad time field")
)

// Handle decodes one frame. A heartbeat is answered (the reply is the respond-heartbeat
// request); ticker pushes become ticks; acks and pushes of other channels are dropped; a
// response with a non-zero code is returned as an error.
func (s *session) Handle(frame []byte, received int64, sink price.Sink) ([]byte, error) {
	v, err := s.parser.ParseBytes(frame)
	if err != nil {
		return nil, errors.New("cryptocom: malformed JSON: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return nil, errNotObject
	}
	method := feed.JSONString(o, "method")
	if string(method) == "public/heartbeat" {
		return s.heartbeat(o)
	}
	if c := o.Get("code"); c != nil && !isZero(c) {
		return nil, refusal(o, method, c)
	}
	switch string(method) {
	case "subscribe":
		res := feed.JSONObject(o.Get("result"))
		if res == nil {
			return nil, nil // the ack of our subscribe request
		}
		if string(feed.JSONString(res, "channel")) != "ticker" {
			return nil, nil // channels we never subscribe to
		}
		return nil, s.ticker(res, received, sink)
	case "":
		return nil, errUnknown
	default:
		// unsubscribe acks and other responses.
		return nil, nil
	}
}

// heartbeat answers {"id":N,"method":"public/heartbeat"} with
// {"id":N,"method":"public/respond-heartbeat"}, echoing N digit for digit.
func (s *session) heartbeat(o *fastjson.Object) ([]byte, error) {
	id := o.Get("id")
	if id == nil || id.Type() != fastjson.TypeNumber {
		return nil, errBadHeartbeat
	}
	s.scratch = id.MarshalTo(s.scratch[:0])
	if !isInteger(s.scratch) {
		return nil, errBadHeartbeat
	}
	r := append(s.reply[:0], `{"id":`...)
	r = append(r, s.scratch...)
	r = append(r, `,"method":"public/respond-heartbeat"}`...)
	s.reply = r
	return r, nil
}

func (s *session) ticker(res *fastjson.Object, received int64, sink price.Sink) error {
	data := feed.JSONArray(res, "data")
	if data == nil {
		return errNoData
	}
	var bad error
	for _, dv := range data {
		d := feed.JSONObject(dv)
		inst := feed.JSONString(d, "i")
		if inst == nil {
			inst = feed.JSONString(res, "instrument_name")
		}
		sym, ok := s.bySym[string(inst)]
		if !ok {
			continue // an instrument this connection did not ask for
		}
		last, err1 := feed.JSONPrice(d, "a", &s.scratch)
		bid, err2 := feed.JSONPrice(d, "b", &s.scratch)
		ask, err3 := feed.JSONPrice(d, "k", &s.scratch)
		if err1 != nil || err2 != nil || err3 != nil {
			bad = errBadTicker
			continue
		}
		exTime, ok := msTime(d.Get("t"))
		if !ok {
			bad = errBadTime
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

// maxMillis bounds a plausible exchange time in Unix milliseconds (year 2286), so the
// conversion to nanoseconds cannot overflow.
const maxMillis = 9_999_999_999_999

// msTime converts a Unix-milliseconds time given as a JSON integer (as the exchange sends it)
// or a string of digits to Unix nanoseconds. A missing or null field is 0 (unknown).
func msTime(v *fastjson.Value) (int64, bool) {
	if v == nil {
		return 0, true
	}
	var ms int64
	switch v.Type() {
	case fastjson.TypeNull:
		return 0, true
	case fastjson.TypeNumber:
		n, err := v.Int64()
		if err != nil {
			return 0, false
		}
		ms = n
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if len(b) == 0 || len(b) > 13 {
			return 0, false
		}
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			ms = ms*10 + int64(c-'0')
		}
	default:
		return 0, false
	}
	if ms < 0 || ms > maxMillis {
		return 0, false
	}
	return ms * int64(time.Millisecond), true
}

// isZero reports whether a "code" value is the number 0 (success).
func isZero(c *fastjson.Value) bool {
	if c.Type() != fastjson.TypeNumber {
		return false
	}
	n, err := c.Int64()
	return err == nil && n == 0
}

// isInteger reports whether b is an optionally negative run of decimal digits.
func isInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
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

// refusal turns {"id":N,"method":"subscribe","code":42901,"message":"TOO_MANY_REQUESTS"} into
// an error naming the method, the code and the message.
func refusal(o *fastjson.Object, method []byte, code *fastjson.Value) error {
	msg := "cryptocom: "
	if len(method) > 0 {
		msg += string(method) + " "
	}
	msg += "refused: code " + string(code.MarshalTo(nil))
	if m := feed.JSONString(o, "message"); len(m) > 0 {
		msg += ": " + string(m)
	}
	return errors.New(msg)
}
