// Package httpapi serves the price API (LPO) over HTTP/1.1: GET /price, GET|POST /prices,
// GET /assets, GET /exchanges. It parses requests in place and answers with the price book's
// pre-built bytes, so the price path does not allocate.
//
// Two engines share one transport-neutral core (respond, in core.go), so they answer byte for
// byte alike: gnet (gnet.go), a few epoll event loops that answer every request in a read and
// write the answers at once, is the default for plain HTTP; fasthttp, a goroutine per
// connection, serves TLS and is kept as --http-engine fasthttp. Both were chosen by
// measurement (see docs/performance.md and bench/http.sh): net/http allocates a request object
// and a header map per request and flushes per response, which caps it near half the
// throughput of a fixed-answer nginx on one core; fasthttp reaches 0.72-0.80 of it, the
// goroutine per connection costing an extra read and a park per request; gnet 0.82-0.99.
package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/trinityprice/trinity/internal/lpo"
)

// StatusSource reports the feeds' state as the JSON body of GET /exchanges.
type StatusSource interface {
	ExchangesJSON() []byte
}

// Config configures a Server.
type Config struct {
	Addr      string
	Service   *lpo.Service
	Exchanges StatusSource
	Logger    *slog.Logger
	// MaxConns bounds concurrent connections; beyond it new connections get a fast 503.
	// 0 means 100,000.
	MaxConns int
	// TLS, when set, serves HTTPS (always on the fasthttp engine).
	TLS *tls.Config
	// Engine is EngineGnet (the default for plain HTTP) or EngineFastHTTP.
	Engine string
}

// The HTTP engines.
const (
	// EngineGnet serves plain HTTP/1.1 from gnet event loops (see gnet.go).
	EngineGnet = "gnet"
	// EngineFastHTTP serves from fasthttp's goroutine per connection; it also serves TLS.
	EngineFastHTTP = "fasthttp"
)

// DefaultEngine is the engine used when Config.Engine is empty.
const DefaultEngine = EngineGnet

// Server is the HTTP front end of the price service.
type Server struct {
	cfg Config
	svc *lpo.Service
	srv *fasthttp.Server
	ln  net.Listener
	log *slog.Logger
	// gn is the event-loop engine, when it serves (see gnet.go).
	gn *gnetServer
}

// MaxBody is the largest request body accepted (POST /prices).
const MaxBody = 16 << 10

// New returns a Server; call Listen then Serve.
func New(cfg Config) *Server {
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 100_000
	}
	if cfg.Engine == "" {
		cfg.Engine = DefaultEngine
	}
	if cfg.TLS != nil {
		cfg.Engine = EngineFastHTTP
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, svc: cfg.Service, log: cfg.Logger}
	s.srv = &fasthttp.Server{
		Handler:     s.Handle,
		Name:        "trinity",
		Concurrency: cfg.MaxConns,
		// Read and idle timeouts are equal so that, with coarseConn, consecutive requests on a
		// busy connection leave the read deadline where it is.
		ReadTimeout:                   30 * time.Second,
		WriteTimeout:                  30 * time.Second,
		IdleTimeout:                   30 * time.Second,
		MaxRequestBodySize:            MaxBody,
		ReadBufferSize:                8 << 10,
		DisableHeaderNamesNormalizing: true,
		NoDefaultContentType:          true,
		NoDefaultServerHeader:         true,
		TLSConfig:                     cfg.TLS,
		Logger:                        fasthttpLogger{cfg.Logger},
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			e := lpo.ErrBadJSON
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				e = lpo.ErrBodyTooLarge
			}
			writeError(ctx, e)
		},
	}
	return s
}

// Listen opens the listening socket, so that errors surface before serving starts.
func (s *Server) Listen() error {
	if s.cfg.Engine == EngineGnet {
		return s.listenGnet()
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen http %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address (useful with port 0).
func (s *Server) Addr() net.Addr {
	if s.gn != nil {
		return s.gn.addr
	}
	return s.ln.Addr()
}

// Serve serves until ctx is done, then stops accepting, lets open requests finish for up to
// 5 s, and returns.
func (s *Server) Serve(ctx context.Context) error {
	if s.gn != nil {
		return s.serveGnet(ctx)
	}
	errc := make(chan error, 1)
	go func() {
		var ln net.Listener = coarseListener{s.ln}
		if s.cfg.TLS != nil {
			ln = tls.NewListener(ln, s.cfg.TLS)
		}
		errc <- s.srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.ShutdownWithContext(sctx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	return nil
}

var (
	pathPrice     = []byte("/price")
	pathPrices    = []byte("/prices")
	pathAssets    = []byte("/assets")
	pathExchanges = []byte("/exchanges")
	argAsset      = []byte("asset")
	argAssets     = []byte("assets")
	hdrAuth       = []byte("Authorization")
	contentJSON   = []byte("application/json")
	methodGet     = []byte("GET")
	methodPost    = []byte("POST")
	methodHead    = []byte("HEAD")
)

// Handle serves one request. It is the fasthttp handler; exported for tests and benchmarks.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	w := getResponse()
	r := request{
		method:   ctx.Method(),
		path:     ctx.Path(),
		rawQuery: ctx.URI().QueryString(),
		auth:     ctx.Request.Header.PeekBytes(hdrAuth),
		body:     ctx.PostBody(),
	}
	s.respond(&r, w)
	ctx.SetStatusCode(w.status)
	if w.policy != nil {
		ctx.Response.Header.SetBytesKV(hdrRateLimitPolicy, w.policy)
		ctx.Response.Header.SetBytesKV(hdrRateLimit, w.state)
	}
	if w.retry != nil {
		ctx.Response.Header.SetBytesKV(hdrRetryAfter, w.retry)
	}
	if w.owned {
		ctx.Response.Header.SetContentTypeBytes(contentJSON)
		ctx.Response.SetBody(w.body) // copies: w's scratch goes back to the pool
	} else {
		writeJSON(ctx, w.body)
	}
	putResponse(w)
}

var (
	hdrRateLimitPolicy = []byte("RateLimit-Policy")
	hdrRateLimit       = []byte("RateLimit")
	hdrRetryAfter      = []byte("Retry-After")
)

// bearer extracts the token of an "Authorization: Bearer <token>" header value.
func bearer(h []byte) []byte {
	const prefix = "bearer "
	if len(h) < len(prefix) {
		return nil
	}
	for i := 0; i < len(prefix); i++ {
		c := h[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return nil
		}
	}
	return bytes.TrimSpace(h[len(prefix):])
}

func writeJSON(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.Response.Header.SetContentTypeBytes(contentJSON)
	ctx.Response.SetBodyRaw(body)
}

func writeError(ctx *fasthttp.RequestCtx, e *lpo.Error) {
	ctx.SetStatusCode(e.Status)
	writeJSON(ctx, e.Body)
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug("http server", "msg", fmt.Sprintf(format, args...))
}
