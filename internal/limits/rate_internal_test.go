package limits

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestRateRetryAfterExact checks, for random tiers and request times, that a refusal's
// retryAfter is exact: one nanosecond earlier is refused, at retryAfter a request is admitted.
// It also checks that admissions never come closer than MinWait once the bucket is empty, and
// that a saturating client gets about Burst + elapsed/max(1/QPS, MinWait) requests.
func TestRateRetryAfterExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const start = int64(1_700_000_000) * int64(time.Second)
	for range 200 {
		tier := Tier{
			QPS:     []float64{0.5, 1, 3, 10, 50, 100, 1000}[rng.IntN(7)],
			Burst:   1 + rng.IntN(20),
			MinWait: []time.Duration{0, time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond, time.Second, 3 * time.Second}[rng.IntN(6)],
		}
		rl := NewRateLimiter(tier)
		clone := func() *RateLimiter {
			c := NewRateLimiter(tier)
			c.tat.Store(rl.tat.Load())
			return c
		}
		now := start
		var lastAdmit int64
		emptied := false // the last admission left less than one token
		admitted := 0
		for range 2000 {
			now += rng.Int64N(int64(50 * time.Millisecond))
			ok, retry, rem := rl.Allow(now)
			if ok {
				if emptied && now-lastAdmit < int64(tier.MinWait) {
					t.Fatalf("%+v: admitted %v after the previous admission, MinWait %v", tier, time.Duration(now-lastAdmit), tier.MinWait)
				}
				if rem < 0 || rem >= tier.Burst {
					t.Fatalf("%+v: remaining %d", tier, rem)
				}
				emptied = rl.tat.Load()-now > rl.r.tau
				if emptied != (rem == 0) {
					t.Fatalf("%+v: remaining %d but emptied=%v", tier, rem, emptied)
				}
				lastAdmit = now
				admitted++
				continue
			}
			if retry <= 0 {
				t.Fatalf("%+v: refused with retryAfter %v", tier, retry)
			}
			if ok, _, _ := clone().Allow(now + int64(retry) - 1); ok {
				t.Fatalf("%+v: admitted 1ns before retryAfter %v", tier, retry)
			}
			if ok, _, _ := clone().Allow(now + int64(retry)); !ok {
				t.Fatalf("%+v: refused at retryAfter %v", tier, retry)
			}
		}

		// Saturation: requests 7 times as often as the bucket refills, for 20 s.
		rl = NewRateLimiter(tier)
		step := max(rl.r.interval/7, 1)
		const span = int64(20 * time.Second)
		n := 0
		for ts := start; ts < start+span; ts += step {
			if ok, _, _ := rl.Allow(ts); ok {
				n++
			}
		}
		// Each admission after the burst comes at the first step on or after the due time.
		// Without MinWait the bucket's tolerance absorbs that lateness unless Burst is 1; with
		// MinWait (which restarts the refill at the admission that empties the bucket) the
		// spacing can grow by up to one step. The bucket also refills while the burst is
		// being used: up to Burst/6 more tokens at 7 requests per refill interval.
		spacing := max(float64(rl.r.interval), float64(tier.MinWait))
		hi := float64(tier.Burst) + float64(tier.Burst)/6 + float64(span)/spacing + 1
		lo := float64(tier.Burst) + float64(span)/(spacing+float64(step)) - 2
		if tier.MinWait == 0 && tier.Burst > 1 {
			lo = float64(tier.Burst) + float64(span)/spacing - 2
		}
		if f := float64(n); f < lo || f > hi {
			t.Fatalf("%+v: %d admitted in 20 s, want %.1f to %.1f", tier, n, lo, hi)
		}
	}
}
