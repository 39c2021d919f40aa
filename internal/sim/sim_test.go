package sim

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/trinityprice/trinity/internal/price"
)

const testUniverse = `{"assets":{
	"BTC":  {"coinbase":"BTC-USD",  "kraken":"BTC/USD"},
	"ETH":  {"coinbase":"ETH-USDC", "kraken":"ETH/USDT"},
	"SOL":  {"coinbase":"SOL-USD",  "kraken":"SOL/USD"},
	"USDT": {"kraken":"USDT/USD"},
	"ZORK": {"coinbase":"ZORK-USDT","kraken":"ZORK/USDC"}
}}`

func mustUniverse(t testing.TB) *price.Universe {
	t.Helper()
	u, err := price.ParseUniverse([]byte(testUniverse))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// mustStart starts a simulator with fast test timings; the walk moves only when the test
// calls Step or runs Run.
func mustStart(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = 50 * time.Millisecond
	}
	s := New(mustUniverse(t), opts)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dial(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func write(t testing.TB, c *websocket.Conn, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// next reads frames until one satisfies match (or d passes) and returns it decoded.
func next(t testing.TB, c *websocket.Conn, d time.Duration, match func(m map[string]any) bool) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("frame %s: %v", b, err)
		}
		if match(m) {
			return m
		}
	}
}

func field(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func TestMarketDeterministicAndPlausible(t *testing.T) {
	u := mustUniverse(t)
	a, b := New(u, Options{Seed: 7}), New(u, Options{Seed: 7})
	c := New(u, Options{Seed: 8})
	for range 50 {
		a.Step()
		b.Step()
		c.Step()
	}
	same := true
	for _, ex := range []price.Exchange{price.Coinbase, price.Kraken} {
		for _, sym := range u.Symbols(ex) {
			l1, b1, a1, ok1 := a.Quote(ex, sym)
			l2, b2, a2, ok2 := b.Quote(ex, sym)
			l3, _, _, _ := c.Quote(ex, sym)
			if !ok1 || !ok2 || l1 != l2 || b1 != b2 || a1 != a2 {
				t.Errorf("%v %s: seed 7 twice gave %v/%v/%v and %v/%v/%v", ex, sym, l1, b1, a1, l2, b2, a2)
			}
			if l3 != l1 {
				same = false
			}
			if !(b1 > 0 && b1 < a1 && b1 <= l1 && l1 <= a1) {
				t.Errorf("%v %s: bid %v last %v ask %v out of order", ex, sym, b1, l1, a1)
			}
		}
	}
	if same {
		t.Error("seeds 7 and 8 gave the same prices")
	}
	usd := func(ex price.Exchange, sym string) float64 {
		l, _, _, ok := a.Quote(ex, sym)
		if !ok {
			t.Fatalf("no quote for %v %s", ex, sym)
		}
		return l.Float()
	}
	btc := usd(price.Coinbase, "BTC-USD")
	if btc < 80000 || btc > 120000 {
		t.Errorf("BTC at %v, want about 100000", btc)
	}
	near := func(what string, x, y, tol float64) {
		t.Helper()
		if math.Abs(x/y-1) > tol {
			t.Errorf("%s: %v vs %v differ by more than %v", what, x, y, tol)
		}
	}
	near("BTC coinbase vs kraken", btc, usd(price.Kraken, "BTC/USD"), 0.002)
	usdt := usd(price.Kraken, "USDT/USD")
	near("USDT/USD", usdt, 1, 0.005)
	// ETH/USDT converted at the USDT rate is about ETH-USDC (a USD book on Coinbase).
	near("ETH/USDT in USD vs ETH-USDC", usd(price.Kraken, "ETH/USDT")*usdt, usd(price.Coinbase, "ETH-USDC"), 0.003)
	near("ZORK USDT vs USDC quotes", usd(price.Coinbase, "ZORK-USDT"), usd(price.Kraken, "ZORK/USDC"), 0.01)
	if _, _, _, ok := a.Quote(price.Kraken, "NOPE/USD"); ok {
		t.Error("Quote of an unknown symbol ok")
	}
}

func TestServerURLs(t *testing.T) {
	s := mustStart(t, Options{})
	if got := s.URL(price.Coinbase); got != "ws://"+s.Addr()+"/coinbase" {
		t.Errorf("URL(coinbase) = %q", got)
	}
	if got := s.URL(price.Kraken); got != "ws://"+s.Addr()+"/kraken/v2" {
		t.Errorf("URL(kraken) = %q", got)
	}
	if got := s.URL(price.OKX); got != "ws://"+s.Addr()+"/okx/ws/v5/public" {
		t.Errorf("URL(okx) = %q", got)
	}
	if got := s.Exchanges(); len(got) != price.NumExchanges-1 {
		t.Errorf("Exchanges() = %v, want all seven", got)
	}
	for _, ex := range price.Exchanges() {
		if s.URL(ex) == "" || s.RESTURL(ex) == "" {
			t.Errorf("%s: URL %q REST URL %q", ex, s.URL(ex), s.RESTURL(ex))
		}
	}
}

func TestCoinbaseSubscribeDeadline(t *testing.T) {
	s := mustStart(t, Options{SubscribeTimeout: 100 * time.Millisecond})
	c := dial(t, s.URL(price.Coinbase))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, _, err := c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("read: %v, want close with policy violation", err)
	}
	if d := time.Since(start); d < 80*time.Millisecond || d > time.Second {
		t.Fatalf("closed after %v, want about 100ms", d)
	}
}

