package stress

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestRoundTripParsing(t *testing.T) {
	tests := []struct {
		name     string
		resp     []string // written in pieces
		close    bool     // server closes after writing
		status   int
		body     string
		keep     bool
		wantKind Kind // for errors
	}{
		{name: "content-length", resp: []string{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"}, status: 200, body: "hello", keep: true},
		{name: "split everywhere", resp: []string{"HTTP/1.1 2", "00 OK\r\nconTent-LENGTH:", " 5\r", "\n\r", "\nhel", "lo"}, status: 200, body: "hello", keep: true},
		{name: "connection close", resp: []string{"HTTP/1.1 429 Too Many\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"}, status: 429, body: "{}", keep: false},
		{name: "http/1.0", resp: []string{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"}, status: 200, body: "{}", keep: false},
		{name: "http/1.0 keep-alive", resp: []string{"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}"}, status: 200, body: "{}", keep: true},
		{name: "chunked", resp: []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "a;ext=1\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"}, status: 200, body: "abc0123456789", keep: true},
		{name: "until eof", resp: []string{"HTTP/1.1 200 OK\r\n\r\nall of it"}, close: true, status: 200, body: "all of it", keep: false},
		{name: "204", resp: []string{"HTTP/1.1 204 No Content\r\n\r\n"}, status: 204, body: "", keep: true},
		{name: "big body", resp: []string{"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 100000)}, status: 200, body: strings.Repeat("x", 100000), keep: true},
		{name: "garbage", resp: []string{"HTTZ/1.1 200 OK\r\n\r\n"}, wantKind: BadBody},
		{name: "bad length", resp: []string{"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"}, wantKind: BadBody},
		{name: "truncated body", resp: []string{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"}, close: true, wantKind: Reset},
		{name: "closed before answer", resp: nil, close: true, wantKind: Reset},
		{name: "no answer", resp: nil, wantKind: Timeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, srv := net.Pipe()
			defer cli.Close()
			go func() {
				buf := make([]byte, 4096)
				if _, err := srv.Read(buf); err != nil {
					return
				}
				for _, part := range tt.resp {
					if _, err := srv.Write([]byte(part)); err != nil {
						return
					}
				}
				if tt.close {
					srv.Close()
				}
			}()
			defer srv.Close()
			hc := newHTTPConn(cli, 300*time.Millisecond)
			status, body, keep, err := hc.roundTrip([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), time.Now())
			if tt.wantKind != OK {
				if err == nil {
					t.Fatalf("no error; status %d body %q", status, body)
				}
				if k := errKind(err); k != tt.wantKind {
					t.Fatalf("error %v classified %v, want %v", err, k, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status || string(body) != tt.body || keep != tt.keep {
				t.Fatalf("got %d %.40q keep=%v, want %d %.40q keep=%v", status, body, keep, tt.status, tt.body, tt.keep)
			}
		})
	}
}

func TestErrKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Kind
	}{
		{io.EOF, Reset}, {io.ErrUnexpectedEOF, Reset}, {errBadResponse, BadBody},
		{errors.New("what"), Other},
	} {
		if k := errKind(c.err); k != c.want {
			t.Errorf("%v: %v, want %v", c.err, k, c.want)
		}
	}
	// A refused connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := net.Dial("tcp", addr); errKind(err) != Refused {
		t.Errorf("dial to a closed port: %v classified %v", err, errKind(err))
	}
}

func TestStatusKinds(t *testing.T) {
	for status, want := range map[int]Kind{429: RateLimited, 500: ServerError, 503: ServerError, 401: ClientError, 403: ClientError, 404: ClientError, 302: Other} {
		if got := validateHTTP(TCPLPO, status, nil); got != want {
			t.Errorf("status %d: %v, want %v", status, got, want)
		}
	}
	if validateHTTP(TCPLPO, 200, []byte(`{"asset":"BTC","price":1}`)) != OK || validateHTTP(TCPLPO, 200, []byte(`{}`)) != BadBody {
		t.Error("LPO body validation")
	}
	if validateHTTP(TCPLRS, 200, []byte(`{"rows":[]}`)) != OK || validateHTTP(TCPLRS, 200, []byte(`{"rows":[`)) != BadBody {
		t.Error("LRS body validation")
	}
}
