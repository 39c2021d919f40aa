package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type running struct {
	addrs Addrs
	db    string
	logs  *syncBuffer
	stop  func()
}

// startServe runs the real `trinity serve` in process on port 0 with the given extra flags,
// on a fresh SQLite store.
func startServe(t *testing.T, extra ...string) *running {
	t.Helper()
	return startServeDB(t, "", extra...)
}

// startServeDB is startServe on the store db ("" for a fresh SQLite file).
func startServeDB(t *testing.T, db string, extra ...string) *running {
	t.Helper()
	if db == "" {
		db = "sqlite:" + filepath.Join(t.TempDir(), "t.db")
	}
	args := append([]string{"--db", db, "--http-addr", "127.0.0.1:0", "--udp-addr", "127.0.0.1:0",
		"--admin-addr", "127.0.0.1:0", "--lrs-addr", "127.0.0.1:0", "--lrs-udp-addr", "127.0.0.1:0"}, extra...)
	logs := &syncBuffer{}
	c, err := parseServe(args, func(string) string { return "" }, logs)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan Addrs, 1)
	c.Ready = func(a Addrs) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, c, logs) }()
	r := &running{db: db, logs: logs}
	select {
	case r.addrs = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve exited: %v\n%s", err, logs)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("serve did not start\n%s", logs)
	}
	var once sync.Once
	r.stop = func() { once.Do(func() { stopServe(t, cancel, done) }) }
	t.Cleanup(r.stop)
	return r
}

func stopServe(t *testing.T, cancel func(), done chan error) {
	{
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("serve did not stop within 10 s")
		}
	}
}

