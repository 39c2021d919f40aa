package httpapi

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/lpo"
)

// request is one parsed HTTP request, independent of the engine that read it. Every field is
// borrowed from the engine's buffers: respond must not retain any of them.
type request struct {
	method   []byte
	path     []byte // without the query
	rawQuery []byte // after '?', still percent-encoded
	auth     []byte // the Authorization header value
	body     []byte
}

// response is what respond decided: a status, a JSON body and the optional rate-limit fields.
// It also holds the scratch buffers respond needs, so that a pooled response makes the whole
// request allocation-free. body, policy, state and retry are valid until the next respond.
type response struct {
	status int
	body   []byte
	// owned reports that body lives in the response's scratch (a batch answer) rather than in
	// the price book or an Error, which are immutable and may be referenced without copying.
	owned                bool
	policy, state, retry []byte

	hdr   []byte // RateLimit fields
	batch []byte // batch answers
	arg   []byte // a percent-decoded query value
	out   []byte // the gnet engine's serialized answers
}

func (w *response) reset() {
	w.status, w.body, w.owned = 200, nil, false
	w.policy, w.state, w.retry = nil, nil, nil
}

func (w *response) json(body []byte) { w.body = body }

func (w *response) error(e *lpo.Error) {
	w.status = e.Status
	w.body = e.Body
	w.owned = false
}

var responsePool = sync.Pool{New: func() any {
	return &response{hdr: make([]byte, 0, 512), batch: make([]byte, 0, 32<<10), arg: make([]byte, 0, 256), out: make([]byte, 0, 16<<10)}
}}

func getResponse() *response { w := responsePool.Get().(*response); w.reset(); return w }

func putResponse(w *response) {
	w.reset()
	if cap(w.out) > 1<<20 { // do not keep a buffer grown by one huge pipelined burst
		w.out = make([]byte, 0, 16<<10)
	}
	responsePool.Put(w)
}

// respond serves one request: it is the transport-neutral core both engines call. It does not
// allocate on the price paths. r is borrowed and not retained.
func (s *Server) respond(r *request, w *response) {
	w.reset()
	start := time.Now()
	var ep lpo.Endpoint
	switch {
	case bytes.Equal(r.path, pathPrice):
		ep = lpo.EndpointPrice
	case bytes.Equal(r.path, pathPrices):
		ep = lpo.EndpointPrices
	case bytes.Equal(r.path, pathAssets):
		ep = lpo.EndpointAssets
	case bytes.Equal(r.path, pathExchanges):
		ep = lpo.EndpointExchanges
	default:
		w.error(lpo.ErrNotFound)
		s.svc.Done(nil, lpo.HTTP, lpo.EndpointOther, lpo.OutcomeNotFound, start)
		return
	}
	m := r.method
	if !bytes.Equal(m, methodGet) && !bytes.Equal(m, methodHead) && !(ep == lpo.EndpointPrices && bytes.Equal(m, methodPost)) {
		w.error(lpo.ErrMethod)
		s.svc.Done(nil, lpo.HTTP, ep, lpo.OutcomeBadRequest, start)
		return
	}
	k, e := s.svc.Authorize(bearer(r.auth))
	if e != nil {
		w.error(e)
		s.svc.Done(k, lpo.HTTP, ep, e.Outcome, start)
		return
	}
	if ep == lpo.EndpointPrice || ep == lpo.EndpointPrices {
		// Only price queries count against the key's rate limit and quota; the
		// informational endpoints need a key but are free.
		d, e := s.svc.Admit(k, start.UnixNano())
		if d.Limit > 0 || d.QuotaLimit > 0 {
			s.setRateLimitHeaders(w, d, k, e)
		}
		if e != nil {
			w.error(e)
			s.svc.Done(k, lpo.HTTP, ep, e.Outcome, start)
			return
		}
	}
	o, asset := lpo.OutcomeOK, lpo.AssetNone
	switch ep {
	case lpo.EndpointPrice:
		o, asset = s.price(r, w)
	case lpo.EndpointPrices:
		o, asset = s.prices(r, w), lpo.AssetBatch
	case lpo.EndpointAssets:
		w.json(s.svc.Book().AssetListJSON())
		k = nil // informational: counted in metrics, not metered against the key
	case lpo.EndpointExchanges:
		if s.cfg.Exchanges != nil {
			w.json(s.cfg.Exchanges.ExchangesJSON())
		} else {
			w.json(noExchanges)
		}
		k = nil
	}
	s.svc.DoneAsset(k, lpo.HTTP, ep, o, asset, start)
}

var noExchanges = []byte(`{"exchanges":[]}`)

func (s *Server) price(r *request, w *response) (lpo.Outcome, int) {
	w.arg = queryArg(w.arg[:0], r.rawQuery, argAsset)
	i, ans, e := s.svc.Price(w.arg)
	if e != nil {
		w.error(e)
		return e.Outcome, i
	}
	w.json(ans.JSON)
	return lpo.OutcomeOf(ans), i
}

