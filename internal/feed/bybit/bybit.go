// Package bybit is the feed adapter for Bybit's v5 public spot WebSocket
// (wss://stream.bybit.com/v5/public/spot). The spot ticker has no bid or ask, so every symbol
// takes two topics: tickers.{symbol} for the last trade price and orderbook.1.{symbol} (the
// level-1 book, pushed every 10 ms on change) for the best bid and ask. The same Protocol type
// implements feed.RESTTicker for Bybit's REST tickers endpoint
// (GET /v5/market/tickers?category=spot&symbol=BTCUSDT), whose spot answer does carry bid and
// ask.
//
// Protocol rules followed (exchange-protocols.md §5): a spot subscribe request carries at most
// 10 args (Bybit answers "args size >10" otherwise), so one request covers 5 symbols; the args
// of one connection must stay under 21,000 characters; each request is answered with one
// {"success":...,"op":"subscribe",...} message, success:false with "Invalid symbol :[...]"
// for an unknown symbol. The client sends {"req_id":"N","op":"ping"} every 20 s (Bybit's
// advice; Bybit cuts connections without ping-pong) and Bybit answers
// {"success":true,"ret_msg":"pong",...,"op":"ping"}; with a pong at least every ping interval,
// a connection silent for IdleTimeout (45 s) is dead. Spot tickers are always "snapshot"
// messages whose data is one object. The level-1 book comes as a snapshot after subscribing,
// then deltas or new snapshots (Bybit does not document which for level 1, so both are
// handled): a snapshot replaces both sides (an empty side is reported as 0, unknown: a tick
// cannot say "no orders"); in a delta, a level with size "0" removes the old best and any
// other level is the new best (a level-1 book holds one level per side), and an empty side is
// unchanged. Prices are decimal strings (an empty string is unknown);
// timestamps are JSON numbers of milliseconds ("ts", when Bybit generated the message).
// Symbols are "BTCUSDT".
package bybit

import (
	"errors"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fastjson"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

// DefaultURL is the public v5 spot WebSocket endpoint.
const DefaultURL = "wss://stream.bybit.com/v5/public/spot"

// DefaultRESTURL is the REST base URL.
const DefaultRESTURL = "https://api.bybit.com"

// Topic prefixes: a topic is the prefix followed by the symbol.
const (
	TickersTopic   = "tickers."
	OrderbookTopic = "orderbook.1."
)

// Connection rules.
const (
	// ArgsPerMessage is the most args (topics) one spot subscribe request may carry.
	ArgsPerMessage = 10
	// TopicsPerSymbol is how many topics each symbol takes (tickers and orderbook.1).
	TopicsPerSymbol = 2
	// SymbolsPerMessage follows from the two above.
	SymbolsPerMessage = ArgsPerMessage / TopicsPerSymbol
	// MaxArgsChars is the most characters the args of one connection may add up to.
	MaxArgsChars = 21000
	// SymbolsPerConn: Bybit limits args per connection by length only (100 symbols take about
	// 4,500 characters); 100 keeps one connection's level-1 book traffic moderate and a
	// reconnect cheap, so ~135 assets need two connections (Bybit allows 500 new connections
	// per 5 minutes per IP).
	SymbolsPerConn = 100
	// PingInterval is how often {"op":"ping"} goes out, as Bybit advises.
	PingInterval = 20 * time.Second
	// IdleTimeout is how long a connection may stay without any frame, pongs included: more
	// than two ping intervals.
	IdleTimeout = 45 * time.Second
	// ServerTimeout is how long Bybit keeps a connection without ping-pong or data.
	ServerTimeout = 10 * time.Minute
)

// Protocol is the Bybit v5 public spot protocol. The zero value is ready to use.
type Protocol struct{}

var (
	_ feed.Protocol   = Protocol{}
	_ feed.RESTTicker = Protocol{}
)

// Exchange returns price.Bybit.
func (Protocol) Exchange() price.Exchange { return price.Bybit }

// DefaultURL returns DefaultURL.
func (Protocol) DefaultURL() string { return DefaultURL }

// Limits returns Bybit's connection rules. Bybit names no subscribe deadline, so the
// runner's default applies.
func (Protocol) Limits() feed.Limits {
	return feed.Limits{
		SymbolsPerConn:    SymbolsPerConn,
		SymbolsPerMessage: SymbolsPerMessage,
		PingInterval:      PingInterval,
		IdleTimeout:       IdleTimeout,
	}
}

// NewSession returns the state of one connection subscribed to symbols ("BTCUSDT", ...).
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
	s.tick.Exchange = price.Bybit
	return s
}