func mustCreateKey(t *testing.T, db, tier string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := Run(context.Background(), []string{"keys", "create", "--tier", tier, "--db", db}, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("keys create: %v: %s", err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// waitKey waits until the running server knows key (keys are polled every 250 ms).
func waitKey(t *testing.T, r *running, key string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if code, _ := httpGet(t, "http://"+r.addrs.HTTP+"/assets", key); code == 200 {
			return
		}
	}
	t.Fatal("the server did not pick up a new key within 5 s")
}

func httpGet(t *testing.T, url, key string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func udpAsk(t *testing.T, addr string, req []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for attempt := 0; attempt < 5; attempt++ {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 65536)
		n, err := c.Read(buf)
		if err == nil {
			return buf[:n]
		}
	}
	t.Fatalf("no UDP answer from %s", addr)
	return nil
}

type source struct {
	Exchange string  `json:"exchange"`
	Symbol   string  `json:"symbol"`
	Bid      float64 `json:"bid"`
	Ask      float64 `json:"ask"`
	Last     float64 `json:"last"`
	Used     bool    `json:"used"`
}

type priceAnswer struct {
	ID      json.RawMessage `json:"id"`
	Asset   string          `json:"asset"`
	Price   float64         `json:"price"`
	Stale   bool            `json:"stale"`
	Sources []source        `json:"sources"`
}

// TestServeEndToEnd starts its own simulator, points the real server's Coinbase and Kraken
// adapters at it, pauses the market, and checks that HTTP and UDP both serve exactly the
// simulator's prices; then revokes the key and checks both refuse it within a second.
func TestServeEndToEnd(t *testing.T) {
	u, err := price.DefaultUniverse()
	if err != nil {
		t.Fatal(err)
	}
	sm := sim.New(u, sim.Options{Seed: 7, TickInterval: 50 * time.Millisecond})
	if err := sm.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	simCtx, simStop := context.WithCancel(context.Background())
	go sm.Run(simCtx)
	t.Cleanup(func() { simStop(); sm.Close() })

	r := startServe(t, "--feeds", "live", "--exchanges", "coinbase,kraken",
		"--coinbase-ws-url", sm.URL(price.Coinbase), "--kraken-ws-url", sm.URL(price.Kraken))
	key := mustCreateKey(t, r.db, "partner")
	base := "http://" + r.addrs.HTTP

	// Wait until BTC is priced from both exchanges, then freeze the market and let the last
	// ticks land.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := httpGet(t, base+"/price?asset=btc", key)
		var a priceAnswer
		if code == 200 && json.Unmarshal(body, &a) == nil && len(a.Sources) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("BTC never priced from both exchanges: %d %s\n%s", code, body, r.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sm.Pause()
	time.Sleep(300 * time.Millisecond)

	code, body := httpGet(t, base+"/price?asset=BTC", key)
	if code != 200 {
		t.Fatalf("GET /price: %d %s", code, body)
	}
	var viaHTTP priceAnswer
	if err := json.Unmarshal(body, &viaHTTP); err != nil {
		t.Fatal(err)
	}
	var mids []float64
	for _, s := range viaHTTP.Sources {
		ex, _ := price.ExchangeByName(s.Exchange)
		last, bid, ask, ok := sm.Quote(ex, s.Symbol)
		if !ok {
			t.Fatalf("simulator has no %s %s", s.Exchange, s.Symbol)
		}
		if s.Bid != bid.Float() || s.Ask != ask.Float() || s.Last != last.Float() {
			t.Errorf("%s served bid/ask/last %v/%v/%v, simulator has %v/%v/%v", s.Exchange, s.Bid, s.Ask, s.Last, bid, ask, last)
		}
		mids = append(mids, price.Mid(bid, ask).Float())
	}
	if want := (mids[0] + mids[1]) / 2; fmt.Sprintf("%.6f", viaHTTP.Price) != fmt.Sprintf("%.6f", want) || viaHTTP.Stale {
		t.Errorf("price %v (stale %v), want the median of the two mids %v", viaHTTP.Price, viaHTTP.Stale, want)
	}

	// The same query over UDP, padded so the full answer fits the 3x bound.
	req := fmt.Sprintf(`{"key":%q,"asset":"btc","id":42,"pad":"%s"}`, key, strings.Repeat("x", 600))
	ans := udpAsk(t, r.addrs.UDP, []byte(req))
	var viaUDP priceAnswer
	if err := json.Unmarshal(ans, &viaUDP); err != nil {
		t.Fatalf("UDP answer %s: %v", ans, err)
	}
	if string(viaUDP.ID) != "42" || viaUDP.Price != viaHTTP.Price || len(viaUDP.Sources) != 2 {
		t.Errorf("UDP answer %s differs from HTTP %s", ans, body)
	}
	if len(ans) > 3*len(req) {
		t.Errorf("UDP answer %d bytes for a %d-byte request", len(ans), len(req))
	}

	// /metrics counts both.
	_, metrics := httpGet(t, "http://"+r.addrs.Admin+"/metrics", "")
	for _, want := range []string{
		`trinity_requests_total{protocol="http",endpoint="price",outcome="ok"} `,
		`trinity_requests_total{protocol="udp",endpoint="price",outcome="ok"} 1`,
		`trinity_feed_connections_up{exchange="kraken"}`,
		`trinity_tick_to_serve_seconds_count`,
	} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, body := httpGet(t, "http://"+r.addrs.Admin+"/readyz", ""); code != 200 {
		t.Errorf("/readyz %d %s", code, body)
	}

	// Revoke with the CLI: both transports refuse the key within a second.
	var out, errOut bytes.Buffer
	if err := Run(context.Background(), []string{"keys", "revoke", "--db", r.db, key[:12]}, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("revoke: %v %s", err, errOut.String())
	}
	time.Sleep(time.Second)
	if code, body := httpGet(t, base+"/price?asset=btc", key); code != 403 || !bytes.Contains(body, []byte("key_revoked")) {
		t.Errorf("after revoke: %d %s", code, body)
	}
	if ans := udpAsk(t, r.addrs.UDP, []byte(req)); !bytes.Contains(ans, []byte("key_revoked")) {
		t.Errorf("UDP after revoke: %s", ans)
	}
}

// TestServeSimFeeds runs `serve --feeds sim`: every supported exchange connects to the
// built-in simulator and prices arrive without any network beyond loopback.
func TestServeSimFeeds(t *testing.T) {
	r := startServe(t, "--feeds", "sim")
	key := mustCreateKey(t, r.db, "free")
	waitKey(t, r, key)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := httpGet(t, "http://"+r.addrs.HTTP+"/exchanges", key)
		var ex struct {
			Exchanges []struct {
				Exchange  string `json:"exchange"`
				Connected bool   `json:"connected"`
			} `json:"exchanges"`
		}
		if code != 200 || json.Unmarshal(body, &ex) != nil {
			t.Fatalf("/exchanges: %d %s", code, body)
		}
		all := len(ex.Exchanges) > 0
		for _, e := range ex.Exchanges {
			all = all && e.Connected
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every exchange connected: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		if code, _ := httpGet(t, "http://"+r.addrs.HTTP+"/price?asset=eth", key); code == 200 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no ETH price from the simulator")
}

func TestServeBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--feeds", "nope"},
		{"serve", "--role", "x"},
		{"serve", "--exchanges", "binance"},
		{"serve", "--log-level", "loud"},
		{"serve", "--freshness", "0s"},
		{"serve", "--no-such-flag"},
		{"keys", "create", "--tier", "gold"},
		{"keys", "frobnicate"},
		{"nope"},
	} {
		var out, errOut bytes.Buffer
		err := Run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
		if err == nil || ExitCode(err) != 2 {
			t.Errorf("%v: err %v (exit %d), want a usage error", args, err, ExitCode(err))
		}
	}
}

func TestEnvOverlay(t *testing.T) {
	env := map[string]string{"TRINITY_HTTP_ADDR": "127.0.0.1:1234", "TRINITY_FEEDS": "sim", "TRINITY_UDP_ADDR": "127.0.0.1:999"}
	c, err := parseServe([]string{"--udp-addr", "127.0.0.1:5"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:1234" || c.Feeds != "sim" || c.UDPAddr != "127.0.0.1:5" || c.AdminAddr != "127.0.0.1:9091" {
		t.Errorf("flag > env > default violated: %+v", c)
	}
}
