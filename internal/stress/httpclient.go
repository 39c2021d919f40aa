package stress

import (
	"bytes"
	"errors"
	"io"
	"net"
	"time"
)

// errBadResponse reports an answer that is not valid HTTP/1.1 (or too large to accept).
var errBadResponse = errors.New("malformed HTTP response")

const (
	initialReadBuf = 4 << 10
	maxHeaderBytes = 64 << 10
	maxBodyBytes   = 16 << 20
)

// httpConn is one keep-alive HTTP/1.1 client connection that sends pre-built requests and
// parses responses in place. It does not pipeline: one request is outstanding at a time.
// Its buffers grow to the largest response seen and are then reused, so the steady state
// allocates nothing. Not safe for concurrent use.
type httpConn struct {
	c       net.Conn
	timeout time.Duration
	// deadline is the read/write deadline last set on c. It is moved forward only when a
	// request would otherwise get less than 15/16 of the timeout, which saves a timer update
	// per request; a request therefore times out after between 15/16 and 16/16 of timeout.
	deadline time.Time
	buf      []byte // response bytes: header, then the body for Content-Length responses
	n        int    // bytes of buf in use
	chunk    []byte // de-chunked body of a chunked response
}

func newHTTPConn(c net.Conn, timeout time.Duration) *httpConn {
	return &httpConn{c: c, timeout: timeout, buf: make([]byte, initialReadBuf)}
}

// roundTrip writes req (a complete request) and reads one response. now is the time the
// request is being sent. It returns the status and the body, which aliases the connection's
// buffers and is valid until the next call. keep is false when the connection must not be
// reused (Connection: close, a body delimited by EOF, or extra bytes after the response).
// Any error leaves the connection unusable.
func (h *httpConn) roundTrip(req []byte, now time.Time) (status int, body []byte, keep bool, err error) {
	if want := now.Add(h.timeout); want.Sub(h.deadline) > h.timeout/16 {
		if err := h.c.SetDeadline(want); err != nil {
			return 0, nil, false, err
		}
		h.deadline = want
	}
	if _, err := h.c.Write(req); err != nil {
		return 0, nil, false, err
	}
	h.n = 0
	end := -1 // index of the blank line ending the header
	for end < 0 {
		from := max(h.n-3, 0)
		if err := h.read(); err != nil {
			if errors.Is(err, io.EOF) && h.n > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, false, err
		}
		if i := bytes.Index(h.buf[from:h.n], crlfcrlf); i >= 0 {
			end = from + i
		} else if h.n >= maxHeaderBytes {
			return 0, nil, false, errBadResponse
		}
	}
	status, cl, chunked, keep, ok := parseHeader(h.buf[:end])
	if !ok {
		return 0, nil, false, errBadResponse
	}
	start := end + 4
	switch {
	case status < 200 || status == 204 || status == 304:
		if status < 200 {
			return 0, nil, false, errBadResponse // 1xx: never solicited by our requests
		}
		cl = 0
	case chunked:
		body, err = h.readChunked(start)
		if err != nil {
			return 0, nil, false, err
		}
		return status, body, keep, nil
	case cl < 0: // body until EOF
		for {
			if err := h.read(); err != nil {
				if errors.Is(err, io.EOF) {
					return status, h.buf[start:h.n], false, nil
				}
				return 0, nil, false, err
			}
		}
	}
	need := start + cl
	if need > maxHeaderBytes+maxBodyBytes {
		return 0, nil, false, errBadResponse
	}
	for h.n < need {
		if err := h.read(); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, false, err
		}
	}
	if h.n > need {
		keep = false // bytes we did not ask for: the stream is out of step
	}
	return status, h.buf[start:need], keep, nil
}

var crlfcrlf = []byte("\r\n\r\n")

