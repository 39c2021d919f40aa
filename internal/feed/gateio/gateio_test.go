package gateio

import (
	"bytes"
	"flag"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
	"github.com/trinityprice/trinity/internal/price"
)

var update = flag.Bool("update", false, "rewrite testdata/frames/*.golden")

// frames is the folder of the recorded frames and their .golden files.
const frames = "testdata/frames"

// testSymbols are the symbols of the session the golden tests decode with.
var testSymbols = []string{"BTC_USDT", "ETH_USDT", "GT_USDT"}

// testNow is the fixed clock of test sessions.
func testNow() time.Time { return time.Unix(1611541000, 0) }

// TestHandleGolden decodes every testdata/frames/*.json (message shapes from Gate's
// documentation, its official SDK and third-party fixtures) with a session that has sent its
// subscribes (ids 1 and 2, all test pairs), and compares the ticks, reply and error with the
// .golden file next to it. Run with -update to rewrite the golden files after review.
func TestHandleGolden(t *testing.T) {
	feedtest.RunGolden(t, func() feed.Session {
		s := newSession(testSymbols, testNow)
		s.Subscribe()
		return s
	}, testSymbols, frames, *update)
}

func TestHandleBookTicker(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "book_ticker")
	s := newSession(testSymbols, testNow)
	rec := feedtest.NewRecordingSink(t, testSymbols)
	if _, err := s.Handle(frame, 7, rec); err != nil {
		t.Fatal(err)
	}
	want := price.Tick{
		Exchange:     price.Gateio,
		Symbol:       "BTC_USDT",
		Bid:          price.MustParse("19177.79"),
		Ask:          price.MustParse("19179.38"),
		ExchangeTime: 1606293275123 * 1e6, // the book's own "t", not the push's time_ms
		Received:     7,
	}
	if len(rec.Ticks) != 1 || rec.Ticks[0] != want {
		t.Fatalf("ticks = %+v, want [%+v]", rec.Ticks, want)
	}
}

// TestHandleTickerLastOnly: spot.tickers gives the last price; its bid and ask, up to a second
// old, must not overwrite book_ticker's.
func TestHandleTickerLastOnly(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "tickers")
	s := newSession(testSymbols, testNow)
	rec := feedtest.NewRecordingSink(t, testSymbols)
	if _, err := s.Handle(frame, 7, rec); err != nil {
		t.Fatal(err)
	}
	want := price.Tick{Exchange: price.Gateio, Symbol: "BTC_USDT", Last: price.MustParse("15743.4"), ExchangeTime: 1669107766406 * 1e6, Received: 7}
	if len(rec.Ticks) != 1 || rec.Ticks[0] != want {
		t.Fatalf("ticks = %+v, want [%+v]", rec.Ticks, want)
	}
}

func TestHandleTradeFractionalMillis(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "trades")
	s := newSession(testSymbols, testNow)
	rec := feedtest.NewRecordingSink(t, testSymbols)
	if _, err := s.Handle(frame, 7, rec); err != nil {
		t.Fatal(err)
	}
	// "1606292218213.4578" ms.
	want := price.Tick{Exchange: price.Gateio, Symbol: "GT_USDT", Last: price.MustParse("0.4705"), ExchangeTime: 1606292218213_457_800, Received: 7}
	if len(rec.Ticks) != 1 || rec.Ticks[0] != want {
		t.Fatalf("ticks = %+v, want [%+v]", rec.Ticks, want)
	}
}

func TestSubscribe(t *testing.T) {
	s := newSession([]string{"BTC_USDT", "ETH_USDT"}, testNow)
	got := s.Subscribe()
	want := []string{
		`{"time":1611541000,"id":1,"channel":"spot.book_ticker","event":"subscribe","payload":["BTC_USDT","ETH_USDT"]}`,
		`{"time":1611541000,"id":2,"channel":"spot.tickers","event":"subscribe","payload":["BTC_USDT","ETH_USDT"]}`,
	}
	if len(got) != len(want) {
		t.Fatalf("Subscribe() = %q", got)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("frame %d = %s, want %s", i, got[i], want[i])
		}
	}
	if p := string(s.Ping()); p != `{"time":1611541000,"id":3,"channel":"spot.ping"}` {
		t.Fatalf("Ping() = %s", p)
	}
}

