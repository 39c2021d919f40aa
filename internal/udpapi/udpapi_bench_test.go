package udpapi

import (
	"testing"
	"time"
)

func BenchmarkHandle(b *testing.B) {
	h, book := newTestHandler(b)
	_, a := book.Lookup([]byte("btc"))
	out := make([]byte, 0, 3*DefaultMaxDatagram)
	for _, bc := range []struct{ name, req string }{
		{"price-full", pad(`{"key":"`+testKey+`","asset":"btc","id":7}`, len(a.JSON)/3+40)},
		{"price-brief", `{"key":"` + testKey + `","asset":"btc","id":7}`},
		{"batch-4", pad(`{"key":"`+testKey+`","assets":["btc","eth","nope","sol"],"id":7}`, 1500)},
		{"error-unknown-key", `{"key":"tb_live_nope","asset":"btc","id":7}`},
		{"error-bad-json", `{"key":"` + testKey + `","asset":"btc","id":7`},
	} {
		req := []byte(bc.req)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(req)))
			for b.Loop() {
				h.handle(req, out[:0])
			}
		})
	}
}

// BenchmarkServeLoopback measures request/answer pairs through a real server on loopback:
// one client socket keeps a window of requests in flight. Client and server share the
// machine, so ns/op covers both sides' work.
func BenchmarkServeLoopback(b *testing.B) {
	ts := mustRunServer(b, "127.0.0.1:0", Config{Sockets: 1})
	c := mustDial(b, ts.Addr())
	req := []byte(`{"key":"` + testKey + `","asset":"btc","id":7}`)
	buf := make([]byte, 4096)
	const window = 16
	c.SetReadDeadline(time.Now().Add(time.Minute))
	for range 100 { // warm up: the readers allocate their buffers when Serve starts
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	inflight, sent, got := 0, 0, 0
	for got < b.N {
		for inflight < window && sent < b.N {
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
			inflight++
			sent++
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatalf("after %d of %d answers: %v", got, b.N, err)
		}
		inflight--
		got++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}
