//go:build linux

package udpapi

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// control sets the socket options before bind.
func (s *Server) control(_, _ string, c syscall.RawConn) error {
	var opErr error
	err := c.Control(func(fd uintptr) {
		if s.cfg.Sockets > 1 {
			if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
				opErr = fmt.Errorf("set SO_REUSEPORT: %w", err)
				return
			}
		}
		// Buffer sizes are best effort: the kernel may cap them; Listen logs what it got.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, s.cfg.ReadBuffer) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, s.cfg.ReadBuffer)
		}
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, s.cfg.WriteBuffer) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, s.cfg.WriteBuffer)
		}
	})
	if err != nil {
		return err
	}
	return opErr
}

// sockBufs returns a socket's SO_RCVBUF and SO_SNDBUF as the kernel reports them (twice
// the usable size), -1 when unknown.
func sockBufs(c *net.UDPConn) (rcv, snd int) {
	rcv, snd = -1, -1
	rc, err := c.SyscallConn()
	if err != nil {
		return rcv, snd
	}
	_ = rc.Control(func(fd uintptr) {
		if n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
			rcv = n
		}
		if n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF); err == nil {
			snd = n
		}
	})
	return rcv, snd
}

// reader serves one socket: recvmmsg a batch, handle each datagram, sendmmsg the answers.
// All its arrays are allocated once by newReader. The mmsghdrs point into them, and Go's
// heap does not move objects, so the kernel may read and write them directly.
type reader struct {
	s       *Server
	rc      syscall.RawConn
	h       *handler
	maxDg   int // receive slot size
	outSlot int // answer slot size

	in     []byte                  // Batch receive slots of maxDg bytes
	out    []byte                  // Batch answer slots of outSlot bytes
	names  []unix.RawSockaddrInet6 // sender addresses, raw, big enough for IPv4 and IPv6
	iovIn  []unix.Iovec            // one per receive slot
	iovOut []unix.Iovec            // one per answer
	rmsgs  []unix.Mmsghdr          // recvmmsg vector
	smsgs  []unix.Mmsghdr          // sendmmsg vector, filled per batch
	used   int                     // rmsgs entries the last recvmmsg filled
	recvFn func(fd uintptr) bool   // r.recv, bound once so the loop does not allocate
	sendFn func(fd uintptr) bool   // r.send, bound once
	n      int                     // result of the last recv/send callback
	errno  unix.Errno              // its error
	sendAt int                     // first smsgs entry the next send callback sends
	sendN  int                     // number of smsgs entries it sends
}

func (s *Server) newReader(c *net.UDPConn) (*reader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udp socket: %w", err)
	}
	n := s.cfg.Batch
	r := &reader{
		s:     s,
		rc:    rc,
		h:     newHandler(s.cfg.Service, s.tooLarge),
		maxDg: s.cfg.MaxDatagram,
		// An answer is at most Amplification × the request, and requests are at most
		// maxDg bytes, so a slot never overflows.
		outSlot: Amplification * s.cfg.MaxDatagram,
		names:   make([]unix.RawSockaddrInet6, n),
		iovIn:   make([]unix.Iovec, n),
		iovOut:  make([]unix.Iovec, n),
		rmsgs:   make([]unix.Mmsghdr, n),
		smsgs:   make([]unix.Mmsghdr, n),
	}
	r.in = make([]byte, n*r.maxDg)
	r.out = make([]byte, n*r.outSlot)
	for i := range n {
		r.iovIn[i].Base = &r.in[i*r.maxDg]
		r.iovIn[i].SetLen(r.maxDg)
		h := &r.rmsgs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Iov = &r.iovIn[i]
		h.SetIovlen(1)
		sh := &r.smsgs[i].Hdr
		sh.Iov = &r.iovOut[i]
		sh.SetIovlen(1)
	}
	r.used = n
	r.recvFn = r.recv
	r.sendFn = r.send
	return r, nil
}

// run serves until the socket is closed; then it returns nil.
func (r *reader) run() error {
	m := r.s.m
	for {
		for i := range r.used { // restore what the last recvmmsg overwrote
			r.rmsgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
			r.rmsgs[i].Hdr.Flags = 0
			r.rmsgs[i].Len = 0
		}
		if err := r.rc.Read(r.recvFn); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("udp read: %w", err)
		}
		if r.errno != 0 {
			r.used = 0
			m.readErrors.Inc()
			r.s.warnErr("udp recvmmsg", r.errno)
			if r.s.isClosed() {
				return nil
			}
			time.Sleep(time.Millisecond) // do not spin on a persistent error
			continue
		}
		got := r.n
		r.used = got
		r.h.start = time.Now()
		ns := 0
		for i := range got {
			rm := &r.rmsgs[i]
			req := r.in[i*r.maxDg : i*r.maxDg+int(rm.Len)]
			slot := r.out[i*r.outSlot : i*r.outSlot : (i+1)*r.outSlot]
			var ans []byte
			if rm.Hdr.Flags&unix.MSG_TRUNC != 0 {
				m.oversize.Inc()
				ans = r.h.handleTooLarge(slot, len(req))
			} else {
				ans = r.h.handle(req, slot)
			}
			if len(ans) == 0 {
				continue
			}
			sm := &r.smsgs[ns]
			sm.Hdr.Name = rm.Hdr.Name
			sm.Hdr.Namelen = rm.Hdr.Namelen
			r.iovOut[ns].Base = &ans[0]
			r.iovOut[ns].SetLen(len(ans))
			ns++
		}
		m.received.Add(got)
		m.batches.Inc()
		if r.h.ampDrops > 0 {
			m.dropAmplify.Add(r.h.ampDrops)
			r.h.ampDrops = 0
		}
		if ns > 0 {
			if err := r.flush(ns); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return nil
				}
				return fmt.Errorf("udp write: %w", err)
			}
		}
	}
}

// flush sends smsgs[:ns], looping on short writes and skipping a datagram the kernel refuses.
func (r *reader) flush(ns int) error {
	m := r.s.m
	sent := 0
	for at := 0; at < ns; {
		r.sendAt, r.sendN = at, ns-at
		if err := r.rc.Write(r.sendFn); err != nil {
			m.sent.Add(sent)
			return err
		}
		if r.errno != 0 || r.n <= 0 {
			// sendmmsg reports an error only when its first datagram fails: skip that one.
			m.dropSendErr.Inc()
			if r.errno != 0 {
				r.s.warnErr("udp sendmmsg", r.errno)
			}
			at++
			continue
		}
		sent += r.n
		at += r.n
	}
	m.sent.Add(sent)
	return nil
}

// recv is the RawConn.Read callback: one recvmmsg. It returns false to wait for readability.
func (r *reader) recv(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&r.rmsgs[0])), uintptr(len(r.rmsgs)), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		r.n, r.errno = int(n), errno
		return true
	}
}

// send is the RawConn.Write callback: one sendmmsg of smsgs[sendAt:sendAt+sendN].
func (r *reader) send(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(&r.smsgs[r.sendAt])), uintptr(r.sendN), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		r.n, r.errno = int(n), errno
		return true
	}
}
