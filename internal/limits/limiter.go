// Package limits enforces DESIGN §6's per-key limits in process: the tiers, a lock-free
// token-bucket rate limiter with a minimum wait (RateLimiter), and a monthly request quota
// per key, combined by Limiter.Check into one Decision per request.
//
// Package limits is pure: it keeps no package-level state, reads no clock (callers pass now,
// in Unix nanoseconds) and must not import the stores or any server package. Keeping the
// limits consistent across instances is the caller's job (see Limiter.SetUsed).
package limits

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
)

// Reason says why a request was refused.
type Reason uint8

// The reasons for a refusal. A Decision that admits has ReasonNone.
const (
	ReasonNone    Reason = iota
	RateLimited          // the key's token bucket is empty: answer 429 with Retry-After
	QuotaExceeded        // the key's monthly quota is used up: answer 429 with Retry-After
)

// String returns the reason as a short lower-case word ("none", "rate_limited",
// "quota_exceeded").
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case RateLimited:
		return "rate_limited"
	case QuotaExceeded:
		return "quota_exceeded"
	}
	return "unknown"
}

// Decision is Limiter.Check's verdict on one request, with what the IETF RateLimit-Policy and
// RateLimit headers and Retry-After need. Durations are exact; round them up to whole seconds
// for the headers.
type Decision struct {
	// OK is true when the request is admitted; it then counted against the quota.
	OK bool
	// Reason says why the request was refused; ReasonNone when OK.
	Reason Reason
	// RetryAfter is exactly how long until a request by this key would be admitted (for
	// QuotaExceeded: until 00:00 UTC on the 1st of the next month); 0 when OK.
	RetryAfter time.Duration

	// Limit is the token bucket's capacity (the tier's Burst, policy q; the policy window w
	// is Tier.Window). 0 means the tier has no rate limit, and Remaining and Reset are 0.
	Limit int
	// Remaining is the number of whole tokens left in the bucket after this request.
	Remaining int
	// Reset is how long until the bucket is full again.
	Reset time.Duration

	// QuotaLimit is the key's effective monthly quota; 0 means unlimited, and QuotaRemaining
	// is then 0.
	QuotaLimit int64
	// QuotaRemaining is how many requests the key may still make this month.
	QuotaRemaining int64
	// QuotaReset is how long until the quota resets, at 00:00 UTC on the 1st of next month.
	QuotaReset time.Duration
}

// Quota counter layout: one int64 per key holding the month and the count, so that a month
// change and an increment are one CompareAndSwap. Counts saturate at maxUsed.
const (
	usedBits = 44
	maxUsed  = 1<<usedBits - 1      // ~1.7e13 requests per key per month (6.7M/s)
	maxMonth = 1<<(63-usedBits) - 1 // year 43,690
	usedMask = int64(1)<<usedBits - 1
	numShard = 64           // lock shards of the key map
	padBytes = 128 - 24 - 8 // sync.RWMutex is 24 bytes, a map 8
)

func packQuota(m MonthID, used int64) int64 { return int64(m)<<usedBits | used }
func unpackQuota(v int64) (MonthID, int64)  { return MonthID(v >> usedBits), v & usedMask }

// keyState is one key's limiter state.
type keyState struct {
	tat   atomic.Int64 // GCRA theoretical arrival time, Unix ns
	quota atomic.Int64 // packQuota(month, used)
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*keyState
	_  [padBytes]byte // keep shards on separate cache lines
}

// Limiter holds every key's rate-limit and quota state, created on a key's first request and
// looked up by key ID. Check does not lock exclusively or allocate once the key's state
// exists. A Limiter is safe for concurrent use.
//
// Quota: each key counts its admitted requests for the current UTC calendar month; the count
// starts again from 0 at the first request on or after 00:00:00 UTC on the 1st. The
// effective quota is keys.Key.Quota when positive, else Tier.MonthlyQuota; 0 is unlimited.
// Requests are counted for unlimited keys too, so Used is always meaningful. A month never
// goes backwards: if now falls in a month before the key's counted month (a clock step
// back, or SetUsed for a later month), requests count against the later month.
type Limiter struct {
	seed   maphash.Seed
	month  atomic.Pointer[monthSpan] // the month of the latest Check, cached
	shards [numShard]shard
}

// NewLimiter returns an empty Limiter.
func NewLimiter() *Limiter {
	l := &Limiter{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*keyState)
	}
	return l
}

func (l *Limiter) shardOf(id string) *shard {
	return &l.shards[maphash.String(l.seed, id)&(numShard-1)]
}

// lookup returns id's state, or nil.
func (l *Limiter) lookup(id string) *keyState {
	sh := l.shardOf(id)
	sh.mu.RLock()
	st := sh.m[id]
	sh.mu.RUnlock()
	return st
}

