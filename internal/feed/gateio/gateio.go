// Package gateio is the feed adapter for Gate's Spot WebSocket API v4
// (wss://api.gateio.ws/ws/v4/): it subscribes to spot.book_ticker for the best bid and ask
// (pushed every 10 ms) and to spot.tickers for the last trade price (pushed every 1000 ms), and
// turns both, and spot.trades pushes if any arrive, into ticks. The same Protocol also
// implements feed.RESTTicker for Gate's public REST ticker
// (GET https://api.gateio.ws/api/v4/spot/tickers?currency_pair=BTC_USDT).
//
// Protocol rules followed (exchange-protocols.md §4):
//   - every request carries "time" (Unix seconds; the server refuses a time more than 60 s
//     from its own clock), an "id" echoed in the answer, "channel", "event" and "payload"; one
//     channel per request, subscriptions are additive;
//   - answers are {"time":s,"time_ms":ms,"id":n,"channel":"...","event":"subscribe",
//     "error":null,"result":{"status":"success"}}, or "error":{"code":n,"message":"..."} (for an
//     unknown pair: code 2, "unknown currency pair X");
//   - pushes have "event":"update" and one object in "result"; prices are decimal strings;
//     book_ticker's own time is "t" (ms), a trade's "create_time_ms" is a string with
//     fractional milliseconds, tickers have only the envelope's "time_ms";
//   - spot.tickers also carries highest_bid/lowest_ask, but they are up to a second older
//     than spot.book_ticker's, so only its "last" is used;
//   - the server pings with WebSocket control frames (answered by the WebSocket library) and
//     accepts the optional {"time":s,"channel":"spot.ping"}, answered with spot.pong, which
//     resets its idle timer; the client sends it every PingInterval (10 s, as Gate's own SDK
//     does), and a connection silent for IdleTimeout is dropped;
//   - {"type":"upgrade","msg":"..."} announces that the server will close the connection for
//     maintenance; it is dropped here and the runner reconnects when the close comes.
//
// A refused subscribe whose error names pairs of its payload is answered with a new subscribe of
// the request's other pairs, so one delisted pair cannot silence the rest of its message.
package gateio

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

// DefaultURL is the public Spot WebSocket v4 endpoint (with the documented trailing slash).
const DefaultURL = "wss://api.gateio.ws/ws/v4/"

// DefaultRESTURL is Gate's public REST base URL.
const DefaultRESTURL = "https://api.gateio.ws"

// Channels.
const (
	ChannelBookTicker = "spot.book_ticker"
	ChannelTickers    = "spot.tickers"
	ChannelTrades     = "spot.trades"
	ChannelPing       = "spot.ping"
	ChannelPong       = "spot.pong"
)

// MaxTimeSkew is how far a request's "time" may be from the server's clock before Gate
// refuses the request.
const MaxTimeSkew = 60 * time.Second

// Connection limits. Gate states no limit on subscriptions per connection or messages sent,
// recommends at most 100 connections per host, and drops connections that cannot consume
// their updates fast enough, which many subscriptions on one socket make more likely. With
// book_ticker pushing up to every 10 ms per pair we keep 50 pairs on a connection (the ~155
// Gate markets of the default asset map take 4 connections) and send each channel's pairs in
// one message. The exact server idle timeout is not documented (a third party reports 30 s);
// the client pings every 10 s and drops a connection silent for 25 s.
const (
	SymbolsPerConn    = 50
	SymbolsPerMessage = 50
	PingInterval      = 10 * time.Second
	IdleTimeout       = 25 * time.Second
)

// Protocol is the Gate Spot v4 protocol. The zero value is ready to use.
type Protocol struct{}

var (
	_ feed.Protocol   = Protocol{}
	_ feed.RESTTicker = Protocol{}
)

// Exchange returns price.Gateio.
func (Protocol) Exchange() price.Exchange { return price.Gateio }

// DefaultURL returns DefaultURL.
func (Protocol) DefaultURL() string { return DefaultURL }

