// Package udpapi serves the price API over UDP (DESIGN §4, "LPO over UDP", port 2679): one
// JSON request per datagram, one JSON answer per datagram, answered from the same lpo.Service
// as HTTP.
//
// Each of Config.Sockets SO_REUSEPORT sockets has one reader goroutine that receives up to
// Config.Batch datagrams with one recvmmsg(2) call and sends all their answers with one
// sendmmsg(2) call. The mmsghdr, iovec, address and buffer arrays are allocated once per
// socket and reused; the sender's raw sockaddr is handed back to the kernel as the reply's
// destination without being parsed. Steady state allocates nothing per datagram (enforced by
// TestHandleAllocs and TestServeAllocs).
//
// Answers are never larger than three times the request (anti-amplification): see handle.
//
// Package udpapi is a transport adapter: it imports lpo and must not import the stores,
// the HTTP server or the command line.
package udpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/trinityprice/trinity/internal/lpo"
)

// Defaults of Config.
const (
	DefaultBatch       = 32
	DefaultBuffer      = 4 << 20 // bytes, per socket and direction
	DefaultMaxDatagram = 2048    // bytes
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// Addr is the listen address, e.g. ":2679" or "127.0.0.1:0" (port 0 picks a free port,
	// shared by all sockets).
	Addr string
	// Service answers the requests. Required.
	Service *lpo.Service
	// Sockets is the number of SO_REUSEPORT sockets, each with one reader goroutine
	// (default GOMAXPROCS).
	Sockets int
	// Batch is the number of datagrams moved per recvmmsg/sendmmsg call (default 32).
	Batch int
	// ReadBuffer and WriteBuffer are the socket buffer sizes in bytes (default 4 MiB each).
	// SO_RCVBUFFORCE/SO_SNDBUFFORCE are tried first (they need CAP_NET_ADMIN), then
	// SO_RCVBUF/SO_SNDBUF, which the kernel caps at net.core.rmem_max/wmem_max.
	ReadBuffer, WriteBuffer int
	// MaxDatagram is the largest request in bytes (default 2048); larger datagrams get a
	// request_too_large error.
	MaxDatagram int
	// Logger receives listener events and throttled I/O errors, never per-datagram lines.
	// Nil discards.
	Logger *slog.Logger
	// Metrics is where the trinity_udp_* metrics are registered; nil means a private set.
	// One Set can hold the metrics of only one Server (the names would collide).
	Metrics *metrics.Set
}

// Server is the UDP price server. Listen, then Serve; Close or cancel Serve's context to
// stop. Its methods are safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	m        *serverMetrics
	tooLarge *lpo.Error

	mu     sync.Mutex
	conns  []*net.UDPConn
	closed bool

	warn throttle // read/send error logging
}

// serverMetrics are the Server's counters, shared by its readers; each reader adds its
// per-batch totals once per batch.
type serverMetrics struct {
	received    *metrics.Counter
	sent        *metrics.Counter
	batches     *metrics.Counter
	oversize    *metrics.Counter
	readErrors  *metrics.Counter
	dropAmplify *metrics.Counter
	dropSendErr *metrics.Counter
}

func newServerMetrics(set *metrics.Set) *serverMetrics {
	m := &serverMetrics{
		received:    set.NewCounter("trinity_udp_datagrams_received_total"),
		sent:        set.NewCounter("trinity_udp_datagrams_sent_total"),
		batches:     set.NewCounter("trinity_udp_recv_batches_total"),
		oversize:    set.NewCounter("trinity_udp_oversize_total"),
		readErrors:  set.NewCounter("trinity_udp_read_errors_total"),
		dropAmplify: set.NewCounter(`trinity_udp_dropped_total{reason="amplification"}`),
		dropSendErr: set.NewCounter(`trinity_udp_dropped_total{reason="send_error"}`),
	}
	// The average number of datagrams per recvmmsg call since start: how much batching the
	// load actually produces (1 when idle-ish, up to Config.Batch under load).
	set.NewGauge("trinity_udp_batch_size", func() float64 {
		b := m.batches.Get()
		if b == 0 {
			return 0
		}
		return float64(m.received.Get()) / float64(b)
	})
	return m
}

