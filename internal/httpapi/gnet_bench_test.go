package httpapi

import (
	"testing"
	"time"
)

// BenchmarkServeBufferPrice is the gnet engine's work for one GET /price, socket I/O aside.
func BenchmarkServeBufferPrice(b *testing.B) {
	s, _ := newTestServer(b)
	in := []byte(get("/price?asset=btc"))
	w := getResponse()
	var out []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		out, _, _ = s.serveBuffer(in, out[:0], w, time.Now())
	}
}

// BenchmarkParseRequest is the request parser alone.
func BenchmarkParseRequest(b *testing.B) {
	in := []byte(get("/price?asset=btc", "User-Agent: wrk\r\nAccept: */*\r\n"))
	var (
		r request
		m reqMeta
	)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if n, e := parseRequest(in, &r, &m); n != len(in) || e != nil {
			b.Fatal(n, e)
		}
	}
}
