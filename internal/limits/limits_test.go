package limits_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
)

// t0 is the fake clock's start, in the middle of a month.
var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC).UnixNano()

const (
	ms = int64(time.Millisecond)
	s  = int64(time.Second)
)

func mustTier(t testing.TB, name string) limits.Tier {
	t.Helper()
	tier, ok := limits.DefaultTiers()[name]
	if !ok {
		t.Fatalf("no default tier %q", name)
	}
	return tier
}

// allow calls rl.Allow and fails unless the result is as wanted.
func allow(t *testing.T, rl *limits.RateLimiter, now int64, wantOK bool, wantRetry time.Duration, wantRem int) {
	t.Helper()
	ok, retry, rem := rl.Allow(now)
	if ok != wantOK || retry != wantRetry || rem != wantRem {
		t.Fatalf("Allow(t0%+v) = %v, %v, %d; want %v, %v, %d",
			time.Duration(now-t0), ok, retry, rem, wantOK, wantRetry, wantRem)
	}
}

func TestDefaultTiers(t *testing.T) {
	got := limits.DefaultTiers()
	want := map[string]limits.Tier{
		"free":       {Name: "free", MonthlyQuota: 1000, QPS: 1, Burst: 5, MinWait: time.Second, ReportsPerMonth: 10},
		"pro":        {Name: "pro", MonthlyQuota: 50000, QPS: 10, Burst: 20, MinWait: 100 * time.Millisecond, ReportsPerMonth: 10},
		"enterprise": {Name: "enterprise", MonthlyQuota: 500000, QPS: 50, Burst: 100, MinWait: 20 * time.Millisecond, ReportsPerMonth: 10},
		"unlimited":  {Name: "unlimited", MonthlyQuota: 0, QPS: 100, Burst: 200, MinWait: 10 * time.Millisecond, ReportsPerMonth: 0},
		"lifetime":   {Name: "lifetime", MonthlyQuota: 0, QPS: 100, Burst: 200, MinWait: 10 * time.Millisecond, ReportsPerMonth: 0},
		"partner":    {Name: "partner"},
	}
	if len(got) != len(want) {
		t.Fatalf("DefaultTiers has %d tiers, want %d", len(got), len(want))
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("DefaultTiers()[%q] = %+v, want %+v", name, g, w)
		}
	}
	for _, name := range keys.Tiers() {
		if _, ok := got[name]; !ok {
			t.Errorf("keys tier %q has no default limits", name)
		}
	}
	if w := got["free"].Window(); w != 5*time.Second {
		t.Errorf("free Window = %v, want 5s", w)
	}
	if w := got["partner"].Window(); w != 0 {
		t.Errorf("partner Window = %v, want 0", w)
	}
}

func TestRateBurstThenRefused(t *testing.T) {
	for _, name := range []string{"free", "pro", "enterprise", "unlimited", "lifetime"} {
		t.Run(name, func(t *testing.T) {
			tier := mustTier(t, name)
			interval := time.Duration(float64(time.Second) / tier.QPS)
			rl := limits.NewRateLimiter(tier)
			for i := range tier.Burst {
				allow(t, rl, t0, true, 0, tier.Burst-1-i)
			}
			// Empty: the next token is one interval away (MinWait == 1/QPS here).
			allow(t, rl, t0, false, interval, 0)
			allow(t, rl, t0+int64(interval)/2, false, interval/2, 0)
			allow(t, rl, t0+int64(interval)-1, false, 1, 0)
			allow(t, rl, t0+int64(interval), true, 0, 0)
			allow(t, rl, t0+int64(interval), false, interval, 0)
		})
	}
}