// read reads more bytes into buf, growing it when full.
func (h *httpConn) read() error {
	if h.n == len(h.buf) {
		if len(h.buf) >= maxHeaderBytes+maxBodyBytes {
			return errBadResponse
		}
		nb := make([]byte, 2*len(h.buf))
		copy(nb, h.buf[:h.n])
		h.buf = nb
	}
	m, err := h.c.Read(h.buf[h.n:])
	h.n += m
	if m > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// readChunked decodes a chunked body whose first bytes start at buf[p:], copying the data
// into h.chunk.
func (h *httpConn) readChunked(p int) ([]byte, error) {
	h.chunk = h.chunk[:0]
	line := func() (int, error) { // returns the index of the next CRLF at or after p
		for {
			if i := bytes.Index(h.buf[p:h.n], crlf); i >= 0 {
				return p + i, nil
			}
			if h.n-p > 4096 {
				return 0, errBadResponse
			}
			if err := h.read(); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return 0, err
			}
		}
	}
	for {
		e, err := line()
		if err != nil {
			return nil, err
		}
		size, ok := parseHex(h.buf[p:e])
		if !ok || len(h.chunk)+size > maxBodyBytes {
			return nil, errBadResponse
		}
		p = e + 2
		if size == 0 {
			for { // trailers, up to the empty line
				e, err := line()
				if err != nil {
					return nil, err
				}
				if e == p {
					return h.chunk, nil
				}
				p = e + 2
			}
		}
		for h.n < p+size+2 {
			if h.n == len(h.buf) && p > 0 { // make room: drop what was consumed
				copy(h.buf, h.buf[p:h.n])
				h.n -= p
				p = 0
				continue
			}
			if err := h.read(); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
		}
		h.chunk = append(h.chunk, h.buf[p:p+size]...)
		if h.buf[p+size] != '\r' || h.buf[p+size+1] != '\n' {
			return nil, errBadResponse
		}
		p += size + 2
	}
}

var crlf = []byte("\r\n")

// parseHex parses a chunk-size line (hex digits, optionally followed by ";extensions").
func parseHex(b []byte) (int, bool) {
	if i := bytes.IndexByte(b, ';'); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimRight(b, " \t")
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// parseHeader parses a response header (status line and fields, without the final blank
// line). cl is the Content-Length, or -1 when absent.
func parseHeader(b []byte) (status, cl int, chunked, keep, ok bool) {
	// "HTTP/1.1 200 OK"
	if len(b) < 12 || !bytes.HasPrefix(b, http1) || b[8] != ' ' {
		return 0, 0, false, false, false
	}
	for _, c := range b[9:12] {
		if c < '0' || c > '9' {
			return 0, 0, false, false, false
		}
		status = status*10 + int(c-'0')
	}
	if len(b) > 12 && b[12] != ' ' && b[12] != '\r' {
		return 0, 0, false, false, false
	}
	keep = b[7] == '1' // HTTP/1.1 is keep-alive by default; 1.0 is not
	cl = -1
	i := bytes.Index(b, crlf)
	for i >= 0 {
		b = b[i+2:]
		i = bytes.Index(b, crlf)
		line := b
		if i >= 0 {
			line = b[:i]
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return 0, 0, false, false, false
		}
		name, val := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case asciiEqualFold(name, "content-length"):
			n, ok := parseDec(val)
			if !ok || (cl >= 0 && cl != n) {
				return 0, 0, false, false, false
			}
			cl = n
		case asciiEqualFold(name, "transfer-encoding"):
			chunked = hasToken(val, "chunked")
		case asciiEqualFold(name, "connection"):
			if hasToken(val, "close") {
				keep = false
			} else if hasToken(val, "keep-alive") {
				keep = true
			}
		}
	}
	if chunked {
		cl = -1
	}
	return status, cl, chunked, keep, true
}

var http1 = []byte("HTTP/1.")

func parseDec(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// asciiEqualFold reports whether b equals the lower-case ASCII string s, ignoring case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated header value v contains the lower-case token.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		if asciiEqualFold(bytes.TrimSpace(t), token) {
			return true
		}
	}
	return false
}
