// Package gemini is the feed adapter for Gemini's new market-data WebSocket API (the "Fast
// API", wss://ws.gemini.com): it subscribes to the {symbol}@bookTicker stream for the best bid
// and offer and to the {symbol}@trade stream for the last trade price, and turns both into
// ticks. The same Protocol also implements feed.RESTTicker for Gemini's public REST ticker
// (GET https://api.gemini.com/v1/pubticker/{symbol}).
//
// Protocol rules followed (exchange-protocols.md §2.1, §2.4):
//   - requests are JSON-RPC-like, {"id":"1","method":"SUBSCRIBE","params":["btcusd@bookTicker",
//     "btcusd@trade"]}; stream names are the lower-case symbol, "@" and the stream; answers are
//     {"id":"1","status":200,"result":...} or {"id":"1","status":4xx,"error":{"code":n,"msg":"..."}}
//     (the id may come back as a string or a number);
//   - bookTicker frames {"u":...,"E":ns,"s":"btcusd","b":"bid","B":qty,"a":"ask","A":qty} carry
//     no "e" field in the documentation (the official SDK adds an optional "e":"bookTicker" and
//     optional last trade "c"/"C", used when present); an empty price string means unknown;
//   - trade frames {"e":"trade","E":...,"s":"btcusd","t":id,"p":"price","q":qty,"m":bool};
//   - "E" is nanoseconds on bookTicker but looks like milliseconds on trades, so its unit is
//     told by its magnitude (seconds, ms, µs or ns);
//   - inbound symbols may differ in case from the subscription, so they are matched
//     case-insensitively;
//   - the server has no documented heartbeat or idle rule; the client sends the documented
//     application-level {"id":"N","method":"ping"} every PingInterval (as the official SDK's
//     liveness watchdog does), whose answer also keeps a quiet connection from looking idle.
//
// A refused SUBSCRIBE whose error names some of its symbols is answered with a new SUBSCRIBE of
// the request's other symbols, so one delisted symbol cannot silence the rest of its message
// whether the exchange refuses a request as a whole or only the bad streams.
package gemini

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fastjson"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

// DefaultURL is the public market-data endpoint of the Fast API.
const DefaultURL = "wss://ws.gemini.com"

// DefaultRESTURL is Gemini's public REST base URL.
const DefaultRESTURL = "https://api.gemini.com"

// Stream names subscribed per symbol.
const (
	StreamBookTicker = "bookTicker"
	StreamTrade      = "trade"
)

// Connection limits. Gemini documents no stream limit per message or per connection for the
// Fast API (the "conninfo" method reports the connection's rate limits at run time; their
// values are not published), and a third-party integration runs 347 symbols on one
// connection. We put up to 100 symbols (200 streams) on a connection and 50 symbols (100
// streams) in one SUBSCRIBE message, so the ~65 Gemini markets of the default asset map take
// one connection and two messages. There is no documented idle timeout: the client pings every
// PingInterval and a connection that answers nothing for IdleTimeout (two missed pings and a
// half) is dropped.
const (
	SymbolsPerConn    = 100
	SymbolsPerMessage = 50
	PingInterval      = 10 * time.Second
	IdleTimeout       = 25 * time.Second
)

// Protocol is the Gemini Fast API protocol. The zero value is ready to use.
type Protocol struct{}

var (
	_ feed.Protocol   = Protocol{}
	_ feed.RESTTicker = Protocol{}
)

// Exchange returns price.Gemini.
func (Protocol) Exchange() price.Exchange { return price.Gemini }

// DefaultURL returns DefaultURL.
func (Protocol) DefaultURL() string { return DefaultURL }

// Limits returns the connection rules. Gemini names no subscribe deadline, so the runner's
// default applies.
func (Protocol) Limits() feed.Limits {
	return feed.Limits{
		SymbolsPerConn:    SymbolsPerConn,
		SymbolsPerMessage: SymbolsPerMessage,
		PingInterval:      PingInterval,
		IdleTimeout:       IdleTimeout,
	}
}

// NewSession returns the state of one connection subscribed to symbols ("btcusd", ...; any
// case: stream names are sent in lower case).
func (Protocol) NewSession(symbols []string) feed.Session {
	return newSession(symbols)
}

