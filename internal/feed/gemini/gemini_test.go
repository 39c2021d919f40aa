package gemini

import (
	"bytes"
	"flag"
	"strconv"
	"strings"
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
	"github.com/trinityprice/trinity/internal/price"
)

var update = flag.Bool("update", false, "rewrite testdata/frames/*.golden")

// frames is the folder of the recorded frames and their .golden files.
const frames = "testdata/frames"

// testSymbols are the symbols of the session the golden tests decode with.
var testSymbols = []string{"btcusd", "ethusd", "shibusd"}

// TestHandleGolden decodes every testdata/frames/*.json (message shapes from the exchange
// documentation, the official SDK's models and its conformance fixtures) with a session that
// has sent its SUBSCRIBE (id "1", all test symbols), and compares the ticks, reply and error
// with the .golden file next to it. Run with -update to rewrite the golden files after review.
func TestHandleGolden(t *testing.T) {
	feedtest.RunGolden(t, func() feed.Session {
		s := Protocol{}.NewSession(testSymbols)
		s.Subscribe()
		return s
	}, testSymbols, frames, *update)
}

func TestHandleBookTicker(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "book_ticker")
	s := newSession(testSymbols)
	rec := feedtest.NewRecordingSink(t, testSymbols)
	if _, err := s.Handle(frame, 7, rec); err != nil {
		t.Fatal(err)
	}
	want := price.Tick{
		Exchange:     price.Gemini,
		Symbol:       "btcusd",
		Bid:          price.MustParse("45000.5"),
		Ask:          price.MustParse("45001"),
		ExchangeTime: 1751508438600117161, // E is in nanoseconds on bookTicker
		Received:     7,
	}
	if len(rec.Ticks) != 1 || rec.Ticks[0] != want {
		t.Fatalf("ticks = %+v, want [%+v]", rec.Ticks, want)
	}
}

func TestHandleTrade(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "trade")
	s := newSession(testSymbols)
	rec := feedtest.NewRecordingSink(t, testSymbols)
	if _, err := s.Handle(frame, 7, rec); err != nil {
		t.Fatal(err)
	}
	want := price.Tick{
		Exchange:     price.Gemini,
		Symbol:       "btcusd",
		Last:         price.MustParse("1000"),
		ExchangeTime: 1700000000000 * 1e6, // E looks like milliseconds on trades
		Received:     7,
	}
	if len(rec.Ticks) != 1 || rec.Ticks[0] != want {
		t.Fatalf("ticks = %+v, want [%+v]", rec.Ticks, want)
	}
}