// state returns id's state, creating it (full bucket, nothing used) if needed.
func (l *Limiter) state(id string) *keyState {
	sh := l.shardOf(id)
	sh.mu.RLock()
	st := sh.m[id]
	sh.mu.RUnlock()
	if st != nil {
		return st
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if st = sh.m[id]; st == nil {
		st = new(keyState)
		sh.m[id] = st
	}
	return st
}

// span returns the month containing now, computing it only when now leaves the cached one.
func (l *Limiter) span(now int64) *monthSpan {
	if s := l.month.Load(); s != nil && now >= s.start && now < s.end {
		return s
	}
	s := spanOf(now)
	l.month.Store(s)
	return s
}

// Check decides whether key k, of tier t, may make one request at now (Unix nanoseconds),
// and if so takes a token from its bucket and counts the request against its monthly quota.
// The order is: a key whose quota is used up is refused with QuotaExceeded without touching
// its bucket; otherwise the bucket decides (RateLimited, nothing counted); an admitted request
// is then counted, unless concurrent requests used up the quota in the meantime, in which
// case it is refused with QuotaExceeded and its token is not returned (the key is out of
// quota until next month anyway). The quota is never exceeded. Only k.ID, k.Quota and t are
// read; revocation is the caller's business. A batch is one request: call Check once.
//
// Check allocates only on a key's first request and when now enters a new month.
func (l *Limiter) Check(k *keys.Key, t Tier, now int64) Decision {
	st := l.state(k.ID)
	sp := l.span(now)
	r := rateOf(t)
	quota := k.Quota
	if quota <= 0 {
		quota = t.MonthlyQuota
	}
	quota = max(quota, 0)
	d := Decision{QuotaLimit: quota, QuotaReset: time.Duration(sp.end - now)}
	if r.interval > 0 {
		d.Limit = r.burst
	}

	if quota > 0 {
		if m, used := unpackQuota(st.quota.Load()); m >= sp.id && used >= quota {
			d.Reason = QuotaExceeded
			d.RetryAfter = time.Duration(l.quotaEnd(m, sp) - now)
			rem, reset := r.peek(&st.tat, now)
			d.Remaining, d.Reset = rem, time.Duration(reset)
			return d
		}
	}

	ok, retry, rem, reset := r.allow(&st.tat, now)
	d.Remaining, d.Reset = rem, time.Duration(reset)
	if !ok {
		d.Reason = RateLimited
		d.RetryAfter = time.Duration(retry)
		if quota > 0 {
			used := int64(0)
			if m, u := unpackQuota(st.quota.Load()); m >= sp.id {
				used = u
			}
			d.QuotaRemaining = max(quota-used, 0)
		}
		return d
	}

	m, used, ok := st.consume(sp.id, quota)
	if !ok {
		d.Reason = QuotaExceeded
		d.RetryAfter = time.Duration(l.quotaEnd(m, sp) - now)
		return d
	}
	d.OK = true
	if quota > 0 {
		d.QuotaRemaining = max(quota-used, 0)
	}
	return d
}

// quotaEnd returns when counted month m ends, given the month of now: normally the end of
// now's month; later if m is a later month (a month never goes backwards).
func (l *Limiter) quotaEnd(m MonthID, sp *monthSpan) int64 {
	if m <= sp.id {
		return sp.end
	}
	return m.Next().Start().UnixNano() // rare: clock stepped back; allocation-free anyway
}

// consume counts one request in month cur against quota (0 = unlimited). It returns the
// month counted in, the count including this request, and false (with the current count) if
// the quota was already used up.
func (st *keyState) consume(cur MonthID, quota int64) (MonthID, int64, bool) {
	for {
		old := st.quota.Load()
		m, used := unpackQuota(old)
		if m < cur {
			m, used = cur, 0 // a new month
		}
		if quota > 0 && used >= quota {
			return m, used, false
		}
		if used < maxUsed {
			used++
		}
		if st.quota.CompareAndSwap(old, packQuota(m, used)) {
			return m, used, true
		}
	}
}

// SetUsed seeds keyID's quota count for month (for example from the store after a restart,
// or with the cluster-wide total). It replaces the count held for that month, starts a later
// month, and is ignored if the Limiter already counts a later month for the key. used is
// clamped to [0, ~1.7e13]; months outside [0, 524287] are ignored.
func (l *Limiter) SetUsed(keyID string, month MonthID, used int64) {
	if month < 0 || month > maxMonth {
		return
	}
	used = min(max(used, 0), maxUsed)
	st := l.state(keyID)
	for {
		old := st.quota.Load()
		if m, _ := unpackQuota(old); m > month {
			return
		}
		if st.quota.CompareAndSwap(old, packQuota(month, used)) {
			return
		}
	}
}

// Used returns the number of requests keyID has made in the current month: the month of the
// latest Check, or if there has been none, the month last counted for the key. It is 0 for
// a key the Limiter has not seen.
func (l *Limiter) Used(keyID string) int64 {
	m, used := l.Usage(keyID)
	if sp := l.month.Load(); sp != nil && m < sp.id {
		return 0
	}
	return used
}

// Usage returns the month last counted for keyID and the count in that month, whatever the
// current month is. It returns 0, 0 for a key the Limiter has not seen.
func (l *Limiter) Usage(keyID string) (MonthID, int64) {
	st := l.lookup(keyID)
	if st == nil {
		return 0, 0
	}
	return unpackQuota(st.quota.Load())
}

// Forget drops keyID's state (for example once the key is deleted). A later request starts
// again with a full bucket and a zero count unless SetUsed seeds it.
func (l *Limiter) Forget(keyID string) {
	sh := l.shardOf(keyID)
	sh.mu.Lock()
	delete(sh.m, keyID)
	sh.mu.Unlock()
}

// Len returns the number of keys the Limiter holds state for.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
