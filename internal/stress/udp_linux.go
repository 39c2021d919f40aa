//go:build linux

package stress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	udpBatch = 64                    // datagrams per sendmmsg/recvmmsg
	udpPoll  = 50 * time.Millisecond // longest a socket sleeps before it looks at its load again
)

// udpLoad is what one socket should do in the current phase.
type udpLoad struct {
	window int       // requests in flight (closed loop), or the in-flight cap (open loop)
	sched  *schedule // nil: closed loop
}

// udpDriver runs the persistent UDP sockets of one protocol: UDPSockets connected sockets per
// target, each with its own goroutine pipelining requests and matching answers by id.
type udpDriver struct {
	ctx   context.Context
	proto Protocol
	rec   *recorder
	socks []*udpSock
	wg    sync.WaitGroup
}

// newUDPDriver opens the sockets. maxWindow is the most requests any socket will have in
// flight at once.
func newUDPDriver(ctx context.Context, p *Plan, proto Protocol, rec *recorder, maxWindow int) (*udpDriver, error) {
	d := &udpDriver{ctx: ctx, proto: proto, rec: rec}
	tmpls := udpTemplates(p, proto)
	for _, t := range p.Targets[proto] {
		ua, err := net.ResolveUDPAddr("udp", t)
		if err != nil {
			d.closeAll()
			return nil, fmt.Errorf("%s target %s: %w", proto, t, err)
		}
		for range p.UDPSockets {
			c, err := net.DialUDP("udp", nil, ua)
			if err != nil {
				d.closeAll()
				return nil, fmt.Errorf("%s: open a udp socket to %s: %w", proto, t, err)
			}
			s, err := newUDPSock(d, c, tmpls, maxWindow, p.Timeout, len(d.socks))
			if err != nil {
				c.Close()
				d.closeAll()
				return nil, err
			}
			d.socks = append(d.socks, s)
		}
	}
	for _, s := range d.socks {
		d.wg.Go(s.run)
	}
	// Closing the sockets when the run ends unblocks their reads.
	context.AfterFunc(ctx, d.closeAll)
	return d, nil
}

func (d *udpDriver) closeAll() {
	for _, s := range d.socks {
		s.c.Close()
	}
}

// setLoad gives the sockets their share of n requests in flight; with rate > 0 the phase is
// open loop and each socket sends rate/sockets requests per second from start for dur. It
// returns the schedules, which the engine closes when the phase ends.
func (d *udpDriver) setLoad(n int, rate float64, start time.Time, dur time.Duration) []*schedule {
	ones := make([]int, len(d.socks))
	for i := range ones {
		ones[i] = 1
	}
	windows := split(n, ones)
	var scheds []*schedule
	for i, s := range d.socks {
		ld := &udpLoad{window: min(windows[i], s.cap())}
		if rate > 0 {
			ld.window = max(ld.window, 1)
			ld.sched = newSchedule(start, rate/float64(len(d.socks)), dur)
			scheds = append(scheds, ld.sched)
		}
		s.load.Store(ld)
		// Wake the socket now rather than at its next poll: a deadline in the past makes its
		// read return; kicked tells it that its own deadline bookkeeping is now stale.
		_ = s.c.SetReadDeadline(time.Unix(1, 0))
		s.kicked.Store(true)
	}
	return scheds
}

func (d *udpDriver) wait() { d.wg.Wait() }

// udpSlot is one request in flight.
type udpSlot struct {
	id    uint64
	start time.Duration // intended (open loop) or actual (closed loop) send time, since base
	used  bool
}

// udpSock is one connected socket and its goroutine's state. All arrays are allocated once;
// the mmsghdrs point into them (Go's heap does not move objects, so the kernel may use them).
type udpSock struct {
	d       *udpDriver
	c       *net.UDPConn
	rc      syscall.RawConn
	sh      *shard
	timeout time.Duration
	base    time.Time
	load    atomic.Pointer[udpLoad]
	kicked  atomic.Bool // set by setLoad after it cut the current read short
	sendErr bool        // the last sendNew failed with an error (back off before retrying)

	tmpls    [][]byte
	slots    []udpSlot // indexed by id & mask
	mask     uint64
	nextID   uint64
	inflight int

	out    []byte // udpBatch request buffers of stride bytes
	stride int
	iovOut []unix.Iovec
	smsgs  []unix.Mmsghdr
	slotOf [udpBatch]uint64 // slot index of each batch entry

	in     []byte // udpBatch receive slots of inSlot bytes
	inSlot int
	iovIn  []unix.Iovec
	rmsgs  []unix.Mmsghdr

	recvFn, sendFn func(fd uintptr) bool // bound once so the loop does not allocate
	n              int
	errno          unix.Errno
	sendAt, sendN  int
}

