package metering_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/metering"
)

// t0 is the fake clock's start: 2026-03-10T12:00:00Z.
var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC).UnixNano()

// group is a Record without its count.
type group struct {
	KeyID                              string
	Minute                             int64
	Protocol, Endpoint, Asset, Outcome string
}

func groupOf(r metering.Record) group {
	return group{r.KeyID, r.Minute, r.Protocol, r.Endpoint, r.Asset, r.Outcome}
}

// fakeSink accumulates what it is given, like an upsert adding counts. fail makes the next
// writes fail.
type fakeSink struct {
	mu     sync.Mutex
	totals map[group]int64
	calls  int
	fail   atomic.Int64 // number of writes still to fail; -1 fails forever
	check  func(ctx context.Context, recs []metering.Record) error
}

var errSink = errors.New("sink down")

func (s *fakeSink) WriteUsage(ctx context.Context, recs []metering.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.check != nil {
		if err := s.check(ctx, recs); err != nil {
			return err
		}
	}
	if n := s.fail.Load(); n != 0 {
		if n > 0 {
			s.fail.Add(-1)
		}
		return errSink
	}
	if !slices.IsSortedFunc(recs, func(a, b metering.Record) int {
		return cmpGroup(groupOf(a), groupOf(b))
	}) {
		return errors.New("records not sorted")
	}
	seen := make(map[group]bool, len(recs))
	for _, r := range recs {
		g := groupOf(r)
		if seen[g] {
			return fmt.Errorf("duplicate record %+v in one write", g)
		}
		if r.Count <= 0 {
			return fmt.Errorf("record %+v has count %d", g, r.Count)
		}
		seen[g] = true
	}
	if s.totals == nil {
		s.totals = make(map[group]int64)
	}
	for _, r := range recs {
		s.totals[groupOf(r)] += r.Count
	}
	return nil
}

func cmpGroup(a, b group) int {
	return cmp.Or(
		cmp.Compare(a.Minute, b.Minute),
		cmp.Compare(a.KeyID, b.KeyID),
		cmp.Compare(a.Protocol, b.Protocol),
		cmp.Compare(a.Endpoint, b.Endpoint),
		cmp.Compare(a.Asset, b.Asset),
		cmp.Compare(a.Outcome, b.Outcome),
	)
}

func (s *fakeSink) snapshot() (map[group]int64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.totals), s.calls
}

