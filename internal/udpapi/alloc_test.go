//go:build !race

package udpapi

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/lpo"
	"github.com/trinityprice/trinity/internal/metering"
)

func TestHandleAllocs(t *testing.T) {
	h, book := newTestHandler(t)
	_, a := book.Lookup([]byte("btc"))
	out := make([]byte, 0, 3*DefaultMaxDatagram)
	for _, tc := range []struct{ name, req string }{
		{"price full", pad(`{"key":"`+testKey+`","asset":"btc","id":7}`, len(a.JSON)/3+40)},
		{"price brief", `{"key":"` + testKey + `","asset":"btc","id":"abc"}`},
		{"batch", pad(`{"key":"`+testKey+`","assets":["btc","eth","nope","sol"],"id":7}`, 1500)},
		{"batch too small", `{"key":"` + testKey + `","assets":["btc","eth","nope","sol"],"id":7}`},
		{"unknown asset", `{"key":"` + testKey + `","asset":"doge","id":7}`},
		{"unknown key", `{"key":"tb_live_nope","asset":"btc","id":7}`},
		{"bad json", `{"key":"` + testKey + `","asset":"btc","id":7`},
		{"dropped", `{}`},
	} {
		req := []byte(tc.req)
		if n := testing.AllocsPerRun(1000, func() { h.handle(req, out[:0]) }); n != 0 {
			t.Errorf("%s: %v allocs per datagram, want 0", tc.name, n)
		}
	}
}

// TestServeAllocs checks the whole server loop over a real socket: recvmmsg, handle,
// sendmmsg. It counts every heap allocation in the process, so the client side must not
// allocate either; a small allowance covers the runtime's own background work.
func TestServeAllocs(t *testing.T) {
	ts := mustRunServer(t, "127.0.0.1:0", Config{Sockets: 1, Batch: 8})
	c := mustDial(t, ts.Addr())
	req := []byte(`{"key":"` + testKey + `","asset":"btc","id":7}`)
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	rt := func(n int) {
		for range n {
			if _, err := c.Write(req); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Read(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	rt(500) // warm up: the handler's scratch buffer grows once
	const n = 5000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rt(n)
	runtime.ReadMemStats(&after)
	if per := float64(after.Mallocs-before.Mallocs) / n; per > 0.01 {
		t.Fatalf("%.3f allocs per datagram round trip (%d in all), want ~0", per, after.Mallocs-before.Mallocs)
	}
	t.Logf("%d allocations in %d round trips", after.Mallocs-before.Mallocs, n)
}

type nopSink struct{}

func (nopSink) WriteUsage(context.Context, []metering.Record) error { return nil }

// TestMeteredHandleAllocs: with limits and metering on, a price datagram allocates nothing.
func TestMeteredHandleAllocs(t *testing.T) {
	_, book := newTestService(t)
	meter, err := metering.New(metering.Config{Sink: nopSink{}})
	if err != nil {
		t.Fatal(err)
	}
	svc := lpo.New(lpo.Config{Book: book, Limiter: limits.NewLimiter(), Meter: meter, Metrics: metrics.NewSet(),
		Keys: fakeKeys{testKey: {ID: "key_test", Tier: keys.TierPartner}}})
	s := New(Config{Service: svc, Metrics: metrics.NewSet()})
	h := newHandler(svc, s.tooLarge)
	h.start = time.Now()
	req := []byte(`{"key":"` + testKey + `","asset":"btc","id":7}`)
	out := make([]byte, 0, 3*DefaultMaxDatagram)
	h.handle(req, out[:0])
	if n := testing.AllocsPerRun(1000, func() { h.handle(req, out[:0]) }); n != 0 {
		t.Errorf("%v allocs per metered datagram, want 0", n)
	}
}