type session struct {
	symbols []string
	// bySym maps a lower-case symbol to the session's own symbol string.
	bySym map[string]string
	reqID atomic.Int64
	// pending maps the id of each SUBSCRIBE not yet answered to its symbols. Only Subscribe
	// (before the first Handle) and Handle use it, never concurrently.
	pending map[int64][]string
	parser  fastjson.Parser
	scratch []byte
	lower   []byte
	tick    price.Tick
}

func newSession(symbols []string) *session {
	s := &session{
		symbols: append([]string(nil), symbols...),
		bySym:   make(map[string]string, len(symbols)),
		pending: map[int64][]string{},
		scratch: make([]byte, 0, 64),
		lower:   make([]byte, 0, 32),
	}
	for _, sym := range s.symbols {
		k := strings.ToLower(sym)
		if _, dup := s.bySym[k]; !dup {
			s.bySym[k] = sym
		}
	}
	s.tick.Exchange = price.Gemini
	return s
}

// Subscribe returns one SUBSCRIBE per SymbolsPerMessage symbols, each naming the bookTicker
// and trade streams of its symbols, with ids "1", "2", ...
func (s *session) Subscribe() [][]byte {
	var out [][]byte
	for _, c := range feed.Chunk(s.symbols, SymbolsPerMessage) {
		out = append(out, s.subscribeFrame(c))
	}
	return out
}

// subscribeFrame builds {"id":"N","method":"SUBSCRIBE","params":["sym@bookTicker",
// "sym@trade",...]} and records the request as pending.
func (s *session) subscribeFrame(symbols []string) []byte {
	id := s.reqID.Add(1)
	s.pending[id] = symbols
	b := append([]byte(nil), `{"id":"`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `","method":"SUBSCRIBE","params":[`...)
	for i, sym := range symbols {
		if i > 0 {
			b = append(b, ',')
		}
		low := strings.ToLower(sym)
		b = feed.AppendJSONString(b, low+"@"+StreamBookTicker)
		b = append(b, ',')
		b = feed.AppendJSONString(b, low+"@"+StreamTrade)
	}
	return append(b, "]}"...)
}

// Ping returns {"id":"N","method":"ping"}. Safe to call concurrently with Handle.
func (s *session) Ping() []byte {
	b := append([]byte(nil), `{"id":"`...)
	b = strconv.AppendInt(b, s.reqID.Add(1), 10)
	return append(b, `","method":"ping"}`...)
}

// Errors Handle returns for frames it cannot use.
var (
	errNotObject  = errors.New("gemini: frame is not a JSON object")
	errUnknown    = errors.New("gemini: frame is neither a stream event nor a response")
	errBadTime    = errors.New("gemini: bad event time E")
	errBadBook    = errors.New("gemini: bookTicker with a bad price field")
	errBadTrade   = errors.New("gemini: trade with a bad price field")
	errBadPayload = errors.New("gemini: stream wrapper without a data object")
)

// Handle decodes one frame. bookTicker and trade events of the session's symbols become ticks;
// successful responses (to SUBSCRIBE and ping) are dropped; an error response is returned as
// an error, with a reply that subscribes again to the symbols of a refused SUBSCRIBE that the
// error does not name.
func (s *session) Handle(frame []byte, received int64, sink price.Sink) ([]byte, error) {
	v, err := s.parser.ParseBytes(frame)
	if err != nil {
		return nil, errors.New("gemini: malformed JSON: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return nil, errNotObject
	}
	// A combined-stream wrapper {"stream":"btcusd@bookTicker","data":{...}}, in case the
	// server wraps events as Binance-style APIs do on combined connections.
	if o.Get("stream") != nil {
		if o = feed.JSONObject(o.Get("data")); o == nil {
			return nil, errBadPayload
		}
	}
	if e := feed.JSONString(o, "e"); e != nil {
		switch string(e) {
		case "trade":
			return nil, s.trade(o, received, sink)
		case "bookTicker":
			return nil, s.bookTicker(o, received, sink)
		}
		return nil, nil // streams we never subscribe to
	}
	if o.Get("s") != nil && (o.Get("b") != nil || o.Get("a") != nil) {
		return nil, s.bookTicker(o, received, sink)
	}
	if o.Get("status") != nil || o.Get("error") != nil || o.Get("id") != nil {
		return s.response(o)
	}
	return nil, errUnknown
}

// symbol returns the session's symbol for the "s" field of o, matched case-insensitively.
func (s *session) symbol(o *fastjson.Object) (string, bool) {
	b := feed.JSONString(o, "s")
	s.lower = s.lower[:0]
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		s.lower = append(s.lower, c)
	}
	sym, ok := s.bySym[string(s.lower)]
	return sym, ok
}

