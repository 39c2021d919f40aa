package lrs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Amplification is the most a UDP answer may be larger than its request, as a factor
// (DESIGN §4; the same rule as internal/udpapi, whose constant this mirrors so that the
// report service does not depend on the price path).
const Amplification = 3

// MaxAnswer is the largest UDP answer in bytes: one datagram, under the 65,507-byte IPv4
// payload limit. A request needs ceil(MaxAnswer/3) = 21,667 bytes for an answer this large.
const MaxAnswer = 65_000

// maxIDLen is the longest id (between the quotes for a string) a request may carry, as in
// the price API (lpo.MaxIDLen).
const maxIDLen = 64

// DefaultUDPInFlight is how many UDP report requests are worked on at once; beyond it a
// request gets an "overloaded" error (when the 3× rule allows one).
const DefaultUDPInFlight = 64

// UDPServer serves the reports over UDP (DESIGN §4, :2680): one JSON request per datagram,
// one JSON answer per datagram.
//
// Request:
//
//	{"key":"tb_live_…","report":"usage","id":7,"from":"2026-05-01","to":"2026-05-31",
//	 "limit":100,"cursor":"…","pad":"…"}
//
// report is required; id (a JSON number or a string of at most 64 bytes) is echoed; from,
// to, limit and cursor are as over HTTP; format may be absent or "json". Unknown fields, such
// as a "pad" that makes room for a larger answer, are ignored. The answer is the HTTP JSON
// answer with "id" as its first member; errors are {"id":…,"error":{"code":…,"message":…}}
// plus retry_after, need_bytes or suggested_limit where they apply.
//
// An answer is never larger than Amplification × the request or MaxAnswer. A report that
// does not fit is answered with request_too_small (with need_bytes: the request size that
// would let it through; for usage and report-usage also suggested_limit, an estimated limit
// that fits as the request stands) or, beyond one datagram, answer_too_large (with
// suggested_limit for a datagram). Neither counts against the report allowance. An error
// answer that itself exceeds 3× the request is not sent.
//
// Design: reports read the store (milliseconds), so the server does not use udpapi's batched
// recvmmsg/sendmmsg readers, which are built around the price service's in-memory answers and
// not exported. One socket is read by one goroutine with ReadFromUDPAddrPort, and each
// request is answered by its own goroutine, at most DefaultUDPInFlight at a time.
type UDPServer struct {
	addr     string
	svc      *Service
	log      *slog.Logger
	inFlight chan struct{}
	warn     throttle

	mu   sync.Mutex
	conn *net.UDPConn
}

// NewUDP returns a UDP server for svc on addr (e.g. ":2680"; port 0 picks one). Call Listen,
// then Serve. log may be nil.
func NewUDP(addr string, svc *Service, log *slog.Logger) *UDPServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &UDPServer{addr: addr, svc: svc, log: log,
		inFlight: make(chan struct{}, DefaultUDPInFlight), warn: throttle{every: 10 * time.Second}}
}

// Listen opens the socket, so that address errors surface before serving.
func (u *UDPServer) Listen() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn != nil {
		return errors.New("lrs udp: Listen called twice")
	}
	pc, err := net.ListenPacket("udp", u.addr)
	if err != nil {
		return fmt.Errorf("listen lrs udp %s: %w", u.addr, err)
	}
	u.conn = pc.(*net.UDPConn)
	return nil
}

// LocalAddr returns the bound address, or nil before Listen.
func (u *UDPServer) LocalAddr() net.Addr {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn == nil {
		return nil
	}
	return u.conn.LocalAddr()
}

// Close closes the socket; Serve then returns. It is safe to call more than once.
func (u *UDPServer) Close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn != nil {
		u.conn.Close()
	}
}

// Serve answers datagrams until ctx is done or Close is called, then closes the socket, waits
// for the reports in flight (cancelled with ctx) and returns nil.
func (u *UDPServer) Serve(ctx context.Context) error {
	u.mu.Lock()
	conn := u.conn
	u.mu.Unlock()
	if conn == nil {
		return errors.New("lrs udp: Serve called before Listen")
	}
	u.log.LogAttrs(ctx, slog.LevelInfo, "lrs udp listening", slog.String("addr", conn.LocalAddr().String()))
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // unblocks the read below
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()

	buf := make([]byte, 64<<10) // larger than any UDP payload: nothing is truncated
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				conn.Close()
				return nil
			}
			if u.warn.Allow(time.Now()) {
				u.log.LogAttrs(ctx, slog.LevelWarn, "lrs udp read", slog.String("err", err.Error()))
			}
			time.Sleep(time.Millisecond) // do not spin on a persistent error
			continue
		}
		req := bytes.Clone(buf[:n])
		select {
		case u.inFlight <- struct{}{}:
			wg.Go(func() {
				defer func() { <-u.inFlight }()
				if ans := u.handle(ctx, req); len(ans) > 0 {
					_, _ = conn.WriteToUDPAddrPort(ans, from)
				}
			})
		default:
			if ans := errorAnswer(requestID(req), errOverloaded, budget(len(req))); len(ans) > 0 {
				_, _ = conn.WriteToUDPAddrPort(ans, from)
			}
		}
	}
}