func TestRateRefill(t *testing.T) {
	t.Run("free", func(t *testing.T) {
		rl := limits.NewRateLimiter(mustTier(t, "free"))
		for i := range 5 {
			allow(t, rl, t0, true, 0, 4-i)
		}
		// One request per second after that.
		for i := int64(1); i <= 3; i++ {
			allow(t, rl, t0+i*s, true, 0, 0)
			allow(t, rl, t0+i*s+1, false, time.Second-1, 0)
		}
		// Idle for Burst/QPS after the bucket emptied: full again.
		full := t0 + 3*s + 5*s
		allow(t, rl, full-1, true, 0, 3) // 4.999… tokens
		rl = limits.NewRateLimiter(mustTier(t, "free"))
		for range 5 {
			rl.Allow(t0)
		}
		for i := range 5 {
			allow(t, rl, t0+5*s, true, 0, 4-i)
		}
		allow(t, rl, t0+5*s, false, time.Second, 0)
	})
	t.Run("NoMinWait", func(t *testing.T) {
		rl := limits.NewRateLimiter(limits.Tier{QPS: 4, Burst: 2})
		allow(t, rl, t0, true, 0, 1)
		allow(t, rl, t0, true, 0, 0)
		allow(t, rl, t0, false, 250*time.Millisecond, 0)
		allow(t, rl, t0+250*ms, true, 0, 0)
		// Partial refill is kept: at +600ms the bucket holds 1.4 tokens.
		allow(t, rl, t0+600*ms, true, 0, 0)
		allow(t, rl, t0+600*ms, false, 150*time.Millisecond, 0)
		allow(t, rl, t0+750*ms, true, 0, 0)
	})
}

func TestRateMinWait(t *testing.T) {
	t.Run("LongerThanInterval", func(t *testing.T) {
		// 10 QPS but at least 1 s between requests once the burst of 3 is used up.
		rl := limits.NewRateLimiter(limits.Tier{QPS: 10, Burst: 3, MinWait: time.Second})
		// MinWait does not space out the burst.
		allow(t, rl, t0, true, 0, 2)
		allow(t, rl, t0+1, true, 0, 1)
		allow(t, rl, t0+2, true, 0, 0)
		a := t0 + 2
		allow(t, rl, a, false, time.Second, 0)
		allow(t, rl, a+100*ms, false, 900*time.Millisecond, 0) // a token has refilled, MinWait has not passed
		allow(t, rl, a+s-1, false, 1, 0)
		allow(t, rl, a+s, true, 0, 0)
		// A saturating client gets one request per MinWait.
		for i := int64(2); i <= 5; i++ {
			allow(t, rl, a+i*s-1, false, 1, 0)
			allow(t, rl, a+i*s, true, 0, 0)
		}
		// After the last admission the next whole token is due at +1 s (MinWait), and the
		// bucket refills at QPS from there: full (3 tokens) at +1.2 s.
		last := a + 5*s
		allow(t, rl, last+1200*ms, true, 0, 2)
		allow(t, rl, last+1200*ms, true, 0, 1)
		allow(t, rl, last+1200*ms, true, 0, 0)
		allow(t, rl, last+1200*ms, false, time.Second, 0)
	})
	t.Run("ShorterThanRefill", func(t *testing.T) {
		// 1 QPS, burst 2, MinWait 0.8 s: the next token is due at max(refill, admit+0.8 s).
		rl := limits.NewRateLimiter(limits.Tier{QPS: 1, Burst: 2, MinWait: 800 * time.Millisecond})
		allow(t, rl, t0, true, 0, 1)
		allow(t, rl, t0, true, 0, 0)
		allow(t, rl, t0, false, time.Second, 0) // refill (1 s) is the longer wait
		// At +1.5 s the bucket holds 1.5 tokens; taking one leaves 0.5, which would refill
		// in 0.5 s, but MinWait makes it 0.8 s.
		a := t0 + 1500*ms
		allow(t, rl, a, true, 0, 0)
		allow(t, rl, a, false, 800*time.Millisecond, 0)
		allow(t, rl, a+800*ms, true, 0, 0)
	})
	t.Run("BurstOfOne", func(t *testing.T) {
		rl := limits.NewRateLimiter(limits.Tier{QPS: 100, Burst: 1, MinWait: 50 * time.Millisecond})
		allow(t, rl, t0, true, 0, 0)
		allow(t, rl, t0+10*ms, false, 40*time.Millisecond, 0)
		allow(t, rl, t0+50*ms, true, 0, 0)
	})
}

func TestRateUnlimited(t *testing.T) {
	rl := limits.NewRateLimiter(mustTier(t, "partner"))
	for range 10_000 {
		allow(t, rl, t0, true, 0, 0)
	}
}

