package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/trinityprice/trinity/internal/lpo"
)

// The gnet engine serves plain HTTP/1.1 from a few epoll event loops (one per GOMAXPROCS)
// instead of a goroutine per connection: a readable socket is read once, every complete
// request in it is answered (pipelining), and the answers go out in one write. It parses
// requests in place and allocates nothing per request in steady state.

const (
	// maxHeader bounds the request line and headers.
	maxHeader = 8 << 10
	// idleTimeout closes connections that sent nothing for this long.
	idleTimeout = 30 * time.Second
	// sweepInterval is how often idle connections are looked for.
	sweepInterval = time.Second
)

// Protocol errors of the gnet engine; the connection is closed after each.
var (
	errHeaderTooLarge = lpo.NewError(431, "header_too_large", "the request line and headers are larger than 8 KiB", lpo.OutcomeBadRequest)
	errChunked        = lpo.NewError(501, "transfer_encoding", "Transfer-Encoding is not supported: send the body with Content-Length", lpo.OutcomeBadRequest)
	// Malformed requests get the same answer as on the fasthttp engine (its ErrorHandler).
	errMalformed = lpo.ErrBadJSON
)

var (
	crlf            = []byte("\r\n")
	crlfcrlf        = []byte("\r\n\r\n")
	hdrContentLen   = []byte("Content-Length")
	hdrTransferEnc  = []byte("Transfer-Encoding")
	hdrConnection   = []byte("Connection")
	tokenClose      = []byte("close")
	tokenKeepAlive  = []byte("keep-alive")
	overloadedReply = func() []byte {
		w := &response{}
		w.reset()
		w.error(lpo.ErrOverloaded)
		return appendResponse(nil, w, nil, false, true)
	}()
)

// reqMeta is what the engine needs of a request besides the request itself.
type reqMeta struct {
	head      bool // HEAD: answer the headers only
	keepAlive bool
}

// parseRequest parses the request at the start of b into r and m. It returns the request's
// length in b; 0 when b holds only part of a request; or an error, after which the
// connection must be answered and closed. r's fields are sub-slices of b: b must outlive them.
func parseRequest(b []byte, r *request, m *reqMeta) (int, *lpo.Error) {
	*r, *m = request{}, reqMeta{}
	off := 0
	for len(b)-off >= 2 && b[off] == '\r' && b[off+1] == '\n' { // empty lines before a request
		off += 2
	}
	lim := b[off:]
	if len(lim) > maxHeader {
		lim = lim[:maxHeader]
	}
	end := bytes.Index(lim, crlfcrlf)
	if end < 0 {
		if i := bytes.Index(lim, crlf); i >= 0 && !parseRequestLine(lim[:i], r, m) {
			return 0, errMalformed // reject a bad request line without waiting for the rest
		}
		if len(lim) == maxHeader {
			return 0, errHeaderTooLarge
		}
		return 0, nil
	}
	head := lim[:end+2] // every line with its CRLF
	i := bytes.Index(head, crlf)
	if !parseRequestLine(head[:i], r, m) {
		return 0, errMalformed
	}
	cl, chunked := -1, false
	for rest := head[i+2:]; len(rest) > 0; {
		j := bytes.Index(rest, crlf)
		line := rest[:j]
		rest = rest[j+2:]
		c := bytes.IndexByte(line, ':')
		if c <= 0 || line[0] == ' ' || line[0] == '\t' || bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0 {
			return 0, errMalformed
		}
		name, val := line[:c], trimOWS(line[c+1:])
		if bytes.IndexByte(name, ' ') >= 0 || bytes.IndexByte(name, '\t') >= 0 {
			return 0, errMalformed
		}
		switch {
		case bytes.EqualFold(name, hdrAuth):
			r.auth = val
		case bytes.EqualFold(name, hdrContentLen):
			n, ok := parseLength(val)
			if !ok || (cl >= 0 && n != cl) {
				return 0, errMalformed
			}
			cl = n
		case bytes.EqualFold(name, hdrTransferEnc):
			chunked = true
		case bytes.EqualFold(name, hdrConnection):
			for v := val; len(v) > 0; {
				tok := v
				if k := bytes.IndexByte(v, ','); k >= 0 {
					tok, v = v[:k], v[k+1:]
				} else {
					v = nil
				}
				tok = trimOWS(tok)
				if bytes.EqualFold(tok, tokenClose) {
					m.keepAlive = false
					break
				}
				if bytes.EqualFold(tok, tokenKeepAlive) {
					m.keepAlive = true
				}
			}
		}
	}
	if chunked {
		return 0, errChunked
	}
	if cl > MaxBody {
		return 0, lpo.ErrBodyTooLarge
	}
	n := off + end + 4
	if cl > 0 {
		if len(b) < n+cl {
			return 0, nil
		}
		r.body = b[n : n+cl]
		n += cl
	}
	return n, nil
}

