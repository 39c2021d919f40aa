package histogram

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestHistogramBucketsAndQuantile(t *testing.T) {
	h := New("x_seconds", `p="a"`, []float64{0.001, 0.01, 0.1})
	for i := 0; i < 90; i++ {
		h.Observe(500 * time.Microsecond)
	}
	for i := 0; i < 9; i++ {
		h.Observe(5 * time.Millisecond)
	}
	h.Observe(time.Second)
	if got := h.Count(); got != 100 {
		t.Fatalf("count = %d, want 100", got)
	}
	if got := h.Quantile(0.5); got != 0.001 {
		t.Errorf("p50 = %v, want 0.001", got)
	}
	if got := h.Quantile(0.99); got != 0.01 {
		t.Errorf("p99 = %v, want 0.01", got)
	}
	var buf bytes.Buffer
	h.WritePrometheus(&buf)
	for _, want := range []string{
		`x_seconds_bucket{p="a",le="0.001"} 90`,
		`x_seconds_bucket{p="a",le="0.01"} 99`,
		`x_seconds_bucket{p="a",le="+Inf"} 100`,
		`x_seconds_count{p="a"} 100`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestObserveAllocs(t *testing.T) {
	h := New("y", "", nil)
	if n := testing.AllocsPerRun(100, func() { h.Observe(time.Millisecond) }); n != 0 {
		t.Fatalf("Observe: %v allocs, want 0", n)
	}
}