// New returns a Server for cfg. It panics if cfg.Service is nil (a wiring bug).
func New(cfg Config) *Server {
	if cfg.Service == nil {
		panic("BUG: udpapi.New without a Service")
	}
	if cfg.Sockets <= 0 {
		cfg.Sockets = runtime.GOMAXPROCS(0)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = DefaultBuffer
	}
	if cfg.WriteBuffer <= 0 {
		cfg.WriteBuffer = DefaultBuffer
	}
	if cfg.MaxDatagram <= 0 {
		cfg.MaxDatagram = DefaultMaxDatagram
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	set := cfg.Metrics
	if set == nil {
		set = metrics.NewSet()
	}
	return &Server{
		cfg:  cfg,
		log:  log,
		m:    newServerMetrics(set),
		warn: throttle{every: 10 * time.Second},
		tooLarge: lpo.NewError(413, "request_too_large",
			"the request datagram is larger than "+strconv.Itoa(cfg.MaxDatagram)+" bytes", lpo.OutcomeBadRequest),
	}
}

// Listen opens the sockets. The first one binds Config.Addr (and picks the port if it is 0);
// the others bind the same address and port with SO_REUSEPORT, so the kernel spreads
// clients over them by flow hash. SO_REUSEPORT is set only when there are several sockets, so
// an accidental second instance on a busy port fails instead of sharing it.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) > 0 || s.closed {
		return errors.New("udpapi: Listen called twice or after Close")
	}
	host, _, err := net.SplitHostPort(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("udp listen %q: %w", s.cfg.Addr, err)
	}
	lc := net.ListenConfig{Control: s.control}
	addr := s.cfg.Addr
	for i := 0; i < s.cfg.Sockets; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			for _, c := range s.conns {
				c.Close()
			}
			s.conns = nil
			return fmt.Errorf("udp listen %s (socket %d of %d): %w", addr, i+1, s.cfg.Sockets, err)
		}
		c := pc.(*net.UDPConn)
		s.conns = append(s.conns, c)
		if i == 0 {
			addr = net.JoinHostPort(host, strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port))
		}
	}
	rcv, snd := sockBufs(s.conns[0])
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "udp listening",
		slog.String("addr", s.conns[0].LocalAddr().String()), slog.Int("sockets", len(s.conns)),
		slog.Int("batch", s.cfg.Batch), slog.Int("max_datagram", s.cfg.MaxDatagram),
		slog.Int("rcvbuf", rcv), slog.Int("sndbuf", snd))
	return nil
}

// LocalAddr returns the address the sockets are bound to, or nil before Listen.
func (s *Server) LocalAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) == 0 {
		return nil
	}
	return s.conns[0].LocalAddr()
}

// Addr returns the bound address and port, or the zero AddrPort before Listen.
func (s *Server) Addr() netip.AddrPort {
	a, _ := s.LocalAddr().(*net.UDPAddr)
	if a == nil {
		return netip.AddrPort{}
	}
	return a.AddrPort()
}

// Serve answers datagrams until ctx is done or Close is called, then closes the sockets and
// returns nil. It returns an error if Listen was not called or a reader fails unexpectedly
// (the other readers are stopped then too).
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	conns := s.conns
	s.mu.Unlock()
	if len(conns) == 0 {
		return errors.New("udpapi: Serve called before Listen")
	}
	stop := context.AfterFunc(ctx, s.Close) // closing the sockets unblocks the readers
	defer stop()
	defer s.Close()

	errc := make(chan error, len(conns))
	for _, c := range conns {
		r, err := s.newReader(c)
		if err != nil {
			s.Close()
			errc <- err
			continue
		}
		go func() { errc <- r.run() }()
	}
	var first error
	for range conns {
		if err := <-errc; err != nil && first == nil {
			first = err
			s.Close()
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return first
}

// Close closes the sockets; Serve then returns. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, c := range s.conns {
		c.Close()
	}
}

// isClosed reports whether Close was called.
func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// warnErr logs an I/O error at most once per throttle interval.
func (s *Server) warnErr(msg string, err error) {
	if s.warn.Allow(time.Now()) {
		s.log.LogAttrs(context.Background(), slog.LevelWarn, msg, slog.String("err", err.Error()))
	}
}

// throttle allows one event per interval; safe for concurrent use.
type throttle struct {
	every time.Duration
	next  atomic.Int64 // unix nanos
}

// Allow reports whether an event at now may go ahead, and if so starts a new interval.
func (t *throttle) Allow(now time.Time) bool {
	n := t.next.Load()
	return now.UnixNano() >= n && t.next.CompareAndSwap(n, now.Add(t.every).UnixNano())
}