// budget is the largest answer allowed for a request of n bytes.
func budget(n int) int { return min(Amplification*n, MaxAnswer) }

// udpRequest is the JSON of a UDP report request.
type udpRequest struct {
	Key    string          `json:"key"`
	Report string          `json:"report"`
	ID     json.RawMessage `json:"id"`
	From   string          `json:"from"`
	To     string          `json:"to"`
	Limit  json.Number     `json:"limit"`
	Cursor string          `json:"cursor"`
	Format string          `json:"format"`
}

// handle answers one request datagram; it returns nil when no answer may be sent. It does not
// retain req.
func (u *UDPServer) handle(ctx context.Context, req []byte) []byte {
	limit := budget(len(req))
	r, id, e := parseUDPRequest(req)
	if e != nil {
		return errorAnswer(id, e, limit)
	}
	q := query{report: r.Report, from: r.From, to: r.To, limit: string(r.Limit), cursor: r.Cursor,
		protocol: protoUDP}
	body, _, e := u.svc.run(ctx, []byte(r.Key), q, func(rep report, _ string) ([]byte, *Error) {
		return encodeUDP(rep, id, limit)
	})
	if e != nil {
		return errorAnswer(id, e, limit)
	}
	return body
}

// parseUDPRequest decodes a request datagram. It returns the request, its id token to echo
// (nil when absent or unusable) and an error for a malformed request.
func parseUDPRequest(b []byte) (udpRequest, []byte, *Error) {
	var r udpRequest
	err := json.Unmarshal(b, &r) // leaves r untouched on a syntax error
	id, idOK := validID(r.ID)
	switch {
	case err != nil:
		return r, id, errBadJSON
	case !idOK:
		return r, nil, errBadID
	case r.Format != "" && !strings.EqualFold(r.Format, FormatJSON):
		return r, id, errUDPFormat
	}
	return r, id, nil
}

// validID returns the id token to echo: nil for none (absent or null), or the token itself
// if it is a number or a string of at most maxIDLen bytes between its quotes; ok is false
// for any other id.
func validID(raw json.RawMessage) (id []byte, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	switch c := raw[0]; {
	case c == '"':
		return raw, len(raw)-2 <= maxIDLen
	case c == '-' || '0' <= c && c <= '9':
		return raw, len(raw) <= maxIDLen
	}
	return nil, false
}

// requestID extracts the id of a request that will not be handled, for its error answer.
func requestID(req []byte) []byte {
	var r struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(req, &r) != nil {
		return nil
	}
	id, _ := validID(r.ID)
	return id
}

// encodeUDP returns rep's JSON with id spliced in, or the error to answer when it exceeds
// limit bytes.
func encodeUDP(rep report, id []byte, limit int) ([]byte, *Error) {
	ans := appendWithID(nil, id, appendJSON(nil, rep))
	if len(ans) <= limit {
		return ans, nil
	}
	if len(ans) > MaxAnswer {
		return nil, &Error{Status: 400, Code: CodeAnswerTooLarge,
			Message: "the report is " + strconv.Itoa(len(ans)) + " bytes, more than one datagram holds (" +
				strconv.Itoa(MaxAnswer) + "); ask for fewer rows with limit",
			SuggestedLimit: suggestLimit(rep, id, len(ans), MaxAnswer)}
	}
	need := (len(ans) + Amplification - 1) / Amplification
	return nil, &Error{Status: 400, Code: CodeRequestTooSmall,
		Message: "answers are at most 3x the request size: pad the request to at least " +
			strconv.Itoa(need) + " bytes",
		NeedBytes: need, SuggestedLimit: suggestLimit(rep, id, len(ans), limit)}
}

// suggestLimit estimates the largest limit whose answer would fit in limit bytes, from the
// average row size of rep's answer of full bytes; 0 when rep is not paged or no row fits.
func suggestLimit(rep report, id []byte, full, limit int) int {
	pr, ok := rep.(pagedReport)
	if !ok || pr.rowCount() == 0 {
		return 0
	}
	n := pr.rowCount()
	fixed := len(appendWithID(nil, id, appendJSON(nil, pr.withoutRows())))
	per := (full - fixed + n - 1) / n // bytes per row, separators included
	// Rows differ in size and a shorter page carries a different cursor: keep a margin.
	room := limit - fixed - 64
	if per <= 0 || room < per {
		return 0
	}
	return min(room/per*9/10, n-1)
}

// errorAnswer returns the answer for e with id, or nil when it would exceed limit bytes.
func errorAnswer(id []byte, e *Error, limit int) []byte {
	ans := e.appendJSON(nil, id)
	if len(ans) > limit {
		return nil
	}
	return ans
}

// appendWithID appends the JSON object obj with "id":<id> spliced in as its first member (obj
// unchanged when id is nil). obj is a report object and never "{}".
func appendWithID(dst, id, obj []byte) []byte {
	if id == nil {
		return append(dst, obj...)
	}
	dst = append(dst, `{"id":`...)
	dst = append(dst, id...)
	dst = append(dst, ',')
	return append(dst, obj[1:]...)
}
