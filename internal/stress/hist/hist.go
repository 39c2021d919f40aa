// Package hist is a mergeable, fixed-size latency histogram in the style of HdrHistogram:
// log-linear buckets covering 0 ns to about 68.7 s with a relative bucket width of at most
// 1/128 (0.78 %), so percentiles are within 1 % of the true value. Histograms from many
// goroutines or machines merge by adding counts, and the merge equals the histogram of all
// the samples recorded into one.
//
// Histogram is a plain value for one goroutine; Atomic records from many goroutines at once
// and is copied into a Histogram with Snapshot. The package imports only the standard
// library.
package hist

import (
	"encoding/json"
	"errors"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

const (
	// subBits is log2 of the linear buckets per power of two: 128 buckets, width ≤ 1/128.
	subBits = 7
	subSize = 1 << subBits
	// maxBits bounds the recorded values: up to 2^36-1 ns (68.7 s); larger values are
	// counted in the last bucket (Max still reports them exactly).
	maxBits = 36
	// Buckets is the number of buckets.
	Buckets    = (maxBits - subBits + 1) * subSize
	maxTracked = 1<<maxBits - 1
)

// index returns the bucket of v nanoseconds.
func index(v uint64) int {
	if v > maxTracked {
		v = maxTracked
	}
	if v < subSize {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - subBits
	return (shift+1)<<subBits + int(v>>uint(shift)) - subSize
}

// lowest returns the smallest value of bucket i.
func lowest(i int) uint64 {
	if i < 2*subSize {
		return uint64(i)
	}
	shift := i>>subBits - 1
	return uint64(i&(subSize-1)|subSize) << uint(shift)
}

// highest returns the largest value of bucket i.
func highest(i int) uint64 {
	if i < 2*subSize {
		return uint64(i)
	}
	shift := i>>subBits - 1
	return lowest(i) + 1<<uint(shift) - 1
}

// Histogram counts durations. The zero value is empty and ready to use. It is not safe for
// concurrent use; see Atomic.
type Histogram struct {
	counts [Buckets]uint64
	total  uint64
	sum    uint64 // nanoseconds
	min    uint64 // valid when total > 0
	max    uint64
}

// Record adds one sample. Negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[index(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	h.total++
	h.sum += v
	h.max = max(h.max, v)
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.total += o.total
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Sub sets h to a − b, for b an earlier snapshot of the same growing histogram (counts only
// grow). Min and Max of the difference are approximated by its lowest and highest non-empty
// buckets (clamped to a's exact extremes), since exact extremes of an interval are not kept.
func (h *Histogram) Sub(a, b *Histogram) {
	h.total, h.sum = 0, a.sum-b.sum
	lo, hi := -1, -1
	for i := range h.counts {
		c := a.counts[i] - b.counts[i]
		h.counts[i] = c
		if c != 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
			h.total += c
		}
	}
	h.min, h.max = 0, 0
	if h.total > 0 {
		h.min = max(lowest(lo), a.min)
		h.max = min(highest(hi), a.max)
	}
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.total }

// Min returns the smallest sample (0 when empty).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest sample (0 when empty).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the mean sample (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / h.total)
}

// Quantile returns the value at quantile q (0..1): the highest value of the bucket that holds
// the ceil(q·count)-th smallest sample, clamped to [Min, Max]. Like HdrHistogram it errs on
// the high side, by at most one bucket width (0.78 %). It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(highest(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// wire is the JSON form: only non-empty buckets, as [index, count] pairs.
type wire struct {
	Count   uint64      `json:"count"`
	SumNS   uint64      `json:"sum_ns"`
	MinNS   uint64      `json:"min_ns"`
	MaxNS   uint64      `json:"max_ns"`
	Buckets [][2]uint64 `json:"buckets"`
}

// MarshalJSON encodes h sparsely, so a histogram travels between processes and merges
// exactly at the other end.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	w := wire{Count: h.total, SumNS: h.sum, MinNS: h.min, MaxNS: h.max, Buckets: [][2]uint64{}}
	for i, c := range h.counts {
		if c != 0 {
			w.Buckets = append(w.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	h.Reset()
	for _, p := range w.Buckets {
		if p[0] >= Buckets {
			return errors.New("hist: bucket index out of range")
		}
		h.counts[p[0]] += p[1]
		h.total += p[1]
	}
	if h.total != w.Count {
		return errors.New("hist: bucket counts do not add up to count")
	}
	h.sum, h.min, h.max = w.SumNS, w.MinNS, w.MaxNS
	return nil
}

// Atomic is a Histogram that many goroutines record into at once without locks. Copy it out
// with Snapshot. The zero value is ready to use.
type Atomic struct {
	counts [Buckets]atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Uint64
	// min is stored as ^v so that the zero value means "none yet".
	minInv atomic.Uint64
}

// Record adds one sample; safe for concurrent use and allocation free.
func (a *Atomic) Record(d time.Duration) {
	v := uint64(max(d, 0))
	// Extremes first: a snapshot that sees the count also sees them.
	for {
		m := a.max.Load()
		if v <= m || a.max.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := a.minInv.Load()
		if ^v <= m || a.minInv.CompareAndSwap(m, ^v) {
			break
		}
	}
	a.sum.Add(v)
	a.counts[index(v)].Add(1)
}

// AddTo adds a's current samples to h (a consistent copy needs no concurrent Record; under
// concurrent recording the copy may be a few samples behind in some buckets).
func (a *Atomic) AddTo(h *Histogram) {
	var n uint64
	for i := range a.counts {
		c := a.counts[i].Load()
		h.counts[i] += c
		n += c
	}
	if n == 0 {
		return
	}
	mn := ^a.minInv.Load()
	if h.total == 0 || mn < h.min {
		h.min = mn
	}
	h.total += n
	h.sum += a.sum.Load()
	h.max = max(h.max, a.max.Load())
}