func newKey(id, tier string, quota int64) *keys.Key {
	return &keys.Key{ID: id, Tier: tier, Quota: quota}
}

func TestCheckPartnerNeverLimited(t *testing.T) {
	l := limits.NewLimiter()
	k := newKey("key_partner0001", keys.TierPartner, 0)
	tier := mustTier(t, keys.TierPartner)
	for i := range 100_000 {
		d := l.Check(k, tier, t0+int64(i%3))
		if !d.OK || d.Reason != limits.ReasonNone || d.RetryAfter != 0 || d.Limit != 0 || d.QuotaLimit != 0 {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	if got := l.Used(k.ID); got != 100_000 {
		t.Fatalf("Used = %d, want 100000", got)
	}
}

func TestCheckRate(t *testing.T) {
	l := limits.NewLimiter()
	k := newKey("key_free0000001", keys.TierFree, 0)
	tier := mustTier(t, keys.TierFree)
	for i := range 5 {
		d := l.Check(k, tier, t0)
		want := limits.Decision{OK: true, Limit: 5, Remaining: 4 - i, Reset: time.Duration(i+1) * time.Second,
			QuotaLimit: 1000, QuotaRemaining: int64(999 - i), QuotaReset: 22*24*time.Hour - 12*time.Hour}
		if d != want {
			t.Fatalf("request %d: %+v, want %+v", i, d, want)
		}
	}
	d := l.Check(k, tier, t0+300*ms)
	want := limits.Decision{Reason: limits.RateLimited, RetryAfter: 700 * time.Millisecond, Limit: 5, Reset: 4700 * time.Millisecond,
		QuotaLimit: 1000, QuotaRemaining: 995, QuotaReset: 22*24*time.Hour - 12*time.Hour - 300*time.Millisecond}
	if d != want {
		t.Fatalf("refused: %+v, want %+v", d, want)
	}
	if got := l.Used(k.ID); got != 5 {
		t.Fatalf("Used = %d after a refusal, want 5 (refusals are not counted)", got)
	}
	if d := l.Check(k, tier, t0+s); !d.OK || d.QuotaRemaining != 994 {
		t.Fatalf("after 1 s: %+v", d)
	}
	// Another key has its own bucket.
	if d := l.Check(newKey("key_free0000002", keys.TierFree, 0), tier, t0); !d.OK || d.Remaining != 4 {
		t.Fatalf("other key: %+v", d)
	}
}

func TestCheckQuota(t *testing.T) {
	f := func(name string, k *keys.Key, tier limits.Tier, n int64) {
		t.Run(name, func(t *testing.T) {
			l := limits.NewLimiter()
			now := t0
			for i := range n {
				d := l.Check(k, tier, now)
				if !d.OK || d.QuotaLimit != n || d.QuotaRemaining != n-1-i {
					t.Fatalf("request %d: %+v", i, d)
				}
				now += s // slow enough for any tier's rate limit
			}
			remBefore := l.Check(k, tier, now)
			if remBefore.OK || remBefore.Reason != limits.QuotaExceeded {
				t.Fatalf("request %d: %+v, want QuotaExceeded", n, remBefore)
			}
			wantRetry := time.Duration(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).UnixNano() - now)
			if remBefore.RetryAfter != wantRetry || remBefore.QuotaReset != wantRetry || remBefore.QuotaRemaining != 0 {
				t.Fatalf("QuotaExceeded: %+v, want RetryAfter %v", remBefore, wantRetry)
			}
			// Refusals for quota do not take tokens.
			for range 3 * tier.Burst {
				if d := l.Check(k, tier, now); d != remBefore {
					t.Fatalf("repeat: %+v, want %+v", d, remBefore)
				}
			}
			if got := l.Used(k.ID); got != n {
				t.Fatalf("Used = %d, want %d", got, n)
			}
		})
	}
	f("TierDefault", newKey("key_free0000001", keys.TierFree, 0), mustTier(t, keys.TierFree), 1000)
	f("KeyOverride", newKey("key_pro00000001", keys.TierPro, 7), mustTier(t, keys.TierPro), 7)
	f("OverridePartner", newKey("key_partner0001", keys.TierPartner, 3), mustTier(t, keys.TierPartner), 3)
}

func TestCheckQuotaMonthBoundary(t *testing.T) {
	l := limits.NewLimiter()
	k := newKey("key_free0000001", keys.TierFree, 10)
	tier := mustTier(t, keys.TierFree)
	dec := limits.MonthOf(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	l.SetUsed(k.ID, dec, 9)

	last := time.Date(2026, 12, 31, 23, 59, 58, 0, time.UTC).UnixNano()
	if d := l.Check(k, tier, last); !d.OK || d.QuotaRemaining != 0 || d.QuotaReset != 2*time.Second {
		t.Fatalf("10th request: %+v", d)
	}
	d := l.Check(k, tier, last+s) // 2026-12-31T23:59:59Z
	if d.OK || d.Reason != limits.QuotaExceeded || d.RetryAfter != time.Second || d.QuotaReset != time.Second {
		t.Fatalf("11th request: %+v, want QuotaExceeded with RetryAfter 1s", d)
	}
	if d := l.Check(k, tier, last+2*s-1); d.Reason != limits.QuotaExceeded || d.RetryAfter != 1 {
		t.Fatalf("1 ns before midnight: %+v", d)
	}
	jan := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	d = l.Check(k, tier, jan)
	if !d.OK || d.QuotaRemaining != 9 || d.QuotaReset != 31*24*time.Hour {
		t.Fatalf("first request of January: %+v", d)
	}
	if m, used := l.Usage(k.ID); m.String() != "2027-01" || used != 1 {
		t.Fatalf("Usage = %v, %d; want 2027-01, 1", m, used)
	}
	if got := l.Used(k.ID); got != 1 {
		t.Fatalf("Used = %d, want 1", got)
	}
}

func TestSetUsed(t *testing.T) {
	l := limits.NewLimiter()
	k := newKey("key_free0000001", keys.TierFree, 0)
	tier := mustTier(t, keys.TierFree)
	mar := limits.MonthAt(t0)
	if l.Used(k.ID) != 0 {
		t.Fatal("unknown key has usage")
	}
	l.SetUsed(k.ID, mar, 998) // a restarted instance continues from the stored count
	if d := l.Check(k, tier, t0); !d.OK || d.QuotaRemaining != 1 {
		t.Fatalf("999th: %+v", d)
	}
	if d := l.Check(k, tier, t0+s); !d.OK || d.QuotaRemaining != 0 {
		t.Fatalf("1000th: %+v", d)
	}
	if d := l.Check(k, tier, t0+2*s); d.Reason != limits.QuotaExceeded {
		t.Fatalf("1001st: %+v", d)
	}
	l.SetUsed(k.ID, mar-1, 5) // an older month is ignored
	if got := l.Used(k.ID); got != 1000 {
		t.Fatalf("Used = %d after SetUsed for February, want 1000", got)
	}
	l.SetUsed(k.ID, mar, 10) // the same month is replaced
	if got := l.Used(k.ID); got != 10 {
		t.Fatalf("Used = %d, want 10", got)
	}
	if d := l.Check(k, tier, t0+3*s); !d.OK || d.QuotaRemaining != 989 {
		t.Fatalf("after SetUsed(10): %+v", d)
	}
	// A last month's seed counts for nothing this month.
	k2 := newKey("key_free0000002", keys.TierFree, 0)
	l.SetUsed(k2.ID, mar-1, 1000)
	if d := l.Check(k2, tier, t0); !d.OK || d.QuotaRemaining != 999 {
		t.Fatalf("stale seed: %+v", d)
	}
	// A later month is never undone by a clock stepping back.
	k3 := newKey("key_free0000003", keys.TierFree, 2)
	l.SetUsed(k3.ID, mar+1, 2)
	if d := l.Check(k3, tier, t0); d.Reason != limits.QuotaExceeded ||
		d.RetryAfter != time.Duration(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).UnixNano()-t0) {
		t.Fatalf("later month: %+v", d)
	}
	l.Forget(k3.ID)
	if d := l.Check(k3, tier, t0); !d.OK {
		t.Fatalf("after Forget: %+v", d)
	}
	if n := l.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
}

func TestMonthID(t *testing.T) {
	m := limits.MonthOf(time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC))
	if m.String() != "2026-12" || m.Year() != 2026 || m.Month() != time.December {
		t.Fatalf("MonthOf = %v", m)
	}
	if n := m.Next(); n.String() != "2027-01" || !n.Start().Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("Next = %v starting %v", n, n.Start())
	}
	// MonthOf works in UTC whatever the location.
	loc := time.FixedZone("UTC+2", 2*3600)
	if got := limits.MonthOf(time.Date(2027, 1, 1, 1, 0, 0, 0, loc)); got != m {
		t.Fatalf("MonthOf(2027-01-01T01:00+02:00) = %v, want 2026-12", got)
	}
	if got := limits.MonthAt(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()); got != m+1 {
		t.Fatalf("MonthAt(2027-01-01) = %v", got)
	}
}

