//go:build linux

// Command udpecho is the baseline of the UDP benchmark (DESIGN §8, "a minimal Go UDP
// answerer ... with recvmmsg/sendmmsg"): it answers every datagram with the same fixed body of
// -size bytes, reading and writing in batches of -batch datagrams on -sockets SO_REUSEPORT
// sockets, one goroutine each. It parses nothing, looks nothing up and counts only per batch,
// so it is the ceiling the price server is compared against. Linux only.
//
//	udpecho -addr 127.0.0.1:2690 -size 150 -sockets 1
//
// It runs until SIGINT or SIGTERM and then prints its totals.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "udpecho:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:2690", "listen address (port 0 picks one; printed on start)")
	size := flag.Int("size", 150, "answer size in bytes (a typical Trinity brief answer is ~150)")
	sockets := flag.Int("sockets", runtime.GOMAXPROCS(0), "SO_REUSEPORT sockets, one reader goroutine each")
	batch := flag.Int("batch", 32, "datagrams per recvmmsg/sendmmsg")
	bufSize := flag.Int("buffer", 4<<20, "socket receive and send buffer in bytes")
	flag.Parse()
	if *size < 2 || *size > 65000 || *sockets < 1 || *batch < 1 {
		return errors.New("-size must be 2..65000, -sockets and -batch at least 1")
	}
	body := makeBody(*size)

	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var opErr error
		err := c.Control(func(fd uintptr) {
			opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, *bufSize) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, *bufSize)
			}
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, *bufSize) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, *bufSize)
			}
		})
		if err != nil {
			return err
		}
		return opErr
	}}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return err
	}
	var conns []*net.UDPConn
	a := *addr
	for i := range *sockets {
		pc, err := lc.ListenPacket(context.Background(), "udp", a)
		if err != nil {
			return fmt.Errorf("listen %s: %w", a, err)
		}
		c := pc.(*net.UDPConn)
		conns = append(conns, c)
		if i == 0 {
			a = net.JoinHostPort(host, strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port))
		}
	}
	fmt.Printf("udpecho listening on %s sockets=%d batch=%d size=%d\n", conns[0].LocalAddr(), *sockets, *batch, *size)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.Close()
		}
	})
	var received, sent atomic.Uint64
	var wg sync.WaitGroup
	errc := make(chan error, len(conns))
	for _, c := range conns {
		e, err := newEchoer(c, *batch, body, &received, &sent)
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := e.run(); err != nil && ctx.Err() == nil {
				errc <- err
				stop()
			}
		})
	}
	wg.Wait()
	close(errc)
	fmt.Printf("udpecho: received=%d sent=%d\n", received.Load(), sent.Load())
	return <-errc
}

// makeBody returns a JSON object of exactly n bytes (for n ≥ 2), shaped like a price answer
// so a load generator checking for "price" accepts it.
func makeBody(n int) []byte {
	const head = `{"asset":"BTC","price":105944.25,"pad":"`
	if n < len(head)+2 {
		return []byte(`{` + strings.Repeat(" ", n-2) + `}`)
	}
	return []byte(head + strings.Repeat("x", n-len(head)-2) + `"}`)
}

// echoer answers on one socket. Its arrays are allocated once; the mmsghdrs point into them.
type echoer struct {
	rc       syscall.RawConn
	rmsgs    []unix.Mmsghdr
	smsgs    []unix.Mmsghdr
	names    []unix.RawSockaddrInet6
	iovIn    []unix.Iovec
	iovBody  unix.Iovec
	in       []byte
	body     []byte
	slot     int
	used     int
	n        int
	errno    unix.Errno
	at, cnt  int
	recvFn   func(uintptr) bool
	sendFn   func(uintptr) bool
	received *atomic.Uint64
	sent     *atomic.Uint64
}

func newEchoer(c *net.UDPConn, batch int, body []byte, received, sent *atomic.Uint64) (*echoer, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	const slot = 2048 // requests are not read, only received; larger ones are truncated
	e := &echoer{
		rc: rc, rmsgs: make([]unix.Mmsghdr, batch), smsgs: make([]unix.Mmsghdr, batch),
		names: make([]unix.RawSockaddrInet6, batch), iovIn: make([]unix.Iovec, batch),
		in: make([]byte, batch*slot), body: body, slot: slot, used: batch,
		received: received, sent: sent,
	}
	e.iovBody.Base = &e.body[0]
	e.iovBody.SetLen(len(e.body))
	for i := range batch {
		e.iovIn[i].Base = &e.in[i*slot]
		e.iovIn[i].SetLen(slot)
		h := &e.rmsgs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&e.names[i]))
		h.Iov = &e.iovIn[i]
		h.SetIovlen(1)
		s := &e.smsgs[i].Hdr
		s.Name = (*byte)(unsafe.Pointer(&e.names[i]))
		s.Iov = &e.iovBody
		s.SetIovlen(1)
	}
	e.recvFn, e.sendFn = e.recv, e.send
	return e, nil
}

func (e *echoer) run() error {
	for {
		for i := range e.used {
			e.rmsgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
			e.rmsgs[i].Hdr.Flags = 0
		}
		if err := e.rc.Read(e.recvFn); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if e.errno != 0 {
			e.used = 0
			continue
		}
		got := e.n
		e.used = got
		for i := range got {
			e.smsgs[i].Hdr.Namelen = e.rmsgs[i].Hdr.Namelen
		}
		e.received.Add(uint64(got))
		sent := 0
		for at := 0; at < got; {
			e.at, e.cnt = at, got-at
			if err := e.rc.Write(e.sendFn); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return nil
				}
				return err
			}
			if e.errno != 0 || e.n <= 0 {
				at++ // skip the datagram the kernel refused
				continue
			}
			sent += e.n
			at += e.n
		}
		e.sent.Add(uint64(sent))
	}
}

func (e *echoer) recv(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&e.rmsgs[0])), uintptr(len(e.rmsgs)), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		e.n, e.errno = int(n), errno
		return true
	}
}

func (e *echoer) send(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&e.smsgs[e.at])), uintptr(e.cnt), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		e.n, e.errno = int(n), errno
		return true
	}
}