func TestCoinbaseProtocol(t *testing.T) {
	s := mustStart(t, Options{})
	c := dial(t, s.URL(price.Coinbase))
	// Several channels in one message are refused.
	write(t, c, `{"type":"subscribe","product_ids":["BTC-USD"],"channels":["ticker","heartbeats"]}`)
	m := next(t, c, time.Second, func(m map[string]any) bool { return true })
	if field(m, "type") != "error" || !strings.Contains(field(m, "reason"), "one channel") {
		t.Fatalf("multi-channel subscribe: %v", m)
	}
	// Heartbeats: acked, then one per interval with a growing numeric counter.
	write(t, c, `{"type":"subscribe","product_ids":["BTC-USD"],"channel":"heartbeats"}`)
	m = next(t, c, time.Second, func(m map[string]any) bool { return true })
	if field(m, "channel") != "subscriptions" {
		t.Fatalf("want subscriptions ack, got %v", m)
	}
	var counters []float64
	for len(counters) < 2 {
		m = next(t, c, time.Second, func(m map[string]any) bool { return field(m, "channel") == "heartbeats" })
		ev := m["events"].([]any)[0].(map[string]any)
		counters = append(counters, ev["heartbeat_counter"].(float64))
	}
	if counters[1] != counters[0]+1 {
		t.Errorf("heartbeat counters %v", counters)
	}
	// Ticker: ack, snapshot with the current quote, then updates; unknown products refused.
	write(t, c, `{"type":"subscribe","product_ids":["BTC-USD","ETH-USDC","NOPE-USD"],"channel":"ticker"}`)
	m = next(t, c, time.Second, func(m map[string]any) bool { return field(m, "channel") != "heartbeats" })
	if field(m, "type") != "error" || !strings.Contains(field(m, "reason"), "NOPE-USD") {
		t.Fatalf("want an error for NOPE-USD first, got %v", m)
	}
	m = next(t, c, time.Second, func(m map[string]any) bool { return field(m, "channel") != "heartbeats" })
	subs := m["events"].([]any)[0].(map[string]any)["subscriptions"].(map[string]any)
	if field(m, "channel") != "subscriptions" || len(subs["ticker"].([]any)) != 2 || subs["heartbeats"] == nil {
		t.Fatalf("want subscriptions ack with 2 tickers and heartbeats, got %v", m)
	}
	m = next(t, c, time.Second, func(m map[string]any) bool { return field(m, "channel") == "ticker" })
	ev := m["events"].([]any)[0].(map[string]any)
	tickers := ev["tickers"].([]any)
	if field(ev, "type") != "snapshot" || len(tickers) != 2 {
		t.Fatalf("want a snapshot of 2 tickers, got %v", m)
	}
	btc := tickers[0].(map[string]any)
	last, bid, ask, _ := s.Quote(price.Coinbase, "BTC-USD")
	if field(btc, "product_id") != "BTC-USD" || field(btc, "price") != last.String() || field(btc, "best_bid") != bid.String() || field(btc, "best_ask") != ask.String() {
		t.Fatalf("snapshot %v, want quote %v %v %v", btc, last, bid, ask)
	}
	if pid := field(tickers[1].(map[string]any), "product_id"); pid != "ETH-USD" {
		t.Errorf("ETH-USDC arrives as product_id %q, want ETH-USD (Coinbase's alias)", pid)
	}
	if _, err := time.Parse(time.RFC3339Nano, field(m, "timestamp")); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	s.Step()
	m = next(t, c, time.Second, func(m map[string]any) bool { return field(m, "channel") == "ticker" })
	if ev := m["events"].([]any)[0].(map[string]any); field(ev, "type") != "update" {
		t.Fatalf("want an update, got %v", m)
	}
	// Unknown channels are refused.
	write(t, c, `{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}`)
	m = next(t, c, time.Second, func(m map[string]any) bool { return field(m, "type") == "error" })
	if !strings.Contains(field(m, "reason"), "level2") {
		t.Fatalf("level2: %v", m)
	}
}

