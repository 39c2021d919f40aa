package hist

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketsContiguous(t *testing.T) {
	prevHi := int64(-1)
	for i := range Buckets {
		lo, hi := lowest(i), highest(i)
		if int64(lo) != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if index(lo) != i || index(hi) != i {
			t.Fatalf("bucket %d [%d,%d]: index(lo)=%d index(hi)=%d", i, lo, hi, index(lo), index(hi))
		}
		if lo >= subSize && float64(hi-lo+1)/float64(lo) > 1.0/subSize+1e-12 {
			t.Fatalf("bucket %d [%d,%d] wider than 1/%d", i, lo, hi, subSize)
		}
		prevHi = int64(hi)
	}
	if prevHi != maxTracked {
		t.Fatalf("last bucket ends at %d, want %d", prevHi, int64(maxTracked))
	}
	if index(1<<62) != Buckets-1 {
		t.Fatal("huge values must land in the last bucket")
	}
}

func TestQuantileAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var vals []time.Duration
	for range 100000 {
		// Log-uniform between 1 µs and 60 s.
		d := time.Duration(float64(time.Microsecond) * math.Pow(6e7, r.Float64()))
		vals = append(vals, d)
		h.Record(d)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[int(q*float64(len(vals)))-1+boolInt(q < 1)]
		got := h.Quantile(q)
		if rel := float64(got-exact) / float64(exact); rel < -0.01 || rel > 0.01 {
			t.Errorf("q%.3f: got %v, exact %v (%.2f%%)", q, got, exact, rel*100)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] || h.Count() != uint64(len(vals)) {
		t.Errorf("min/max/count: %v %v %d", h.Min(), h.Max(), h.Count())
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestMergeEqualsSingle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var all, a, b, c Histogram
	for i := range 50000 {
		d := time.Duration(r.ExpFloat64() * float64(300*time.Microsecond))
		all.Record(d)
		switch i % 3 {
		case 0:
			a.Record(d)
		case 1:
			b.Record(d)
		default:
			c.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&c)
	if m != all {
		t.Fatal("merged histogram differs from the single one")
	}
	// Through JSON too (how workers send theirs to the coordinator).
	var back Histogram
	js, err := json.Marshal(&a)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	back.Merge(&b)
	back.Merge(&c)
	if back != all {
		t.Fatal("merge after a JSON round trip differs")
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Fatalf("q%v differs", q)
		}
	}
}

func TestAtomicAndSub(t *testing.T) {
	var a Atomic
	var want Histogram
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var local Histogram
			for i := range 10000 {
				d := time.Duration((g*10000 + i) * 997 % 5000000)
				a.Record(d)
				local.Record(d)
			}
			mu.Lock()
			want.Merge(&local)
			mu.Unlock()
		})
	}
	wg.Wait()
	var got Histogram
	a.AddTo(&got)
	if got != want {
		t.Fatalf("atomic snapshot differs: count %d vs %d, min %v/%v max %v/%v", got.Count(), want.Count(), got.Min(), want.Min(), got.Max(), want.Max())
	}
	var before Histogram
	a.AddTo(&before)
	a.Record(time.Millisecond)
	a.Record(2 * time.Millisecond)
	var after, diff Histogram
	a.AddTo(&after)
	diff.Sub(&after, &before)
	if diff.Count() != 2 || diff.Quantile(0.5) < time.Millisecond || diff.Quantile(0.5) > 1010*time.Microsecond {
		t.Fatalf("diff: count %d p50 %v", diff.Count(), diff.Quantile(0.5))
	}
}

func TestRecordAllocs(t *testing.T) {
	var a Atomic
	var h Histogram
	if n := testing.AllocsPerRun(1000, func() { a.Record(time.Millisecond); h.Record(time.Second) }); n != 0 {
		t.Fatalf("%v allocs per record", n)
	}
}

func BenchmarkAtomicRecord(b *testing.B) {
	var a Atomic
	b.ReportAllocs()
	d := time.Duration(0)
	for b.Loop() {
		d += 1777
		a.Record(d & (1<<30 - 1))
	}
}
