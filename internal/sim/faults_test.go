package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/trinityprice/trinity/internal/price"
)

func TestParseFault(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		want  Fault
		after time.Duration
	}{
		{"kraken:stall:10s@5s", Fault{Exchange: price.Kraken, Kind: FaultStall, For: 10 * time.Second}, 5 * time.Second},
		{"kraken:stall", Fault{Exchange: price.Kraken, Kind: FaultStall}, 0},
		{"Coinbase:Disconnect@1m", Fault{Exchange: price.Coinbase, Kind: FaultDisconnect}, time.Minute},
		{"okx:malformed", Fault{Exchange: price.OKX, Kind: FaultMalformed}, 0},
		{"bybit:refuse:30s", Fault{Exchange: price.Bybit, Kind: FaultRefuse, For: 30 * time.Second}, 0},
		{"okx:spike:btc:1.5:20s@2s", Fault{Exchange: price.OKX, Kind: FaultSpike, Asset: "BTC", Factor: 1.5, For: 20 * time.Second}, 2 * time.Second},
		{"gemini:spike:ETH:0.5", Fault{Exchange: price.Gemini, Kind: FaultSpike, Asset: "ETH", Factor: 0.5}, 0},
	} {
		f, after, err := ParseFault(tc.spec)
		if err != nil || f != tc.want || after != tc.after {
			t.Errorf("ParseFault(%q) = %+v, %v, %v; want %+v, %v", tc.spec, f, after, err, tc.want, tc.after)
		}
	}
	for _, bad := range []string{
		"", "kraken", "binance:stall", "kraken:explode", "kraken:stall:soon", "kraken:stall:-1s",
		"kraken:stall:10s:20s", "kraken:disconnect:5s", "kraken:stall@x", "kraken:stall@-1s",
		"okx:spike", "okx:spike:BTC", "okx:spike:BTC:x", "okx:spike:BTC:0", "okx:spike:BTC:-2",
		"okx:spike:BTC:1.5:2h", "okx:spike:BTC:1.5:1s:2s",
	} {
		if f, _, err := ParseFault(bad); err == nil {
			t.Errorf("ParseFault(%q) = %+v, want an error", bad, f)
		}
	}
	if got := (Fault{Exchange: price.OKX, Kind: FaultSpike, Asset: "BTC", Factor: 1.5}).String(); got != "okx:spike:BTC:1.5:10s" {
		t.Errorf("String() = %q", got)
	}
}

// postFault calls the admin endpoint and decodes its JSON answer.
func postFault(t *testing.T, s *Server, path string) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.Addr()+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("POST %s: %d %s: not JSON: %v", path, resp.StatusCode, b, err)
	}
	return resp.StatusCode, m
}

