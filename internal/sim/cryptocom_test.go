package sim

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/trinityprice/trinity/internal/price"
)

const cdcTestUniverse = `{"assets":{
	"BTC":  {"coinbase":"BTC-USD", "kraken":"BTC/USD", "cryptocom":"BTC_USD"},
	"ETH":  {"kraken":"ETH/USDT", "cryptocom":"ETH_USDT"},
	"SHIB": {"cryptocom":"SHIB_USD"}
}}`

// startCryptocom starts a simulator of u (cdcTestUniverse if empty) with 50 ms heartbeats.
// A positive heartbeatTimeout replaces the 5 s the client has to answer a heartbeat.
func startCryptocom(t *testing.T, u string, heartbeatTimeout time.Duration) *Server {
	t.Helper()
	if u == "" {
		u = cdcTestUniverse
	}
	uv, err := price.ParseUniverse([]byte(u))
	if err != nil {
		t.Fatal(err)
	}
	s := New(uv, Options{HeartbeatInterval: 50 * time.Millisecond})
	if heartbeatTimeout > 0 && !s.SetClientIdleTimeout(price.Cryptocom, heartbeatTimeout) {
		t.Fatal("SetClientIdleTimeout(cryptocom) = false")
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// cdcEarlyInSecond waits until the wall clock is in the first 300 ms of a second, so that a
// connection made now and a request sent right after fall in the same calendar second.
func cdcEarlyInSecond() {
	if ns := time.Now().Nanosecond(); ns > 300_000_000 {
		time.Sleep(time.Duration(1_000_000_000-ns) + time.Millisecond)
	}
}

// cdcNextSecond waits until the calendar second after the one of t has begun.
func cdcNextSecond(t time.Time) {
	time.Sleep(time.Until(t.Truncate(time.Second).Add(time.Second + time.Millisecond)))
}

func cdcSubscribe(id int, channels ...string) string {
	b, _ := json.Marshal(channels)
	return `{"id":` + strconv.Itoa(id) + `,"method":"subscribe","params":{"channels":` + string(b) +
		`},"nonce":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `}`
}

func cdcNum(m map[string]any, key string) float64 {
	f, _ := m[key].(float64)
	return f
}

func TestCryptocomURLs(t *testing.T) {
	s := startCryptocom(t, "", 0)
	if got := s.URL(price.Cryptocom); got != "ws://"+s.Addr()+"/cryptocom/exchange/v1/market" {
		t.Errorf("URL(cryptocom) = %q", got)
	}
	if got := s.RESTURL(price.Cryptocom); got != "http://"+s.Addr()+"/cryptocom-rest" {
		t.Errorf("RESTURL(cryptocom) = %q", got)
	}
	for ex, want := range map[price.Exchange]string{price.Coinbase: "/coinbase-rest", price.Kraken: "/kraken-rest"} {
		if got := s.RESTURL(ex); got != "http://"+s.Addr()+want {
			t.Errorf("RESTURL(%v) = %q", ex, got)
		}
	}
}

func TestCryptocomProtocol(t *testing.T) {
	s := startCryptocom(t, "", 0)
	cdcEarlyInSecond()
	opened := time.Now()
	c := dial(t, s.URL(price.Cryptocom))

	// A request in the calendar second the connection opened is refused.
	write(t, c, cdcSubscribe(1, "ticker.BTC_USD"))
	m := next(t, c, time.Second, func(m map[string]any) bool { return true })
	if cdcNum(m, "id") != 1 || field(m, "method") != "subscribe" || cdcNum(m, "code") != 42901 || field(m, "message") != "TOO_MANY_REQUESTS" {
		t.Fatalf("early request: %v, want TOO_MANY_REQUESTS", m)
	}

	// Heartbeats start after the first calendar second; answer one.
	m = next(t, c, 2*time.Second, func(m map[string]any) bool { return field(m, "method") == "public/heartbeat" })
	if time.Now().Unix() == opened.Unix() || cdcNum(m, "code") != 0 || cdcNum(m, "id") < float64(opened.UnixMilli()) {
		t.Fatalf("heartbeat %v at %v (connection opened %v)", m, time.Now(), opened)
	}
	write(t, c, `{"id":`+strconv.FormatInt(int64(cdcNum(m, "id")), 10)+`,"method":"public/respond-heartbeat"}`)
	notHB := func(m map[string]any) bool { return field(m, "method") != "public/heartbeat" }

	// A stale nonce is refused.
	write(t, c, `{"id":2,"method":"subscribe","params":{"channels":["ticker.BTC_USD"]},"nonce":1587523073344}`)
	m = next(t, c, time.Second, notHB)
	if cdcNum(m, "id") != 2 || cdcNum(m, "code") != 40102 {
		t.Fatalf("stale nonce: %v", m)
	}

	// Subscribe: invalid channels named in an error, the rest acked and pushed.
	write(t, c, cdcSubscribe(3, "ticker.BTC_USD", "ticker.NOPE_USD", "trade.BTC_USD", "ticker.SHIB_USD"))
	m = next(t, c, time.Second, notHB)
	if cdcNum(m, "id") != 3 || cdcNum(m, "code") != 10004 || !strings.Contains(field(m, "message"), `["ticker.NOPE_USD","trade.BTC_USD"]`) {
		t.Fatalf("want an invalid channel error naming both, got %v", m)
	}
	m = next(t, c, time.Second, notHB)
	if cdcNum(m, "id") != 3 || field(m, "method") != "subscribe" || cdcNum(m, "code") != 0 || m["result"] != nil {
		t.Fatalf("want the ack, got %v", m)
	}
	for _, sym := range []string{"BTC_USD", "SHIB_USD"} {
		m = next(t, c, time.Second, notHB)
		res, _ := m["result"].(map[string]any)
		if cdcNum(m, "id") != -1 || field(m, "method") != "subscribe" || res == nil ||
			field(res, "instrument_name") != sym || field(res, "subscription") != "ticker."+sym || field(res, "channel") != "ticker" {
			t.Fatalf("want a %s push, got %v", sym, m)
		}
		d := res["data"].([]any)[0].(map[string]any)
		last, bid, ask, _ := s.Quote(price.Cryptocom, sym)
		if field(d, "i") != sym || field(d, "a") != last.String() || field(d, "b") != bid.String() || field(d, "k") != ask.String() {
			t.Fatalf("push %v, want quote %v/%v/%v", d, last, bid, ask)
		}
		if ms := cdcNum(d, "t"); time.Since(time.UnixMilli(int64(ms))).Abs() > time.Minute {
			t.Fatalf("t = %v", ms)
		}
	}
	// Updates on every move.
	s.Step()
	m = next(t, c, time.Second, notHB)
	if res, _ := m["result"].(map[string]any); res == nil || field(res, "channel") != "ticker" {
		t.Fatalf("want an update push, got %v", m)
	}
	// Unknown methods are refused.
	write(t, c, `{"id":9,"method":"public/get-book","params":{},"nonce":1}`)
	next(t, c, time.Second, func(m map[string]any) bool { return cdcNum(m, "id") == 9 && cdcNum(m, "code") == 10004 })
}

// TestCryptocomHeartbeatDeadline: a client that answers every heartbeat stays connected; one
// that stops answering is closed once the deadline passes.
func TestCryptocomHeartbeatDeadline(t *testing.T) {
	s := startCryptocom(t, "", 200*time.Millisecond)
	c := dial(t, s.URL(price.Cryptocom))
	answered := 0
	for answered < 10 {
		m := next(t, c, 2*time.Second, func(m map[string]any) bool { return field(m, "method") == "public/heartbeat" })
		write(t, c, `{"id":`+strconv.FormatInt(int64(cdcNum(m, "id")), 10)+`,"method":"public/respond-heartbeat"}`)
		answered++
	}
	time.Sleep(300 * time.Millisecond) // heartbeats keep coming; answer none from now on
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			t.Fatal("still connected after ignoring heartbeats")
		}
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Fatalf("read: %v, want a policy-violation close", err)
		}
		break
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("closed %v after heartbeats went unanswered, want about 200ms", d)
	}
	deadline := time.Now().Add(time.Second)
	for s.Connections(price.Cryptocom) != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := s.Connections(price.Cryptocom); n != 0 {
		t.Fatalf("%d connections left", n)
	}
}

func TestCryptocomMaxSubscriptions(t *testing.T) {
	var u strings.Builder
	u.WriteString(`{"assets":{`)
	for i := range cdcMaxSubscriptions + 1 {
		if i > 0 {
			u.WriteByte(',')
		}
		u.WriteString(`"C` + strconv.Itoa(i) + `":{"cryptocom":"C` + strconv.Itoa(i) + `_USD"}`)
	}
	u.WriteString(`}}`)
	s := startCryptocom(t, u.String(), 0)
	c := dial(t, s.URL(price.Cryptocom))
	cdcNextSecond(time.Now())
	channels := make([]string, cdcMaxSubscriptions+1)
	for i := range channels {
		channels[i] = "ticker.C" + strconv.Itoa(i) + "_USD"
	}
	answer := func(id int) map[string]any {
		return next(t, c, 2*time.Second, func(m map[string]any) bool { return cdcNum(m, "id") == float64(id) })
	}
	// 401 at once: refused whole.
	write(t, c, cdcSubscribe(1, channels...))
	if m := answer(1); cdcNum(m, "code") != 40107 || field(m, "message") != "EXCEED_MAX_SUBSCRIPTIONS" {
		t.Fatalf("401 channels: %v", m)
	}
	// 400 in four requests (one channel twice): accepted; one more is refused.
	for i := range 4 {
		chunk := channels[i*100 : (i+1)*100 : (i+1)*100]
		if i == 3 {
			chunk = append(chunk, channels[0])
		}
		write(t, c, cdcSubscribe(10+i, chunk...))
		if m := answer(10 + i); cdcNum(m, "code") != 0 {
			t.Fatalf("chunk %d: %v", i, m)
		}
	}
	write(t, c, cdcSubscribe(20, channels[400]))
	if m := answer(20); cdcNum(m, "code") != 40107 {
		t.Fatalf("401st subscription: %v", m)
	}
	// Re-subscribing a channel already held does not count.
	write(t, c, cdcSubscribe(21, channels[5]))
	if m := answer(21); cdcNum(m, "code") != 0 {
		t.Fatalf("re-subscription: %v", m)
	}
}

func TestCryptocomFaults(t *testing.T) {
	s := startCryptocom(t, "", 0)
	c := dial(t, s.URL(price.Cryptocom))
	cdcNextSecond(time.Now())
	write(t, c, cdcSubscribe(1, "ticker.BTC_USD"))
	next(t, c, time.Second, func(m map[string]any) bool { return m["result"] != nil })

	if n := s.SendMalformed(price.Cryptocom); n != 1 {
		t.Fatalf("SendMalformed reached %d connections", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			break
		}
	}
	s.Stall(price.Cryptocom, 300*time.Millisecond)
	s.Step()
	start := time.Now()
	next(t, c, 2*time.Second, func(map[string]any) bool { return true })
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("got a frame %v into a 300ms stall", d)
	}
	if n := s.Disconnect(price.Cryptocom); n != 1 {
		t.Fatalf("Disconnect dropped %d connections", n)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	for {
		if _, _, err := c.Read(ctx2); err != nil {
			if ctx2.Err() != nil {
				t.Fatal("connection still open after Disconnect")
			}
			break
		}
	}
}

// TestKrakenRESTPairNames checks the names the simulated Kraken REST API accepts.
func TestKrakenRESTPairNames(t *testing.T) {
	for sym, want := range map[string][3]string{
		"BTC/USD":  {"XBTUSD", "BTCUSD", "XXBTZUSD"},
		"ETH/USD":  {"ETHUSD", "ETHUSD", "XETHZUSD"},
		"DOGE/USD": {"XDGUSD", "DOGEUSD", "XXDGZUSD"},
		"ETH/USDT": {"ETHUSDT", "ETHUSDT", "ETHUSDT"},
		"SOL/USD":  {"SOLUSD", "SOLUSD", "SOLUSD"},
	} {
		alt, plain, internal := krPairNames(sym)
		if [3]string{alt, plain, internal} != want {
			t.Errorf("krPairNames(%s) = %s %s %s, want %v", sym, alt, plain, internal, want)
		}
	}
	for v, want := range map[string]string{"105944.3": "105944.30000", "3": "3.00000", "0.0000123456": "0.0000123456"} {
		if got := krRESTPrice(price.MustParse(v)); got != want {
			t.Errorf("krRESTPrice(%s) = %s, want %s", v, got, want)
		}
	}
}
