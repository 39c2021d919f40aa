package okx

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
var testSymbols = []string{"BTC-USDT", "ETH-USDT", "SHIB-USDT"}

// TestHandleGolden decodes every frame in testdata/frames and compares the ticks, reply and
// error with the .golden file next to it. Run with -update to rewrite the golden files after
// review.
func TestHandleGolden(t *testing.T) {
	feedtest.RunGolden(t, func() feed.Session { return Protocol{}.NewSession(testSymbols) }, testSymbols, frames, *update)
}

func TestHandleTicker(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "ticker")
	s := newSession(testSymbols)
	rec := feedtest.NewRecordingSink(t, testSymbols)
	if _, err := s.Handle(frame, 7, rec); err != nil {
		t.Fatal(err)
	}
	want := price.Tick{
		Exchange:     price.OKX,
		Symbol:       "BTC-USDT",
		Last:         price.MustParse("9999.99"),
		Bid:          price.MustParse("8888.88"),
		Ask:          price.MustParse("9999.99"),
		ExchangeTime: time.UnixMilli(1597026383085).UnixNano(),
		Received:     7,
	}
	if len(rec.Ticks) != 1 || rec.Ticks[0] != want {
		t.Fatalf("ticks = %+v, want [%+v]", rec.Ticks, want)
	}
}

// TestHandleEmptyPrices checks that "" bidPx/askPx (no order on that side) read as unknown
// and the last price still gets through.
func TestHandleEmptyPrices(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "ticker_empty_bid_ask")
	rec := feedtest.NewRecordingSink(t, testSymbols)
	if _, err := newSession(testSymbols).Handle(frame, 1, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Ticks) != 1 || rec.Ticks[0].Last != price.MustParse("3421.57") || rec.Ticks[0].Bid != 0 || rec.Ticks[0].Ask != 0 {
		t.Fatalf("ticks = %+v", rec.Ticks)
	}
}

func TestHandlePrecision(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "ticker_precision")
	rec := feedtest.NewRecordingSink(t, testSymbols)
	if _, err := newSession(testSymbols).Handle(frame, 1, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Ticks) != 1 {
		t.Fatalf("%d ticks, want 1", len(rec.Ticks))
	}
	tk := rec.Ticks[0]
	if tk.Bid != price.MustParse("0.000012345678") || tk.Ask != price.MustParse("0.000012346") || tk.Last != price.MustParse("0.00001234") {
		t.Fatalf("tick = %+v", tk)
	}
}

func TestHandleSubscribeRefused(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "subscribe_error")
	_, err := newSession(testSymbols).Handle(frame, 1, feedtest.NewRecordingSink(t, nil))
	if err == nil || !strings.Contains(err.Error(), "60018") || !strings.Contains(err.Error(), "NOPE-USDT") {
		t.Fatalf("err = %v, want OKX's code and the instrument", err)
	}
}

func TestHandlePong(t *testing.T) {
	s := newSession(testSymbols)
	if reply, err := s.Handle([]byte("pong"), 1, feedtest.NewRecordingSink(t, nil)); reply != nil || err != nil {
		t.Fatalf("Handle(pong) = %q, %v", reply, err)
	}
	if _, err := s.Handle([]byte("pong\n"), 1, feedtest.NewRecordingSink(t, nil)); err == nil {
		t.Fatal("Handle accepted a frame that is not exactly pong")
	}
}

func TestSubscribe(t *testing.T) {
	s := newSession([]string{"BTC-USDT", "ETH-USDC"})
	got := s.Subscribe()
	want := `{"op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"},{"channel":"tickers","instId":"ETH-USDC"}]}`
	if len(got) != 1 || string(got[0]) != want {
		t.Fatalf("Subscribe() = %q, want [%s]", got, want)
	}
	if p := string(s.Ping()); p != "ping" {
		t.Fatalf("Ping() = %q, want the text ping", p)
	}
	if len(newSession(nil).Subscribe()) != 0 {
		t.Fatal("Subscribe() without symbols sent frames")
	}
}

func TestSubscribeChunks(t *testing.T) {
	syms := make([]string, 2*SymbolsPerMessage+3)
	for i := range syms {
		// Longer than any real spot instId, to check the request size limit.
		syms[i] = "LONGTOKEN" + strconv.Itoa(i) + "-USDT"
	}
	frames := newSession(syms).Subscribe()
	if len(frames) != 3 {
		t.Fatalf("%d frames, want 3", len(frames))
	}
	n := 0
	for i, f := range frames {
		n += bytes.Count(f, []byte(`"channel":"tickers"`))
		if len(f) > MaxRequestBytes {
			t.Errorf("frame %d: %d bytes, more than %d", i, len(f), MaxRequestBytes)
		}
	}
	if n != len(syms) {
		t.Errorf("frames carry %d symbols, want %d", n, len(syms))
	}
}

