package stress

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHTTP is a minimal keep-alive HTTP/1.1 server on loopback. Request n (counted from 1
// across all connections) is answered by answer(n); with limit > 0, requests beyond the
// limit are never answered (they hang until the client gives up), so a client's counts can
// be compared exactly with the server's. During [stallFrom, stallTo) every answer waits until
// stallTo.
type fakeHTTP struct {
	ln       net.Listener
	answer   func(n int64) (status int, body string)
	limit    atomic.Int64
	n        atomic.Int64
	answered atomic.Int64

	first              atomic.Pointer[string] // the first request received
	stallMu            sync.Mutex
	stallFrom, stallTo time.Time
	chunked            bool
}

func newFakeHTTP(t testing.TB, answer func(n int64) (int, string)) *fakeHTTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeHTTP{ln: ln, answer: answer}
	if f.answer == nil {
		f.answer = func(int64) (int, string) { return 200, `{"asset":"BTC","price":65000.5}` }
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { f.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return f
}

func (f *fakeHTTP) addr() string { return f.ln.Addr().String() }

func (f *fakeHTTP) stall(from, to time.Time) {
	f.stallMu.Lock()
	f.stallFrom, f.stallTo = from, to
	f.stallMu.Unlock()
}

func (f *fakeHTTP) serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	var out []byte
	for {
		i := bytes.Index(buf, []byte("\r\n\r\n"))
		if i < 0 {
			m, err := c.Read(tmp)
			if err != nil {
				return
			}
			buf = append(buf, tmp[:m]...)
			continue
		}
		if f.first.Load() == nil {
			r := string(buf[:i])
			f.first.CompareAndSwap(nil, &r)
		}
		buf = buf[:copy(buf, buf[i+4:])]
		n := f.n.Add(1)
		if l := f.limit.Load(); l > 0 && n > l {
			continue // never answered
		}
		f.stallMu.Lock()
		from, to := f.stallFrom, f.stallTo
		f.stallMu.Unlock()
		if now := time.Now(); !from.IsZero() && !now.Before(from) && now.Before(to) {
			time.Sleep(to.Sub(now))
		}
		status, body := f.answer(n)
		out = append(out[:0], "HTTP/1.1 "...)
		out = strconv.AppendInt(out, int64(status), 10)
		out = append(out, " X\r\nContent-Type: application/json\r\n"...)
		if f.chunked {
			out = append(out, "Transfer-Encoding: chunked\r\n\r\n"...)
			half := len(body) / 2
			for _, part := range []string{body[:half], body[half:]} {
				out = strconv.AppendInt(out, int64(len(part)), 16)
				out = append(out, "\r\n"...)
				out = append(out, part...)
				out = append(out, "\r\n"...)
			}
			out = append(out, "0\r\n\r\n"...)
		} else {
			out = append(out, "Content-Length: "...)
			out = strconv.AppendInt(out, int64(len(body)), 10)
			out = append(out, "\r\n\r\n"...)
			out = append(out, body...)
		}
		f.answered.Add(1)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// testPlan returns a one-phase plan of proto against targets.
func testPlan(proto Protocol, targets []string, phases ...Phase) *Plan {
	return &Plan{
		Mix:        []Share{{Protocol: proto, Weight: 1}},
		Targets:    map[Protocol][]string{proto: targets},
		Keys:       []string{"tb_test_key1", "tb_test_key2"},
		Assets:     []string{"btc"},
		HTTPPath:   "/price?asset={asset}",
		LRSReport:  "summary",
		Phases:     phases,
		Timeout:    5 * time.Second,
		UDPSockets: 2,
	}
}

// fakeUDP answers JSON datagrams like the LPO/LRS UDP services: it echoes the request's
// "id" as the first member. Answers to each read burst go out in reverse order, so a client
// must match them by id. Request n (from 1) is answered by answer(n, id); limit > 0 drops
// requests beyond it.
type fakeUDP struct {
	c        *net.UDPConn
	answer   func(n int64, id []byte) []byte
	limit    atomic.Int64
	n        atomic.Int64
	answered atomic.Int64
	maxSize  atomic.Int64 // largest request seen
	first    atomic.Pointer[string]
}

func newFakeUDP(t testing.TB, answer func(n int64, id []byte) []byte) *fakeUDP {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	f := &fakeUDP{c: c, answer: answer}
	if f.answer == nil {
		f.answer = func(_ int64, id []byte) []byte {
			return []byte(`{"id":` + string(id) + `,"asset":"BTC","price":65000.5}`)
		}
	}
	var wg sync.WaitGroup
	wg.Go(f.serve)
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return f
}

func (f *fakeUDP) addr() string { return f.c.LocalAddr().String() }

func (f *fakeUDP) serve() {
	type pending struct {
		to  *net.UDPAddr
		ans []byte
	}
	buf := make([]byte, 65536)
	var burst []pending
	flush := func() {
		for i := len(burst) - 1; i >= 0; i-- {
			f.c.WriteToUDP(burst[i].ans, burst[i].to)
		}
		burst = burst[:0]
	}
	for {
		// Collect what is queued (short deadline), then answer in reverse.
		if len(burst) > 0 {
			f.c.SetReadDeadline(time.Now().Add(200 * time.Microsecond))
		} else {
			f.c.SetReadDeadline(time.Time{})
		}
		m, from, err := f.c.ReadFromUDP(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				flush()
				continue
			}
			return
		}
		req := buf[:m]
		if f.first.Load() == nil {
			r := string(req)
			f.first.CompareAndSwap(nil, &r)
		}
		if int64(m) > f.maxSize.Load() {
			f.maxSize.Store(int64(m))
		}
		n := f.n.Add(1)
		if l := f.limit.Load(); l > 0 && n > l {
			continue
		}
		i := bytes.Index(req, []byte(`"id":`))
		if i < 0 {
			continue
		}
		id := req[i+5:]
		if j := bytes.IndexAny(id, ",}"); j >= 0 {
			id = id[:j]
		}
		ans := f.answer(n, append([]byte(nil), id...))
		if ans == nil {
			continue
		}
		f.answered.Add(1)
		burst = append(burst, pending{from, ans})
		if len(burst) >= 16 {
			flush()
		}
	}
}
