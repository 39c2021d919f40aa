package lpo

import (
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
)

// Errors of the limits (DESIGN §6). Both are 429 with Retry-After.
var (
	ErrRateLimited   = NewError(429, "rate_limited", "too many requests for this key's tier; retry after the Retry-After interval", OutcomeRateLimited)
	ErrQuotaExceeded = NewError(429, "quota_exceeded", "this key's monthly quota is used up; it resets at 00:00 UTC on the 1st", OutcomeQuotaExceeded)
)

// fallbackTier limits a key whose tier is missing from the tier table (for example a tier
// deleted while keys still name it): such a key gets the free tier's limits, never none.
const fallbackTier = keys.TierFree

// Admit applies a key's rate limit and monthly quota to one request (a batch is one request)
// at now (Unix nanoseconds). It returns the limiter's decision, for the RateLimit headers, and
// ErrRateLimited or ErrQuotaExceeded when the request is refused. With no limiter configured
// every request is admitted. It does not allocate once the key has been seen.
func (s *Service) Admit(k *keys.Key, now int64) (limits.Decision, *Error) {
	if s.limiter == nil {
		return limits.Decision{OK: true}, nil
	}
	t, ok := s.tiers.Get(k.Tier)
	if !ok {
		t, _ = s.tiers.Get(fallbackTier)
	}
	d := s.limiter.Check(k, t, now)
	switch d.Reason {
	case limits.RateLimited:
		return d, ErrRateLimited
	case limits.QuotaExceeded:
		return d, ErrQuotaExceeded
	}
	return d, nil
}

// Tier returns the limits of a key's tier (the free tier's for an unknown tier name).
func (s *Service) Tier(k *keys.Key) limits.Tier {
	if s.tiers == nil {
		return limits.Tier{Name: k.Tier}
	}
	t, ok := s.tiers.Get(k.Tier)
	if !ok {
		t, _ = s.tiers.Get(fallbackTier)
	}
	return t
}

// AppendRateLimitHeaders appends the values of the IETF RateLimit-Policy and RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers) for decision d of a key on tier t: a "burst" policy
// for the token bucket and a "monthly" policy for the quota, each only when limited. It
// returns the two values as sub-slices of dst's new tail; both are empty for an unlimited key.
func AppendRateLimitHeaders(dst []byte, d limits.Decision, t limits.Tier) (out, policy, state []byte) {
	start := len(dst)
	if d.Limit > 0 {
		dst = append(dst, `"burst";q=`...)
		dst = appendInt(dst, d.Limit)
		dst = append(dst, ";w="...)
		dst = appendInt(dst, ceilSeconds(t.Window()))
	}
	if d.QuotaLimit > 0 {
		if len(dst) > start {
			dst = append(dst, ", "...)
		}
		dst = append(dst, `"monthly";q=`...)
		dst = appendInt64(dst, d.QuotaLimit)
		dst = append(dst, ";w=2592000"...) // a month, nominally 30 days
	}
	mid := len(dst)
	if d.Limit > 0 {
		dst = append(dst, `"burst";r=`...)
		dst = appendInt(dst, d.Remaining)
		dst = append(dst, ";t="...)
		dst = appendInt(dst, ceilSeconds(d.Reset))
	}
	if d.QuotaLimit > 0 {
		if len(dst) > mid {
			dst = append(dst, ", "...)
		}
		dst = append(dst, `"monthly";r=`...)
		dst = appendInt64(dst, d.QuotaRemaining)
		dst = append(dst, ";t="...)
		dst = appendInt(dst, ceilSeconds(d.QuotaReset))
	}
	return dst, dst[start:mid], dst[mid:]
}

// RetryAfterSeconds is the Retry-After value for a refusal: whole seconds, rounded up, at
// least 1.
func RetryAfterSeconds(d limits.Decision) int {
	if s := ceilSeconds(d.RetryAfter); s > 0 {
		return s
	}
	return 1
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

func appendInt64(dst []byte, n int64) []byte {
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	if n >= 10 {
		dst = appendInt64(dst, n/10)
	}
	return append(dst, byte('0'+n%10))
}
