package sim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/trinityprice/trinity/internal/price"
)

// okxBybitUniverse is the market map of the OKX and Bybit venue tests.
const okxBybitUniverse = `{"assets":{
	"BTC":  {"okx":"BTC-USDT", "bybit":"BTCUSDT"},
	"ETH":  {"okx":"ETH-USDC", "bybit":"ETHUSDC"},
	"SHIB": {"okx":"SHIB-USDT","bybit":"SHIBUSDT"},
	"USDC": {"okx":"USDC-USDT","bybit":"USDCUSDT"}
}}`

// startOKXBybit starts a simulator of okxBybitUniverse with fast heartbeats (the venues'
// client-timeout checks run on them); the walk moves only when the test calls Step.
func startOKXBybit(t testing.TB) *Server {
	t.Helper()
	u, err := price.ParseUniverse([]byte(okxBybitUniverse))
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

// readRaw reads the next frame, or fails after d.
func readRaw(t testing.TB, c *websocket.Conn, d time.Duration) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

// closedWith waits up to d for c to be closed by the server and returns the close status
// (-1 if the connection ended without a close frame).
func closedWith(t testing.TB, c *websocket.Conn, d time.Duration) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("connection still open after %v", d)
			}
			return websocket.CloseStatus(err)
		}
	}
}

func okxTickerData(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	data, _ := m["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("push %v: want one data object", m)
	}
	d, _ := data[0].(map[string]any)
	return d
}

func TestOKXProtocol(t *testing.T) {
	s := startOKXBybit(t)
	if got, want := s.URL(price.OKX), "ws://"+s.Addr()+"/okx/ws/v5/public"; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	c := dial(t, s.URL(price.OKX))
	write(t, c, `{"op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"},{"channel":"tickers","instId":"NOPE-USDT"},{"channel":"trades","instId":"ETH-USDC"}]}`)

	ack := next(t, c, time.Second, func(m map[string]any) bool { return field(m, "event") == "subscribe" })
	if arg, _ := ack["arg"].(map[string]any); field(arg, "channel") != "tickers" || field(arg, "instId") != "BTC-USDT" || len(field(ack, "connId")) != 8 {
		t.Fatalf("ack = %v", ack)
	}
	push := next(t, c, time.Second, func(m map[string]any) bool { return m["arg"] != nil && m["data"] != nil })
	last, bid, ask, _ := s.Quote(price.OKX, "BTC-USDT")
	d := okxTickerData(t, push)
	if field(d, "instId") != "BTC-USDT" || field(d, "instType") != "SPOT" || field(d, "last") != last.String() ||
		field(d, "bidPx") != bid.String() || field(d, "askPx") != ask.String() || len(field(d, "ts")) != 13 {
		t.Fatalf("ticker = %v, want %v/%v/%v", d, last, bid, ask)
	}
	for _, bad := range []string{"channel:tickers,instId:NOPE-USDT", "channel:trades,instId:ETH-USDC"} {
		e := next(t, c, time.Second, func(m map[string]any) bool { return field(m, "event") == "error" })
		if field(e, "code") != "60018" || !strings.Contains(field(e, "msg"), bad) || !strings.Contains(field(e, "msg"), "doesn't exist") {
			t.Fatalf("error = %v, want 60018 naming %s", e, bad)
		}
	}

	// The text ping is answered with the text pong.
	write(t, c, "ping")
	for {
		b := readRaw(t, c, time.Second)
		if string(b) == "pong" {
			break
		}
		if !json.Valid(b) {
			t.Fatalf("frame %q is neither pong nor JSON", b)
		}
	}

	// Every move is pushed.
	s.Step()
	push = next(t, c, time.Second, func(m map[string]any) bool { return m["data"] != nil })
	last, bid, ask, _ = s.Quote(price.OKX, "BTC-USDT")
	if d := okxTickerData(t, push); field(d, "last") != last.String() || field(d, "bidPx") != bid.String() || field(d, "askPx") != ask.String() {
		t.Fatalf("ticker after Step = %v, want %v/%v/%v", d, last, bid, ask)
	}

	// Bad requests.
	write(t, c, `{"op":"login","args":[]}`)
	if e := next(t, c, time.Second, func(m map[string]any) bool { return field(m, "event") == "error" }); field(e, "code") != "60019" {
		t.Fatalf("unknown op: %v", e)
	}
	write(t, c, `{"op":"subscribe","args":["spot/ticker:BTC-USDT"]}`)
	if e := next(t, c, time.Second, func(m map[string]any) bool { return field(m, "event") == "error" }); field(e, "code") != "60012" {
		t.Fatalf("illegal request: %v", e)
	}

	// Unsubscribed instruments are no longer pushed.
	write(t, c, `{"op":"unsubscribe","args":[{"channel":"tickers","instId":"BTC-USDT"}]}`)
	next(t, c, time.Second, func(m map[string]any) bool { return field(m, "event") == "unsubscribe" })
	s.Step()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, b, err := c.Read(ctx); err == nil {
		t.Fatalf("got %s after unsubscribing", b)
	}
}

