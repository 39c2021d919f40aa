package udpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/trinityprice/trinity/internal/price"
)

// testServer is a running Server on loopback.
type testServer struct {
	*Server
	book *price.Book
	set  *metrics.Set
	done chan error
}

// mustRunServer starts a Server on addr with cfg's other fields, and stops it at cleanup.
func mustRunServer(tb testing.TB, addr string, cfg Config) *testServer {
	tb.Helper()
	svc, book := newTestService(tb)
	set := metrics.NewSet()
	cfg.Addr, cfg.Service, cfg.Metrics = addr, svc, set
	s := New(cfg)
	if err := s.Listen(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, book: book, set: set, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-ts.done:
			if err != nil {
				tb.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			tb.Error("Serve did not return after cancel")
		}
	})
	return ts
}

func mustDial(tb testing.TB, to netip.AddrPort) *net.UDPConn {
	tb.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends req and returns the answer, or nil after a timeout.
func roundTrip(tb testing.TB, c *net.UDPConn, req []byte, timeout time.Duration) []byte {
	tb.Helper()
	if _, err := c.Write(req); err != nil {
		tb.Fatal(err)
	}
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(timeout))
	n, err := c.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		tb.Fatal(err)
	}
	return buf[:n]
}

func counter(set *metrics.Set, name string) uint64 {
	var b bytes.Buffer
	set.WritePrometheus(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return uint64(n)
		}
	}
	return 0
}

// waitCounter waits up to a second for a counter to reach want (the server counts sent
// datagrams after sendmmsg returns, which can be after the client has the answer).
func waitCounter(t *testing.T, set *metrics.Set, name string, want uint64) {
	t.Helper()
	var n uint64
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if n = counter(set, name); n == want {
			return
		}
	}
	t.Errorf("%s = %d, want %d", name, n, want)
}