func TestReasonString(t *testing.T) {
	for r, want := range map[limits.Reason]string{limits.ReasonNone: "none", limits.RateLimited: "rate_limited", limits.QuotaExceeded: "quota_exceeded", 9: "unknown"} {
		if got := r.String(); got != want {
			t.Errorf("Reason(%d).String() = %q, want %q", r, got, want)
		}
	}
}

func TestConcurrentBurst(t *testing.T) {
	const goroutines, tries = 32, 50
	for _, name := range []string{"free", "pro", "enterprise", "unlimited"} {
		t.Run(name, func(t *testing.T) {
			tier := mustTier(t, name)
			rl := limits.NewRateLimiter(tier)
			l := limits.NewLimiter()
			k := newKey("key_concurrent1", name, 0)
			var admitted, checked atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range goroutines {
				wg.Go(func() {
					<-start
					for range tries {
						if ok, _, _ := rl.Allow(t0); ok {
							admitted.Add(1)
						}
						if d := l.Check(k, tier, t0); d.OK {
							checked.Add(1)
						} else if d.Reason != limits.RateLimited || d.RetryAfter != tier.MinWait {
							t.Errorf("refusal %+v", d)
						}
					}
				})
			}
			close(start)
			wg.Wait()
			if got := admitted.Load(); got != int64(tier.Burst) {
				t.Errorf("RateLimiter admitted %d, want %d", got, tier.Burst)
			}
			if got := checked.Load(); got != int64(tier.Burst) {
				t.Errorf("Limiter admitted %d, want %d", got, tier.Burst)
			}
			if got := l.Used(k.ID); got != int64(tier.Burst) {
				t.Errorf("Used = %d, want %d", got, tier.Burst)
			}
		})
	}
}