func TestProtocol(t *testing.T) {
	var p feed.Protocol = Protocol{}
	if p.Exchange() != price.OKX || p.DefaultURL() != "wss://ws.okx.com:8443/ws/v5/public" {
		t.Fatalf("Exchange/DefaultURL = %v %q", p.Exchange(), p.DefaultURL())
	}
	l := p.Limits()
	// The ping must reach OKX well inside its 30 s, and the idle timeout must cover more
	// than one ping interval (pongs are what a quiet connection receives).
	if l.PingInterval <= 0 || l.PingInterval > ServerTimeout*2/3 || l.IdleTimeout <= l.PingInterval || l.SymbolsPerMessage != SymbolsPerMessage {
		t.Fatalf("Limits() = %+v", l)
	}
}

func TestParseTicker(t *testing.T) {
	const ok = `{"code":"0","msg":"","data":[{"instType":"SPOT","instId":"BTC-USDT","last":"105899.4","lastSz":"0.00012","askPx":"105899.5","askSz":"1.2","bidPx":"105899.4","bidSz":"0.8","open24h":"104000","high24h":"106000","low24h":"103500.1","volCcy24h":"987654321.5","vol24h":"9321.55","ts":"1734601856123","sodUtc0":"104500","sodUtc8":"104800"}]}`
	tests := []struct {
		name, symbol, body string
		want               price.Tick
		err                string // substring of the error; "" for success
	}{
		{name: "ok", symbol: "BTC-USDT", body: ok, want: price.Tick{
			Last: price.MustParse("105899.4"), Bid: price.MustParse("105899.4"), Ask: price.MustParse("105899.5"),
			ExchangeTime: time.UnixMilli(1734601856123).UnixNano(),
		}},
		{name: "empty bid and ask", symbol: "ETH-USDT",
			body: `{"code":"0","msg":"","data":[{"instType":"SPOT","instId":"ETH-USDT","last":"3421.57","askPx":"","bidPx":"","ts":"1718000000123"}]}`,
			want: price.Tick{Last: price.MustParse("3421.57"), ExchangeTime: time.UnixMilli(1718000000123).UnixNano()}},
		{name: "unknown instrument", symbol: "NOPE-USDT",
			body: `{"code":"51001","msg":"Instrument ID, Instrument ID code, or Spread ID doesn't exist.","data":[]}`,
			err:  "code 51001: Instrument ID"},
		{name: "rate limited", symbol: "BTC-USDT", body: `{"msg":"Too Many Requests","code":"50011"}`, err: "code 50011: Too Many Requests"},
		{name: "missing parameter", symbol: "", body: `{"code":"50014","data":[],"msg":"Parameter instId can not be empty."}`, err: "code 50014"},
		{name: "other instrument", symbol: "ETH-USDT", body: ok, err: "no data for ETH-USDT"},
		{name: "no data", symbol: "BTC-USDT", body: `{"code":"0","msg":"","data":[]}`, err: "no data"},
		{name: "no code", symbol: "BTC-USDT", body: `{"data":[]}`, err: "no code"},
		{name: "numeric code", symbol: "BTC-USDT", body: `{"code":404,"data":{},"error_code":"404"}`, err: "no code"},
		{name: "bad price", symbol: "BTC-USDT", body: strings.Replace(ok, `"last":"105899.4"`, `"last":"1e"`, 1), err: "bad last"},
		{name: "bad ts", symbol: "BTC-USDT", body: strings.Replace(ok, `"ts":"1734601856123"`, `"ts":"-1"`, 1), err: "bad last"},
		{name: "not JSON", symbol: "BTC-USDT", body: `<html>502 Bad Gateway</html>`, err: "malformed JSON"},
		{name: "not an object", symbol: "BTC-USDT", body: `[]`, err: "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got price.Tick
			err := Protocol{}.ParseTicker(tc.symbol, []byte(tc.body), &got)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("tick = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTickerPath(t *testing.T) {
	var r feed.RESTTicker = Protocol{}
	if r.DefaultRESTURL() != "https://www.okx.com" {
		t.Fatalf("DefaultRESTURL() = %q", r.DefaultRESTURL())
	}
	if p := r.TickerPath("BTC-USDT"); p != "/api/v5/market/ticker?instId=BTC-USDT" {
		t.Fatalf("TickerPath = %q", p)
	}
}

func TestParseMillis(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1597026383085", 1597026383085 * int64(time.Millisecond), true},
		{"0", 0, true},
		{"9223372036854", 9223372036854 * int64(time.Millisecond), true}, // 2262-04-11
		{"9223372036855", 0, false},                                      // beyond int64 nanoseconds
		{"99999999999999", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
	} {
		got, ok := parseMillis([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseMillis(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
