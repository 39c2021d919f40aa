package cli

import (
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"
)

// flakyProxy forwards TCP connections to a target and can be taken down: while down it
// closes every open connection and refuses new ones, like a store that went away.
type flakyProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *flakyProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

func (p *flakyProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

// TestMeteringSurvivesStoreOutage: PostgreSQL becomes unreachable for a few seconds under
// load; the price API keeps answering, metered counts wait in memory, and after the store is
// back and a graceful shutdown the stored totals equal exactly what clients received.
func TestMeteringSurvivesStoreOutage(t *testing.T) {
	dsn := os.Getenv("TRINITY_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("TRINITY_TEST_POSTGRES not set")
	}
	direct := freshSchema(t, dsn)
	proxy := newFlakyProxy(t, "127.0.0.1:5432")
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = proxy.ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	viaProxy := u.String()
	r := startServeDB(t, viaProxy, "--feeds", "sim", "--exchanges", "coinbase,kraken")
	key := mustCreateKey(t, direct, "partner")
	waitKey(t, r, key)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c1, _ := httpGet(t, "http://"+r.addrs.HTTP+"/price?asset=btc", key)
		c2, _ := httpGet(t, "http://"+r.addrs.HTTP+"/price?asset=eth", key)
		if c1 == 200 && c2 == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no prices")
		}
	}
	time.Sleep(1500 * time.Millisecond)
	base := storedRequests(t, direct, key)

	done := make(chan int64)
	go func() { done <- loadBoth(t, r, key, 4*time.Second) }()
	time.Sleep(500 * time.Millisecond)
	proxy.setDown(true)
	time.Sleep(2500 * time.Millisecond)
	proxy.setDown(false)
	n := <-done
	r.stop()
	if got := storedRequests(t, direct, key) - base; got != n {
		t.Fatalf("after a store outage: stored %d requests, clients received %d answers", got, n)
	}
	t.Logf("%d answers during a 2.5 s store outage, all stored", n)
}