func TestConcurrentQuota(t *testing.T) {
	const goroutines, tries, quota = 16, 200, 1234
	l := limits.NewLimiter()
	tier := mustTier(t, keys.TierPartner)
	var wg sync.WaitGroup
	var ok atomic.Int64
	keyOf := func(i int) *keys.Key { return newKey("key_quota"+string(rune('a'+i%4)), keys.TierPartner, quota) }
	for g := range goroutines {
		wg.Go(func() {
			for i := range tries {
				if d := l.Check(keyOf(g+i), tier, t0+int64(i)); d.OK {
					ok.Add(1)
				} else if d.Reason != limits.QuotaExceeded {
					t.Errorf("refusal %+v", d)
				}
			}
		})
	}
	wg.Wait()
	// 16·200 = 3200 requests over 4 keys: 800 each, under the quota.
	if got := ok.Load(); got != goroutines*tries {
		t.Fatalf("admitted %d, want %d", got, goroutines*tries)
	}
	ok.Store(0)
	k := newKey("key_quota_one", keys.TierPartner, quota)
	for range goroutines {
		wg.Go(func() {
			for i := range tries {
				if d := l.Check(k, tier, t0+int64(i)); d.OK {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := ok.Load(); got != quota {
		t.Fatalf("one key: admitted %d, want exactly the quota %d", got, quota)
	}
	if got := l.Used(k.ID); got != quota {
		t.Fatalf("Used = %d, want %d", got, quota)
	}
}
