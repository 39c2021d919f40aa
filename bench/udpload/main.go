//go:build linux

// Command udpload is the UDP load generator of bench/udp.sh. Each of -sockets connected
// sockets keeps -window requests in flight: it sends with sendmmsg, receives with recvmmsg,
// and sends one new request per answer. After -warmup it counts answers for -duration and
// prints
//
//	rps=… sent=… received=… lost=… mismatched=… reply_bytes=…
//
// and the same as one line of JSON. lost is sent − received after a drain of up to -timeout;
// a socket that hears nothing for -timeout assumes its window was lost and refills it, so
// lost datagrams do not stall it (answers that were merely late then count as received but
// leave extra requests in flight, which the drain may count as lost).
// mismatched counts answers that do not contain -expect.
//
// -probe sends one request, prints the answer and exits (status 1 when none comes within
// -timeout): bench/udp.sh uses it to wait for a server and to size requests. -print-request
// prints the request after -pad-to and exits.
//
// Only loopback targets are accepted. Linux only.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "udpload:", err)
		os.Exit(1)
	}
}

type config struct {
	addr     *net.UDPAddr
	sockets  int
	window   int
	duration time.Duration
	warmup   time.Duration
	timeout  time.Duration
	request  []byte
	expect   []byte
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:2679", "target host:port (loopback only)")
	sockets := flag.Int("sockets", 4, "client sockets, one goroutine each")
	window := flag.Int("window", 32, "requests in flight per socket")
	duration := flag.Duration("duration", 10*time.Second, "measurement duration")
	warmup := flag.Duration("warmup", time.Second, "load before measuring")
	timeout := flag.Duration("timeout", time.Second, "refill a socket's window after this long without any answer; also the drain and -probe wait")
	request := flag.String("request", `{"key":"","asset":"btc","id":1}`, "request payload")
	requestFile := flag.String("request-file", "", "read the request payload from this file instead")
	padTo := flag.Int("pad-to", 0, `pad the request (a JSON object) with a "pad" field to this many bytes`)
	expect := flag.String("expect", "", "count answers not containing this string as mismatched")
	probe := flag.Bool("probe", false, "send one request, print the answer, exit")
	printRequest := flag.Bool("print-request", false, "print the request (after -pad-to) and exit")
	flag.Parse()

	ua, err := net.ResolveUDPAddr("udp", *addr)
	if err != nil {
		return err
	}
	if !ua.IP.IsLoopback() {
		return fmt.Errorf("refusing non-loopback target %s: udpload is for local benchmarks only", ua)
	}
	req := []byte(*request)
	if *requestFile != "" {
		if req, err = os.ReadFile(*requestFile); err != nil {
			return err
		}
		req = bytes.TrimSpace(req)
	}
	if *padTo > 0 {
		if req, err = padRequest(req, *padTo); err != nil {
			return err
		}
	}
	if len(req) == 0 || len(req) > 65000 {
		return errors.New("the request must be 1..65000 bytes")
	}
	if *printRequest {
		fmt.Printf("%s\n", req)
		return nil
	}
	if *probe {
		return runProbe(ua, req, *timeout)
	}
	if *sockets < 1 || *window < 1 || *window > 1024 || *duration <= 0 {
		return errors.New("need -sockets ≥ 1, -window 1..1024, -duration > 0")
	}
	cfg := config{addr: ua, sockets: *sockets, window: *window, duration: *duration, warmup: *warmup,
		timeout: *timeout, request: req, expect: []byte(*expect)}
	return runLoad(cfg)
}

