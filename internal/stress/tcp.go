package stress

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxRequestVariants bounds the pre-built requests per target (keys × assets).
const maxRequestVariants = 4096

// buildHTTPRequests returns the pre-built GET requests for target: one per key/asset
// combination (the full cross product when small, else keys and assets paired in rotation).
func buildHTTPRequests(p *Plan, proto Protocol, target string) [][]byte {
	keys := p.Keys
	if len(keys) == 0 {
		keys = []string{""}
	}
	assets := p.Assets
	if proto == TCPLRS {
		assets = []string{""}
	}
	var out [][]byte
	add := func(key, asset string) {
		var b strings.Builder
		b.WriteString("GET ")
		if proto == TCPLRS {
			b.WriteString("/reports/" + p.LRSReport + "?format=json")
		} else {
			b.WriteString(strings.ReplaceAll(p.HTTPPath, "{asset}", asset))
		}
		b.WriteString(" HTTP/1.1\r\nHost: " + target + "\r\n")
		if key != "" {
			b.WriteString("Authorization: Bearer " + key + "\r\n")
		}
		b.WriteString("User-Agent: trinity-stress\r\n\r\n")
		out = append(out, []byte(b.String()))
	}
	if len(keys)*len(assets) <= maxRequestVariants {
		for _, k := range keys {
			for _, a := range assets {
				add(k, a)
			}
		}
	} else {
		for i := range max(len(keys), len(assets)) {
			add(keys[i%len(keys)], assets[i%len(assets)])
		}
	}
	return out
}

var priceField = []byte(`"price"`)

// validateHTTP classifies an HTTP answer of proto.
func validateHTTP(proto Protocol, status int, body []byte) Kind {
	if status != 200 {
		return statusKind(status)
	}
	if proto == TCPLRS {
		if !json.Valid(body) {
			return BadBody
		}
		return OK
	}
	if !bytes.Contains(body, priceField) {
		return BadBody
	}
	return OK
}

// schedule hands out the intended send times of an open-loop phase: slot k is due at
// start + k·interval, for k < n. Many goroutines may take slots; close ends the schedule
// and says exactly how many slots were never taken.
type schedule struct {
	start    time.Time
	interval float64 // nanoseconds
	n        int64
	next     atomic.Int64 // slots taken, with closedBit once closed
}

const closedBit = 1 << 62

func newSchedule(start time.Time, rate float64, d time.Duration) *schedule {
	return &schedule{start: start, interval: 1e9 / rate, n: int64(rate * d.Seconds())}
}

func (s *schedule) at(k int64) time.Time {
	return s.start.Add(time.Duration(float64(k) * s.interval))
}

// take returns the next slot's intended time, or false when none is left or s is closed.
func (s *schedule) take() (time.Time, bool) {
	for {
		k := s.next.Load()
		if k&closedBit != 0 || k >= s.n {
			return time.Time{}, false
		}
		if s.next.CompareAndSwap(k, k+1) {
			return s.at(k), true
		}
	}
}

// peek returns the next slot's intended time without taking it.
func (s *schedule) peek() (time.Time, bool) {
	k := s.next.Load()
	if k&closedBit != 0 || k >= s.n {
		return time.Time{}, false
	}
	return s.at(k), true
}

// close ends the schedule and returns the number of slots never taken.
func (s *schedule) close() int64 {
	k := s.next.Or(closedBit) &^ closedBit
	return max(s.n-k, 0)
}

// tcpDriver runs the HTTP connections of one protocol: one goroutine per connection, each
// with one request outstanding, connections spread round-robin over the targets.
type tcpDriver struct {
	ctx     context.Context // cancelled when the run ends
	proto   Protocol
	targets []string
	reqs    [][][]byte // per target
	timeout time.Duration
	rec     *recorder
	sched   atomic.Pointer[schedule] // nil: closed loop

	mu      sync.Mutex
	workers []*tcpWorker
	nextID  int
	wg      sync.WaitGroup
	dialer  net.Dialer
}

func newTCPDriver(ctx context.Context, p *Plan, proto Protocol, rec *recorder) *tcpDriver {
	d := &tcpDriver{ctx: ctx, proto: proto, targets: p.Targets[proto], timeout: p.Timeout, rec: rec}
	for _, t := range d.targets {
		d.reqs = append(d.reqs, buildHTTPRequests(p, proto, t))
	}
	d.dialer.Timeout = p.Timeout
	return d
}

