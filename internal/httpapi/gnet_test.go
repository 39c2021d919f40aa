package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/lpo"
)

// startEngine serves s on a loopback port with the given engine until the test ends.
func startEngine(t testing.TB, s *Server, engine string) string {
	t.Helper()
	s.cfg.Addr, s.cfg.Engine = "127.0.0.1:0", engine
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return s.Addr().String()
}

func startGnet(t testing.TB) (*Server, string) {
	t.Helper()
	s, _ := newTestServer(t)
	return s, startEngine(t, s, EngineGnet)
}

func dial(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// rawResponse is one response as read off the wire.
type rawResponse struct {
	status int
	header string // every header line but Date, each with its CRLF
	body   string
}

func (r rawResponse) get(name string) string {
	for _, l := range strings.Split(r.header, "\r\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// readResponse reads one response; head means the request was HEAD (no body follows).
func readResponse(t testing.TB, br *bufio.Reader, head bool) rawResponse {
	t.Helper()
	var r rawResponse
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("status line: %v", err)
	}
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "HTTP/1.1" {
		t.Fatalf("status line %q", line)
	}
	r.status, _ = strconv.Atoi(f[1])
	n := 0
	var hb strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("header: %v", err)
		}
		if l == "\r\n" {
			break
		}
		if strings.HasPrefix(l, "Date: ") {
			continue
		}
		if v, ok := strings.CutPrefix(l, "Content-Length: "); ok {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		hb.WriteString(l)
	}
	r.header = hb.String()
	if !head {
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			t.Fatalf("body: %v", err)
		}
		r.body = string(b)
	}
	return r
}

func get(uri string, extra ...string) string {
	return "GET " + uri + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testKey + "\r\n" + strings.Join(extra, "") + "\r\n"
}

func expectClosed(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed: read %q, %v", b, err)
	}
}

// TestEnginesAnswerAlike sends the same raw requests to both engines and compares the answers
// byte for byte, Date aside.
func TestEnginesAnswerAlike(t *testing.T) {
	_, book := newTestServer(t)
	limited := func() *Server { // one book, so that the answers carry the same timestamps
		return New(Config{Service: lpo.New(lpo.Config{Book: book, Limiter: limits.NewLimiter(), Keys: fakeKeys{
			"free":    {ID: "key_free", Tier: "free"},
			"partner": {ID: "key_partner", Tier: "partner"},
		}})})
	}
	fs, gs := limited(), limited()
	faddr := startEngine(t, fs, EngineFastHTTP)
	gaddr := startEngine(t, gs, EngineGnet)
	auth := func(k string) string { return "Authorization: Bearer " + k + "\r\n" }
	for _, tc := range []struct {
		name, req string
		head      bool
	}{
		{"price", "GET /price?asset=btc HTTP/1.1\r\nHost: x\r\n" + auth("partner") + "\r\n", false},
		{"price escaped", "GET /price?asset=b%74c HTTP/1.1\r\nHost: x\r\n" + auth("partner") + "\r\n", false},
		{"head", "HEAD /price?asset=btc HTTP/1.1\r\nHost: x\r\n" + auth("partner") + "\r\n", true},
		{"limited", "GET /price?asset=eth HTTP/1.1\r\nHost: x\r\n" + auth("free") + "\r\n", false},
		{"unknown asset", "GET /price?asset=zzz HTTP/1.1\r\nHost: x\r\n" + auth("partner") + "\r\n", false},
		{"no key", "GET /price?asset=btc HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"batch", "GET /prices?assets=btc%2Ceth,nope HTTP/1.1\r\nHost: x\r\n" + auth("partner") + "\r\n", false},
		{"batch POST", "POST /prices HTTP/1.1\r\nHost: x\r\n" + auth("partner") + "Content-Length: 24\r\n\r\n" + `{"assets":["btc","eth"]}`, false},
		{"assets", "GET /assets HTTP/1.1\r\nHost: x\r\n" + auth("partner") + "\r\n", false},
		{"exchanges", "GET /exchanges HTTP/1.1\r\nHost: x\r\n" + auth("partner") + "\r\n", false},
		{"not found", "GET /nope HTTP/1.1\r\nHost: x\r\n" + auth("partner") + "\r\n", false},
		{"method", "DELETE /price HTTP/1.1\r\nHost: x\r\n" + auth("partner") + "\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2]rawResponse
			for i, addr := range []string{faddr, gaddr} {
				c, br := dial(t, addr)
				// Six times, so that the free key runs into its limit on both engines.
				for range 6 {
					if _, err := io.WriteString(c, tc.req); err != nil {
						t.Fatal(err)
					}
					got[i] = readResponse(t, br, tc.head)
				}
			}
			if got[0] != got[1] {
				t.Fatalf("fasthttp:\n%d\n%s\n%s\ngnet:\n%d\n%s\n%s", got[0].status, got[0].header, got[0].body, got[1].status, got[1].header, got[1].body)
			}
		})
	}
}

