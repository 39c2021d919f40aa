//go:build !race

package limits_test

import (
	"testing"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
)

func TestCheckAllocs(t *testing.T) {
	l := limits.NewLimiter()
	tiers := limits.DefaultTiers()
	free, partner := tiers[keys.TierFree], tiers[keys.TierPartner]
	kf := newKey("key_free0000001", keys.TierFree, 0)
	kp := newKey("key_partner0001", keys.TierPartner, 0)
	kq := newKey("key_quota000001", keys.TierPartner, 1)
	l.Check(kf, free, t0) // the first request per key may allocate
	l.Check(kp, partner, t0)
	l.Check(kq, partner, t0)
	rl := limits.NewRateLimiter(free)
	f := func(name string, fn func()) {
		t.Helper()
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
	now := t0
	f("Check admitted", func() { now += s; l.Check(kf, free, now) })
	f("Check rate limited", func() { l.Check(kf, free, now) })
	f("Check partner", func() { l.Check(kp, partner, t0) })
	f("Check quota exceeded", func() { l.Check(kq, partner, t0) })
	f("RateLimiter.Allow", func() { rl.Allow(t0) })
	f("Used", func() { l.Used(kf.ID) })
}