func (s *session) bookTicker(o *fastjson.Object, received int64, sink price.Sink) error {
	sym, ok := s.symbol(o)
	if !ok {
		return nil // a symbol this connection did not ask for
	}
	bid, err1 := feed.JSONPrice(o, "b", &s.scratch)
	ask, err2 := feed.JSONPrice(o, "a", &s.scratch)
	last, err3 := feed.JSONPrice(o, "c", &s.scratch) // optional, per the official SDK
	if err1 != nil || err2 != nil || err3 != nil {
		return errBadBook
	}
	exTime, ok := eventTime(o)
	if !ok {
		return errBadTime
	}
	if bid == 0 && ask == 0 && last == 0 {
		return nil
	}
	s.emit(sym, last, bid, ask, exTime, received, sink)
	return nil
}

func (s *session) trade(o *fastjson.Object, received int64, sink price.Sink) error {
	sym, ok := s.symbol(o)
	if !ok {
		return nil
	}
	last, err := feed.JSONPrice(o, "p", &s.scratch)
	if err != nil {
		return errBadTrade
	}
	exTime, ok := eventTime(o)
	if !ok {
		return errBadTime
	}
	if last == 0 {
		return nil
	}
	s.emit(sym, last, 0, 0, exTime, received, sink)
	return nil
}

func (s *session) emit(sym string, last, bid, ask price.Value, exTime, received int64, sink price.Sink) {
	s.tick.Symbol = sym
	s.tick.Last, s.tick.Bid, s.tick.Ask = last, bid, ask
	s.tick.ExchangeTime = exTime
	s.tick.Received = received
	sink.Apply(&s.tick)
}

// eventTime reads the event time "E" (a JSON integer, or an integer string) as Unix
// nanoseconds, its unit told by its magnitude. A missing field is 0.
func eventTime(o *fastjson.Object) (int64, bool) {
	v := o.Get("E")
	if v == nil || v.Type() == fastjson.TypeNull {
		return 0, true
	}
	var n int64
	var ok bool
	switch v.Type() {
	case fastjson.TypeNumber:
		i, err := v.Int64()
		n, ok = i, err == nil
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		n, ok = feed.ParseDigits(b)
	}
	if !ok {
		return 0, false
	}
	return EpochNanos(n)
}

// EpochNanos converts a Unix timestamp in seconds, milliseconds, microseconds or nanoseconds
// (told apart by magnitude: timestamps between 1973 and 2262) to nanoseconds. It reports false
// for a value that is not positive or does not fit in int64 nanoseconds.
func EpochNanos(n int64) (int64, bool) {
	const maxNanos = 1<<63 - 1
	unit := int64(1)
	switch {
	case n <= 0:
		return 0, false
	case n < 1e11: // seconds
		unit = 1e9
	case n < 1e14: // milliseconds
		unit = 1e6
	case n < 1e17: // microseconds
		unit = 1e3
	}
	if n > maxNanos/unit {
		return 0, false
	}
	return n * unit, true
}

