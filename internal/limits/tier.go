package limits

import (
	"math"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
)

// Tier is one tier's limits (DESIGN §6). A zero MonthlyQuota, QPS or ReportsPerMonth means
// unlimited. Tier is a plain value: callers may copy it and edit the copies.
type Tier struct {
	// Name is the tier's name, one of the keys.Tier* constants for the default tiers.
	Name string
	// MonthlyQuota is how many requests a key of this tier may make per UTC calendar month,
	// unless the key has its own keys.Key.Quota. 0 means unlimited.
	MonthlyQuota int64
	// QPS is the sustained request rate, in requests per second, that the token bucket
	// refills at. 0 (or less) means no rate limit at all; Burst and MinWait are then ignored.
	QPS float64
	// Burst is the bucket's capacity: how many requests an idle key may make at once.
	// Values below 1 are treated as 1 when QPS > 0.
	Burst int
	// MinWait is the minimum interval between two admitted requests once the burst is used
	// up; see RateLimiter for the exact rule. 0 means no minimum beyond the refill rate.
	MinWait time.Duration
	// ReportsPerMonth is how many reports a key of this tier may request per month.
	// 0 means unlimited. Package limits does not enforce it.
	ReportsPerMonth int
}

// DefaultTiers returns DESIGN §6's tier table, keyed by tier name. The caller owns the map.
func DefaultTiers() map[string]Tier {
	return map[string]Tier{
		keys.TierFree:       {Name: keys.TierFree, MonthlyQuota: 1_000, QPS: 1, Burst: 5, MinWait: time.Second, ReportsPerMonth: 10},
		keys.TierPro:        {Name: keys.TierPro, MonthlyQuota: 50_000, QPS: 10, Burst: 20, MinWait: 100 * time.Millisecond, ReportsPerMonth: 10},
		keys.TierEnterprise: {Name: keys.TierEnterprise, MonthlyQuota: 500_000, QPS: 50, Burst: 100, MinWait: 20 * time.Millisecond, ReportsPerMonth: 10},
		keys.TierUnlimited:  {Name: keys.TierUnlimited, QPS: 100, Burst: 200, MinWait: 10 * time.Millisecond},
		keys.TierLifetime:   {Name: keys.TierLifetime, QPS: 100, Burst: 200, MinWait: 10 * time.Millisecond},
		keys.TierPartner:    {Name: keys.TierPartner},
	}
}

// RateLimited reports whether the tier has a rate limit (QPS > 0).
func (t Tier) RateLimited() bool { return t.QPS > 0 }

// Window returns the time an empty bucket takes to refill to Burst tokens, Burst/QPS: the
// window w of an IETF RateLimit-Policy whose quota q is Burst. It is 0 without a rate limit.
func (t Tier) Window() time.Duration {
	r := rateOf(t)
	return time.Duration(r.interval + r.tau)
}

// rate is a Tier's token bucket in GCRA terms, in nanoseconds.
type rate struct {
	interval int64 // emission interval T = 1/QPS; 0 = no rate limit
	tau      int64 // burst tolerance (Burst-1)·T
	minWait  int64 // MinWait
	burst    int
}

// rateOf converts t to GCRA parameters. It does not allocate.
func rateOf(t Tier) rate {
	if !(t.QPS > 0) { // also catches NaN
		return rate{}
	}
	iv := math.Round(float64(time.Second) / t.QPS)
	if iv < 1 {
		iv = 1 // more than 1e9 QPS: one request per nanosecond
	}
	if iv > math.MaxInt64/4 {
		iv = math.MaxInt64 / 4
	}
	burst := max(t.Burst, 1)
	interval := int64(iv)
	tau := interval * int64(burst-1)
	if tau/interval != int64(burst-1) || tau > math.MaxInt64/4 { // overflow: clamp
		tau = math.MaxInt64 / 4
	}
	minWait := min(max(int64(t.MinWait), 0), math.MaxInt64/4)
	return rate{interval: interval, tau: tau, minWait: minWait, burst: burst}
}