// Subscribe returns one request per SymbolsPerMessage symbols, each with its own req_id
// ("1", "2", ...): {"req_id":"1","op":"subscribe","args":["tickers.BTCUSDT",
// "orderbook.1.BTCUSDT",...]}.
func (s *session) Subscribe() [][]byte {
	var out [][]byte
	for _, c := range feed.Chunk(s.symbols, SymbolsPerMessage) {
		b := append([]byte(nil), `{"req_id":"`...)
		b = strconv.AppendInt(b, s.reqID.Add(1), 10)
		b = append(b, `","op":"subscribe","args":`...)
		b = appendArgs(b, c)
		out = append(out, append(b, '}'))
	}
	return out
}

// appendArgs appends the JSON array of the topics of symbols: tickers.{symbol} and
// orderbook.1.{symbol} for each.
func appendArgs(dst []byte, symbols []string) []byte {
	dst = append(dst, '[')
	for i, sym := range symbols {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = feed.AppendJSONString(dst, TickersTopic+sym)
		dst = append(dst, ',')
		dst = feed.AppendJSONString(dst, OrderbookTopic+sym)
	}
	return append(dst, ']')
}

// Ping returns {"req_id":"N","op":"ping"}. Safe to call concurrently with Handle.
func (s *session) Ping() []byte {
	b := append([]byte(nil), `{"req_id":"`...)
	b = strconv.AppendInt(b, s.reqID.Add(1), 10)
	return append(b, `","op":"ping"}`...)
}

// Errors Handle and ParseTicker return for frames they cannot use.
var (
	errNotObject    = errors.New("bybit: frame is not a JSON object")
	errUnknown      = errors.New("bybit: frame has neither topic nor op")
	errNoData       = errors.New("bybit: push without data")
	errBadTimestamp = errors.New("bybit: bad ts")
	errBadTicker    = errors.New("bybit: ticker with a bad lastPrice")
	errBadBook      = errors.New("bybit: orderbook with a bad level")
)