// Limits returns Gate's connection rules. Gate names no subscribe deadline, so the runner's
// default applies.
func (Protocol) Limits() feed.Limits {
	return feed.Limits{
		SymbolsPerConn:    SymbolsPerConn,
		SymbolsPerMessage: SymbolsPerMessage,
		PingInterval:      PingInterval,
		IdleTimeout:       IdleTimeout,
	}
}

// NewSession returns the state of one connection subscribed to symbols ("BTC_USDT", ...).
func (Protocol) NewSession(symbols []string) feed.Session {
	return newSession(symbols, time.Now)
}

// request is a subscribe not yet answered.
type request struct {
	channel string
	pairs   []string
}

type session struct {
	symbols []string
	// bySym maps an upper-case pair to the session's own symbol string.
	bySym map[string]string
	now   func() time.Time
	reqID atomic.Int64
	// pending maps the id of each subscribe not yet answered to its channel and pairs. Only
	// Subscribe (before the first Handle) and Handle use it, never concurrently.
	pending map[int64]request
	parser  fastjson.Parser
	scratch []byte
	upper   []byte
	tick    price.Tick
}

func newSession(symbols []string, now func() time.Time) *session {
	s := &session{
		symbols: append([]string(nil), symbols...),
		bySym:   make(map[string]string, len(symbols)),
		now:     now,
		pending: map[int64]request{},
		scratch: make([]byte, 0, 64),
		upper:   make([]byte, 0, 32),
	}
	for _, sym := range s.symbols {
		k := strings.ToUpper(sym)
		if _, dup := s.bySym[k]; !dup {
			s.bySym[k] = sym
		}
	}
	s.tick.Exchange = price.Gateio
	return s
}

// Subscribe returns, per SymbolsPerMessage pairs, a spot.book_ticker and a spot.tickers
// subscribe, stamped with the current time and ids 1, 2, ...
func (s *session) Subscribe() [][]byte {
	var out [][]byte
	for _, c := range feed.Chunk(s.symbols, SymbolsPerMessage) {
		out = append(out, s.subscribeFrame(ChannelBookTicker, c), s.subscribeFrame(ChannelTickers, c))
	}
	return out
}

// subscribeFrame builds {"time":T,"id":N,"channel":"...","event":"subscribe","payload":[...]}
// and records the request as pending.
func (s *session) subscribeFrame(channel string, pairs []string) []byte {
	id := s.reqID.Add(1)
	s.pending[id] = request{channel: channel, pairs: pairs}
	b := append([]byte(nil), `{"time":`...)
	b = strconv.AppendInt(b, s.now().Unix(), 10)
	b = append(b, `,"id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"channel":`...)
	b = feed.AppendJSONString(b, channel)
	b = append(b, `,"event":"subscribe","payload":`...)
	b = feed.AppendJSONStrings(b, pairs)
	return append(b, '}')
}

// Ping returns {"time":T,"id":N,"channel":"spot.ping"}. Safe to call concurrently with Handle.
func (s *session) Ping() []byte {
	b := append([]byte(nil), `{"time":`...)
	b = strconv.AppendInt(b, s.now().Unix(), 10)
	b = append(b, `,"id":`...)
	b = strconv.AppendInt(b, s.reqID.Add(1), 10)
	return append(b, `,"channel":"spot.ping"}`...)
}

// Errors Handle returns for frames it cannot use.
var (
	errNotObject = errors.New("gateio: frame is not a JSON object")
	errNoChannel = errors.New("gateio: frame has no channel")
	errNoResult  = errors.New("gateio: update without a result object")
	errBadTime   = errors.New("gateio: bad timestamp")
	errBadBook   = errors.New("gateio: book_ticker with a bad price field")
	errBadTicker = errors.New("gateio: tickers update with a bad last price")
	errBadTrade  = errors.New("gateio: trade with a bad price field")
)

