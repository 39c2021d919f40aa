package limits_test

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
)

func BenchmarkRateLimiterAllow(b *testing.B) {
	rl := limits.NewRateLimiter(limits.DefaultTiers()[keys.TierEnterprise])
	b.ReportAllocs()
	now := t0
	for b.Loop() {
		now += 20 * ms // one request per interval: always admitted
		if ok, _, _ := rl.Allow(now); !ok {
			b.Fatal("refused")
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	tiers := limits.DefaultTiers()
	b.Run("key=1/admitted", func(b *testing.B) {
		l := limits.NewLimiter()
		k := newKey("key_bench000001", keys.TierPartner, 0)
		tier := tiers[keys.TierPartner]
		b.ReportAllocs()
		for b.Loop() {
			if d := l.Check(k, tier, t0); !d.OK {
				b.Fatal(d)
			}
		}
	})
	b.Run("key=1/ratelimited", func(b *testing.B) {
		l := limits.NewLimiter()
		k := newKey("key_bench000001", keys.TierFree, 0)
		tier := tiers[keys.TierFree]
		b.ReportAllocs()
		for b.Loop() {
			l.Check(k, tier, t0)
		}
	})
	ks := make([]*keys.Key, 10_000)
	for i := range ks {
		ks[i] = newKey("key_"+strconv.Itoa(100000000000+i), keys.TierEnterprise, 0)
	}
	tier := tiers[keys.TierEnterprise]
	b.Run("keys=10000/parallel", func(b *testing.B) {
		l := limits.NewLimiter()
		for _, k := range ks {
			l.Check(k, tier, t0)
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer() // the setup above allocates the keys' state
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 7919
			now := t0
			for pb.Next() {
				i++
				now += 1000
				l.Check(ks[i%len(ks)], tier, now)
			}
		})
	})
	b.Run("key=1/parallel", func(b *testing.B) {
		l := limits.NewLimiter()
		k := newKey("key_bench000001", keys.TierUnlimited, 0)
		tier := tiers[keys.TierUnlimited]
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			now := t0
			for pb.Next() {
				now += 10 * ms
				l.Check(k, tier, now)
			}
		})
	})
}
