//go:build !race

package httpapi

import (
	"testing"
	"time"
)

// TestServeBufferAllocs enforces 0 heap allocations per request on the gnet engine's parse and
// answer path, pipelined requests included.
func TestServeBufferAllocs(t *testing.T) {
	s := newLimitedServer(t)
	s2, _ := newTestServer(t)
	for _, tc := range []struct {
		name string
		s    *Server
		in   string
	}{
		{"price", s2, get("/price?asset=btc")},
		{"price escaped", s2, get("/price?asset=b%74c")},
		{"batch GET", s2, get("/prices?assets=btc%2Ceth,nope")},
		{"batch POST", s2, "POST /prices HTTP/1.1\r\nAuthorization: Bearer " + testKey + "\r\nContent-Length: 24\r\n\r\n" + `{"assets":["btc","eth"]}`},
		{"unknown asset", s2, get("/price?asset=zzz")},
		{"HEAD", s2, "HEAD /price?asset=btc HTTP/1.1\r\nAuthorization: Bearer " + testKey + "\r\n\r\n"},
		{"pipelined", s2, get("/price?asset=btc") + get("/price?asset=eth") + get("/assets")},
		{"limited admitted", s, "GET /price?asset=btc HTTP/1.1\r\nAuthorization: Bearer partner\r\n\r\n"},
		{"limited refused", s, "GET /price?asset=btc HTTP/1.1\r\nAuthorization: Bearer free\r\n\r\n"},
		{"bad request", s2, "HELLO\r\n\r\n"},
	} {
		in := []byte(tc.in)
		w := getResponse()
		var out []byte
		run := func() {
			var n int
			out, n, _ = tc.s.serveBuffer(in, out[:0], w, time.Now())
			if n != len(in) {
				t.Fatalf("%s: consumed %d of %d", tc.name, n, len(in))
			}
		}
		run()
		if n := testing.AllocsPerRun(1000, run); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tc.name, n)
		}
		putResponse(w)
	}
}
