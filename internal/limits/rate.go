package limits

import (
	"sync/atomic"
	"time"
)

// RateLimiter is one key's token bucket with a minimum wait, kept as GCRA state: a single
// theoretical arrival time (TAT), in Unix nanoseconds, updated with CompareAndSwap. Allow is
// lock-free and does not allocate. A RateLimiter is safe for concurrent use.
//
// The rule, with T = 1/QPS and tokens counted as in a classic token bucket that refills QPS
// tokens per second up to Burst:
//
//   - A request is admitted when the bucket holds at least one whole token; admitting it
//     takes one token. An idle key therefore gets Burst requests at once, then one per T.
//   - MinWait: when an admitted request leaves the bucket with less than one whole token (the
//     burst is used up), the next request is admitted no earlier than
//     max(the time the bucket next holds a whole token, that admission + MinWait).
//     This is done by forfeiting the fraction of a token that would otherwise let the next
//     request in sooner: the bucket's refill restarts so that its next whole token arrives
//     at that time, and the bucket keeps refilling at QPS from there. Consequently a client
//     that keeps the bucket empty gets one request per max(T, MinWait), and MinWait never
//     delays a request while the bucket still holds a whole token (bursts are unaffected).
//     With DESIGN §6's tiers MinWait equals T, so its only effect is that the refill clock
//     restarts at the admission that empties the bucket: less than one token is forfeited,
//     and a client that keeps the bucket empty but asks late is not made up for its
//     lateness later (plain GCRA would let it catch up). With MinWait > T it lowers the
//     sustained rate of a client that keeps the bucket empty to 1/MinWait; a client that
//     never empties the bucket (asking at most QPS times a second) is not affected.
//
// Refused requests do not change the state.
type RateLimiter struct {
	r   rate
	tat atomic.Int64
}

// NewRateLimiter returns a full bucket for t's QPS, Burst and MinWait. A tier without a
// rate limit (QPS 0) admits everything.
func NewRateLimiter(t Tier) *RateLimiter {
	return &RateLimiter{r: rateOf(t)}
}

// Allow admits or refuses one request at now (Unix nanoseconds). When ok, remaining is the
// number of whole tokens left after this request. When refused, retryAfter is exactly how
// long until a request would be admitted (Allow(now+retryAfter) succeeds if nothing else is
// admitted meanwhile, Allow(now+retryAfter-1) does not); it is 0 when ok. Without a rate
// limit Allow always returns true, 0, 0.
func (l *RateLimiter) Allow(now int64) (ok bool, retryAfter time.Duration, remaining int) {
	ok, retry, remaining, _ := l.r.allow(&l.tat, now)
	return ok, time.Duration(retry), remaining
}

// allow applies the GCRA rule to the state in tat. It returns whether the request is
// admitted, the exact wait until one would be (0 when ok), the whole tokens left and the
// time until the bucket is full again (all in nanoseconds).
//
// In GCRA terms the bucket holds Burst - (TAT-now)/T tokens when TAT > now and Burst
// otherwise; a request is admitted when TAT-now <= tau = (Burst-1)·T, and moves TAT to
// max(TAT, now) + T.
func (r *rate) allow(tat *atomic.Int64, now int64) (ok bool, retry int64, remaining int, reset int64) {
	if r.interval == 0 {
		return true, 0, 0, 0
	}
	for {
		old := tat.Load()
		t := max(old, now)
		if t-now > r.tau {
			// Less than one whole token: the next one is due when TAT-now falls to tau.
			return false, t - r.tau - now, 0, t - now
		}
		next := t + r.interval
		if next-now > r.tau && r.minWait > 0 {
			// This admission empties the bucket (less than one whole token left): the next
			// one is due no earlier than now + MinWait, i.e. at TAT >= now + MinWait + tau.
			next = max(next, now+r.minWait+r.tau)
		}
		if tat.CompareAndSwap(old, next) {
			d := next - now // > 0
			if left := r.tau + r.interval - d; left > 0 {
				remaining = int(left / r.interval)
			}
			return true, 0, remaining, d
		}
	}
}

// peek reports the whole tokens in the bucket at now and the time until it is full,
// without taking a token.
func (r *rate) peek(tat *atomic.Int64, now int64) (remaining int, reset int64) {
	if r.interval == 0 {
		return 0, 0
	}
	d := max(tat.Load(), now) - now
	if left := r.tau + r.interval - d; left > 0 {
		remaining = int(left / r.interval)
	}
	return remaining, d
}