func TestUDPServe(t *testing.T) {
	for _, network := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(network, func(t *testing.T) {
			if network == "[::1]:0" {
				if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
					t.Skip("no IPv6 loopback:", err)
				} else {
					c.Close()
				}
			}
			ts := mustRunServer(t, network, Config{Sockets: 2, Batch: 8})
			if ts.Addr().Port() == 0 || ts.LocalAddr() == nil {
				t.Fatalf("Addr %v", ts.Addr())
			}
			c := mustDial(t, ts.Addr())
			_, a := ts.book.Lookup([]byte("btc"))

			// Price, padded so the full answer fits.
			req := pad(`{"key":"`+testKey+`","asset":"btc","id":7}`, len(a.JSON)/3+40)
			if got := roundTrip(t, c, []byte(req), 2*time.Second); string(got) != withID("7", a.JSON) {
				t.Fatalf("price:\n got %s\nwant %s", got, withID("7", a.JSON))
			}
			// Unpadded: brief.
			req = `{"key":"` + testKey + `","asset":"btc","id":"x"}`
			if got := roundTrip(t, c, []byte(req), 2*time.Second); string(got) != withID(`"x"`, a.Brief) {
				t.Fatalf("brief: got %s", got)
			}
			// Batch.
			req = pad(`{"key":"`+testKey+`","assets":["btc","eth","nope"],"id":9}`, 1200)
			got := roundTrip(t, c, []byte(req), 2*time.Second)
			var batch struct {
				ID     int
				Count  int
				Prices []json.RawMessage
			}
			if err := json.Unmarshal(got, &batch); err != nil || batch.ID != 9 || batch.Count != 3 || !bytes.Equal(batch.Prices[0], a.JSON) {
				t.Fatalf("batch: %s (%v)", got, err)
			}
			// Errors.
			for _, tc := range []struct{ req, code string }{
				{`{"key":"` + testKey + `","asset":"doge","id":1}`, "unknown_asset"},
				{`{"asset":"btc","id":1,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, "missing_key"},
				{`{"key":"tb_live_nope","asset":"btc","id":1}`, "unknown_key"},
				{`{"key":"` + revokedKey + `","asset":"btc","id":1}`, "key_revoked"},
				{`{"key":"` + testKey + `","asset":"btc","id":1`, "bad_json"},
			} {
				got := roundTrip(t, c, []byte(tc.req), 2*time.Second)
				if e := decodeError(t, got); e.Error.Code != tc.code || len(got) > 3*len(tc.req) {
					t.Errorf("%s: got %s, want %s", tc.req, got, tc.code)
				}
			}
			// Tiny request: nothing (an answer would be more than 3x).
			if got := roundTrip(t, c, []byte(`{}`), 200*time.Millisecond); got != nil {
				t.Fatalf("tiny request answered: %s", got)
			}
			// Oversize datagram.
			big := pad(`{"key":"`+testKey+`","asset":"btc","id":5}`, DefaultMaxDatagram+500)
			got = roundTrip(t, c, []byte(big), 2*time.Second)
			if e := decodeError(t, got); e.Error.Code != "request_too_large" {
				t.Fatalf("oversize: %s", got)
			}
			// Exactly MaxDatagram is fine.
			exact := pad(`{"key":"`+testKey+`","asset":"btc","id":5}`, DefaultMaxDatagram)
			if got = roundTrip(t, c, []byte(exact), 2*time.Second); string(got) != withID("5", a.JSON) {
				t.Fatalf("max-size datagram: %s", got)
			}

			// 11 datagrams; all but the tiny one answered.
			waitCounter(t, ts.set, "trinity_udp_datagrams_received_total", 11)
			waitCounter(t, ts.set, "trinity_udp_datagrams_sent_total", 10)
			waitCounter(t, ts.set, `trinity_udp_dropped_total{reason="amplification"}`, 1)
			waitCounter(t, ts.set, "trinity_udp_oversize_total", 1)
		})
	}
}

// TestUDPConcurrentClients runs many clients, each pipelining a window of requests, and
// checks every request gets its own answer (matched by id).
func TestUDPConcurrentClients(t *testing.T) {
	ts := mustRunServer(t, "127.0.0.1:0", Config{Sockets: 2, Batch: 16})
	const clients, perClient, window = 16, 200, 8
	_, a := ts.book.Lookup([]byte("eth"))
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	for cl := range clients {
		c := mustDial(t, ts.Addr())
		wg.Go(func() {
			buf := make([]byte, 4096)
			send := func(i int) error {
				req := `{"key":"` + testKey + `","asset":"eth","id":"c` + strconv.Itoa(cl) + `-` + strconv.Itoa(i) + `"}`
				_, err := c.Write([]byte(req))
				return err
			}
			seen := make([]bool, perClient)
			next := 0
			for ; next < window; next++ {
				if err := send(next); err != nil {
					errc <- err
					return
				}
			}
			for got := 0; got < perClient; got++ {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := c.Read(buf)
				if err != nil {
					errc <- errors.New("client " + strconv.Itoa(cl) + ": " + err.Error() + " after " + strconv.Itoa(got) + " answers")
					return
				}
				var ans struct {
					ID    string
					Asset string
					Price float64
				}
				if err := json.Unmarshal(buf[:n], &ans); err != nil || ans.Asset != "ETH" {
					errc <- errors.New("bad answer " + string(buf[:n]))
					return
				}
				i, err := strconv.Atoi(strings.TrimPrefix(ans.ID, "c"+strconv.Itoa(cl)+"-"))
				if err != nil || i < 0 || i >= perClient || seen[i] {
					errc <- errors.New("unexpected id " + ans.ID)
					return
				}
				seen[i] = true
				if next < perClient {
					if err := send(next); err != nil {
						errc <- err
						return
					}
					next++
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if a == nil {
		t.Fatal("no ETH answer")
	}
	waitCounter(t, ts.set, "trinity_udp_datagrams_sent_total", clients*perClient)
}

func TestUDPListenErrors(t *testing.T) {
	svc, _ := newTestService(t)
	s := New(Config{Addr: "127.0.0.1:0", Service: svc, Sockets: 1})
	if err := s.Serve(context.Background()); err == nil {
		t.Fatal("Serve before Listen succeeded")
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A single-socket server does not set SO_REUSEPORT, so its port cannot be shared.
	s2 := New(Config{Addr: s.Addr().String(), Service: svc, Sockets: 2})
	if err := s2.Listen(); err == nil {
		s2.Close()
		t.Fatal("second Listen on a busy port succeeded")
	}
	if err := New(Config{Addr: "nonsense", Service: svc}).Listen(); err == nil {
		t.Fatal("Listen on a bad address succeeded")
	}
}

func TestUDPCloseStopsServe(t *testing.T) {
	svc, _ := newTestService(t)
	s := New(Config{Addr: "127.0.0.1:0", Service: svc, Sockets: 3})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	time.Sleep(20 * time.Millisecond) // let the readers block
	s.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
}
