// Package httpapi serves the price API (LPO) over HTTP/1.1 on fasthttp: GET /price,
// GET|POST /prices, GET /assets, GET /exchanges. It parses requests in place and answers with
// the price book's pre-built bytes, so the price path does not allocate.
//
// fasthttp was chosen over net/http by measurement (see docs/performance.md and
// bench/http.sh): net/http allocates a request object and a header map per request and flushes
// per response, which caps it near half the throughput of a fixed-answer nginx on one core.
package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
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
	// TLS, when set, serves HTTPS.
	TLS *tls.Config
}

// Server is the HTTP front end of the price service.
type Server struct {
	cfg Config
	svc *lpo.Service
	srv *fasthttp.Server
	ln  net.Listener
	log *slog.Logger
	// scratch holds buffers for assembling batch answers, so batches do not allocate.
	scratch sync.Pool
}

// MaxBody is the largest request body accepted (POST /prices).
const MaxBody = 16 << 10

// New returns a Server; call Listen then Serve.
func New(cfg Config) *Server {
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 100_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, svc: cfg.Service, log: cfg.Logger}
	s.scratch.New = func() any { b := make([]byte, 0, 32<<10); return &b }
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
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen http %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx is done, then stops accepting, lets open requests finish for up to
// 5 s, and returns.
func (s *Server) Serve(ctx context.Context) error {
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
	start := time.Now()
	path := ctx.Path()
	var ep lpo.Endpoint
	switch {
	case bytes.Equal(path, pathPrice):
		ep = lpo.EndpointPrice
	case bytes.Equal(path, pathPrices):
		ep = lpo.EndpointPrices
	case bytes.Equal(path, pathAssets):
		ep = lpo.EndpointAssets
	case bytes.Equal(path, pathExchanges):
		ep = lpo.EndpointExchanges
	default:
		writeError(ctx, lpo.ErrNotFound)
		s.svc.Done(nil, lpo.HTTP, lpo.EndpointOther, lpo.OutcomeNotFound, start)
		return
	}
	m := ctx.Method()
	if !bytes.Equal(m, methodGet) && !bytes.Equal(m, methodHead) && !(ep == lpo.EndpointPrices && bytes.Equal(m, methodPost)) {
		writeError(ctx, lpo.ErrMethod)
		s.svc.Done(nil, lpo.HTTP, ep, lpo.OutcomeBadRequest, start)
		return
	}
	k, e := s.svc.Authorize(bearer(ctx.Request.Header.PeekBytes(hdrAuth)))
	if e != nil {
		writeError(ctx, e)
		s.svc.Done(k, lpo.HTTP, ep, e.Outcome, start)
		return
	}
	if ep == lpo.EndpointPrice || ep == lpo.EndpointPrices {
		// Only price queries count against the key's rate limit and quota; the
		// informational endpoints need a key but are free.
		d, e := s.svc.Admit(k, start.UnixNano())
		if d.Limit > 0 || d.QuotaLimit > 0 {
			s.setRateLimitHeaders(ctx, d, k, e)
		}
		if e != nil {
			writeError(ctx, e)
			s.svc.Done(k, lpo.HTTP, ep, e.Outcome, start)
			return
		}
	}
	o, asset := lpo.OutcomeOK, lpo.AssetNone
	switch ep {
	case lpo.EndpointPrice:
		o, asset = s.price(ctx)
	case lpo.EndpointPrices:
		o, asset = s.prices(ctx), lpo.AssetBatch
	case lpo.EndpointAssets:
		writeJSON(ctx, s.svc.Book().AssetListJSON())
		k = nil // informational: counted in metrics, not metered against the key
	case lpo.EndpointExchanges:
		if s.cfg.Exchanges != nil {
			writeJSON(ctx, s.cfg.Exchanges.ExchangesJSON())
		} else {
			writeJSON(ctx, []byte(`{"exchanges":[]}`))
		}
		k = nil
	}
	s.svc.DoneAsset(k, lpo.HTTP, ep, o, asset, start)
}

func (s *Server) price(ctx *fasthttp.RequestCtx) (lpo.Outcome, int) {
	i, ans, e := s.svc.Price(ctx.QueryArgs().PeekBytes(argAsset))
	if e != nil {
		writeError(ctx, e)
		return e.Outcome, i
	}
	writeJSON(ctx, ans.JSON)
	return lpo.OutcomeOf(ans), i
}

func (s *Server) prices(ctx *fasthttp.RequestCtx) lpo.Outcome {
	var b lpo.Batch
	if bytes.Equal(ctx.Method(), methodPost) {
		var req lpo.Request
		if e := lpo.ParseRequest(ctx.PostBody(), &req); e != nil {
			writeError(ctx, e)
			return e.Outcome
		}
		if req.Assets == nil {
			writeError(ctx, lpo.ErrEmptyBatch)
			return lpo.OutcomeBadRequest
		}
		if e := b.AddJSONArray(s.svc, req.Assets); e != nil {
			writeError(ctx, e)
			return e.Outcome
		}
	} else {
		list := ctx.QueryArgs().PeekBytes(argAssets)
		for len(list) > 0 {
			name := list
			if i := bytes.IndexByte(list, ','); i >= 0 {
				name, list = list[:i], list[i+1:]
			} else {
				list = nil
			}
			if len(name) == 0 {
				continue
			}
			if e := b.Add(s.svc, name); e != nil {
				writeError(ctx, e)
				return e.Outcome
			}
		}
	}
	if b.Len() == 0 {
		writeError(ctx, lpo.ErrEmptyBatch)
		return lpo.OutcomeBadRequest
	}
	buf := s.scratch.Get().(*[]byte)
	body, o := b.AppendAnswers((*buf)[:0], s.svc, true)
	ctx.Response.Header.SetContentTypeBytes(contentJSON)
	ctx.Response.SetBody(body) // copies into the response's own reused buffer
	*buf = body
	s.scratch.Put(buf)
	return o
}

var (
	hdrRateLimitPolicy = []byte("RateLimit-Policy")
	hdrRateLimit       = []byte("RateLimit")
	hdrRetryAfter      = []byte("Retry-After")
)

// setRateLimitHeaders sets the IETF RateLimit-Policy and RateLimit fields, and Retry-After
// when the request was refused. It does not allocate.
func (s *Server) setRateLimitHeaders(ctx *fasthttp.RequestCtx, d limits.Decision, k *keys.Key, refused *lpo.Error) {
	buf := s.scratch.Get().(*[]byte)
	b, policy, state := lpo.AppendRateLimitHeaders((*buf)[:0], d, s.svc.Tier(k))
	ctx.Response.Header.SetBytesKV(hdrRateLimitPolicy, policy)
	ctx.Response.Header.SetBytesKV(hdrRateLimit, state)
	if refused != nil {
		n := len(b)
		b = strconv.AppendInt(b, int64(lpo.RetryAfterSeconds(d)), 10)
		ctx.Response.Header.SetBytesKV(hdrRetryAfter, b[n:])
	}
	*buf = b
	s.scratch.Put(buf)
}

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
