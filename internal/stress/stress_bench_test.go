package stress

import (
	"context"
	"net"
	"testing"
	"time"
)

// BenchmarkHTTPExchange measures the client's request path (write, parse in place, validate,
// record) against the in-process fake server over loopback. Most of the time is the two
// sides' syscalls; the point is allocs/op = 0 and the client's share of ns/op.
func BenchmarkHTTPExchange(b *testing.B) {
	f := newFakeHTTP(b, nil)
	d := newTCPDriver(context.Background(), testPlan(TCPLPO, []string{f.addr()}, Phase{Name: "1", Concurrency: 1, Duration: time.Second}), TCPLPO, newRecorder())
	c, err := net.Dial("tcp", f.addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	hc := newHTTPConn(c, 5*time.Second)
	sh := d.rec.shard(0)
	req := d.reqs[0][0]
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		if !d.exchange(hc, req, time.Time{}, sh) {
			b.Fatal("exchange failed")
		}
	}
}

// BenchmarkParseHeader measures parsing a typical Trinity response header.
func BenchmarkParseHeader(b *testing.B) {
	h := []byte("HTTP/1.1 200 OK\r\nServer: fasthttp\r\nDate: Thu, 01 May 2025 12:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: 137\r\nRateLimit-Policy: 100;w=1\r\nRateLimit: limit=100, remaining=99, reset=1")
	b.ReportAllocs()
	for b.Loop() {
		if _, cl, _, _, ok := parseHeader(h); !ok || cl != 137 {
			b.Fatal("parse")
		}
	}
}
