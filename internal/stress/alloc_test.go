//go:build !race

package stress

import (
	"context"
	"net"
	"testing"
	"time"
)

// The HTTP request path (write the pre-built request, parse the answer in place, validate,
// record) allocates nothing in steady state. The fake server does not allocate per request
// either, so the process-wide malloc count is the client's.
func TestHTTPRequestPathAllocs(t *testing.T) {
	f := newFakeHTTP(t, nil)
	p := testPlan(TCPLPO, []string{f.addr()}, Phase{Name: "1", Concurrency: 1, Duration: time.Second})
	d := newTCPDriver(context.Background(), p, TCPLPO, newRecorder())
	c, err := net.Dial("tcp", f.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hc := newHTTPConn(c, time.Second)
	sh := d.rec.shard(0)
	req := d.reqs[0][0]
	for range 100 { // warm up: buffers, maps and timers settle
		if !d.exchange(hc, req, time.Time{}, sh) {
			t.Fatal("exchange failed")
		}
	}
	if n := testing.AllocsPerRun(2000, func() { d.exchange(hc, req, time.Time{}, sh) }); n != 0 {
		t.Fatalf("HTTP request path: %v allocs per request, want 0", n)
	}
	if got := sh.kinds[OK].Load(); got < 2100 {
		t.Fatalf("%d successful requests, want ≥ 2100", got)
	}
}
