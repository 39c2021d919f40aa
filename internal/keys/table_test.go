package keys

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSource is a hand-written in-memory Source.
type fakeSource struct {
	mu      sync.Mutex
	keys    []Key
	version int64
	err     error // returned by both methods when set
	calls   int   // Keys calls
}

func (f *fakeSource) Keys(context.Context) ([]Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.calls++
	return append([]Key(nil), f.keys...), nil
}

func (f *fakeSource) KeysVersion(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	return f.version, nil
}

func (f *fakeSource) add(k Key) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, k)
	f.version++
}

func (f *fakeSource) revoke(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.keys {
		if f.keys[i].ID == id {
			f.keys[i].Revoked = true
		}
	}
	f.version++
}

func (f *fakeSource) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeSource) keysCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// mustNewKey returns a new key of tier free and its plaintext.
func mustNewKey(tb testing.TB, name string) (string, Key) {
	tb.Helper()
	plain, k, err := New(TierFree, name, 0, time.Now())
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return plain, k
}

// mustLoadedTable returns a Table over src, loaded.
func mustLoadedTable(tb testing.TB, src Source, log *slog.Logger) *Table {
	tb.Helper()
	tab := NewTable(src, log)
	if err := tab.Load(context.Background()); err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return tab
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestTableLookup(t *testing.T) {
	src := &fakeSource{}
	plainA, a := mustNewKey(t, "a")
	plainB, b := mustNewKey(t, "b")
	b.Revoked = true
	src.add(a)
	src.add(b)
	tab := mustLoadedTable(t, src, discard())

	if tab.Len() != 2 || tab.Version() != 2 {
		t.Fatalf("Len, Version = %d, %d; want 2, 2", tab.Len(), tab.Version())
	}
	t.Run("Found", func(t *testing.T) {
		k, ok := tab.Lookup([]byte(plainA))
		if !ok || k.ID != a.ID || k.Revoked {
			t.Fatalf("Lookup(a) = %+v, %v; want %s, not revoked", k, ok, a.ID)
		}
	})
	t.Run("Revoked", func(t *testing.T) {
		k, ok := tab.Lookup([]byte(plainB))
		if !ok || k.ID != b.ID || !k.Revoked {
			t.Fatalf("Lookup(b) = %+v, %v; want %s, revoked", k, ok, b.ID)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		for _, in := range []string{"", "tb_live_", plainA[:len(plainA)-1], plainA + "x", strings.ToUpper(plainA), a.Prefix, a.ID} {
			if k, ok := tab.Lookup([]byte(in)); ok {
				t.Errorf("Lookup(%q) = %+v, want miss", in, k)
			}
		}
	})
}

func TestTableBeforeLoad(t *testing.T) {
	src := &fakeSource{}
	plain, k := mustNewKey(t, "a")
	src.add(k)
	tab := NewTable(src, discard())
	if _, ok := tab.Lookup([]byte(plain)); ok || tab.Len() != 0 || tab.Version() != -1 {
		t.Fatalf("before Load: ok=%v Len=%d Version=%d; want miss, 0, -1", ok, tab.Len(), tab.Version())
	}
	// The first poll loads even though nothing was loaded yet.
	if err := tab.poll(context.Background()); err != nil {
		t.Fatalf("poll: %v", err)
	}
	if _, ok := tab.Lookup([]byte(plain)); !ok {
		t.Fatalf("after first poll: key missing")
	}
}

func TestTableRevocationVisibleAfterOnePoll(t *testing.T) {
	src := &fakeSource{}
	plain, k := mustNewKey(t, "a")
	src.add(k)
	tab := mustLoadedTable(t, src, discard())
	ctx := context.Background()

	// Unchanged version: no reload.
	calls := src.keysCalls()
	if err := tab.poll(ctx); err != nil {
		t.Fatalf("poll: %v", err)
	}
	if src.keysCalls() != calls {
		t.Fatalf("poll reloaded keys although the version did not change")
	}
	before, _ := tab.Lookup([]byte(plain))

	src.revoke(k.ID)
	if err := tab.poll(ctx); err != nil {
		t.Fatalf("poll: %v", err)
	}
	got, ok := tab.Lookup([]byte(plain))
	if !ok || !got.Revoked {
		t.Fatalf("after one poll: Lookup = %+v, %v; want revoked", got, ok)
	}
	if before.Revoked {
		t.Fatalf("the previous snapshot was modified in place")
	}

	// A key added later becomes visible the same way.
	plain2, k2 := mustNewKey(t, "b")
	src.add(k2)
	if err := tab.poll(ctx); err != nil {
		t.Fatalf("poll: %v", err)
	}
	if _, ok := tab.Lookup([]byte(plain2)); !ok || tab.Len() != 2 {
		t.Fatalf("after adding: ok=%v Len=%d", ok, tab.Len())
	}
}

func TestTableRun(t *testing.T) {
	src := &fakeSource{}
	plain, k := mustNewKey(t, "a")
	src.add(k)
	tab := mustLoadedTable(t, src, discard())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tab.Run(ctx, 5*time.Millisecond) }()

	src.revoke(k.ID)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := tab.Lookup([]byte(plain)); got.Revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("revocation not visible after 5s of polling")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestTableRunBadInterval(t *testing.T) {
	tab := NewTable(&fakeSource{}, discard())
	if err := tab.Run(context.Background(), 0); err == nil {
		t.Fatal("Run with interval 0: want error")
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestTableStoreErrorKeepsSnapshot(t *testing.T) {
	src := &fakeSource{}
	plain, k := mustNewKey(t, "a")
	src.add(k)
	var logBuf syncBuffer
	tab := mustLoadedTable(t, src, slog.New(slog.NewTextHandler(&logBuf, nil)))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	src.setErr(errors.New("database is locked"))
	if err := tab.Load(ctx); err == nil {
		t.Fatal("Load with a failing source: want error")
	}
	go func() { done <- tab.Run(ctx, time.Millisecond) }()
	time.Sleep(50 * time.Millisecond) // dozens of failing polls
	if got, ok := tab.Lookup([]byte(plain)); !ok || got.ID != k.ID {
		t.Fatalf("while the source fails: Lookup = %+v, %v; want the old key", got, ok)
	}
	if n := strings.Count(logBuf.String(), "key refresh failed"); n != 1 {
		t.Fatalf("logged %d refresh failures in 50ms, want 1 (throttled):\n%s", n, logBuf.String())
	}

	src.setErr(nil)
	src.revoke(k.ID)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := tab.Lookup([]byte(plain)); got.Revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("revocation not visible after the source recovered")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if !strings.Contains(logBuf.String(), "key store reachable again") {
		t.Errorf("recovery not logged:\n%s", logBuf.String())
	}
}

func TestThrottle(t *testing.T) {
	th := throttle{every: time.Second}
	t0 := time.Unix(1000, 0)
	f := func(at time.Duration, want bool) {
		t.Helper()
		if got := th.Allow(t0.Add(at)); got != want {
			t.Fatalf("Allow(t0+%v) = %v, want %v", at, got, want)
		}
	}
	f(0, true)
	f(500*time.Millisecond, false)
	f(999*time.Millisecond, false)
	f(time.Second, true)
	f(1500*time.Millisecond, false)
	f(5*time.Second, true)
}
