package stress

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestUDPPipeliningMatchesIDs(t *testing.T) {
	const n = 5000
	f := newFakeUDP(t, func(i int64, id []byte) []byte {
		switch {
		case i%20 == 0:
			return []byte(`{"id":` + string(id) + `,"error":{"code":"rate_limited","message":"slow down"}}`)
		case i%50 == 1:
			return []byte(`{"id":` + string(id) + `,"error":{"code":"no_price","message":"x"}}`)
		case i%400 == 2:
			return []byte(`{"id":"ffffffffffffff00","asset":"BTC","price":1}`) // an id nobody sent
		}
		return []byte(`{"id":` + string(id) + `,"asset":"BTC","price":65000.5,"pad":"` + strings.Repeat("y", int(i%7)) + `"}`)
	})
	f.limit.Store(n)
	p := testPlan(UDPLPO, []string{f.addr()}, Phase{Name: "1", Concurrency: 64, Duration: 1500 * time.Millisecond})
	p.Timeout = 10 * time.Second // nothing times out: unanswered requests are simply cut off at the end
	p.UDPPad = map[Protocol]int{UDPLPO: 200}
	res, err := Run(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.answered.Load() != n {
		t.Fatalf("server answered %d, want %d", f.answered.Load(), n)
	}
	var want [NumKinds]uint64
	wrongID := uint64(0)
	for i := int64(1); i <= n; i++ {
		switch {
		case i%20 == 0:
			want[RateLimited]++
		case i%50 == 1:
			want[ServerError]++
		case i%400 == 2:
			wrongID++
		default:
			want[OK]++
		}
	}
	s := res.Phases[0].Total
	// An answer with a foreign id matches nothing: its request stays in flight (and is cut
	// off, uncounted, when the run ends).
	if s.Kinds != want {
		t.Fatalf("kinds %v, want %v", s.Kinds, want)
	}
	if wrongID == 0 || s.Requests() != n-wrongID {
		t.Fatalf("requests %d, want %d", s.Requests(), n-wrongID)
	}
	if f.maxSize.Load() != 200 {
		t.Fatalf("requests were %d bytes, want padded to 200", f.maxSize.Load())
	}
	found := false
	for _, note := range res.Phases[0].Notes {
		found = found || strings.Contains(note, "matched no request")
	}
	if !found {
		t.Fatalf("no note about unmatched answers: %q", res.Phases[0].Notes)
	}
}