// Handle decodes one frame. book_ticker, tickers and trades updates of the session's pairs
// become ticks; acks, pongs and system notices are dropped; an error answer is returned as an
// error, with a reply that subscribes again to the pairs of a refused subscribe that the error
// does not name.
func (s *session) Handle(frame []byte, received int64, sink price.Sink) ([]byte, error) {
	v, err := s.parser.ParseBytes(frame)
	if err != nil {
		return nil, errors.New("gateio: malformed JSON: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return nil, errNotObject
	}
	if ev := o.Get("error"); ev != nil && ev.Type() != fastjson.TypeNull {
		return s.refused(o, ev)
	}
	ch := feed.JSONString(o, "channel")
	if len(ch) == 0 {
		if feed.JSONString(o, "type") != nil {
			return nil, nil // system notice, e.g. {"type":"upgrade","msg":"..."}
		}
		return nil, errNoChannel
	}
	if string(feed.JSONString(o, "event")) != "update" {
		// Acks ("subscribe"/"unsubscribe" with error null) and spot.pong.
		if id, ok := requestID(o); ok {
			delete(s.pending, id)
		}
		return nil, nil
	}
	var kind channelKind
	switch string(ch) {
	case ChannelBookTicker:
		kind = bookTickerKind
	case ChannelTickers:
		kind = tickersKind
	case ChannelTrades:
		kind = tradesKind
	default:
		return nil, nil // channels we never subscribe to
	}
	rv := o.Get("result")
	if rv == nil {
		return nil, errNoResult
	}
	switch rv.Type() {
	case fastjson.TypeObject:
		r, _ := rv.Object()
		return nil, s.update(kind, o, r, received, sink)
	case fastjson.TypeArray:
		// Pushes carry one object; accept a batch too.
		a, _ := rv.Array()
		var bad error
		for _, ev := range a {
			r := feed.JSONObject(ev)
			if r == nil {
				bad = errNoResult
				continue
			}
			if err := s.update(kind, o, r, received, sink); err != nil {
				bad = err
			}
		}
		return nil, bad
	}
	return nil, errNoResult
}

// channelKind is a channel whose updates become ticks.
type channelKind uint8

const (
	bookTickerKind channelKind = iota
	tickersKind
	tradesKind
)

// update handles one result object r of a push env on a channel of kind.
func (s *session) update(kind channelKind, env, r *fastjson.Object, received int64, sink price.Sink) error {
	switch kind {
	case bookTickerKind:
		return s.bookTicker(env, r, received, sink)
	case tickersKind:
		return s.ticker(env, r, received, sink)
	}
	return s.trade(env, r, received, sink)
}

// symbol returns the session's symbol for the pair in field key of r, matched
// case-insensitively.
func (s *session) symbol(r *fastjson.Object, key string) (string, bool) {
	b := feed.JSONString(r, key)
	s.upper = s.upper[:0]
	for _, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		s.upper = append(s.upper, c)
	}
	sym, ok := s.bySym[string(s.upper)]
	return sym, ok
}

// bookTicker handles {"t":ms,"u":id,"s":"BTC_USDT","b":"bid","B":qty,"a":"ask","A":qty}.
func (s *session) bookTicker(env, r *fastjson.Object, received int64, sink price.Sink) error {
	sym, ok := s.symbol(r, "s")
	if !ok {
		return nil // a pair this connection did not ask for
	}
	bid, err1 := feed.JSONPrice(r, "b", &s.scratch)
	ask, err2 := feed.JSONPrice(r, "a", &s.scratch)
	if err1 != nil || err2 != nil {
		return errBadBook
	}
	exTime, ok := millis(r.Get("t"))
	if !ok {
		return errBadTime
	}
	if exTime == 0 {
		if exTime, ok = envelopeTime(env); !ok {
			return errBadTime
		}
	}
	if bid == 0 && ask == 0 {
		return nil
	}
	s.emit(sym, 0, bid, ask, exTime, received, sink)
	return nil
}

// ticker handles the spot.tickers result {"currency_pair":"BTC_USDT","last":"...",...}.
func (s *session) ticker(env, r *fastjson.Object, received int64, sink price.Sink) error {
	sym, ok := s.symbol(r, "currency_pair")
	if !ok {
		return nil
	}
	last, err := feed.JSONPrice(r, "last", &s.scratch)
	if err != nil {
		return errBadTicker
	}
	exTime, ok := envelopeTime(env)
	if !ok {
		return errBadTime
	}
	if last == 0 {
		return nil
	}
	s.emit(sym, last, 0, 0, exTime, received, sink)
	return nil
}

