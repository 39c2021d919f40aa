//go:build linux && !race

package stress

import (
	"context"
	"net"
	"testing"
	"time"
)

// The UDP request path (sendmmsg a batch, recvmmsg the answers, match ids, validate,
// record) allocates nothing. The echo server below does not allocate either; the asset is
// named "price" so that the echoed request passes as a price answer.
func TestUDPRequestPathAllocs(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			srv.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := testPlan(UDPLPO, []string{srv.LocalAddr().String()}, Phase{Name: "1", Concurrency: 8, Duration: time.Second})
	p.Assets = []string{"price"}
	d := &udpDriver{ctx: ctx, proto: UDPLPO, rec: newRecorder()}
	c, err := net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := newUDPSock(d, c, udpTemplates(p, UDPLPO), 8, time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	round := func() {
		s.sendNew(8, nil, s.now())
		for s.inflight > 0 {
			if err := s.rc.Read(s.recvFn); err != nil || s.errno != 0 {
				t.Fatalf("recv: %v %v", err, s.errno)
			}
			s.receive(s.n)
		}
	}
	for range 50 {
		round()
	}
	if n := testing.AllocsPerRun(500, round); n != 0 {
		t.Fatalf("UDP request path: %v allocs per round of 8 requests, want 0", n)
	}
	if ok := s.sh.kinds[OK].Load(); ok != 8*(50+501) {
		t.Fatalf("%d successful requests, want %d (kinds %v)", ok, 8*(50+501), s.sh.kinds[BadBody].Load())
	}
}