// padRequest inserts ,"pad":"xxx…" before the closing brace of the JSON object req so that it
// is n bytes long; a request already that long is returned as is.
func padRequest(req []byte, n int) ([]byte, error) {
	req = bytes.TrimSpace(req)
	if len(req) < 2 || req[0] != '{' || req[len(req)-1] != '}' {
		return nil, errors.New("-pad-to needs a JSON object request")
	}
	field := `,"pad":""`
	if len(bytes.TrimSpace(req[1:len(req)-1])) == 0 {
		field = `"pad":""`
	}
	if len(req)+len(field) > n {
		return req, nil
	}
	out := append([]byte{}, req[:len(req)-1]...)
	out = append(out, field[:len(field)-1]...)
	out = append(out, strings.Repeat("x", n-len(req)-len(field))...)
	return append(out, `"}`...), nil
}

func runProbe(to *net.UDPAddr, req []byte, timeout time.Duration) error {
	c, err := net.DialUDP("udp", nil, to)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		return err
	}
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(timeout))
	n, err := c.Read(buf)
	if err != nil {
		return fmt.Errorf("probe: no answer from %s: %w", to, err)
	}
	os.Stdout.Write(buf[:n])
	fmt.Println()
	return nil
}

// counters of one socket, updated once per batch and read by the main goroutine.
type counters struct {
	sent, received, mismatched atomic.Uint64
	replyBytes                 atomic.Int64
	_                          [32]byte // keep sockets' counters off each other's cache line
}

func runLoad(cfg config) error {
	var stopping atomic.Bool
	cs := make([]counters, cfg.sockets)
	var wg sync.WaitGroup
	errc := make(chan error, cfg.sockets)
	for i := range cfg.sockets {
		c, err := net.DialUDP("udp", nil, cfg.addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetReadBuffer(4 << 20)
		_ = c.SetWriteBuffer(4 << 20)
		l, err := newLoader(c, &cfg, &cs[i], &stopping)
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := l.run(); err != nil {
				errc <- err
			}
		})
	}
	sum := func() (sent, received, mismatched uint64) {
		for i := range cs {
			sent += cs[i].sent.Load()
			received += cs[i].received.Load()
			mismatched += cs[i].mismatched.Load()
		}
		return
	}
	time.Sleep(cfg.warmup)
	_, r0, _ := sum()
	t0 := time.Now()
	time.Sleep(cfg.duration)
	_, r1, _ := sum()
	elapsed := time.Since(t0)
	stopping.Store(true)
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	sent, received, mismatched := sum()
	var lost uint64
	if sent > received {
		lost = sent - received
	}
	rps := float64(r1-r0) / elapsed.Seconds()
	var replyBytes int64
	for i := range cs {
		replyBytes = max(replyBytes, cs[i].replyBytes.Load())
	}
	fmt.Printf("rps=%.0f sent=%d received=%d lost=%d mismatched=%d reply_bytes=%d request_bytes=%d sockets=%d window=%d duration=%s\n",
		rps, sent, received, lost, mismatched, replyBytes, len(cfg.request), cfg.sockets, cfg.window, elapsed.Round(time.Millisecond))
	j, _ := json.Marshal(map[string]any{
		"rps": int64(rps + 0.5), "sent": sent, "received": received, "lost": lost, "mismatched": mismatched,
		"reply_bytes": replyBytes, "request_bytes": len(cfg.request), "sockets": cfg.sockets,
		"window": cfg.window, "duration_s": elapsed.Seconds(), "target": cfg.addr.String(),
	})
	fmt.Println(string(j))
	return nil
}

// loader drives one connected socket.
type loader struct {
	c        *net.UDPConn
	rc       syscall.RawConn
	cfg      *config
	cnt      *counters
	stopping *atomic.Bool
	rmsgs    []unix.Mmsghdr
	smsgs    []unix.Mmsghdr
	iovIn    []unix.Iovec
	iovReq   unix.Iovec
	in       []byte
	slot     int
	n        int
	errno    unix.Errno
	at, num  int
	recvFn   func(uintptr) bool
	sendFn   func(uintptr) bool
}