// TestOKXClientTimeout checks OKX's rule: a client that sends nothing for the timeout is
// closed with 4004, one that sends "ping" in time is kept.
func TestOKXClientTimeout(t *testing.T) {
	s := startOKXBybit(t)
	if !s.SetClientIdleTimeout(price.OKX, 200*time.Millisecond) {
		t.Fatal("SetClientIdleTimeout(OKX) = false")
	}
	if s.SetClientIdleTimeout(price.Coinbase, time.Second) {
		t.Fatal("SetClientIdleTimeout(Coinbase) = true; Coinbase has no such rule")
	}

	silent := dial(t, s.URL(price.OKX))
	write(t, silent, `{"op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"}]}`)
	pinging := dial(t, s.URL(price.OKX))
	write(t, pinging, `{"op":"subscribe","args":[{"channel":"tickers","instId":"ETH-USDC"}]}`)

	start := time.Now()
	done := make(chan websocket.StatusCode, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		for {
			if _, _, err := silent.Read(ctx); err != nil {
				done <- websocket.CloseStatus(err)
				return
			}
		}
	}()
	stop := time.After(time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var code websocket.StatusCode = -2
	for code == -2 || time.Since(start) < 600*time.Millisecond {
		select {
		case code = <-done:
			if d := time.Since(start); d < 150*time.Millisecond {
				t.Fatalf("silent client closed after %v, before the 200ms timeout", d)
			}
		case <-tick.C:
			write(t, pinging, "ping")
		case <-stop:
			if code == -2 {
				t.Fatal("silent client not closed")
			}
		}
	}
	if code != 4004 {
		t.Fatalf("close status %v, want 4004", code)
	}
	// The pinging client is still there: its frames keep coming.
	for range 3 {
		readRaw(t, pinging, time.Second)
	}
	if n := s.Connections(price.OKX); n != 1 {
		t.Fatalf("%d OKX connections, want 1 (the pinging one)", n)
	}
}

// TestOKXSubscribeDeadline: a connection without a subscription is closed after the timeout
// even if it pings.
func TestOKXSubscribeDeadline(t *testing.T) {
	s := startOKXBybit(t)
	s.SetClientIdleTimeout(price.OKX, 150*time.Millisecond)
	c := dial(t, s.URL(price.OKX))
	go func() {
		for range 10 {
			time.Sleep(30 * time.Millisecond)
			c.Write(context.Background(), websocket.MessageText, []byte("ping"))
		}
	}()
	closedWith(t, c, 2*time.Second)
}

func TestOKXRequestLimit(t *testing.T) {
	s := startOKXBybit(t)
	c := dial(t, s.URL(price.OKX))
	req := `{"op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"}]}`
	for range okxRequestsPerHour {
		write(t, c, req)
	}
	for range okxRequestsPerHour {
		next(t, c, 2*time.Second, func(m map[string]any) bool { return field(m, "event") == "subscribe" })
	}
	write(t, c, req)
	if e := next(t, c, time.Second, func(m map[string]any) bool { return field(m, "event") == "error" }); field(e, "code") != "60014" {
		t.Fatalf("request %d: %v, want error 60014", okxRequestsPerHour+1, e)
	}
}

func TestOKXREST(t *testing.T) {
	s := startOKXBybit(t)
	base := s.RESTURL(price.OKX)
	if base != "http://"+s.Addr()+"/okx-rest" {
		t.Fatalf("RESTURL = %q", base)
	}
	get := func(path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %s: %v", path, b, err)
		}
		return resp.StatusCode, m
	}
	status, m := get("/api/v5/market/ticker?instId=SHIB-USDT")
	last, bid, ask, _ := s.Quote(price.OKX, "SHIB-USDT")
	if d := okxTickerData(t, m); status != 200 || field(m, "code") != "0" || field(d, "instId") != "SHIB-USDT" ||
		field(d, "last") != last.String() || field(d, "bidPx") != bid.String() || field(d, "askPx") != ask.String() {
		t.Fatalf("HTTP %d %v", status, m)
	}
	if status, m := get("/api/v5/market/ticker?instId=NOPE-USDT"); status != 200 || field(m, "code") != "51001" {
		t.Fatalf("unknown instrument: HTTP %d %v", status, m)
	}
	if status, m := get("/api/v5/market/ticker"); status != 400 || field(m, "code") != "50014" {
		t.Fatalf("no instId: HTTP %d %v", status, m)
	}
	if status, _ := get("/api/v5/market/tickers?instType=SPOT"); status != 404 {
		t.Fatalf("unsimulated path: HTTP %d", status)
	}
}

func TestOKXConnID(t *testing.T) {
	seen := map[string]bool{}
	for n := range uint64(1000) {
		id := okxConnID(n)
		if len(id) != 8 || seen[id] {
			t.Fatalf("okxConnID(%d) = %q (duplicate: %v)", n, id, seen[id])
		}
		seen[id] = true
	}
}