func TestEpochNanos(t *testing.T) {
	const ns = int64(1751508438600117161)
	for _, c := range []struct {
		in   int64
		want int64
		ok   bool
	}{
		{ns / 1e9, ns / 1e9 * 1e9, true},
		{ns / 1e6, ns / 1e6 * 1e6, true},
		{ns / 1e3, ns / 1e3 * 1e3, true},
		{ns, ns, true},
		{0, 0, false},
		{-5, 0, false},
		{1e10, 0, false},  // seconds past 2262
		{99e12, 0, false}, // milliseconds past 2262
		{99e15, 0, false}, // microseconds past 2262
		{1<<63 - 1, 1<<63 - 1, true},
	} {
		got, ok := EpochNanos(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("EpochNanos(%d) = %d, %v, want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestSubscribe(t *testing.T) {
	s := newSession([]string{"btcusd", "ETHUSD"})
	got := s.Subscribe()
	want := `{"id":"1","method":"SUBSCRIBE","params":["btcusd@bookTicker","btcusd@trade","ethusd@bookTicker","ethusd@trade"]}`
	if len(got) != 1 || string(got[0]) != want {
		t.Fatalf("Subscribe() = %q, want [%s]", got, want)
	}
	if p := string(s.Ping()); p != `{"id":"2","method":"ping"}` {
		t.Fatalf("Ping() = %s", p)
	}
	// An upper-case configured symbol is matched in frames and emitted as configured.
	rec := feedtest.NewRecordingSink(t, s.symbols)
	if _, err := s.Handle([]byte(`{"E":1,"s":"ethusd","b":"1","a":"2"}`), 1, rec); err != nil || len(rec.Ticks) != 1 || rec.Ticks[0].Symbol != "ETHUSD" {
		t.Fatalf("ticks %+v, err %v", rec.Ticks, err)
	}
}

func TestSubscribeChunks(t *testing.T) {
	syms := make([]string, 2*SymbolsPerMessage+3)
	for i := range syms {
		syms[i] = "c" + strconv.Itoa(i) + "usd"
	}
	frames := newSession(syms).Subscribe()
	if len(frames) != 3 {
		t.Fatalf("%d frames, want 3", len(frames))
	}
	n := 0
	for i, f := range frames {
		n += bytes.Count(f, []byte("@bookTicker"))
		if c := bytes.Count(f, []byte("@trade")); c != bytes.Count(f, []byte("@bookTicker")) {
			t.Errorf("frame %d: %d trade streams, want one per bookTicker", i, c)
		}
		if !bytes.HasPrefix(f, []byte(`{"id":"`+strconv.Itoa(i+1)+`","method":"SUBSCRIBE"`)) {
			t.Errorf("frame %d: %s: want id %d", i, f, i+1)
		}
	}
	if n != len(syms) {
		t.Errorf("frames carry %d symbols, want %d", n, len(syms))
	}
}

// TestRefusedSubscribeRetriesTheOthers: a refusal that names symbols of a SUBSCRIBE is
// answered by subscribing again to the request's other symbols; a second refusal of that
// request narrows it further; a refusal naming none of them (or of an unknown id) is only
// reported.
func TestRefusedSubscribeRetriesTheOthers(t *testing.T) {
	s := newSession([]string{"btcusd", "nopeusd", "ethusd", "zzzusd"})
	s.Subscribe()
	rec := feedtest.NewRecordingSink(t, nil)
	reply, err := s.Handle([]byte(`{"id":"1","status":400,"error":{"code":-1121,"msg":"Invalid symbol: nopeusd@bookTicker"}}`), 1, rec)
	if err == nil || !strings.Contains(err.Error(), "nopeusd") {
		t.Fatalf("err = %v", err)
	}
	want := `{"id":"2","method":"SUBSCRIBE","params":["btcusd@bookTicker","btcusd@trade","ethusd@bookTicker","ethusd@trade","zzzusd@bookTicker","zzzusd@trade"]}`
	if string(reply) != want {
		t.Fatalf("reply %s, want %s", reply, want)
	}
	reply, err = s.Handle([]byte(`{"id":2,"status":400,"error":{"code":-1121,"msg":"Invalid symbol ZZZUSD"}}`), 1, rec)
	if err == nil || string(reply) != `{"id":"3","method":"SUBSCRIBE","params":["btcusd@bookTicker","btcusd@trade","ethusd@bookTicker","ethusd@trade"]}` {
		t.Fatalf("second refusal: reply %s, err %v", reply, err)
	}
	if reply, err = s.Handle([]byte(`{"id":"3","status":200,"result":null}`), 1, rec); reply != nil || err != nil {
		t.Fatalf("ack: reply %s, err %v", reply, err)
	}
	// Answered requests are forgotten: a late refusal of id 3 is only reported.
	if reply, err = s.Handle([]byte(`{"id":"3","status":400,"error":{"code":-1121,"msg":"Invalid symbol btcusd"}}`), 1, rec); reply != nil || err == nil {
		t.Fatalf("late refusal: reply %s, err %v", reply, err)
	}
	if len(s.pending) != 0 {
		t.Fatalf("pending = %v", s.pending)
	}
}

func TestProtocol(t *testing.T) {
	var p feed.Protocol = Protocol{}
	if p.Exchange() != price.Gemini || p.DefaultURL() != "wss://ws.gemini.com" {
		t.Fatalf("Exchange/DefaultURL = %v %q", p.Exchange(), p.DefaultURL())
	}
	if l := p.Limits(); l.PingInterval == 0 || l.IdleTimeout <= 2*l.PingInterval || l.SymbolsPerMessage != SymbolsPerMessage || l.SymbolsPerConn != SymbolsPerConn {
		t.Fatalf("Limits() = %+v", l)
	}
	r, ok := p.(feed.RESTTicker)
	if !ok {
		t.Fatal("Protocol does not implement feed.RESTTicker")
	}
	if r.DefaultRESTURL() != "https://api.gemini.com" || r.TickerPath("BTCUSD") != "/v1/pubticker/btcusd" {
		t.Fatalf("DefaultRESTURL/TickerPath = %q %q", r.DefaultRESTURL(), r.TickerPath("BTCUSD"))
	}
}

func TestParseTicker(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       price.Tick
		err        string // substring of the error; "" = success
	}{
		{
			name: "reference",
			body: `{"bid": "977.59", "ask": "977.35", "last": "977.65", "volume": {"BTC": "2210.505328803", "USD": "2135477.463379586263", "timestamp": 1483018200000}}`,
			want: price.Tick{Exchange: price.Gemini, Symbol: "btcusd", Bid: price.MustParse("977.59"), Ask: price.MustParse("977.35"), Last: price.MustParse("977.65"), ExchangeTime: 1483018200000 * 1e6},
		},
		{
			name: "no volume",
			body: `{"bid":"0.00001233","ask":"0.00001235","last":"0.00001234"}`,
			want: price.Tick{Exchange: price.Gemini, Symbol: "btcusd", Bid: price.MustParse("0.00001233"), Ask: price.MustParse("0.00001235"), Last: price.MustParse("0.00001234")},
		},
		{
			name: "more digits than float64 holds",
			body: `{"bid":"105944.123456789012","ask":"105944.223456789012","last":"105944.323456789012","volume":{"timestamp":1483018200000}}`,
			want: price.Tick{Exchange: price.Gemini, Symbol: "btcusd", Bid: price.MustParse("105944.123456789012"), Ask: price.MustParse("105944.223456789012"), Last: price.MustParse("105944.323456789012"), ExchangeTime: 1483018200000 * 1e6},
		},
		{name: "error answer", body: `{"result":"error","reason":"InvalidSymbol","message":"Supplied value 'nopeusd' is not a valid symbol"}`, err: "InvalidSymbol: Supplied value 'nopeusd' is not a valid symbol"},
		{name: "rate limited", body: `{"result":"error","reason":"RateLimited","message":"Requests were made too frequently"}`, err: "RateLimited"},
		{name: "bad price", body: `{"bid":"1,2","ask":"2","last":"1"}`, err: "bad price"},
		{name: "negative price", body: `{"bid":"-1","ask":"2","last":"1"}`, err: "bad price"},
		{name: "no prices", body: `{"volume":{"timestamp":1483018200000}}`, err: "no prices"},
		{name: "bad timestamp", body: `{"bid":"1","ask":"2","last":"1","volume":{"timestamp":-1}}`, err: "timestamp"},
		{name: "array", body: `[{"bid":"1"}]`, err: "not a JSON object"},
		{name: "not JSON", body: `<html>502 Bad Gateway</html>`, err: "malformed JSON"},
		{name: "empty", body: ``, err: "malformed JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tk := price.Tick{Received: 99}
			err := Protocol{}.ParseTicker("btcusd", []byte(c.body), &tk)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.want.Received = 99
			if tk != c.want {
				t.Fatalf("tick %+v, want %+v", tk, c.want)
			}
		})
	}
}
