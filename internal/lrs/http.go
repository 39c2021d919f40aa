package lrs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPServer serves the reports over HTTP (DESIGN §4, :9090) with net/http: reports are not
// the hot path, so the standard server's per-request allocations do not matter here.
//
// Routes: GET /reports/usage, /reports/summary, /reports/report-usage and
// /reports/report-summary. Query parameters: format, from, to, limit, cursor (see the package
// comment), api_key (the key, when no Authorization header can be sent, e.g. a CSV link
// opened by a spreadsheet; the header wins when both are present) and api_key_id (optional;
// when given it must be the presented key's ID, since a key reads only its own reports).
//
// Answers carry Cache-Control: no-store. Paged answers with a next page carry its cursor in
// X-Next-Cursor and a Link header (rel="next") in every format; the link repeats the
// request's own query parameters, so a request authenticated by api_key gets that key back
// in its own Link header (keys in URLs end up in logs and histories: prefer the header). Errors are always JSON
// {"error":{"code":…,"message":…}}, with Retry-After (and "retry_after") on 429 and
// WWW-Authenticate on 401.
type HTTPServer struct {
	addr string
	svc  *Service
	log  *slog.Logger
	ln   net.Listener
	srv  *http.Server
	tls  *tls.Config
}

// UseTLS makes the server speak HTTPS with cfg; call it before Listen.
func (s *HTTPServer) UseTLS(cfg *tls.Config) { s.tls = cfg }

// NewHTTP returns an HTTP server for svc on addr (e.g. ":9090"; port 0 picks one). Call
// Listen, then Serve. log may be nil.
func NewHTTP(addr string, svc *Service, log *slog.Logger) *HTTPServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &HTTPServer{addr: addr, svc: svc, log: log}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      storeTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s
}

// Handler returns the report routes, for tests and for mounting elsewhere.
func (s *HTTPServer) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, name := range []string{ReportUsage, ReportSummary, ReportReportUsage, ReportReportSummary} {
		mux.Handle("/reports/"+name, s.handleReport(name))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, errNotFound) })
	return mux
}

// Listen opens the listening socket, so that address errors surface before serving.
func (s *HTTPServer) Listen() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen lrs http %s: %w", s.addr, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address (useful with port 0). Call it after Listen.
func (s *HTTPServer) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx is done, then stops accepting, lets running reports finish for up to
// 5 s and returns nil.
func (s *HTTPServer) Serve(ctx context.Context) error {
	if s.ln == nil {
		return errors.New("lrs http: Serve called before Listen")
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "lrs http listening", slog.String("addr", s.ln.Addr().String()))
	errc := make(chan error, 1)
	ln := s.ln
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve lrs http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down lrs http: %w", err)
	}
	<-errc // http.ErrServerClosed
	return nil
}

// handleReport serves GET /reports/<name>.
func (s *HTTPServer) handleReport(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, errMethod)
			return
		}
		v := r.URL.Query()
		presented := bearer(r.Header.Get("Authorization"))
		if presented == "" {
			presented = v.Get("api_key")
		}
		q := query{
			report: name, format: v.Get("format"), from: v.Get("from"), to: v.Get("to"),
			limit: v.Get("limit"), cursor: v.Get("cursor"), keyID: v.Get("api_key_id"),
			protocol: protoHTTP,
		}
		var buf bytes.Buffer
		body, rep, e := s.svc.run(r.Context(), []byte(presented), q, func(rep report, format string) ([]byte, *Error) {
			if err := render(&buf, format, rep); err != nil {
				return nil, newError(500, CodeInternal, "the report could not be encoded")
			}
			w.Header().Set("Content-Type", contentType(format))
			return buf.Bytes(), nil
		})
		status := http.StatusOK
		if e != nil {
			status = e.Status
			writeError(w, e)
		} else {
			h := w.Header()
			h.Set("Cache-Control", "no-store")
			h.Set("Content-Length", strconv.Itoa(len(body)))
			if c := rep.nextCursor(); c != "" {
				h.Set("X-Next-Cursor", c)
				h.Set("Link", nextLink(r, c))
			}
			w.WriteHeader(status)
			_, _ = w.Write(body)
		}
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "lrs http",
				slog.String("path", r.URL.Path), slog.Int("status", status), slog.Int("bytes", len(body)),
				slog.Duration("took", time.Since(start)), slog.String("remote", r.RemoteAddr))
		}
	})
}

// nextLink returns the Link header value pointing at the next page: the request's own path
// and parameters with cursor replaced (RFC 8288, a relative reference).
func nextLink(r *http.Request, cursor string) string {
	v := r.URL.Query()
	v.Set("cursor", cursor)
	return "<" + r.URL.Path + "?" + v.Encode() + `>; rel="next"`
}

// writeError writes e as a JSON error answer.
func writeError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	switch e.Status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="trinity-lrs"`)
	case http.StatusTooManyRequests:
		h.Set("Retry-After", strconv.FormatInt(e.RetryAfter, 10))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(e.appendJSON(nil, nil), '\n'))
}

// bearer returns the token of an "Authorization: Bearer <token>" header value (the scheme is
// case-insensitive, RFC 9110 §11.1), or "".
func bearer(h string) string {
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return ""
	}
	return strings.TrimSpace(h[len(prefix):])
}