// parseRequestLine parses "METHOD /target HTTP/1.x" into r and m, and reports whether it is
// well formed.
func parseRequestLine(line []byte, r *request, m *reqMeta) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	method, rest := line[:sp], line[sp+1:]
	for _, c := range method {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return false
	}
	target, version := rest[:sp], rest[sp+1:]
	switch string(version) {
	case "HTTP/1.1":
		m.keepAlive = true
	case "HTTP/1.0":
		m.keepAlive = false
	default:
		return false
	}
	if target[0] != '/' {
		return false
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	if k := bytes.IndexByte(target, '#'); k >= 0 {
		target = target[:k]
	}
	r.method, r.path = method, target
	if k := bytes.IndexByte(target, '?'); k >= 0 {
		r.path, r.rawQuery = target[:k], target[k+1:]
	}
	m.head = bytes.Equal(method, methodHead)
	return true
}

// parseLength parses a Content-Length value; it refuses anything but 1 to 9 digits.
func parseLength(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func trimOWS(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// serveBuffer answers every complete request at the start of in, appending the answers to
// out. It returns out, how many bytes of in were consumed, and whether the connection must
// be closed once out is written. in is borrowed and not retained; w is scratch.
func (s *Server) serveBuffer(in, out []byte, w *response, now time.Time) ([]byte, int, bool) {
	var (
		r   request
		m   reqMeta
		off int
	)
	date := currentDate(now)
	for off < len(in) {
		n, e := parseRequest(in[off:], &r, &m)
		if e != nil {
			w.reset()
			w.error(e)
			return appendResponse(out, w, date, false, true), len(in), true
		}
		if n == 0 {
			break
		}
		off += n
		s.respond(&r, w)
		out = appendResponse(out, w, date, m.head, !m.keepAlive)
		if !m.keepAlive {
			return out, len(in), true
		}
	}
	return out, off, false
}

// gnetServer is the gnet event handler.
type gnetServer struct {
	gnet.BuiltinEventEngine
	s      *Server
	addr   net.Addr
	eng    gnet.Engine
	booted chan struct{}
	// bootErr is set before booted is closed when the engine could not report its address.
	bootErr error
	// done receives gnet.Run's result once every event loop has returned.
	done chan error
	open atomic.Int64

	mu    sync.Mutex
	conns map[*gconn]struct{}
}

// gconn is the state of one connection.
type gconn struct {
	c    gnet.Conn
	last atomic.Int64 // unix nanoseconds of the last traffic
}

// listenGnet starts the gnet engine on cfg.Addr and waits until it listens, so that a busy
// port fails here and Addr reports the bound port (port 0 included). The engine accepts
// connections from then on; Serve stops it.
func (s *Server) listenGnet() error {
	g := &gnetServer{s: s, booted: make(chan struct{}), done: make(chan error, 1), conns: map[*gconn]struct{}{}}
	n := runtime.GOMAXPROCS(0)
	go func() {
		g.done <- gnet.Run(g, "tcp://"+s.cfg.Addr,
			gnet.WithMulticore(n > 1),
			gnet.WithNumEventLoop(n),
			gnet.WithTicker(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(gnetLogger{s.log}),
		)
	}()
	select {
	case <-g.booted:
		if g.bootErr != nil {
			<-g.done
			return fmt.Errorf("listen http %s: %w", s.cfg.Addr, g.bootErr)
		}
	case err := <-g.done:
		if err == nil {
			err = errors.New("engine stopped")
		}
		return fmt.Errorf("listen http %s: %w", s.cfg.Addr, err)
	}
	s.gn = g
	return nil
}

// serveGnet waits for ctx, then stops the engine and returns once every event loop (and so
// every OnTraffic) has returned.
func (s *Server) serveGnet(ctx context.Context) error {
	g := s.gn
	select {
	case err := <-g.done:
		if err == nil {
			err = errors.New("engine stopped")
		}
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stopErr := g.eng.Stop(sctx)
	select {
	case <-g.done:
	case <-sctx.Done():
		return fmt.Errorf("shut down http: %w", sctx.Err())
	}
	if stopErr != nil {
		return fmt.Errorf("shut down http: %w", stopErr)
	}
	return nil
}

func (g *gnetServer) OnBoot(eng gnet.Engine) gnet.Action {
	g.eng = eng
	defer close(g.booted)
	fd, err := eng.Dup()
	if err != nil {
		g.bootErr = err
		return gnet.Shutdown
	}
	sa, err := syscall.Getsockname(fd)
	_ = syscall.Close(fd)
	if err != nil {
		g.bootErr = err
		return gnet.Shutdown
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		g.addr = &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *syscall.SockaddrInet6:
		g.addr = &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	default:
		g.bootErr = fmt.Errorf("unexpected listener address %T", sa)
		return gnet.Shutdown
	}
	return gnet.None
}

func (g *gnetServer) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if g.open.Add(1) > int64(g.s.cfg.MaxConns) {
		return overloadedReply, gnet.Close
	}
	gc := &gconn{c: c}
	gc.last.Store(time.Now().UnixNano())
	c.SetContext(gc)
	g.mu.Lock()
	g.conns[gc] = struct{}{}
	g.mu.Unlock()
	return nil, gnet.None
}

func (g *gnetServer) OnClose(c gnet.Conn, _ error) gnet.Action {
	g.open.Add(-1)
	if gc, ok := c.Context().(*gconn); ok {
		g.mu.Lock()
		delete(g.conns, gc)
		g.mu.Unlock()
	}
	return gnet.None
}

func (g *gnetServer) OnTraffic(c gnet.Conn) gnet.Action {
	in, err := c.Peek(-1)
	if err != nil || len(in) == 0 {
		return gnet.None
	}
	now := time.Now()
	if gc, ok := c.Context().(*gconn); ok {
		gc.last.Store(now.UnixNano())
	}
	w := getResponse()
	out, n, closing := g.s.serveBuffer(in, w.out[:0], w, now)
	if n > 0 {
		_, _ = c.Discard(n) // Discard(0) would drop everything buffered
	}
	if len(out) > 0 {
		_, _ = c.Write(out) // gnet copies what the socket does not take at once
	}
	w.out = out[:0]
	putResponse(w)
	if closing {
		return gnet.Close
	}
	return gnet.None
}

// OnTick closes connections idle for longer than idleTimeout.
func (g *gnetServer) OnTick() (time.Duration, gnet.Action) {
	cutoff := time.Now().Add(-idleTimeout).UnixNano()
	g.mu.Lock()
	for gc := range g.conns {
		if gc.last.Load() < cutoff {
			_ = gc.c.Close() // asynchronous: runs on the connection's event loop
			delete(g.conns, gc)
		}
	}
	g.mu.Unlock()
	return sweepInterval, gnet.None
}

// gnetLogger sends gnet's log to slog, its informational chatter at debug level.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Infof(format string, args ...any)  { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.l.Warn(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Errorf(format string, args ...any) { g.l.Error(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Fatalf(format string, args ...any) { g.l.Error(fmt.Sprintf(format, args...)) }
