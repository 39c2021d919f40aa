package sim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/price"
)

// ggUniverse is the market map of the Gemini and Gate venue tests.
const ggUniverse = `{"assets":{
	"BTC":  {"gemini":"btcusd",  "gateio":"BTC_USDT"},
	"ETH":  {"gemini":"ethusd",  "gateio":"ETH_USDC"},
	"SHIB": {"gemini":"shibusd", "gateio":"SHIB_USDT"}
}}`

// startGG starts a simulator of ggUniverse with fast heartbeats; the walk moves only when the
// test calls Step.
func startGG(t testing.TB) *Server {
	t.Helper()
	u, err := price.ParseUniverse([]byte(ggUniverse))
	if err != nil {
		t.Fatal(err)
	}
	s := New(u, Options{HeartbeatInterval: 20 * time.Millisecond})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ggGet fetches url and returns the status and body.
func ggGet(t testing.TB, url string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestGeminiURLs(t *testing.T) {
	s := startGG(t)
	if got := s.URL(price.Gemini); got != "ws://"+s.Addr()+"/gemini" {
		t.Errorf("URL(gemini) = %q", got)
	}
	if got := s.RESTURL(price.Gemini); got != "http://"+s.Addr()+"/gemini-rest" {
		t.Errorf("RESTURL(gemini) = %q", got)
	}
}

func TestGeminiProtocol(t *testing.T) {
	s := startGG(t)
	c := dial(t, s.URL(price.Gemini))
	any1 := func(map[string]any) bool { return true }

	write(t, c, `{"id":"p1","method":"ping"}`)
	m := next(t, c, time.Second, any1)
	if m["id"] != "p1" || m["status"] != 200.0 || m["result"] == nil {
		t.Fatalf("ping answer %v", m)
	}
	// Symbols in stream names are lower case.
	write(t, c, `{"id":"1","method":"SUBSCRIBE","params":["BTCUSD@bookTicker"]}`)
	m = next(t, c, time.Second, any1)
	if m["id"] != "1" || m["status"] != 400.0 || !strings.Contains(field(m["error"].(map[string]any), "msg"), "lower-case") {
		t.Fatalf("upper-case stream: %v", m)
	}
	// Depth streams are not simulated; unknown streams are invalid.
	for _, p := range []string{"btcusd@depth20", "btcusd@ticker", "btcusd"} {
		write(t, c, `{"id":2,"method":"SUBSCRIBE","params":["`+p+`"]}`)
		if m = next(t, c, time.Second, any1); m["id"] != 2.0 || m["status"] != 400.0 {
			t.Fatalf("%s: %v", p, m)
		}
	}
	// An unknown symbol refuses the whole request and is named.
	write(t, c, `{"id":3,"method":"subscribe","params":["btcusd@bookTicker","nopeusd@bookTicker","nopeusd@trade"]}`)
	m = next(t, c, time.Second, any1)
	e, _ := m["error"].(map[string]any)
	if m["id"] != 3.0 || m["status"] != 400.0 || e["code"] != -1121.0 || !strings.Contains(field(e, "msg"), "nopeusd@bookTicker, nopeusd@trade") {
		t.Fatalf("unknown symbol: %v", m)
	}
	write(t, c, `{"id":4,"method":"LIST_SUBSCRIPTIONS"}`)
	if m = next(t, c, time.Second, any1); len(m["result"].([]any)) != 0 {
		t.Fatalf("subscriptions after refusals: %v", m)
	}
	write(t, c, `{"id":"5","method":"SUBSCRIBE","params":["btcusd@bookTicker","btcusd@trade","shibusd@trade"]}`)
	if m = next(t, c, time.Second, any1); m["id"] != "5" || m["status"] != 200.0 {
		t.Fatalf("subscribe: %v", m)
	}
	write(t, c, `{"id":6,"method":"LIST_SUBSCRIPTIONS"}`)
	m = next(t, c, time.Second, any1)
	if b, _ := json.Marshal(m["result"]); string(b) != `["btcusd@bookTicker","btcusd@trade","shibusd@trade"]` {
		t.Fatalf("LIST_SUBSCRIPTIONS: %v", m)
	}
	// No snapshot: the first push comes with the next move.
	s.Step()
	last, bid, ask, _ := s.Quote(price.Gemini, "btcusd")
	bt := next(t, c, time.Second, func(m map[string]any) bool { _, ok := m["u"]; return ok })
	if field(bt, "s") != "btcusd" || field(bt, "b") != bid.String() || field(bt, "a") != ask.String() || bt["E"].(float64) < 1e18 {
		t.Fatalf("bookTicker %v, want bid %v ask %v and E in ns", bt, bid, ask)
	}
	var trades []map[string]any
	for len(trades) < 2 {
		trades = append(trades, next(t, c, time.Second, func(m map[string]any) bool { return field(m, "e") == "trade" }))
	}
	for _, tr := range trades {
		e := tr["E"].(float64)
		switch strings.ToLower(field(tr, "s")) {
		case "btcusd":
			if field(tr, "p") != last.String() || e < 1e12 || e > 1e14 {
				t.Fatalf("trade %v, want price %v and E in ms", tr, last)
			}
		case "shibusd":
		default:
			t.Fatalf("trade %v", tr)
		}
	}
	if field(trades[0], "s") == field(trades[1], "s") || strings.ToUpper(field(trades[1], "s")) != field(trades[1], "s") {
		t.Errorf("every other trade should spell its symbol in upper case: %v", trades)
	}
	write(t, c, `{"id":7,"method":"UNSUBSCRIBE","params":["btcusd@trade"]}`)
	next(t, c, time.Second, func(m map[string]any) bool { return m["id"] == 7.0 })
	write(t, c, `{"id":8,"method":"time"}`)
	if m = next(t, c, time.Second, func(m map[string]any) bool { return m["id"] == 8.0 }); m["status"] != 400.0 {
		t.Fatalf("unknown method: %v", m)
	}
	write(t, c, `{"id":9,"method":"LIST_SUBSCRIPTIONS"}`)
	m = next(t, c, time.Second, func(m map[string]any) bool { return m["id"] == 9.0 })
	if b, _ := json.Marshal(m["result"]); string(b) != `["btcusd@bookTicker","shibusd@trade"]` {
		t.Fatalf("after UNSUBSCRIBE: %v", m)
	}
}

func TestGeminiREST(t *testing.T) {
	s := startGG(t)
	s.Step()
	last, bid, ask, _ := s.Quote(price.Gemini, "btcusd")
	for _, sym := range []string{"btcusd", "BTCUSD"} {
		code, body := ggGet(t, s.RESTURL(price.Gemini)+"/v1/pubticker/"+sym)
		var got struct {
			Bid, Ask, Last string
			Volume         map[string]any
		}
		if err := json.Unmarshal(body, &got); code != 200 || err != nil {
			t.Fatalf("%s: %d %s (%v)", sym, code, body, err)
		}
		if got.Bid != bid.String() || got.Ask != ask.String() || got.Last != last.String() || got.Volume["BTC"] == nil || got.Volume["USD"] == nil || got.Volume["timestamp"].(float64) < 1e12 {
			t.Fatalf("%s: %s, want %v/%v/%v", sym, body, last, bid, ask)
		}
	}
	code, body := ggGet(t, s.RESTURL(price.Gemini)+"/v1/pubticker/nopeusd")
	if code != 400 || !strings.Contains(string(body), `"result":"error"`) || !strings.Contains(string(body), "InvalidSymbol") {
		t.Fatalf("unknown symbol: %d %s", code, body)
	}
	if code, _ := ggGet(t, s.RESTURL(price.Gemini)+"/v1/book/btcusd"); code != 404 {
		t.Fatalf("other endpoint: %d", code)
	}
}