func newUDPSock(d *udpDriver, c *net.UDPConn, tmpls [][]byte, maxWindow int, timeout time.Duration, idx int) (*udpSock, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	size := 64
	for size < 2*maxWindow+16 {
		size *= 2
	}
	stride := 0
	for _, t := range tmpls {
		stride = max(stride, len(t))
	}
	s := &udpSock{d: d, c: c, rc: rc, sh: d.rec.shard(idx), timeout: timeout, base: time.Now(), tmpls: tmpls,
		slots: make([]udpSlot, size), mask: uint64(size - 1), stride: stride,
		out: make([]byte, udpBatch*stride), iovOut: make([]unix.Iovec, udpBatch), smsgs: make([]unix.Mmsghdr, udpBatch),
		inSlot: min(max(3*stride+256, 2048), 65536), iovIn: make([]unix.Iovec, udpBatch), rmsgs: make([]unix.Mmsghdr, udpBatch)}
	s.in = make([]byte, udpBatch*s.inSlot)
	for i := range udpBatch {
		s.iovOut[i].Base = &s.out[i*stride]
		s.smsgs[i].Hdr.Iov = &s.iovOut[i]
		s.smsgs[i].Hdr.SetIovlen(1)
		s.iovIn[i].Base = &s.in[i*s.inSlot]
		s.iovIn[i].SetLen(s.inSlot)
		s.rmsgs[i].Hdr.Iov = &s.iovIn[i]
		s.rmsgs[i].Hdr.SetIovlen(1)
	}
	s.recvFn, s.sendFn = s.recv, s.send
	return s, nil
}

// cap is the most requests the socket can track in flight.
func (s *udpSock) cap() int { return len(s.slots) / 2 }

func (s *udpSock) now() time.Duration { return time.Since(s.base) }

func (s *udpSock) run() {
	var (
		deadline time.Duration // read deadline currently set, since base
		lastScan time.Duration
		backoff  time.Duration
	)
	for s.d.ctx.Err() == nil {
		if s.kicked.Swap(false) {
			deadline = 0
		}
		ld := s.load.Load()
		now := s.now()
		if ld != nil {
			if ld.sched == nil {
				if want := ld.window - s.inflight; want > 0 {
					s.sendNew(want, nil, now)
				}
			} else {
				s.sendDue(ld, now)
			}
		}
		if s.sendErr {
			s.sendErr = false
			backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
			var t *time.Timer
			if !sleep(&t, backoff, nil, s.d.ctx.Done()) {
				return
			}
			continue
		}
		if s.inflight > 0 && now-lastScan >= min(s.timeout/8, udpPoll) {
			s.expire(now)
			lastScan = now
		}
		// Sleep until an answer arrives, the next open-loop send is due, or the poll interval
		// passes. Moving the deadline costs a timer update, so in closed loop it is moved
		// only when it is close.
		wake := now + udpPoll
		if ld != nil && ld.sched != nil {
			if t, ok := ld.sched.peek(); ok && s.inflight < ld.window {
				wake = min(wake, t.Sub(s.base))
			}
		}
		if wake <= now {
			continue
		}
		if deadline < now+udpPoll/2 || wake < deadline {
			if s.c.SetReadDeadline(s.base.Add(wake)) != nil {
				return
			}
			deadline = wake
		}
		for i := range s.rmsgs { // restore what the last recvmmsg overwrote
			s.rmsgs[i].Hdr.Flags = 0
			s.rmsgs[i].Len = 0
		}
		err := s.rc.Read(s.recvFn)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.d.ctx.Err() != nil {
				return
			}
			continue // the deadline passed
		}
		if s.errno != 0 {
			if s.d.ctx.Err() != nil {
				return
			}
			s.failAll(s.errno)
			backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
			var t *time.Timer
			if !sleep(&t, backoff, nil, s.d.ctx.Done()) {
				return
			}
			continue
		}
		backoff = 0
		s.receive(s.n)
	}
}

