package stress

import (
	"encoding/json"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/trinityprice/trinity/internal/stress/hist"
)

// shard is one slice of a recorder. Goroutines record into the shard of their index modulo
// the shard count, so that on many cores they rarely share cache lines.
type shard struct {
	h     hist.Atomic
	kinds [NumKinds]atomic.Uint64
	_     [64]byte
}

// done records one finished request. lat is recorded in the latency histogram when timed is
// set (answers of any status and timeouts; connection failures are counted, not timed).
func (s *shard) done(k Kind, lat time.Duration, timed bool) {
	if timed {
		s.h.Record(lat)
	}
	s.kinds[k].Add(1)
}

// recorder collects one protocol's outcomes from all its goroutines.
type recorder struct {
	shards []shard
	unsent atomic.Uint64 // open loop: scheduled requests that were never sent
	flags  atomic.Uint32 // flagNoFDs, …
	need   atomic.Int64  // the largest need_bytes a UDP server asked for
}

func newRecorder() *recorder {
	return &recorder{shards: make([]shard, min(max(2*runtime.GOMAXPROCS(0), 2), 64))}
}

func (r *recorder) shard(i int) *shard { return &r.shards[i%len(r.shards)] }

// snapshot adds the recorder's totals so far to st.
func (r *recorder) snapshot(st *Stats) {
	for i := range r.shards {
		s := &r.shards[i]
		s.h.AddTo(&st.Hist)
		for k := range st.Kinds {
			st.Kinds[k] += s.kinds[k].Load()
		}
	}
	st.Unsent += r.unsent.Load()
}

// Stats are the counts and latencies of some requests: a protocol in a phase, a second of a
// run, or a merge of those. The zero value is empty.
type Stats struct {
	// Kinds counts finished requests by outcome.
	Kinds [NumKinds]uint64
	// Unsent counts open-loop requests that were scheduled but never sent (the client's
	// connections were all busy until the phase ended).
	Unsent uint64
	// Hist holds the latencies of answered requests and timeouts.
	Hist hist.Histogram
}

// Requests is the number of finished requests (answered or failed).
func (s *Stats) Requests() uint64 {
	var n uint64
	for _, c := range s.Kinds {
		n += c
	}
	return n
}

// Errors is the number of requests that did not succeed.
func (s *Stats) Errors() uint64 { return s.Requests() - s.Kinds[OK] }

// Success is the percentage of finished requests that succeeded (100 when none finished).
func (s *Stats) Success() float64 {
	n := s.Requests()
	if n == 0 {
		return 100
	}
	return 100 * float64(s.Kinds[OK]) / float64(n)
}

// Merge adds o to s.
func (s *Stats) Merge(o *Stats) {
	for k := range s.Kinds {
		s.Kinds[k] += o.Kinds[k]
	}
	s.Unsent += o.Unsent
	s.Hist.Merge(&o.Hist)
}

// sub sets s to a − b for snapshots b taken before a.
func (s *Stats) sub(a, b *Stats) {
	for k := range s.Kinds {
		s.Kinds[k] = a.Kinds[k] - b.Kinds[k]
	}
	s.Unsent = a.Unsent - b.Unsent
	s.Hist.Sub(&a.Hist, &b.Hist)
}

// statsJSON is the JSON form of Stats: counts, derived figures (ignored when decoding) and
// the sparse histogram, which merges exactly.
type statsJSON struct {
	Requests uint64            `json:"requests"`
	OK       uint64            `json:"ok"`
	Errors   map[string]uint64 `json:"errors"`
	Unsent   uint64            `json:"unsent,omitempty"`
	Success  float64           `json:"success_pct"`
	MeanMS   float64           `json:"mean_ms"`
	P50MS    float64           `json:"p50_ms"`
	P90MS    float64           `json:"p90_ms"`
	P99MS    float64           `json:"p99_ms"`
	P999MS   float64           `json:"p99_9_ms"`
	MaxMS    float64           `json:"max_ms"`
	Hist     *hist.Histogram   `json:"histogram"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MarshalJSON implements json.Marshaler.
func (s *Stats) MarshalJSON() ([]byte, error) {
	j := statsJSON{Requests: s.Requests(), OK: s.Kinds[OK], Errors: map[string]uint64{}, Unsent: s.Unsent,
		Success: s.Success(), MeanMS: ms(s.Hist.Mean()), P50MS: ms(s.Hist.Quantile(0.5)),
		P90MS: ms(s.Hist.Quantile(0.9)), P99MS: ms(s.Hist.Quantile(0.99)), P999MS: ms(s.Hist.Quantile(0.999)),
		MaxMS: ms(s.Hist.Max()), Hist: &s.Hist}
	for k := Kind(1); k < NumKinds; k++ {
		j.Errors[k.String()] = s.Kinds[k]
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *Stats) UnmarshalJSON(b []byte) error {
	j := statsJSON{Hist: &s.Hist}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	s.Kinds = [NumKinds]uint64{}
	s.Kinds[OK] = j.OK
	for name, c := range j.Errors {
		if k, ok := kindByName(name); ok && k != OK {
			s.Kinds[k] = c
		}
	}
	s.Unsent = j.Unsent
	return nil
}