func TestGnetKeepAlive(t *testing.T) {
	_, addr := startGnet(t)
	c, br := dial(t, addr)
	for i := range 20 {
		if _, err := io.WriteString(c, get("/price?asset=btc")); err != nil {
			t.Fatal(err)
		}
		r := readResponse(t, br, false)
		if r.status != 200 || !strings.Contains(r.body, `"BTC"`) || r.get("Content-Type") != "application/json" {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
}

func TestGnetPipelined(t *testing.T) {
	_, addr := startGnet(t)
	c, br := dial(t, addr)
	var b strings.Builder
	uris := []string{"/price?asset=btc", "/price?asset=eth", "/price?asset=zzz", "/assets", "/prices?assets=btc,eth"}
	for range 20 {
		for _, u := range uris {
			b.WriteString(get(u))
		}
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		for _, u := range uris {
			r := readResponse(t, br, false)
			want := 200
			if u == "/price?asset=zzz" {
				want = 404
			}
			if r.status != want {
				t.Fatalf("%s: %d %s", u, r.status, r.body)
			}
		}
	}
}

func TestGnetSplitRequest(t *testing.T) {
	_, addr := startGnet(t)
	c, br := dial(t, addr)
	req := "POST /prices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testKey + "\r\nContent-Length: 24\r\n\r\n" + `{"assets":["btc","eth"]}`
	for i := 0; i < len(req); i += 7 {
		if _, err := io.WriteString(c, req[i:min(i+7, len(req))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if r := readResponse(t, br, false); r.status != 200 || !strings.Contains(r.body, `"count":2`) {
		t.Fatalf("%+v", r)
	}
}

func TestGnetRejects(t *testing.T) {
	_, addr := startGnet(t)
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"oversize header", "GET /price?asset=btc HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 9000) + "\r\n\r\n", 431},
		{"oversize header unterminated", "GET /price HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 9000), 431},
		{"oversize body", "POST /prices HTTP/1.1\r\nContent-Length: 20000\r\n\r\n", 413},
		{"chunked", "POST /prices HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501},
		{"bad request line", "HELLO\r\n\r\n", 400},
		{"bad request line unterminated", "GET /x SMTP/1.0\r\n", 400},
		{"bad version", "GET /price HTTP/2.0\r\n\r\n", 400},
		{"bad header", "GET /price HTTP/1.1\r\nno colon\r\n\r\n", 400},
		{"bad length", "POST /prices HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := dial(t, addr)
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			r := readResponse(t, br, false)
			if r.status != tc.status || r.get("Connection") != "close" {
				t.Fatalf("got %d %q %s, want %d and Connection: close", r.status, r.get("Connection"), r.body, tc.status)
			}
			expectClosed(t, c, br)
		})
	}
}

func TestGnetConnectionClose(t *testing.T) {
	_, addr := startGnet(t)
	for _, tc := range []struct{ name, req string }{
		{"1.1 close", get("/price?asset=btc", "Connection: close\r\n")},
		{"1.0", "GET /price?asset=btc HTTP/1.0\r\nAuthorization: Bearer " + testKey + "\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := dial(t, addr)
			// A second request after the closing one must not be answered.
			if _, err := io.WriteString(c, tc.req+get("/price?asset=eth")); err != nil {
				t.Fatal(err)
			}
			if r := readResponse(t, br, false); r.status != 200 || r.get("Connection") != "close" {
				t.Fatalf("%+v", r)
			}
			expectClosed(t, c, br)
		})
	}
	t.Run("1.0 keep-alive", func(t *testing.T) {
		c, br := dial(t, addr)
		req := "GET /price?asset=btc HTTP/1.0\r\nConnection: keep-alive\r\nAuthorization: Bearer " + testKey + "\r\n\r\n"
		for range 3 {
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			if r := readResponse(t, br, false); r.status != 200 || r.get("Connection") != "" {
				t.Fatalf("%+v", r)
			}
		}
	})
}

func TestGnetHead(t *testing.T) {
	_, addr := startGnet(t)
	c, br := dial(t, addr)
	req := "HEAD /price?asset=btc HTTP/1.1\r\nAuthorization: Bearer " + testKey + "\r\n\r\n"
	if _, err := io.WriteString(c, req+get("/assets")); err != nil {
		t.Fatal(err)
	}
	r := readResponse(t, br, true)
	if r.status != 200 || r.get("Content-Length") == "0" || r.get("Content-Length") == "" {
		t.Fatalf("%+v", r)
	}
	// The next answer follows the HEAD headers directly: no body was sent.
	if r := readResponse(t, br, false); r.status != 200 || !strings.HasPrefix(r.body, "{") {
		t.Fatalf("after HEAD: %+v", r)
	}
}

func TestGnetMaxConns(t *testing.T) {
	s, _ := newTestServer(t)
	s.cfg.MaxConns = 2
	addr := startEngine(t, s, EngineGnet)
	c1, br1 := dial(t, addr)
	c2, br2 := dial(t, addr)
	for _, p := range []struct {
		c  net.Conn
		br *bufio.Reader
	}{{c1, br1}, {c2, br2}} {
		if _, err := io.WriteString(p.c, get("/assets")); err != nil {
			t.Fatal(err)
		}
		readResponse(t, p.br, false)
	}
	c3, br3 := dial(t, addr)
	if r := readResponse(t, br3, false); r.status != 503 || !strings.Contains(r.body, "overloaded") {
		t.Fatalf("%+v", r)
	}
	expectClosed(t, c3, br3)
	// A closed connection frees its place.
	c1.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.gn.open.Load() >= 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	c4, br4 := dial(t, addr)
	if _, err := io.WriteString(c4, get("/assets")); err != nil {
		t.Fatal(err)
	}
	if r := readResponse(t, br4, false); r.status != 200 {
		t.Fatalf("after a close: %+v", r)
	}
}

func TestGnetIdleSweep(t *testing.T) {
	s, addr := startGnet(t)
	c, br := dial(t, addr)
	if _, err := io.WriteString(c, get("/assets")); err != nil {
		t.Fatal(err)
	}
	readResponse(t, br, false)
	// Age the connection instead of waiting 30 s.
	s.gn.mu.Lock()
	for gc := range s.gn.conns {
		gc.last.Store(time.Now().Add(-2 * idleTimeout).UnixNano())
	}
	s.gn.mu.Unlock()
	expectClosed(t, c, br)
}

func TestGnetManyConnections(t *testing.T) {
	_, addr := startGnet(t)
	const conns, reqs = 200, 20
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(c)
			asset := []string{"btc", "eth"}[i%2]
			for range reqs {
				if _, err := io.WriteString(c, get("/price?asset="+asset)); err != nil {
					errs <- err
					return
				}
				line, err := br.ReadString('\n')
				if err != nil || !strings.Contains(line, " 200 ") {
					errs <- fmt.Errorf("status %q, %v", line, err)
					return
				}
				n := 0
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						errs <- err
						return
					}
					if l == "\r\n" {
						break
					}
					if v, ok := strings.CutPrefix(l, "Content-Length: "); ok {
						n, _ = strconv.Atoi(strings.TrimSpace(v))
					}
				}
				body := make([]byte, n)
				if _, err := io.ReadFull(br, body); err != nil || !strings.Contains(string(body), strings.ToUpper(asset)) {
					errs <- fmt.Errorf("body %q, %v", body, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestGnetBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, _ := newTestServer(t)
	s.cfg.Addr, s.cfg.Engine = ln.Addr().String(), EngineGnet
	if err := s.Listen(); err == nil {
		t.Fatal("Listen on a busy port succeeded")
	}
}