// TestRequestTimeIsNow: the "time" of a request is the clock when it is built (Gate refuses
// one more than 60 s off).
func TestRequestTimeIsNow(t *testing.T) {
	s := Protocol{}.NewSession([]string{"BTC_USDT"})
	before := time.Now().Unix()
	f := s.Subscribe()[0]
	after := time.Now().Unix()
	var ts int64
	if _, err := requestTime(string(f), &ts); err != nil || ts < before || ts > after {
		t.Fatalf("subscribe %s: time %d not in [%d, %d] (%v)", f, ts, before, after, err)
	}
}

// requestTime reads the leading {"time":N of a request.
func requestTime(s string, ts *int64) (int, error) {
	rest, ok := strings.CutPrefix(s, `{"time":`)
	if !ok {
		return 0, strconv.ErrSyntax
	}
	end := strings.IndexByte(rest, ',')
	if end < 0 {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseInt(rest[:end], 10, 64)
	*ts = n
	return 1, err
}

func TestSubscribeChunks(t *testing.T) {
	syms := make([]string, 2*SymbolsPerMessage+3)
	for i := range syms {
		syms[i] = "C" + strconv.Itoa(i) + "_USDT"
	}
	frames := newSession(syms, testNow).Subscribe()
	if len(frames) != 6 {
		t.Fatalf("%d frames, want 6 (2 channels × 3 chunks)", len(frames))
	}
	n := map[string]int{}
	for i, f := range frames {
		ch := ChannelBookTicker
		if i%2 == 1 {
			ch = ChannelTickers
		}
		if !bytes.Contains(f, []byte(`"id":`+strconv.Itoa(i+1)+`,"channel":"`+ch+`"`)) {
			t.Errorf("frame %d: %s: want id %d on %s", i, f, i+1, ch)
		}
		n[ch] += bytes.Count(f, []byte("_USDT"))
	}
	if n[ChannelBookTicker] != len(syms) || n[ChannelTickers] != len(syms) {
		t.Errorf("frames carry %v pairs per channel, want %d", n, len(syms))
	}
}

// TestRefusedSubscribeRetriesTheOthers: a refusal naming a pair of a subscribe is answered by
// subscribing the same channel to the request's other pairs, until only good pairs are left.
func TestRefusedSubscribeRetriesTheOthers(t *testing.T) {
	s := newSession([]string{"BTC_USDT", "NOPE_USDT", "ETH_USDT", "ZZZ_USDT"}, testNow)
	s.Subscribe() // ids 1 (book_ticker) and 2 (tickers)
	rec := feedtest.NewRecordingSink(t, nil)
	reply, err := s.Handle([]byte(`{"time":1611541000,"time_ms":1611541000001,"id":2,"channel":"spot.tickers","event":"subscribe","error":{"code":2,"message":"unknown currency pair NOPE_USDT"},"result":null}`), 1, rec)
	if err == nil || !strings.Contains(err.Error(), "NOPE_USDT") || !strings.Contains(err.Error(), "spot.tickers") {
		t.Fatalf("err = %v", err)
	}
	want := `{"time":1611541000,"id":3,"channel":"spot.tickers","event":"subscribe","payload":["BTC_USDT","ETH_USDT","ZZZ_USDT"]}`
	if string(reply) != want {
		t.Fatalf("reply %s, want %s", reply, want)
	}
	reply, _ = s.Handle([]byte(`{"time":1611541000,"id":3,"channel":"spot.tickers","event":"subscribe","error":{"code":2,"message":"unknown currency pair zzz_usdt"},"result":null}`), 1, rec)
	if string(reply) != `{"time":1611541000,"id":4,"channel":"spot.tickers","event":"subscribe","payload":["BTC_USDT","ETH_USDT"]}` {
		t.Fatalf("second refusal: reply %s", reply)
	}
	for _, ack := range []string{
		`{"time":1611541000,"id":1,"channel":"spot.book_ticker","event":"subscribe","error":null,"result":{"status":"success"}}`,
		`{"time":1611541000,"id":4,"channel":"spot.tickers","event":"subscribe","error":null,"result":{"status":"success"}}`,
	} {
		if reply, err := s.Handle([]byte(ack), 1, rec); reply != nil || err != nil {
			t.Fatalf("ack: reply %s, err %v", reply, err)
		}
	}
	if len(s.pending) != 0 {
		t.Fatalf("pending = %v", s.pending)
	}
	// A refusal that names no pair of the request (here: a bad time) is only reported.
	s.Subscribe()
	if reply, err := s.Handle([]byte(`{"time":1611541000,"id":5,"channel":"spot.book_ticker","event":"subscribe","error":{"code":2,"message":"request time out of range"},"result":null}`), 1, rec); reply != nil || err == nil {
		t.Fatalf("time refusal: reply %s, err %v", reply, err)
	}
}

func TestProtocol(t *testing.T) {
	var p feed.Protocol = Protocol{}
	if p.Exchange() != price.Gateio || p.DefaultURL() != "wss://api.gateio.ws/ws/v4/" {
		t.Fatalf("Exchange/DefaultURL = %v %q", p.Exchange(), p.DefaultURL())
	}
	if l := p.Limits(); l.PingInterval != 10*time.Second || l.IdleTimeout <= 2*l.PingInterval || l.SymbolsPerMessage != SymbolsPerMessage || l.SymbolsPerConn != SymbolsPerConn {
		t.Fatalf("Limits() = %+v", l)
	}
	r, ok := p.(feed.RESTTicker)
	if !ok {
		t.Fatal("Protocol does not implement feed.RESTTicker")
	}
	if r.DefaultRESTURL() != "https://api.gateio.ws" || r.TickerPath("BTC_USDT") != "/api/v4/spot/tickers?currency_pair=BTC_USDT" {
		t.Fatalf("DefaultRESTURL/TickerPath = %q %q", r.DefaultRESTURL(), r.TickerPath("BTC_USDT"))
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
			body: `[{"currency_pair": "BTC_USDT", "last": "15743.4", "lowest_ask": "15744.4", "lowest_size": "0.5", "highest_bid": "15743.5", "highest_size": "0.2", "change_percentage": "-1.82", "change_utc0": "-1.5", "change_utc8": "-1.7", "base_volume": "9110.47", "quote_volume": "145082083.25", "high_24h": "16280.9", "low_24h": "15468.5"}]`,
			want: price.Tick{Exchange: price.Gateio, Symbol: "BTC_USDT", Last: price.MustParse("15743.4"), Bid: price.MustParse("15743.5"), Ask: price.MustParse("15744.4")},
		},
		{
			name: "several tickers, lower-case pair",
			body: `[{"currency_pair":"ETH_USDT","last":"600","lowest_ask":"601","highest_bid":"599"},{"currency_pair":"btc_usdt","last":"0.000012345678","lowest_ask":"0.000012346","highest_bid":"0.0000123"}]`,
			want: price.Tick{Exchange: price.Gateio, Symbol: "BTC_USDT", Last: price.MustParse("0.000012345678"), Bid: price.MustParse("0.0000123"), Ask: price.MustParse("0.000012346")},
		},
		{
			name: "empty bid",
			body: `[{"currency_pair":"BTC_USDT","last":"15743.4","lowest_ask":"15744.4","highest_bid":""}]`,
			want: price.Tick{Exchange: price.Gateio, Symbol: "BTC_USDT", Last: price.MustParse("15743.4"), Ask: price.MustParse("15744.4")},
		},
		{name: "error answer", body: `{"label":"INVALID_CURRENCY_PAIR","message":"Invalid currency pair NOPE_USDT"}`, err: "INVALID_CURRENCY_PAIR: Invalid currency pair NOPE_USDT"},
		{name: "rate limited", body: `{"label":"TOO_MANY_REQUESTS","message":"Request Rate limit Exceeded"}`, err: "TOO_MANY_REQUESTS"},
		{name: "empty array", body: `[]`, err: "pair not in the answer"},
		{name: "other pair only", body: `[{"currency_pair":"ETH_USDT","last":"600","lowest_ask":"601","highest_bid":"599"}]`, err: "pair not in the answer"},
		{name: "bad price", body: `[{"currency_pair":"BTC_USDT","last":"1.2.3","lowest_ask":"2","highest_bid":"1"}]`, err: "bad price"},
		{name: "no prices", body: `[{"currency_pair":"BTC_USDT"}]`, err: "no prices"},
		{name: "string", body: `"BTC_USDT"`, err: "not a JSON array"},
		{name: "not JSON", body: `<html>502 Bad Gateway</html>`, err: "malformed JSON"},
		{name: "empty", body: ``, err: "malformed JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tk := price.Tick{Received: 99}
			err := Protocol{}.ParseTicker("BTC_USDT", []byte(c.body), &tk)
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
