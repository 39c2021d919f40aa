package metering_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/trinityprice/trinity/internal/metering"
)

type nopSink struct{}

func (nopSink) WriteUsage(context.Context, []metering.Record) error { return nil }

func BenchmarkAdd(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		m := mustMeter(b, nopSink{})
		b.ReportAllocs()
		for b.Loop() {
			m.Add("key_bench00001", 0, 0, 1, 0, t0)
		}
	})
	ks := make([]string, 1000)
	for i := range ks {
		ks[i] = "key_" + strconv.Itoa(100000000000+i)
	}
	b.Run("parallel/keys=1000", func(b *testing.B) {
		m := mustMeter(b, nopSink{})
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 7919
			for pb.Next() {
				i++
				m.Add(ks[i%len(ks)], 0, 1, int32(i%20), 0, t0)
			}
		})
	})
	b.Run("parallel/key=1,asset=1", func(b *testing.B) {
		m := mustMeter(b, nopSink{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Add("key_bench00001", 0, 0, 1, 0, t0)
			}
		})
	})
}

func BenchmarkFlush(b *testing.B) {
	m := mustMeter(b, nopSink{})
	b.ReportAllocs()
	for b.Loop() {
		for i := range 1000 {
			m.Add("key_bench00001", 0, uint8(i%3), int32(i), 0, t0)
		}
		if err := m.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(1000, "records/flush")
}
