package bybit

import (
	"encoding/json"
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
var testSymbols = []string{"BTCUSDT", "ETHUSDT", "SHIBUSDT"}

// TestHandleGolden decodes every testdata/frames/*.json (message shapes from the exchange
// documentation and reference fixtures) and compares the ticks, reply and error with the
// .golden file next to it. Run with -update to rewrite the golden files after review.
func TestHandleGolden(t *testing.T) {
	feedtest.RunGolden(t, func() feed.Session { return Protocol{}.NewSession(testSymbols) }, testSymbols, frames, *update)
}

func TestHandleTicker(t *testing.T) {
	s := newSession(testSymbols)
	rec := feedtest.NewRecordingSink(t, testSymbols)
	if _, err := s.Handle(feedtest.ReadFrame(t, frames, "ticker"), 7, rec); err != nil {
		t.Fatal(err)
	}
	want := price.Tick{
		Exchange:     price.Bybit,
		Symbol:       "BTCUSDT",
		Last:         price.MustParse("16363.78"),
		ExchangeTime: time.UnixMilli(1672305380595).UnixNano(),
		Received:     7,
	}
	if len(rec.Ticks) != 1 || rec.Ticks[0] != want {
		t.Fatalf("ticks = %+v, want [%+v]", rec.Ticks, want)
	}
}

// TestHandleBookSequence feeds a level-1 book through snapshot and deltas and checks the bid
// and ask a consumer that keeps the last known value of each side ends up with.
func TestHandleBookSequence(t *testing.T) {
	s := newSession(testSymbols)
	var bid, ask price.Value
	steps := []struct {
		frame    string
		bid, ask string
	}{
		{"orderbook_snapshot", "16493.5", "16611"},
		{"orderbook_delta_both", "16494", "16600.1"},
		{"orderbook_delta_bid_only", "16494", "16600.1"},
		// A removal without the level that replaces it: nothing to report.
		{"orderbook_delta_removal_only", "16494", "16600.1"},
		{"orderbook_snapshot", "16493.5", "16611"},
	}
	for _, st := range steps {
		rec := feedtest.NewRecordingSink(t, testSymbols)
		if _, err := s.Handle(feedtest.ReadFrame(t, frames, st.frame), 1, rec); err != nil {
			t.Fatalf("%s: %v", st.frame, err)
		}
		for _, tk := range rec.Ticks {
			if tk.Last != 0 {
				t.Fatalf("%s: book tick with a last price: %+v", st.frame, tk)
			}
			if tk.Bid != 0 {
				bid = tk.Bid
			}
			if tk.Ask != 0 {
				ask = tk.Ask
			}
		}
		if bid != price.MustParse(st.bid) || ask != price.MustParse(st.ask) {
			t.Fatalf("after %s: bid/ask %v/%v, want %s/%s", st.frame, bid, ask, st.bid, st.ask)
		}
	}
}

func TestHandleRefused(t *testing.T) {
	for name, want := range map[string]string{
		"subscribe_invalid_symbol": "Invalid symbol :[tickers.NOPEUSDT]",
		"subscribe_too_many_args":  "args size >10",
	} {
		_, err := newSession(testSymbols).Handle(feedtest.ReadFrame(t, frames, name), 1, feedtest.NewRecordingSink(t, nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want Bybit's message %q", name, err, want)
		}
	}
}

func TestSubscribe(t *testing.T) {
	s := newSession([]string{"BTCUSDT", "ETHUSDC"})
	got := s.Subscribe()
	want := `{"req_id":"1","op":"subscribe","args":["tickers.BTCUSDT","orderbook.1.BTCUSDT","tickers.ETHUSDC","orderbook.1.ETHUSDC"]}`
	if len(got) != 1 || string(got[0]) != want {
		t.Fatalf("Subscribe() = %q, want [%s]", got, want)
	}
	if p := string(s.Ping()); p != `{"req_id":"2","op":"ping"}` {
		t.Fatalf("Ping() = %s", p)
	}
}

// TestSubscribeLimits checks every request against Bybit's spot rule of at most 10 args, and
// a full connection's args against the 21,000-character limit.
func TestSubscribeLimits(t *testing.T) {
	syms := make([]string, SymbolsPerConn)
	for i := range syms {
		syms[i] = "LONGNAME" + strconv.Itoa(i) + "USDT" // longer than most real symbols
	}
	frames := newSession(syms).Subscribe()
	if want := (len(syms) + SymbolsPerMessage - 1) / SymbolsPerMessage; len(frames) != want {
		t.Fatalf("%d frames, want %d", len(frames), want)
	}
	var total []string
	for i, f := range frames {
		var req struct {
			ReqID string   `json:"req_id"`
			Op    string   `json:"op"`
			Args  []string `json:"args"`
		}
		if err := json.Unmarshal(f, &req); err != nil {
			t.Fatalf("frame %d: %s: %v", i, f, err)
		}
		if req.Op != "subscribe" || len(req.Args) == 0 || len(req.Args) > ArgsPerMessage || req.ReqID != strconv.Itoa(i+1) {
			t.Fatalf("frame %d: %s", i, f)
		}
		total = append(total, req.Args...)
	}
	if len(total) != 2*len(syms) {
		t.Fatalf("%d args, want %d", len(total), 2*len(syms))
	}
	b, _ := json.Marshal(total)
	if len(b) > MaxArgsChars {
		t.Fatalf("args of one connection take %d characters, more than %d", len(b), MaxArgsChars)
	}
}

func TestProtocol(t *testing.T) {
	var p feed.Protocol = Protocol{}
	if p.Exchange() != price.Bybit || p.DefaultURL() != "wss://stream.bybit.com/v5/public/spot" {
		t.Fatalf("Exchange/DefaultURL = %v %q", p.Exchange(), p.DefaultURL())
	}
	l := p.Limits()
	if l.PingInterval != 20*time.Second || l.IdleTimeout <= 2*l.PingInterval || l.SymbolsPerMessage != 5 {
		t.Fatalf("Limits() = %+v", l)
	}
}

func TestParseTicker(t *testing.T) {
	const ok = `{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"symbol":"BTCUSDT","bid1Price":"20517.96","bid1Size":"2","ask1Price":"20527.77","ask1Size":"1.862172","lastPrice":"20533.13","prevPrice24h":"20393.48","price24hPcnt":"0.0068","highPrice24h":"21128.12","lowPrice24h":"20318.89","turnover24h":"243765620.65899866","volume24h":"11801.27771","usdIndexPrice":"20784.12009279"}]},"retExtInfo":{},"time":1673859087947}`
	tests := []struct {
		name, symbol, body string
		want               price.Tick
		err                string // substring of the error; "" for success
	}{
		{name: "ok", symbol: "BTCUSDT", body: ok, want: price.Tick{
			Last: price.MustParse("20533.13"), Bid: price.MustParse("20517.96"), Ask: price.MustParse("20527.77"),
			ExchangeTime: time.UnixMilli(1673859087947).UnixNano(),
		}},
		{name: "empty bid", symbol: "BTCUSDT", body: strings.Replace(ok, `"bid1Price":"20517.96"`, `"bid1Price":""`, 1), want: price.Tick{
			Last: price.MustParse("20533.13"), Ask: price.MustParse("20527.77"),
			ExchangeTime: time.UnixMilli(1673859087947).UnixNano(),
		}},
		{name: "unknown symbol", symbol: "NOPEUSDT", body: `{"retCode":10001,"retMsg":"Not supported symbols","result":{},"retExtInfo":{},"time":1726147060461}`,
			err: "retCode 10001: Not supported symbols"},
		{name: "rate limited", symbol: "BTCUSDT", body: `{"retCode":10006,"retMsg":"Too many visits!","result":{},"retExtInfo":{},"time":1726147060461}`,
			err: "retCode 10006"},
		{name: "other symbol", symbol: "ETHUSDT", body: ok, err: "no data for ETHUSDT"},
		{name: "empty list", symbol: "BTCUSDT", body: `{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[]},"retExtInfo":{},"time":1}`, err: "no data"},
		{name: "no retCode", symbol: "BTCUSDT", body: `{"retMsg":"OK"}`, err: "no retCode"},
		{name: "string retCode", symbol: "BTCUSDT", body: `{"retCode":"0"}`, err: "no retCode"},
		{name: "fractional retCode", symbol: "BTCUSDT", body: `{"retCode":0.5,"retMsg":"?"}`, err: "retCode 0.5"},
		{name: "bad price", symbol: "BTCUSDT", body: strings.Replace(ok, `"lastPrice":"20533.13"`, `"lastPrice":"x"`, 1), err: "bad lastPrice"},
		{name: "bad time", symbol: "BTCUSDT", body: strings.Replace(ok, `"time":1673859087947`, `"time":"soon"`, 1), err: "bad time"},
		{name: "not JSON", symbol: "BTCUSDT", body: `403 Forbidden`, err: "malformed JSON"},
		{name: "not an object", symbol: "BTCUSDT", body: `null`, err: "not a JSON object"},
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
	if r.DefaultRESTURL() != "https://api.bybit.com" {
		t.Fatalf("DefaultRESTURL() = %q", r.DefaultRESTURL())
	}
	if p := r.TickerPath("BTCUSDT"); p != "/v5/market/tickers?category=spot&symbol=BTCUSDT" {
		t.Fatalf("TickerPath = %q", p)
	}
}
