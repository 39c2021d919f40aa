// Package histogram provides a lock-free latency histogram exposed in the Prometheus text
// format. Hot paths observe with a few atomic adds and no allocation, so it can sit on every
// request; VictoriaMetrics' PrometheusHistogram takes a mutex per update instead.
package histogram

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"sync/atomic"
	"time"
)

// DefaultBounds are upper bounds in seconds, from 1 µs to 10 s, about three per decade.
var DefaultBounds = []float64{
	1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
	1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 10,
}

// Histogram counts observations into fixed buckets. It is safe for concurrent use.
type Histogram struct {
	name    string // metric name
	labels  string // label pairs without braces, may be empty
	bounds  []float64
	boundNs []int64
	counts  []atomic.Uint64 // one per bound, plus +Inf
	sumNs   atomic.Int64
}

// New returns a histogram named name with label pairs labels (e.g. `protocol="udp"`, may be
// empty) and the given upper bounds in seconds (nil means DefaultBounds).
func New(name, labels string, bounds []float64) *Histogram {
	if bounds == nil {
		bounds = DefaultBounds
	}
	h := &Histogram{name: name, labels: labels, bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
	for _, b := range bounds {
		h.boundNs = append(h.boundNs, int64(b*1e9))
	}
	return h
}

// Observe records one duration. It does not allocate.
func (h *Histogram) Observe(d time.Duration) {
	ns := int64(d)
	i := 0
	for i < len(h.boundNs) && ns > h.boundNs[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(ns)
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Quantile estimates the q-quantile (0..1) as the upper bound of the bucket holding it; +Inf
// when it falls beyond the last bound, 0 with no observations.
func (h *Histogram) Quantile(q float64) float64 {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
		if n >= rank {
			if i == len(h.bounds) {
				return math.Inf(1)
			}
			return h.bounds[i]
		}
	}
	return math.Inf(1)
}

// WritePrometheus writes the histogram in the Prometheus text exposition format.
func (h *Histogram) WritePrometheus(w io.Writer) {
	sep := ""
	if h.labels != "" {
		sep = ","
	}
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		le := "+Inf"
		if i < len(h.bounds) {
			le = strconv.FormatFloat(h.bounds[i], 'g', -1, 64)
		}
		fmt.Fprintf(w, "%s_bucket{%s%sle=\"%s\"} %d\n", h.name, h.labels, sep, le, cum)
	}
	lb := ""
	if h.labels != "" {
		lb = "{" + h.labels + "}"
	}
	fmt.Fprintf(w, "%s_sum%s %g\n", h.name, lb, float64(h.sumNs.Load())/1e9)
	fmt.Fprintf(w, "%s_count%s %d\n", h.name, lb, cum)
}
