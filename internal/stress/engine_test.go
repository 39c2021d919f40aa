package stress

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func TestExactCounts(t *testing.T) {
	const n = 3000
	f := newFakeHTTP(t, func(i int64) (int, string) {
		switch {
		case i%10 == 0:
			return 429, `{"error":{"code":"rate_limited"}}`
		case i%25 == 1:
			return 500, `{"error":{"code":"internal"}}`
		case i%33 == 2:
			return 404, `{"error":{"code":"unknown_asset"}}`
		case i%41 == 3:
			return 200, `{"nope":1}`
		}
		return 200, `{"asset":"BTC","price":1}`
	})
	f.limit.Store(n)
	p := testPlan(TCPLPO, []string{f.addr()}, Phase{Name: "1", Concurrency: 8, Duration: 1500 * time.Millisecond})
	res, err := Run(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.answered.Load() != n {
		t.Fatalf("server answered %d, want %d (client too slow for the test?)", f.answered.Load(), n)
	}
	s := res.Phases[0].Total
	var want [NumKinds]uint64
	for i := int64(1); i <= n; i++ {
		switch {
		case i%10 == 0:
			want[RateLimited]++
		case i%25 == 1:
			want[ServerError]++
		case i%33 == 2:
			want[ClientError]++
		case i%41 == 3:
			want[BadBody]++
		default:
			want[OK]++
		}
	}
	if s.Kinds != want {
		t.Fatalf("kinds %v, want %v", s.Kinds, want)
	}
	if got := s.Hist.Count(); got != n {
		t.Fatalf("histogram has %d samples, want %d", got, n)
	}
	wantPct := 100 * float64(want[OK]) / n
	if s.Success() != wantPct {
		t.Fatalf("success %v, want %v", s.Success(), wantPct)
	}
	var buf bytes.Buffer
	if err := res.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + buf.String())
}

// A server that stalls for one second: the open-loop run must show that second in its tail
// (requests scheduled during the stall waited for it), the closed-loop run hides it because
// its few connections simply stopped sending (coordinated omission).
func TestCoordinatedOmission(t *testing.T) {
	run := func(ph Phase) *Stats {
		f := newFakeHTTP(t, nil)
		p := testPlan(TCPLPO, []string{f.addr()}, ph)
		start := time.Now()
		f.stall(start.Add(500*time.Millisecond), start.Add(1500*time.Millisecond))
		res, err := Run(context.Background(), p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := &res.Phases[0].Total
		t.Logf("%s: %d requests, p50 %v p90 %v p99 %v max %v, unsent %d", ph.Name, s.Requests(),
			s.Hist.Quantile(0.5), s.Hist.Quantile(0.9), s.Hist.Quantile(0.99), s.Hist.Max(), s.Unsent)
		return s
	}
	open := run(Phase{Name: "open", Concurrency: 4, Rate: 1000, Duration: 3 * time.Second})
	closed := run(Phase{Name: "closed", Concurrency: 4, Duration: 3 * time.Second})
	if p99 := open.Hist.Quantile(0.99); p99 < 900*time.Millisecond {
		t.Errorf("open loop p99 %v, want ≥ 0.9 s (the stall)", p99)
	}
	if open.Requests() < 2500 {
		t.Errorf("open loop sent %d requests, want about 3000", open.Requests())
	}
	if mx := closed.Hist.Max(); mx < 900*time.Millisecond {
		t.Errorf("closed loop max %v: the stall should show in the max", mx)
	}
	if p99 := closed.Hist.Quantile(0.99); p99 > 100*time.Millisecond {
		t.Errorf("closed loop p99 %v, want far below the stall", p99)
	}
}

func TestLadderTiming(t *testing.T) {
	f := newFakeHTTP(t, nil)
	levels := []int{1, 3, 9, 5}
	p := testPlan(TCPLPO, []string{f.addr()}, Ladder(levels, 200*time.Millisecond)...)
	start := time.Now()
	res, err := Run(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	if len(res.Phases) != len(levels) {
		t.Fatalf("%d phases, want %d", len(res.Phases), len(levels))
	}
	for i, ph := range res.Phases {
		if ph.Concurrency != levels[i] || ph.Name != string(rune('1'+i)) {
			t.Errorf("phase %d: %+v", i, ph.Phase)
		}
		if ph.Elapsed < 200*time.Millisecond || ph.Elapsed > 350*time.Millisecond {
			t.Errorf("phase %s lasted %v, want 200 ms", ph.Name, ph.Elapsed)
		}
		if ph.Total.Requests() == 0 || ph.Total.Success() != 100 {
			t.Errorf("phase %s: %d requests, %.2f%% success", ph.Name, ph.Total.Requests(), ph.Total.Success())
		}
	}
	if total < 800*time.Millisecond || total > 2*time.Second {
		t.Errorf("ladder took %v, want about 800 ms", total)
	}
}

func TestInterrupt(t *testing.T) {
	f := newFakeHTTP(t, nil)
	p := testPlan(TCPLPO, []string{f.addr()}, Ladder([]int{2, 4}, 10*time.Second)...)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("an interrupted run took %v to return", d)
	}
	if !res.Interrupted || len(res.Phases) != 1 || res.Phases[0].Total.Requests() == 0 {
		t.Fatalf("interrupted=%v phases=%d", res.Interrupted, len(res.Phases))
	}
}