// Handle decodes one frame. tickers and orderbook.1 pushes become ticks (the former with the
// last price only, the latter with the bid and ask only); pongs and successful subscribe
// responses are dropped; a failed request is returned as an error carrying Bybit's ret_msg.
func (s *session) Handle(frame []byte, received int64, sink price.Sink) ([]byte, error) {
	v, err := s.parser.ParseBytes(frame)
	if err != nil {
		return nil, errors.New("bybit: malformed JSON: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return nil, errNotObject
	}
	if topic := feed.JSONString(o, "topic"); topic != nil {
		switch {
		case hasPrefix(topic, TickersTopic):
			return nil, s.ticker(o, topic[len(TickersTopic):], received, sink)
		case hasPrefix(topic, OrderbookTopic):
			return nil, s.book(o, topic[len(OrderbookTopic):], received, sink)
		}
		return nil, nil // a topic we never subscribe to
	}
	if sv := o.Get("success"); sv != nil {
		if sv.Type() == fastjson.TypeFalse {
			return nil, requestError(o)
		}
		return nil, nil // subscribe ack, pong
	}
	if feed.JSONString(o, "op") != nil {
		return nil, nil // private-style {"op":"pong","args":[...]}
	}
	return nil, errUnknown
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// timestamp reads the message's "ts" (milliseconds, a JSON number; a digit string is
// accepted too) as Unix nanoseconds; 0 when absent.
func timestamp(o *fastjson.Object) (int64, error) {
	v := o.Get("ts")
	if v == nil {
		return 0, nil
	}
	var ms int64
	switch v.Type() {
	case fastjson.TypeNumber:
		n, err := v.Int64()
		if err != nil {
			return 0, errBadTimestamp
		}
		ms = n
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		n, ok := feed.ParseDigits(b)
		if !ok {
			return 0, errBadTimestamp
		}
		ms = n
	default:
		return 0, errBadTimestamp
	}
	if ms < 0 || ms > maxMillis {
		return 0, errBadTimestamp
	}
	return ms * int64(time.Millisecond), nil
}

// maxMillis keeps ms × 1e6 within int64 (year 2262).
const maxMillis = (1<<63 - 1) / int64(time.Millisecond)

// ticker handles a tickers.{symbol} push: {"topic":...,"ts":...,"type":"snapshot",
// "data":{"symbol":"BTCUSDT","lastPrice":"16363.78",...}}. data is an object on spot; an
// array of such objects is accepted too (the docs' field table says "array").
func (s *session) ticker(o *fastjson.Object, topicSym []byte, received int64, sink price.Sink) error {
	dv := o.Get("data")
	if dv == nil {
		return errNoData
	}
	exTime, err := timestamp(o)
	if err != nil {
		return err
	}
	if dv.Type() == fastjson.TypeArray {
		a, _ := dv.Array()
		var bad error
		for _, e := range a {
			if err := s.tickerData(feed.JSONObject(e), topicSym, exTime, received, sink); err != nil {
				bad = err
			}
		}
		return bad
	}
	d := feed.JSONObject(dv)
	if d == nil {
		return errNoData
	}
	return s.tickerData(d, topicSym, exTime, received, sink)
}

func (s *session) tickerData(d *fastjson.Object, topicSym []byte, exTime, received int64, sink price.Sink) error {
	sym, ok := s.symbol(feed.JSONString(d, "symbol"), topicSym)
	if !ok {
		return nil // a symbol this connection did not ask for
	}
	last, err := feed.JSONPrice(d, "lastPrice", &s.scratch)
	if err != nil {
		return errBadTicker
	}
	if last == 0 {
		return nil
	}
	s.tick.Symbol = sym
	s.tick.Last, s.tick.Bid, s.tick.Ask = last, 0, 0
	s.tick.ExchangeTime = exTime
	s.tick.Received = received
	sink.Apply(&s.tick)
	return nil
}

// symbol returns the session's own string for the symbol named in the data (or, when the data
// names none, in the topic).
func (s *session) symbol(dataSym, topicSym []byte) (string, bool) {
	if dataSym == nil {
		dataSym = topicSym
	}
	sym, ok := s.bySym[string(dataSym)]
	return sym, ok
}

// book handles an orderbook.1.{symbol} push: {"topic":...,"type":"snapshot"|"delta","ts":...,
// "data":{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],"u":...,
// "seq":...},"cts":...}.
func (s *session) book(o *fastjson.Object, topicSym []byte, received int64, sink price.Sink) error {
	d := feed.JSONObject(o.Get("data"))
	if d == nil {
		return errNoData
	}
	sym, ok := s.symbol(feed.JSONString(d, "s"), topicSym)
	if !ok {
		return nil
	}
	exTime, err := timestamp(o)
	if err != nil {
		return err
	}
	bid, err1 := s.best(feed.JSONArray(d, "b"), true)
	ask, err2 := s.best(feed.JSONArray(d, "a"), false)
	if err1 != nil || err2 != nil {
		return errBadBook
	}
	if bid == 0 && ask == 0 {
		return nil // nothing new (or only removals without the level that replaces them)
	}
	s.tick.Symbol = sym
	s.tick.Last, s.tick.Bid, s.tick.Ask = 0, bid, ask
	s.tick.ExchangeTime = exTime
	s.tick.Received = received
	sink.Apply(&s.tick)
	return nil
}

// best returns the best price among the levels [price, size] of one side that have a non-zero
// size (the highest for bids, the lowest for asks), or 0 if there is none. A level-1 snapshot
// holds at most one level; a level-1 delta holds the removal of the old best (size "0") and
// the new best.
func (s *session) best(levels []*fastjson.Value, bids bool) (price.Value, error) {
	var best price.Value
	for _, lv := range levels {
		pair, err := lv.Array()
		if err != nil || len(pair) < 2 || pair[0].Type() != fastjson.TypeString || pair[1].Type() != fastjson.TypeString {
			return 0, errBadBook
		}
		pb, _ := pair[0].StringBytes()
		sz, _ := pair[1].StringBytes()
		zero, ok := isZero(sz)
		if !ok {
			return 0, errBadBook
		}
		if zero {
			continue
		}
		p, err := price.ParseValue(pb)
		if err != nil || p <= 0 {
			return 0, errBadBook
		}
		if best == 0 || bids && p > best || !bids && p < best {
			best = p
		}
	}
	return best, nil
}

// isZero reports whether the decimal size b is zero ("0", "0.000"), and whether b is a plain
// non-negative decimal at all. Sizes are not parsed into price.Value: they can exceed its
// range (a billion SHIB).
func isZero(b []byte) (zero, ok bool) {
	if len(b) == 0 {
		return false, false
	}
	zero, digits, dot := true, false, false
	for _, c := range b {
		switch {
		case c == '.' && !dot:
			dot = true
		case c >= '0' && c <= '9':
			digits = true
			if c != '0' {
				zero = false
			}
		default:
			return false, false
		}
	}
	return zero, digits
}

// requestError turns a failed response ({"success":false,"ret_msg":"Invalid symbol
// :[tickers.NOPEUSDT]","op":"subscribe",...}) into an error.
func requestError(o *fastjson.Object) error {
	msg := "bybit: "
	if op := feed.JSONString(o, "op"); len(op) > 0 {
		msg += string(op) + " "
	}
	msg += "failed"
	if id := feed.JSONString(o, "req_id"); len(id) > 0 {
		msg += " (req_id " + string(id) + ")"
	}
	if m := feed.JSONString(o, "ret_msg"); len(m) > 0 {
		msg += ": " + string(m)
	}
	return errors.New(msg)
}

// DefaultRESTURL returns DefaultRESTURL.
func (Protocol) DefaultRESTURL() string { return DefaultRESTURL }

// TickerPath returns "/v5/market/tickers?category=spot&symbol=" and the symbol.
func (Protocol) TickerPath(symbol string) string {
	return "/v5/market/tickers?category=spot&symbol=" + url.QueryEscape(symbol)
}

// ParseTicker decodes the answer of GET /v5/market/tickers?category=spot&symbol=...:
// {"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"symbol":"BTCUSDT",
// "bid1Price":"...","ask1Price":"...","lastPrice":"...",...}]},"retExtInfo":{},"time":...}.
// The list items carry no time of their own, so ExchangeTime is the answer's "time". Bybit
// reports errors with HTTP 200 and a non-zero retCode (10001 "Not supported symbols" for an
// unknown symbol), which is returned as an error carrying retCode and retMsg.
func (Protocol) ParseTicker(symbol string, body []byte, t *price.Tick) error {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return errors.New("bybit: REST ticker: malformed JSON: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return errors.New("bybit: REST ticker: not a JSON object")
	}
	rc := o.Get("retCode")
	if rc == nil || rc.Type() != fastjson.TypeNumber {
		return errors.New("bybit: REST ticker: no retCode")
	}
	if code, err := rc.Int64(); err != nil || code != 0 {
		msg := "bybit: REST ticker: retCode " + string(rc.MarshalTo(nil))
		if m := feed.JSONString(o, "retMsg"); len(m) > 0 {
			msg += ": " + string(m)
		}
		return errors.New(msg)
	}
	exTime, err := restTime(o)
	if err != nil {
		return errors.New("bybit: REST ticker: bad time")
	}
	for _, iv := range feed.JSONArray(feed.JSONObject(o.Get("result")), "list") {
		it := feed.JSONObject(iv)
		if string(feed.JSONString(it, "symbol")) != symbol {
			continue
		}
		var scratch []byte
		last, err1 := feed.JSONPrice(it, "lastPrice", &scratch)
		bid, err2 := feed.JSONPrice(it, "bid1Price", &scratch)
		ask, err3 := feed.JSONPrice(it, "ask1Price", &scratch)
		if err1 != nil || err2 != nil || err3 != nil {
			return errors.New("bybit: REST ticker " + symbol + ": bad lastPrice, bid1Price or ask1Price")
		}
		t.Last, t.Bid, t.Ask, t.ExchangeTime = last, bid, ask, exTime
		return nil
	}
	return errors.New("bybit: REST ticker: no data for " + symbol)
}

// restTime reads the answer's "time" (milliseconds) as Unix nanoseconds; 0 when absent.
func restTime(o *fastjson.Object) (int64, error) {
	v := o.Get("time")
	if v == nil {
		return 0, nil
	}
	ms, err := v.Int64()
	if err != nil || ms < 0 || ms > maxMillis {
		return 0, errBadTimestamp
	}
	return ms * int64(time.Millisecond), nil
}
