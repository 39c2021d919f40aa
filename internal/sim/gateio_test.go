package sim

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/price"
)

// gtReq builds a Gate request stamped with time t (Unix seconds).
func gtReq(t int64, id int, channel, event string, pairs ...string) string {
	p, _ := json.Marshal(pairs)
	return `{"time":` + strconv.FormatInt(t, 10) + `,"id":` + strconv.Itoa(id) + `,"channel":"` + channel + `","event":"` + event + `","payload":` + string(p) + `}`
}

func gtCode(m map[string]any) float64 {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(float64)
	return c
}

func gtMsg(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	return field(e, "message")
}

func TestGateioURLs(t *testing.T) {
	s := startGG(t)
	if got := s.URL(price.Gateio); got != "ws://"+s.Addr()+"/gateio/ws/v4/" {
		t.Errorf("URL(gateio) = %q", got)
	}
	if got := s.RESTURL(price.Gateio); got != "http://"+s.Addr()+"/gateio-rest" {
		t.Errorf("RESTURL(gateio) = %q", got)
	}
}

func TestGateioProtocol(t *testing.T) {
	s := startGG(t)
	c := dial(t, s.URL(price.Gateio))
	now := time.Now().Unix()
	byID := func(id float64) func(map[string]any) bool {
		return func(m map[string]any) bool { return m["id"] == id }
	}

	// spot.ping → spot.pong.
	write(t, c, `{"time":`+strconv.FormatInt(now, 10)+`,"id":1,"channel":"spot.ping"}`)
	m := next(t, c, time.Second, byID(1))
	if field(m, "channel") != "spot.pong" || field(m, "event") != "" || m["error"] != nil || m["result"] != nil {
		t.Fatalf("pong %v", m)
	}
	// The request time must be within 60 s of the server's clock, and present.
	for i, req := range []string{
		gtReq(now-61, 2, "spot.tickers", "subscribe", "BTC_USDT"),
		gtReq(now+61, 3, "spot.tickers", "subscribe", "BTC_USDT"),
		`{"id":4,"channel":"spot.tickers","event":"subscribe","payload":["BTC_USDT"]}`,
		gtReq(now-61, 5, "spot.ping", ""),
	} {
		write(t, c, req)
		m = next(t, c, time.Second, byID(float64(i+2)))
		if gtCode(m) == 0 || m["result"] != nil {
			t.Fatalf("request %s: %v, want a refusal", req, m)
		}
	}
	write(t, c, gtReq(now-50, 6, "spot.tickers", "subscribe", "BTC_USDT"))
	if m = next(t, c, time.Second, byID(6)); m["error"] != nil || m["result"].(map[string]any)["status"] != "success" || field(m, "event") != "subscribe" || field(m, "channel") != "spot.tickers" {
		t.Fatalf("50 s off: %v, want accepted", m)
	}
	// Unknown pairs: code 2, Gate's text, nothing subscribed.
	write(t, c, gtReq(now, 7, "spot.book_ticker", "subscribe", "BTC_USDT", "NOPE_USDT", "ZZZ_USDT"))
	m = next(t, c, time.Second, byID(7))
	if gtCode(m) != 2 || gtMsg(m) != "unknown currency pair NOPE_USDT" || m["result"] != nil {
		t.Fatalf("unknown pair: %v", m)
	}
	write(t, c, gtReq(now, 8, "spot.order_book", "subscribe", "BTC_USDT"))
	if m = next(t, c, time.Second, byID(8)); gtCode(m) != 2 {
		t.Fatalf("unknown channel: %v", m)
	}
	write(t, c, gtReq(now, 9, "spot.book_ticker", "subscribe", "BTC_USDT", "SHIB_USDT"))
	next(t, c, time.Second, byID(9))
	write(t, c, gtReq(now, 10, "spot.trades", "subscribe", "BTC_USDT"))
	next(t, c, time.Second, byID(10))

	s.Step()
	last, bid, ask, _ := s.Quote(price.Gateio, "BTC_USDT")
	update := func(ch string) func(map[string]any) bool {
		return func(m map[string]any) bool { return field(m, "channel") == ch && field(m, "event") == "update" }
	}
	m = next(t, c, time.Second, update("spot.book_ticker"))
	r := m["result"].(map[string]any)
	if field(r, "s") != "BTC_USDT" || field(r, "b") != bid.String() || field(r, "a") != ask.String() || r["t"].(float64) < 1e12 || m["time_ms"].(float64) < 1e12 {
		t.Fatalf("book_ticker %v, want bid %v ask %v", m, bid, ask)
	}
	m = next(t, c, time.Second, update("spot.trades"))
	r = m["result"].(map[string]any)
	if field(r, "currency_pair") != "BTC_USDT" || field(r, "price") != last.String() || !strings.Contains(field(r, "create_time_ms"), ".") {
		t.Fatalf("trade %v, want price %v", m, last)
	}
	m = next(t, c, time.Second, update("spot.tickers"))
	r = m["result"].(map[string]any)
	if field(r, "currency_pair") != "BTC_USDT" || field(r, "last") != last.String() || field(r, "highest_bid") != bid.String() || field(r, "lowest_ask") != ask.String() {
		t.Fatalf("tickers %v, want %v/%v/%v", m, last, bid, ask)
	}
	// Unsubscribing stops the pushes of that channel.
	write(t, c, gtReq(now, 11, "spot.book_ticker", "unsubscribe", "BTC_USDT", "SHIB_USDT"))
	next(t, c, time.Second, byID(11))
	s.Step()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			break
		}
		if strings.Contains(string(b), "spot.book_ticker") {
			t.Fatalf("book_ticker after unsubscribe: %s", b)
		}
	}
}