func sum(m map[group]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

var (
	protocols = []string{"http", "udp"}
	endpoints = []string{"price", "batch", "assets"}
	outcomes  = []string{"ok", "not_found", "rate_limited"}
)

func mustMeter(t testing.TB, sink metering.Sink) *metering.Meter {
	t.Helper()
	m, err := metering.New(metering.Config{
		Sink:         sink,
		ProtocolName: func(v uint8) string { return protocols[v] },
		EndpointName: func(v uint8) string { return endpoints[v] },
		OutcomeName:  func(v uint8) string { return outcomes[v] },
		AssetName: func(v int32) string {
			if v < 0 {
				return "-"
			}
			return "A" + strconv.Itoa(int(v))
		},
		FinalFlushTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustEqual(t *testing.T, got, want map[group]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d groups, want %d", len(got), len(want))
	}
	for g, w := range want {
		if got[g] != w {
			t.Errorf("%+v: count %d, want %d", g, got[g], w)
		}
	}
	for g, c := range got {
		if _, ok := want[g]; !ok {
			t.Errorf("unexpected group %+v: %d", g, c)
		}
	}
}

func TestNewNilSink(t *testing.T) {
	if _, err := metering.New(metering.Config{}); err == nil {
		t.Fatal("New with a nil Sink succeeded")
	}
}

// TestExactUnderConcurrency counts 8 × 100,000 requests while another goroutine flushes to a
// sink that fails every third write; every request must be stored exactly once, in its group.
func TestExactUnderConcurrency(t *testing.T) {
	const goroutines, perG = 8, 100_000
	sink := &fakeSink{}
	var writes atomic.Int64
	sink.check = func(context.Context, []metering.Record) error {
		if writes.Add(1)%3 == 0 {
			return errSink
		}
		return nil
	}
	m := mustMeter(t, sink)
	want := make([]map[group]int64, goroutines)
	stop := make(chan struct{})
	var flusher sync.WaitGroup
	flusher.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = m.Flush(context.Background())
			time.Sleep(200 * time.Microsecond)
		}
	})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			w := make(map[group]int64)
			key := "key_" + strconv.Itoa(g%5) // some keys are shared between goroutines
			for i := range perG {
				proto, ep, asset, out := uint8(g%2), uint8(i%3), int32(i%7)-1, uint8(i%11%3)
				now := t0 + int64(i)*int64(time.Millisecond) // 100 s: spans three minutes
				m.Add(key, proto, ep, asset, out, now)
				a := "-"
				if asset >= 0 {
					a = "A" + strconv.Itoa(int(asset))
				}
				w[group{key, metering.MinuteOf(now), protocols[proto], endpoints[ep], a, outcomes[out]}]++
			}
			want[g] = w
		})
	}
	wg.Wait()
	close(stop)
	flusher.Wait()
	for m.Pending() > 0 {
		_ = m.Flush(context.Background()) // every third write fails: retry
	}
	all := make(map[group]int64)
	for _, w := range want {
		for g, c := range w {
			all[g] += c
		}
	}
	got, _ := sink.snapshot()
	if n := sum(got); n != goroutines*perG {
		t.Fatalf("stored %d requests, want %d", n, goroutines*perG)
	}
	mustEqual(t, got, all)
	st := m.Stats()
	if st.Requests != goroutines*perG || st.Pending != 0 || st.Failures == 0 || st.Flushes == 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestSinkFailureKeepsCounts(t *testing.T) {
	sink := &fakeSink{}
	m := mustMeter(t, sink)
	ctx := context.Background()
	for range 10 {
		m.Add("key_a", 0, 0, 1, 0, t0)
	}
	m.Add("key_b", 1, 1, -1, 2, t0)
	sink.fail.Store(2)
	for i := range 2 {
		if err := m.Flush(ctx); !errors.Is(err, errSink) {
			t.Fatalf("flush %d: %v, want errSink", i, err)
		}
		if n := m.Pending(); n != int64(11+i) {
			t.Fatalf("Pending = %d after failed flush %d, want %d", n, i, 11+i)
		}
		m.Add("key_a", 0, 0, 1, 0, t0) // counted meanwhile: merged with the kept counts
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	minute := metering.MinuteOf(t0)
	mustEqual(t, sink.totals, map[group]int64{
		{"key_a", minute, "http", "price", "A1", "ok"}:         12,
		{"key_b", minute, "udp", "batch", "-", "rate_limited"}: 1,
	})
	if n := m.Pending(); n != 0 {
		t.Fatalf("Pending = %d, want 0", n)
	}
	// Nothing is written twice, and an empty flush does not call the sink.
	_, calls := sink.snapshot()
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, c := sink.snapshot(); sum(got) != 13 || c != calls {
		t.Fatalf("after an empty flush: %d stored, %d calls (was %d)", sum(got), c, calls)
	}
	st := m.Stats()
	want := metering.Stats{Flushes: 2, Failures: 2, Records: 2, Requests: 13, Pending: 0}
	if st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
}

func TestRunFinalFlush(t *testing.T) {
	t.Run("OnShutdown", func(t *testing.T) {
		sink := &fakeSink{}
		sink.check = func(ctx context.Context, _ []metering.Record) error {
			return ctx.Err() // the final flush must get a live context
		}
		m := mustMeter(t, sink)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx, time.Hour) }()
		for i := range 1000 {
			m.Add("key_a", 0, 0, int32(i%3), 0, t0)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
		if got, _ := sink.snapshot(); sum(got) != 1000 || len(got) != 3 {
			t.Fatalf("stored %d requests in %d groups, want 1000 in 3", sum(got), len(got))
		}
		if n := m.Pending(); n != 0 {
			t.Fatalf("Pending = %d", n)
		}
	})
	t.Run("RetriesFailingSink", func(t *testing.T) {
		sink := &fakeSink{}
		sink.fail.Store(3)
		m := mustMeter(t, sink)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m.Add("key_a", 0, 0, 0, 0, t0)
		if err := m.Run(ctx, time.Hour); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if got, calls := sink.snapshot(); sum(got) != 1 || calls != 4 {
			t.Fatalf("stored %d in %d calls, want 1 in 4", sum(got), calls)
		}
	})
	t.Run("GivesUp", func(t *testing.T) {
		sink := &fakeSink{}
		sink.fail.Store(-1)
		m, err := metering.New(metering.Config{Sink: sink, FinalFlushTimeout: 250 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m.Add("key_a", 0, 0, 0, 0, t0)
		if err := m.Run(ctx, time.Hour); !errors.Is(err, errSink) {
			t.Fatalf("Run = %v, want errSink", err)
		}
		if n := m.Pending(); n != 1 {
			t.Fatalf("Pending = %d after giving up, want 1 (kept)", n)
		}
	})
}

func TestRunPeriodic(t *testing.T) {
	sink := &fakeSink{}
	m := mustMeter(t, sink)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, 5*time.Millisecond) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	m.Add("key_a", 0, 0, 0, 0, t0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := sink.snapshot(); sum(got) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no periodic flush within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMinuteBucketing(t *testing.T) {
	sink := &fakeSink{}
	m := mustMeter(t, sink)
	noon := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{
		noon,
		noon.Add(30 * time.Second),
		noon.Add(time.Minute - 1), // 12:00:59.999999999
		noon.Add(time.Minute),     // 12:01:00
		noon.Add(2*time.Minute + time.Second),
	} {
		m.Add("key_a", 0, 0, 0, 0, at.UnixNano())
	}
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := noon.Unix() / 60
	mustEqual(t, sink.totals, map[group]int64{
		{"key_a", base, "http", "price", "A0", "ok"}:     3,
		{"key_a", base + 1, "http", "price", "A0", "ok"}: 1,
		{"key_a", base + 2, "http", "price", "A0", "ok"}: 1,
	})
	f := func(now, want int64) {
		t.Helper()
		if got := metering.MinuteOf(now); got != want {
			t.Errorf("MinuteOf(%d) = %d, want %d", now, got, want)
		}
	}
	f(0, 0)
	f(int64(time.Minute)-1, 0)
	f(int64(time.Minute), 1)
	f(-1, -1)
	f(-int64(time.Minute), -1)
	f(-int64(time.Minute)-1, -2)
}

func TestDefaultNames(t *testing.T) {
	sink := &fakeSink{}
	m, err := metering.New(metering.Config{Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	m.Add("key_a", 1, 2, 42, 3, t0)
	m.Add("key_a", 1, 2, -1, 3, t0)
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	minute := metering.MinuteOf(t0)
	mustEqual(t, sink.totals, map[group]int64{
		{"key_a", minute, "1", "2", "42", "3"}: 1,
		{"key_a", minute, "1", "2", "", "3"}:   1,
	})
}

func TestRunFlushTimeout(t *testing.T) {
	// The first write hangs until its context ends; FlushTimeout unblocks it and the counts
	// are written by a later flush.
	sink := &fakeSink{}
	var hung atomic.Bool
	sink.check = func(ctx context.Context, _ []metering.Record) error {
		if hung.CompareAndSwap(false, true) {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	m, err := metering.New(metering.Config{Sink: sink, FlushTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, 5*time.Millisecond) }()
	m.Add("key_a", 0, 0, 0, 0, t0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := sink.snapshot(); sum(got) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not written within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if st := m.Stats(); st.Failures < 1 || st.Requests != 1 || st.Pending != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}