func (s *Server) prices(r *request, w *response) lpo.Outcome {
	var b lpo.Batch
	if bytes.Equal(r.method, methodPost) {
		var req lpo.Request
		if e := lpo.ParseRequest(r.body, &req); e != nil {
			w.error(e)
			return e.Outcome
		}
		if req.Assets == nil {
			w.error(lpo.ErrEmptyBatch)
			return lpo.OutcomeBadRequest
		}
		if e := b.AddJSONArray(s.svc, req.Assets); e != nil {
			w.error(e)
			return e.Outcome
		}
	} else {
		w.arg = queryArg(w.arg[:0], r.rawQuery, argAssets)
		list := w.arg
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
				w.error(e)
				return e.Outcome
			}
		}
	}
	if b.Len() == 0 {
		w.error(lpo.ErrEmptyBatch)
		return lpo.OutcomeBadRequest
	}
	body, o := b.AppendAnswers(w.batch[:0], s.svc, true)
	w.batch = body
	w.body, w.owned = body, true
	return o
}

// setRateLimitHeaders sets the IETF RateLimit-Policy and RateLimit fields, and Retry-After
// when the request was refused. It does not allocate.
func (s *Server) setRateLimitHeaders(w *response, d limits.Decision, k *keys.Key, refused *lpo.Error) {
	b, policy, state := lpo.AppendRateLimitHeaders(w.hdr[:0], d, s.svc.Tier(k))
	w.policy, w.state = policy, state
	if refused != nil {
		n := len(b)
		b = strconv.AppendInt(b, int64(lpo.RetryAfterSeconds(d)), 10)
		w.retry = b[n:]
	}
	w.hdr = b
}

// queryArg appends to dst the percent-decoded value of the first name=value pair of the raw
// query q whose key is name ('+' decodes to a space, as in fasthttp's query arguments). It
// appends nothing when the key is absent. q and name are not retained.
func queryArg(dst, q, name []byte) []byte {
	for len(q) > 0 {
		pair := q
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			q = nil
		}
		key, val := pair, []byte(nil)
		if i := bytes.IndexByte(pair, '='); i >= 0 {
			key, val = pair[:i], pair[i+1:]
		}
		if bytes.Equal(key, name) {
			return appendUnescape(dst, val)
		}
	}
	return dst
}

// appendUnescape appends the percent-decoded src to dst; malformed escapes are kept as is.
func appendUnescape(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(src) && unhex(src[i+1]) >= 0 && unhex(src[i+2]) >= 0:
			c = byte(unhex(src[i+1])<<4 | unhex(src[i+2]))
			i += 2
		}
		dst = append(dst, c)
	}
	return dst
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// statusLines are the status lines of every status the API answers, built once.
var statusLines = func() (t [600][]byte) {
	for code, text := range map[int]string{
		200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
		405: "Method Not Allowed", 411: "Length Required", 413: "Request Entity Too Large",
		429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
		501: "Not Implemented", 503: "Service Unavailable",
	} {
		t[code] = []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n")
	}
	return t
}()

func appendStatusLine(dst []byte, status int) []byte {
	if status >= 0 && status < len(statusLines) && statusLines[status] != nil {
		return append(dst, statusLines[status]...)
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	return append(dst, " Unknown\r\n"...)
}

// dateLine is a "Date: …\r\n" header line for one second.
type dateLine struct {
	sec  int64
	line []byte
}

var dateCache atomic.Pointer[dateLine]

// currentDate returns the Date header line for now; it allocates once per second.
func currentDate(now time.Time) []byte {
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.line
	}
	b := make([]byte, 0, 40)
	b = append(b, "Date: "...)
	b = now.UTC().AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 GMT")
	b = append(b, "\r\n"...)
	dateCache.Store(&dateLine{sec: sec, line: b})
	return b
}

// appendResponse appends w as an HTTP/1.1 response, in fasthttp's header order: status, Server, Date,
// Content-Type, Content-Length, the RateLimit fields, Connection: close. head omits the body.
func appendResponse(dst []byte, w *response, date []byte, head, closing bool) []byte {
	dst = appendStatusLine(dst, w.status)
	dst = append(dst, "Server: trinity\r\n"...)
	dst = append(dst, date...)
	dst = append(dst, "Content-Type: application/json\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(w.body)), 10)
	dst = append(dst, "\r\n"...)
	if w.policy != nil {
		dst = appendHeader(dst, hdrRateLimitPolicy, w.policy)
		dst = appendHeader(dst, hdrRateLimit, w.state)
	}
	if w.retry != nil {
		dst = appendHeader(dst, hdrRetryAfter, w.retry)
	}
	if closing {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	if !head {
		dst = append(dst, w.body...)
	}
	return dst
}

func appendHeader(dst, k, v []byte) []byte {
	dst = append(dst, k...)
	dst = append(dst, ": "...)
	dst = append(dst, v...)
	return append(dst, "\r\n"...)
}