// trade handles the spot.trades result {"id":n,"create_time":s,"create_time_ms":"ms.frac",
// "side":"sell","currency_pair":"GT_USDT","amount":"...","price":"...",...}.
func (s *session) trade(env, r *fastjson.Object, received int64, sink price.Sink) error {
	sym, ok := s.symbol(r, "currency_pair")
	if !ok {
		return nil
	}
	last, err := feed.JSONPrice(r, "price", &s.scratch)
	if err != nil {
		return errBadTrade
	}
	exTime, ok := fractionalMillis(r.Get("create_time_ms"), &s.scratch)
	if !ok {
		return errBadTime
	}
	if exTime == 0 {
		if exTime, ok = seconds(r.Get("create_time")); !ok {
			return errBadTime
		}
	}
	if exTime == 0 {
		if exTime, ok = envelopeTime(env); !ok {
			return errBadTime
		}
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

// envelopeTime is the push's "time_ms", else its "time" (seconds), in Unix nanoseconds.
func envelopeTime(env *fastjson.Object) (int64, bool) {
	t, ok := millis(env.Get("time_ms"))
	if !ok || t != 0 {
		return t, ok
	}
	return seconds(env.Get("time"))
}

// integer reads a JSON integer or an integer string. A missing or null value is 0, true.
func integer(v *fastjson.Value) (int64, bool) {
	if v == nil {
		return 0, true
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return 0, true
	case fastjson.TypeNumber:
		n, err := v.Int64()
		return n, err == nil && n >= 0
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return feed.ParseDigits(b)
	}
	return 0, false
}

const (
	maxMillis  = (1<<63 - 1) / 1_000_000
	maxSeconds = (1<<63 - 1) / 1_000_000_000
)

// millis reads a millisecond timestamp as Unix nanoseconds (0 when missing).
func millis(v *fastjson.Value) (int64, bool) {
	n, ok := integer(v)
	if !ok || n > maxMillis {
		return 0, false
	}
	return n * 1e6, true
}

// seconds reads a second timestamp as Unix nanoseconds (0 when missing).
func seconds(v *fastjson.Value) (int64, bool) {
	n, ok := integer(v)
	if !ok || n > maxSeconds {
		return 0, false
	}
	return n * 1e9, true
}

// fractionalMillis reads a millisecond timestamp with an optional fraction, given as a string
// ("1606292218213.4578") or a number, as Unix nanoseconds (0 when missing). Fraction digits
// beyond nanoseconds are ignored. scratch is reused to hold a number's text.
func fractionalMillis(v *fastjson.Value, scratch *[]byte) (int64, bool) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return 0, true
	}
	var b []byte
	switch v.Type() {
	case fastjson.TypeString:
		b, _ = v.StringBytes()
	case fastjson.TypeNumber:
		*scratch = v.MarshalTo((*scratch)[:0])
		b = *scratch
	default:
		return 0, false
	}
	whole, frac, _ := cut(b, '.')
	ms, ok := feed.ParseDigits(whole)
	if !ok || ms > maxMillis {
		return 0, false
	}
	ns := ms * 1e6
	scale := int64(100_000)
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, false
		}
		ns += int64(c-'0') * scale
		scale /= 10
	}
	return ns, true
}