func TestFaultEndpoint(t *testing.T) {
	s := mustStart(t, Options{})

	// disconnect: the client's connection drops.
	c := dial(t, s.URL(price.Coinbase))
	for deadline := time.Now().Add(2 * time.Second); s.Connections(price.Coinbase) != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the client never showed up")
		}
	}
	code, m := postFault(t, s, "/faults/coinbase/disconnect")
	if code != 200 || m["exchange"] != "coinbase" || m["fault"] != "disconnect" || m["affected"] != 1.0 {
		t.Fatalf("disconnect: %d %v", code, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("read after disconnect: %v", err)
	}

	// malformed: the client gets the garbage frame.
	k := dial(t, s.URL(price.Kraken))
	for deadline := time.Now().Add(2 * time.Second); s.Connections(price.Kraken) != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the kraken client never showed up")
		}
	}
	if code, m := postFault(t, s, "/faults/kraken/malformed"); code != 200 || m["affected"] != 1.0 {
		t.Fatalf("malformed: %d %v", code, m)
	}
	for {
		_, b, err := k.Read(ctx)
		if err != nil {
			t.Fatalf("no malformed frame: %v", err)
		}
		if bytes.Equal(b, garbage) {
			break
		}
	}

	// stall: the venue is stalled for the duration given.
	if code, m := postFault(t, s, "/faults/kraken/stall?for=300ms"); code != 200 || m["for"] != "300ms" {
		t.Fatalf("stall: %d %v", code, m)
	}
	if !s.stalled(price.Kraken) || s.stalled(price.Coinbase) {
		t.Fatal("kraken not stalled, or coinbase stalled too")
	}
	time.Sleep(350 * time.Millisecond)
	if s.stalled(price.Kraken) {
		t.Fatal("still stalled after the duration")
	}

	// refuse: new connections get 429 with Retry-After, until the duration ends.
	if code, m := postFault(t, s, "/faults/kraken/refuse?for=400ms"); code != 200 || m["fault"] != "refuse" {
		t.Fatalf("refuse: %d %v", code, m)
	}
	_, resp, err := websocket.Dial(ctx, s.URL(price.Kraken), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("dial while refused: %v %+v", err, resp)
	}
	if s.Connections(price.Kraken) != 1 {
		t.Error("refuse dropped the connection already open")
	}
	time.Sleep(450 * time.Millisecond)
	ok, _, err := websocket.Dial(ctx, s.URL(price.Kraken), nil)
	if err != nil {
		t.Fatalf("dial after the refusal: %v", err)
	}
	ok.CloseNow()

	// spike: kraken quotes BTC at 1.5× the common price, the other exchange does not move, and
	// the quote comes back when the spike ends (the walk is not running).
	cbBefore, _, _, _ := s.Quote(price.Coinbase, "BTC-USD")
	_, krBid, krAsk, _ := s.Quote(price.Kraken, "BTC/USD")
	code, m = postFault(t, s, "/faults/kraken/spike?asset=btc&factor=1.5&for=300ms")
	if code != 200 || m["asset"] != "BTC" || m["factor"] != 1.5 || m["affected"] != 1.0 {
		t.Fatalf("spike: %d %v", code, m)
	}
	_, bid, ask, _ := s.Quote(price.Kraken, "BTC/USD")
	if r := price.Mid(bid, ask).Float() / price.Mid(krBid, krAsk).Float(); r < 1.499 || r > 1.501 {
		t.Fatalf("spiked mid is %v× the previous one, want 1.5×", r)
	}
	if cb, _, _, _ := s.Quote(price.Coinbase, "BTC-USD"); cb != cbBefore {
		t.Fatal("the spike moved coinbase")
	}
	time.Sleep(400 * time.Millisecond)
	_, bid, ask, _ = s.Quote(price.Kraken, "BTC/USD")
	if r := price.Mid(bid, ask).Float() / price.Mid(krBid, krAsk).Float(); r < 0.999 || r > 1.001 {
		t.Fatalf("after the spike the mid is %v× the previous one, want 1×", r)
	}

	// Errors.
	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/faults/binance/stall", 404, "unknown exchange"},
		{"/faults/kraken/explode", 404, "unknown fault"},
		{"/faults/kraken/stall?for=soon", 400, "for="},
		{"/faults/kraken/stall?for=2h", 400, "duration"},
		{"/faults/kraken/spike?asset=BTC", 400, "factor"},
		{"/faults/kraken/spike?asset=BTC&factor=-1", 400, "factor"},
		{"/faults/kraken/spike?factor=2", 400, "asset"},
		{"/faults/kraken/spike?asset=NOPE&factor=2", 400, "does not list NOPE"},
	} {
		code, m := postFault(t, s, tc.path)
		if msg, _ := m["error"].(string); code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %v, want %d and an error containing %q", tc.path, code, m, tc.code, tc.msg)
		}
	}
	if resp, err := http.Get("http://" + s.Addr() + "/faults/kraken/stall"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
}

func TestFaultEndpointLoopbackOnly(t *testing.T) {
	s := mustStart(t, Options{})
	for _, remote := range []string{"192.0.2.7:4000", "[2001:db8::1]:4000", "10.0.0.1:80", "garbage"} {
		req := httptest.NewRequest(http.MethodPost, "/faults/kraken/stall", nil)
		req.RemoteAddr = remote
		req.SetPathValue("exchange", "kraken")
		req.SetPathValue("fault", "stall")
		w := httptest.NewRecorder()
		s.serveFault(w, req)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "loopback") {
			t.Errorf("from %s: %d %s", remote, w.Code, w.Body)
		}
	}
	if s.stalled(price.Kraken) {
		t.Fatal("a non-loopback client stalled kraken")
	}
	for _, remote := range []string{"127.0.0.1:4000", "[::1]:4000"} {
		if !loopback(remote) {
			t.Errorf("%s is loopback", remote)
		}
	}
}

func TestSpikeKeepsTheWalkReproducible(t *testing.T) {
	u := mustUniverse(t)
	a, b := New(u, Options{Seed: 5}), New(u, Options{Seed: 5})
	t.Cleanup(func() { a.Close() }) // ends the spike's timer
	a.Step()
	b.Step()
	if n := a.Spike(price.Kraken, "BTC", 2, time.Hour); n != 1 {
		t.Fatalf("Spike spiked %d markets", n)
	}
	if n := a.Spike(price.Kraken, "NOPE", 2, time.Hour); n != 0 {
		t.Fatalf("Spike of an unlisted asset spiked %d markets", n)
	}
	for range 5 {
		a.Step()
		b.Step()
	}
	la, _, _, _ := a.Quote(price.Coinbase, "BTC-USD")
	lb, _, _, _ := b.Quote(price.Coinbase, "BTC-USD")
	if la != lb {
		t.Errorf("a spike on kraken changed coinbase's walk: %v vs %v", la, lb)
	}
	ka, _, _, _ := a.Quote(price.Kraken, "BTC/USD")
	kb, _, _, _ := b.Quote(price.Kraken, "BTC/USD")
	if r := ka.Float() / kb.Float(); r < 1.99 || r > 2.01 {
		t.Errorf("spiked kraken BTC is %v× the unspiked one, want 2×", r)
	}
}