func newLoader(c *net.UDPConn, cfg *config, cnt *counters, stopping *atomic.Bool) (*loader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	const slot = 16 << 10
	w := cfg.window
	l := &loader{c: c, rc: rc, cfg: cfg, cnt: cnt, stopping: stopping,
		rmsgs: make([]unix.Mmsghdr, w), smsgs: make([]unix.Mmsghdr, w), iovIn: make([]unix.Iovec, w),
		in: make([]byte, w*slot), slot: slot}
	l.iovReq.Base = &cfg.request[0]
	l.iovReq.SetLen(len(cfg.request))
	for i := range w {
		l.iovIn[i].Base = &l.in[i*slot]
		l.iovIn[i].SetLen(slot)
		l.rmsgs[i].Hdr.Iov = &l.iovIn[i]
		l.rmsgs[i].Hdr.SetIovlen(1)
		l.smsgs[i].Hdr.Iov = &l.iovReq // connected socket: no address
		l.smsgs[i].Hdr.SetIovlen(1)
	}
	l.recvFn, l.sendFn = l.recv, l.send
	return l, nil
}

func (l *loader) run() error {
	inflight := 0
	refill := func() error {
		n, err := l.sendBatch(l.cfg.window - inflight)
		inflight += n
		return err
	}
	if err := refill(); err != nil {
		return err
	}
	deadline := time.Now().Add(l.cfg.timeout)
	l.c.SetReadDeadline(deadline)
	var drainUntil time.Time
	for {
		if l.stopping.Load() && drainUntil.IsZero() {
			drainUntil = time.Now().Add(l.cfg.timeout)
			l.c.SetReadDeadline(drainUntil)
		}
		if !drainUntil.IsZero() && inflight <= 0 {
			return nil
		}
		err := l.rc.Read(l.recvFn)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return err
			}
			if !drainUntil.IsZero() {
				return nil // drained as long as we wait; the rest is lost
			}
			inflight = 0 // nothing for a while: assume the window was lost and refill it
			if err := refill(); err != nil {
				return err
			}
			deadline = time.Now().Add(l.cfg.timeout)
			l.c.SetReadDeadline(deadline)
			continue
		}
		if l.errno != 0 {
			continue // e.g. ECONNREFUSED: the target is not (yet) listening
		}
		got := l.n
		var bad uint64
		for i := range got {
			msg := l.in[i*l.slot : i*l.slot+int(l.rmsgs[i].Len)]
			if len(l.cfg.expect) > 0 && !bytes.Contains(msg, l.cfg.expect) {
				bad++
			}
		}
		l.cnt.received.Add(uint64(got))
		l.cnt.replyBytes.Store(int64(l.rmsgs[got-1].Len))
		if bad > 0 {
			l.cnt.mismatched.Add(bad)
		}
		inflight = max(inflight-got, 0) // late answers to a refilled window would go negative
		if drainUntil.IsZero() {
			if err := refill(); err != nil {
				return err
			}
			// Move the idle deadline only now and then: setting it costs a timer update.
			if now := time.Now(); now.Add(l.cfg.timeout / 2).After(deadline) {
				deadline = now.Add(l.cfg.timeout)
				l.c.SetReadDeadline(deadline)
			}
		}
	}
}

// sendBatch sends n copies of the request and returns how many went out.
func (l *loader) sendBatch(n int) (int, error) {
	sent := 0
	for sent < n {
		l.at, l.num = 0, n-sent
		if err := l.rc.Write(l.sendFn); err != nil {
			return sent, err
		}
		if l.errno != 0 || l.n <= 0 {
			break // e.g. ECONNREFUSED from an earlier ICMP error; the idle timeout retries
		}
		sent += l.n
	}
	l.cnt.sent.Add(uint64(sent))
	return sent, nil
}

func (l *loader) recv(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&l.rmsgs[0])), uintptr(len(l.rmsgs)), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		l.n, l.errno = int(n), errno
		return true
	}
}

func (l *loader) send(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&l.smsgs[l.at])), uintptr(l.num), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		l.n, l.errno = int(n), errno
		return true
	}
}