func TestKrakenProtocol(t *testing.T) {
	s := mustStart(t, Options{})
	c := dial(t, s.URL(price.Kraken))
	m := next(t, c, time.Second, func(map[string]any) bool { return true })
	if field(m, "channel") != "status" {
		t.Fatalf("first frame %v, want status", m)
	}
	write(t, c, `{"method":"ping","req_id":101}`)
	m = next(t, c, time.Second, func(map[string]any) bool { return true })
	if field(m, "method") != "pong" || m["req_id"] != 101.0 || field(m, "time_in") == "" {
		t.Fatalf("pong: %v", m)
	}
	write(t, c, `{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD","NOPE/USD"],"event_trigger":"bbo","snapshot":true},"req_id":1}`)
	m = next(t, c, time.Second, func(map[string]any) bool { return true })
	if field(m, "method") != "subscribe" || m["success"] != true || m["req_id"] != 1.0 {
		t.Fatalf("ack: %v", m)
	}
	m = next(t, c, time.Second, func(map[string]any) bool { return true })
	if field(m, "channel") != "ticker" || field(m, "type") != "snapshot" {
		t.Fatalf("want the BTC/USD snapshot, got %v", m)
	}
	d := m["data"].([]any)[0].(map[string]any)
	_, bid, _, _ := s.Quote(price.Kraken, "BTC/USD")
	if d["symbol"] != "BTC/USD" || math.Abs(d["bid"].(float64)-bid.Float()) > 1e-6 {
		t.Fatalf("snapshot %v, want bid %v", d, bid)
	}
	m = next(t, c, time.Second, func(map[string]any) bool { return true })
	if m["success"] != false || field(m, "symbol") != "NOPE/USD" || !strings.Contains(field(m, "error"), "Currency pair not supported") {
		t.Fatalf("want a refusal for NOPE/USD, got %v", m)
	}
	// Nothing moves: heartbeats.
	m = next(t, c, time.Second, func(map[string]any) bool { return true })
	if field(m, "channel") != "heartbeat" {
		t.Fatalf("want a heartbeat, got %v", m)
	}
	s.Step()
	m = next(t, c, time.Second, func(m map[string]any) bool { return field(m, "channel") == "ticker" })
	if field(m, "type") != "update" {
		t.Fatalf("want an update, got %v", m)
	}
	write(t, c, `{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"]},"req_id":2}`)
	m = next(t, c, time.Second, func(m map[string]any) bool { return m["req_id"] == 2.0 })
	if m["success"] != false {
		t.Fatalf("book subscription: %v", m)
	}
}

func TestKrakenWideNumbersReadBackExactly(t *testing.T) {
	for _, v := range []string{"105944.2", "0.00001234", "3", "0.000000000001", "9000000.123456789012"} {
		n := krNumber(price.MustParse(v), true)
		if len(n) < 25 {
			t.Errorf("krNumber(%s) = %s: not padded", v, n)
		}
		got, err := price.ParseValue([]byte(n))
		if err != nil || got != price.MustParse(v) {
			t.Errorf("krNumber(%s) = %s reads back as %v, %v", v, n, got, err)
		}
	}
}

func TestFaults(t *testing.T) {
	s := mustStart(t, Options{})
	c := dial(t, s.URL(price.Kraken))
	next(t, c, time.Second, func(m map[string]any) bool { return field(m, "channel") == "status" })
	write(t, c, `{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"]},"req_id":1}`)
	next(t, c, time.Second, func(m map[string]any) bool { return field(m, "channel") == "ticker" })

	// SendMalformed: one frame that is not JSON.
	if n := s.SendMalformed(price.Kraken); n != 1 {
		t.Fatalf("SendMalformed reached %d connections", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if json.Valid(b) {
			continue
		}
		break
	}

	// Stall: nothing at all for the duration, then heartbeats again.
	s.Stall(price.Kraken, 300*time.Millisecond)
	start := time.Now()
	next(t, c, 2*time.Second, func(map[string]any) bool { return true })
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("got a frame %v into a 300ms stall", d)
	}

	// Disconnect: the connection drops.
	if n := s.Disconnect(price.Kraken); n != 1 {
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
	deadline := time.Now().Add(time.Second)
	for s.Connections(price.Kraken) != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := s.Connections(price.Kraken); n != 0 {
		t.Fatalf("%d connections after Disconnect", n)
	}
}

func TestRunMovesAndPauses(t *testing.T) {
	s := New(mustUniverse(t), Options{TickInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	l0, _, _, _ := s.Quote(price.Kraken, "BTC/USD")
	time.Sleep(50 * time.Millisecond)
	s.Pause()
	time.Sleep(20 * time.Millisecond)
	l1, b1, a1, _ := s.Quote(price.Kraken, "BTC/USD")
	time.Sleep(50 * time.Millisecond)
	l2, b2, a2, _ := s.Quote(price.Kraken, "BTC/USD")
	if l1 == l0 {
		t.Log("walk did not change last (possible but unlikely)")
	}
	if l1 != l2 || b1 != b2 || a1 != a2 {
		t.Fatalf("quotes moved while paused")
	}
	s.Resume()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