// response handles the answer to one of our requests.
func (s *session) response(o *fastjson.Object) ([]byte, error) {
	id, hasID := responseID(o)
	status := 200
	if sv := o.Get("status"); sv != nil {
		n, err := sv.Int()
		if err != nil {
			return nil, errors.New("gemini: response with a non-numeric status")
		}
		status = n
	}
	ev := o.Get("error")
	failed := status < 200 || status > 299 || (ev != nil && ev.Type() != fastjson.TypeNull)
	syms, pending := s.pending[id]
	if hasID && pending {
		delete(s.pending, id)
	}
	if !failed {
		return nil, nil
	}
	eo := feed.JSONObject(ev)
	msg := string(feed.JSONString(eo, "msg"))
	if msg == "" {
		msg = string(feed.JSONString(eo, "message"))
	}
	text := "gemini: request "
	if hasID {
		text += strconv.FormatInt(id, 10) + " "
	}
	text += "refused: status " + strconv.Itoa(status)
	if eo != nil {
		if cv := eo.Get("code"); cv != nil {
			text += ": code " + string(cv.MarshalTo(nil))
		}
	}
	if msg != "" {
		text += ": " + msg
	}
	var reply []byte
	if hasID && pending {
		if rest := feed.RetrySymbols(syms, named(msg, syms)); rest != nil {
			reply = s.subscribeFrame(rest)
			text += " (subscribing again to the other " + strconv.Itoa(len(rest)) + " symbols)"
		}
	}
	return reply, errors.New(text)
}

// responseID reads a response's "id", a string or a number.
func responseID(o *fastjson.Object) (int64, bool) {
	v := o.Get("id")
	if v == nil {
		return 0, false
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		n, err := v.Int64()
		return n, err == nil
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return feed.ParseDigits(b)
	}
	return 0, false
}

// named returns the symbols of syms that msg names as a word (case-insensitive; a word is a
// run of letters and digits, so "nopeusd@bookTicker" names nopeusd).
func named(msg string, syms []string) map[string]bool {
	return feed.NamedSymbols(msg, syms, strings.ToLower, func(r rune) bool {
		return 'a' <= r && r <= 'z' || '0' <= r && r <= '9'
	})
}

// DefaultRESTURL returns DefaultRESTURL.
func (Protocol) DefaultRESTURL() string { return DefaultRESTURL }

// TickerPath returns "/v1/pubticker/{symbol}".
func (Protocol) TickerPath(symbol string) string {
	return "/v1/pubticker/" + url.PathEscape(strings.ToLower(symbol))
}

// ParseTicker decodes a /v1/pubticker answer:
//
//	{"bid":"977.59","ask":"977.35","last":"977.65","volume":{"BTC":"...","USD":"...","timestamp":1483018200000}}
//
// into t (Exchange, Symbol, Last, Bid, Ask and ExchangeTime from volume.timestamp, in ms). An
// error answer ({"result":"error","reason":"...","message":"..."}) is returned as an error.
func (Protocol) ParseTicker(symbol string, body []byte, t *price.Tick) error {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return errors.New("gemini: ticker: malformed JSON: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return errors.New("gemini: ticker: answer is not a JSON object")
	}
	if string(feed.JSONString(o, "result")) == "error" {
		msg := "gemini: ticker " + symbol + ": error"
		if r := feed.JSONString(o, "reason"); len(r) > 0 {
			msg += ": " + string(r)
		}
		if m := feed.JSONString(o, "message"); len(m) > 0 {
			msg += ": " + string(m)
		}
		return errors.New(msg)
	}
	var scratch []byte
	bid, err1 := feed.JSONPrice(o, "bid", &scratch)
	ask, err2 := feed.JSONPrice(o, "ask", &scratch)
	last, err3 := feed.JSONPrice(o, "last", &scratch)
	if err1 != nil || err2 != nil || err3 != nil {
		return errors.New("gemini: ticker " + symbol + ": bad price field")
	}
	if bid == 0 && ask == 0 && last == 0 {
		return errors.New("gemini: ticker " + symbol + ": no prices in the answer")
	}
	var exTime int64
	if vol := feed.JSONObject(o.Get("volume")); vol != nil {
		if tv := vol.Get("timestamp"); tv != nil && tv.Type() == fastjson.TypeNumber {
			n, err := tv.Int64()
			if err != nil {
				return errors.New("gemini: ticker " + symbol + ": bad volume.timestamp")
			}
			if exTime, _ = EpochNanos(n); exTime == 0 {
				return errors.New("gemini: ticker " + symbol + ": bad volume.timestamp")
			}
		}
	}
	t.Exchange = price.Gemini
	t.Symbol = symbol
	t.Last, t.Bid, t.Ask = last, bid, ask
	t.ExchangeTime = exTime
	return nil
}