// receive matches the n datagrams just read to their requests.
func (s *udpSock) receive(n int) {
	now := s.now()
	for i := range n {
		m := &s.rmsgs[i]
		b := s.in[i*s.inSlot : i*s.inSlot+int(m.Len)]
		id, ok := parseID(b)
		if !ok {
			s.d.rec.flags.Or(flagUnmatched)
			continue
		}
		sl := &s.slots[id&s.mask]
		if !sl.used || sl.id != id {
			s.d.rec.flags.Or(flagUnmatched) // a late answer to a request that already timed out
			continue
		}
		k, need := validateUDP(s.d.proto, b)
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			k = BadBody
		}
		if need > 0 {
			s.d.rec.flags.Or(flagTooSmall)
			for {
				old := s.d.rec.need.Load()
				if int64(need) <= old || s.d.rec.need.CompareAndSwap(old, int64(need)) {
					break
				}
			}
		}
		s.sh.done(k, now-sl.start, true)
		sl.used = false
		s.inflight--
	}
}

// expire fails the requests older than the timeout.
func (s *udpSock) expire(now time.Duration) {
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.used && now-sl.start >= s.timeout {
			s.sh.done(Timeout, now-sl.start, true)
			sl.used = false
			s.inflight--
		}
	}
}

// failAll fails every request in flight with the error errno (e.g. ECONNREFUSED).
func (s *udpSock) failAll(errno unix.Errno) {
	k := errKind(errno)
	for i := range s.slots {
		if sl := &s.slots[i]; sl.used {
			s.sh.done(k, 0, false)
			sl.used = false
			s.inflight--
		}
	}
}

// sendDue sends the open-loop requests that are due, as far as the in-flight cap allows.
func (s *udpSock) sendDue(ld *udpLoad, now time.Duration) {
	for s.inflight < ld.window {
		t, ok := ld.sched.peek()
		if !ok || t.Sub(s.base) > now {
			return
		}
		if s.sendNew(min(ld.window-s.inflight, udpBatch), ld.sched, now) == 0 {
			return
		}
	}
}

// sendNew sends up to n new requests (at most udpBatch per call to sendmmsg) and returns how
// many it started. With sched, each takes the next due slot of the schedule and its latency
// counts from the slot's intended time; else from now.
func (s *udpSock) sendNew(n int, sched *schedule, now time.Duration) int {
	started := 0
	for started < n {
		k := 0
		for k < udpBatch && started+k < n {
			start := now
			if sched != nil {
				t, ok := sched.peek()
				if !ok || t.Sub(s.base) > now {
					break
				}
				if _, ok := sched.take(); !ok {
					break
				}
				start = t.Sub(s.base)
			}
			var idx uint64
			found := false
			for range len(s.slots) {
				id := s.nextID
				s.nextID++
				idx = id & s.mask
				if !s.slots[idx].used {
					s.slots[idx] = udpSlot{id: id, start: start, used: true}
					found = true
					tmpl := s.tmpls[id%uint64(len(s.tmpls))]
					buf := s.out[k*s.stride : k*s.stride+len(tmpl)]
					copy(buf, tmpl)
					putID(buf[len(buf)-idTailLen:], id)
					s.iovOut[k].SetLen(len(tmpl))
					s.smsgs[k].Hdr.Iov = &s.iovOut[k]
					break
				}
			}
			if !found {
				break // every slot holds a request waiting for its timeout
			}
			s.slotOf[k] = idx
			k++
		}
		if k == 0 {
			break
		}
		s.sendAt, s.sendN = 0, k
		for s.sendAt < k {
			if err := s.rc.Write(s.sendFn); err != nil {
				s.unsend(s.sendAt, k, Other)
				s.sendErr = true
				s.inflight += s.sendAt
				return started + s.sendAt
			}
			if s.errno != 0 {
				s.unsend(s.sendAt, k, errKind(s.errno))
				s.sendErr = true
				break
			}
			s.sendAt += s.n
		}
		s.inflight += s.sendAt
		started += s.sendAt
		if s.sendAt < k {
			break
		}
	}
	return started
}

// unsend fails the requests of batch entries [from, to) that could not be sent.
func (s *udpSock) unsend(from, to int, k Kind) {
	for i := from; i < to; i++ {
		s.slots[s.slotOf[i]].used = false
		s.sh.done(k, 0, false)
	}
}

func (s *udpSock) recv(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.rmsgs[0])), uintptr(len(s.rmsgs)), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		s.n, s.errno = int(n), errno
		return true
	}
}

func (s *udpSock) send(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.smsgs[s.sendAt])), uintptr(s.sendN-s.sendAt), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		s.n, s.errno = int(n), errno
		return true
	}
}