// tcpWorker is one connection's goroutine.
type tcpWorker struct {
	id   int
	stop atomic.Bool
	wake chan struct{} // closed to interrupt a sleep when stopping
}

// workers returns the number of running connection goroutines.
func (d *tcpDriver) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.workers)
}

// setLoad runs n connections; sched, when not nil, makes them open loop.
func (d *tcpDriver) setLoad(n int, sched *schedule) {
	d.sched.Store(sched)
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.workers) < n {
		w := &tcpWorker{id: d.nextID, wake: make(chan struct{})}
		d.nextID++
		d.workers = append(d.workers, w)
		d.wg.Go(func() { d.run(w) })
	}
	for len(d.workers) > n {
		w := d.workers[len(d.workers)-1]
		d.workers = d.workers[:len(d.workers)-1]
		w.stop.Store(true)
		close(w.wake)
	}
}

// wait waits for every worker to exit (after ctx is cancelled).
func (d *tcpDriver) wait() { d.wg.Wait() }

func (d *tcpDriver) run(w *tcpWorker) {
	ti := w.id % len(d.targets)
	target, reqs := d.targets[ti], d.reqs[ti]
	ri := w.id / len(d.targets) % len(reqs)
	sh := d.rec.shard(w.id)
	var hc *httpConn
	var conn net.Conn
	var unwatch func() bool
	closeConn := func() {
		if conn != nil {
			unwatch()
			conn.Close()
			conn, hc = nil, nil
		}
	}
	defer closeConn()
	var timer *time.Timer
	backoff := time.Duration(0)
	for !w.stop.Load() && d.ctx.Err() == nil {
		var intended time.Time
		if s := d.sched.Load(); s != nil {
			t, ok := s.take()
			if !ok {
				// This phase's schedule is used up; wait for the next phase.
				if !sleep(&timer, 5*time.Millisecond, w.wake, d.ctx.Done()) {
					return
				}
				continue
			}
			if wait := time.Until(t); wait > 0 {
				if !sleep(&timer, wait, w.wake, d.ctx.Done()) {
					return
				}
			}
			intended = t
		}
		if hc == nil {
			c, err := d.dial(target)
			if err != nil {
				if d.ctx.Err() != nil {
					return
				}
				d.rec.flags.Or(resourceFlag(err))
				sh.done(errKind(err), 0, false)
				// Back off so a refused target does not spin the CPU: 10 ms doubling to 1 s.
				backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
				if !sleep(&timer, backoff, w.wake, d.ctx.Done()) {
					return
				}
				continue
			}
			backoff = 0
			conn, hc = c, newHTTPConn(c, d.timeout)
			// Closing the connection when the run ends unblocks a read from a stalled server.
			unwatch = context.AfterFunc(d.ctx, func() { c.Close() })
		}
		req := reqs[ri]
		if ri++; ri == len(reqs) {
			ri = 0
		}
		if !d.exchange(hc, req, intended, sh) {
			if d.ctx.Err() != nil {
				return
			}
			closeConn()
		}
	}
}

// exchange sends one request on hc and records its outcome in sh; latency counts from
// intended when set (open loop), else from the send. It returns false when the connection
// must be closed. It does not allocate (see TestHTTPRequestPathAllocs).
func (d *tcpDriver) exchange(hc *httpConn, req []byte, intended time.Time, sh *shard) bool {
	start := time.Now()
	status, body, keep, err := hc.roundTrip(req, start)
	end := time.Now()
	if d.ctx.Err() != nil {
		return false // the run ended: this request was cut off, not failed
	}
	if intended.IsZero() {
		intended = start
	}
	lat := end.Sub(intended)
	if err != nil {
		k := errKind(err)
		sh.done(k, lat, k == Timeout || k == BadBody)
		return false
	}
	sh.done(validateHTTP(d.proto, status, body), lat, true)
	return keep
}

func (d *tcpDriver) dial(target string) (net.Conn, error) {
	c, err := d.dialer.DialContext(d.ctx, "tcp", target)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return c, nil
}

// sleep waits for d, reusing *t; it returns false if stop or done closed first.
func sleep(t **time.Timer, d time.Duration, stop <-chan struct{}, done <-chan struct{}) bool {
	if *t == nil {
		*t = time.NewTimer(d)
	} else {
		(*t).Reset(d)
	}
	select {
	case <-(*t).C:
		return true
	case <-stop:
	case <-done:
	}
	(*t).Stop()
	return false
}