func TestGateioFractionalMillis(t *testing.T) {
	for ns, want := range map[int64]string{
		1606292218213457800: "1606292218213.4578",
		1606292218213000000: "1606292218213.0000",
		1606292218213004999: "1606292218213.0049",
	} {
		if got := gtFractionalMillis(ns); got != want {
			t.Errorf("gtFractionalMillis(%d) = %s, want %s", ns, got, want)
		}
	}
}

// TestGateioServerPing: the server pings with WebSocket control frames and drops a client that
// does not answer in time (a client that does not read cannot answer); a client that reads
// stays connected.
func TestGateioServerPing(t *testing.T) {
	s := startGG(t)
	live := dial(t, s.URL(price.Gateio))
	liveErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := live.Read(context.Background()); err != nil {
				liveErr <- err
				return
			}
		}
	}()
	deaf := dial(t, s.URL(price.Gateio)) // never reads: its pongs never go out
	timeout := gatePongTimeout(&s.opts)
	deadline := time.Now().Add(gatePingEvery*s.opts.HeartbeatInterval + timeout + 3*time.Second)
	for s.Connections(price.Gateio) != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.Connections(price.Gateio); n != 1 {
		t.Fatalf("%d connections, want the deaf client dropped", n)
	}
	// The server already counts it gone; reading drains what it sent before closing, which
	// takes a while on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := deaf.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the deaf client's connection is still open")
			}
			break
		}
	}
	select {
	case err := <-liveErr:
		t.Fatalf("the reading client was dropped: %v", err)
	case <-time.After(timeout):
	}
	if n := s.Connections(price.Gateio); n != 1 {
		t.Fatalf("%d connections, want the reading client's", n)
	}
}

func TestGateioREST(t *testing.T) {
	s := startGG(t)
	s.Step()
	last, bid, ask, _ := s.Quote(price.Gateio, "BTC_USDT")
	code, body := ggGet(t, s.RESTURL(price.Gateio)+"/api/v4/spot/tickers?currency_pair=BTC_USDT")
	var got []map[string]string
	if err := json.Unmarshal(body, &got); code != 200 || err != nil || len(got) != 1 {
		t.Fatalf("%d %s (%v)", code, body, err)
	}
	if g := got[0]; g["currency_pair"] != "BTC_USDT" || g["last"] != last.String() || g["highest_bid"] != bid.String() || g["lowest_ask"] != ask.String() || g["lowest_size"] == "" {
		t.Fatalf("ticker %v, want %v/%v/%v", g, last, bid, ask)
	}
	code, body = ggGet(t, s.RESTURL(price.Gateio)+"/api/v4/spot/tickers")
	if err := json.Unmarshal(body, &got); code != 200 || err != nil || len(got) != 3 {
		t.Fatalf("all tickers: %d %s (%v)", code, body, err)
	}
	code, body = ggGet(t, s.RESTURL(price.Gateio)+"/api/v4/spot/tickers?currency_pair=NOPE_USDT")
	if code != 400 || !strings.Contains(string(body), `"label":"INVALID_CURRENCY_PAIR"`) {
		t.Fatalf("unknown pair: %d %s", code, body)
	}
}