func cut(b []byte, sep byte) (before, after []byte, found bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// requestID reads an answer's "id".
func requestID(o *fastjson.Object) (int64, bool) {
	v := o.Get("id")
	if v == nil || v.Type() == fastjson.TypeNull {
		return 0, false
	}
	n, ok := integer(v)
	return n, ok
}

// refused turns an answer with a non-null "error" into an error, and answers a refused
// subscribe that names some of its pairs with a subscribe of the others.
func (s *session) refused(o *fastjson.Object, ev *fastjson.Value) ([]byte, error) {
	id, hasID := requestID(o)
	req, pending := s.pending[id]
	if hasID && pending {
		delete(s.pending, id)
	}
	text := "gateio: "
	if ch := feed.JSONString(o, "channel"); len(ch) > 0 {
		text += string(ch) + " "
	}
	if e := feed.JSONString(o, "event"); len(e) > 0 {
		text += string(e) + " "
	}
	text += "refused"
	msg := ""
	if eo := feed.JSONObject(ev); eo != nil {
		if cv := eo.Get("code"); cv != nil {
			text += ": code " + string(cv.MarshalTo(nil))
		}
		msg = string(feed.JSONString(eo, "message"))
	} else if ev.Type() == fastjson.TypeString {
		b, _ := ev.StringBytes()
		msg = string(b)
	}
	if msg != "" {
		text += ": " + msg
	}
	var reply []byte
	if hasID && pending {
		if rest := feed.RetrySymbols(req.pairs, named(msg, req.pairs)); rest != nil {
			reply = s.subscribeFrame(req.channel, rest)
			text += " (subscribing again to the other " + strconv.Itoa(len(rest)) + " pairs)"
		}
	}
	return reply, errors.New(text)
}

// named returns the pairs of pairs that msg names as a word (case-insensitive; a word is a run
// of letters, digits and underscores).
func named(msg string, pairs []string) map[string]bool {
	return feed.NamedSymbols(msg, pairs, strings.ToUpper, func(r rune) bool {
		return 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_'
	})
}

// DefaultRESTURL returns DefaultRESTURL.
func (Protocol) DefaultRESTURL() string { return DefaultRESTURL }

// TickerPath returns "/api/v4/spot/tickers?currency_pair={symbol}".
func (Protocol) TickerPath(symbol string) string {
	return "/api/v4/spot/tickers?currency_pair=" + url.QueryEscape(strings.ToUpper(symbol))
}

// ParseTicker decodes a /api/v4/spot/tickers answer, an array of tickers:
//
//	[{"currency_pair":"BTC_USDT","last":"15743.4","lowest_ask":"15744.4","highest_bid":"15743.5",...}]
//
// into t (Exchange, Symbol, Last, Bid and Ask of the element for symbol; the REST ticker has no
// time). An error answer ({"label":"...","message":"..."}) is returned as an error.
func (Protocol) ParseTicker(symbol string, body []byte, t *price.Tick) error {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return errors.New("gateio: ticker: malformed JSON: " + err.Error())
	}
	if o := feed.JSONObject(v); o != nil {
		msg := "gateio: ticker " + symbol + ": error"
		if l := feed.JSONString(o, "label"); len(l) > 0 {
			msg += ": " + string(l)
		}
		if m := feed.JSONString(o, "message"); len(m) > 0 {
			msg += ": " + string(m)
		}
		return errors.New(msg)
	}
	if v.Type() != fastjson.TypeArray {
		return errors.New("gateio: ticker " + symbol + ": answer is not a JSON array")
	}
	a, _ := v.Array()
	for _, ev := range a {
		o := feed.JSONObject(ev)
		if !strings.EqualFold(string(feed.JSONString(o, "currency_pair")), symbol) {
			continue
		}
		var scratch []byte
		last, err1 := feed.JSONPrice(o, "last", &scratch)
		bid, err2 := feed.JSONPrice(o, "highest_bid", &scratch)
		ask, err3 := feed.JSONPrice(o, "lowest_ask", &scratch)
		if err1 != nil || err2 != nil || err3 != nil {
			return errors.New("gateio: ticker " + symbol + ": bad price field")
		}
		if last == 0 && bid == 0 && ask == 0 {
			return errors.New("gateio: ticker " + symbol + ": no prices in the answer")
		}
		t.Exchange = price.Gateio
		t.Symbol = symbol
		t.Last, t.Bid, t.Ask = last, bid, ask
		t.ExchangeTime = 0
		return nil
	}
	return errors.New("gateio: ticker " + symbol + ": pair not in the answer")
}
