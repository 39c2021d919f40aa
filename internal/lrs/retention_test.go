package lrs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/store"
)

func TestRunRetention(t *testing.T) {
	e := newEnv(t)
	cutoff := testNow.Add(-93 * 24 * time.Hour)
	e.st.addUsage("key_a",
		row(cutoff.Add(-time.Minute), "http", "price", "BTC", "ok", 1), // older than 93 days: goes
		row(cutoff, "http", "price", "BTC", "ok", 1),                   // kept
	)
	e.st.logs = append(e.st.logs, store.ReportLog{At: cutoff.Add(-time.Second), KeyID: "key_a"}, store.ReportLog{At: testNow, KeyID: "key_a"})

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.svc.RunRetention(ctx, 5*time.Millisecond) }()
	pruned := func() []time.Time {
		e.st.mu.Lock()
		defer e.st.mu.Unlock()
		return append([]time.Time(nil), e.st.pruned...)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(pruned()) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no prune at start")
		}
		time.Sleep(time.Millisecond)
	}
	if got := pruned()[0]; !got.Equal(cutoff) {
		t.Errorf("first prune before %v, want now − 93 days = %v", got, cutoff)
	}
	e.st.mu.Lock()
	if len(e.st.usage) != 1 || len(e.st.logs) != 1 {
		t.Errorf("after prune: %d usage rows, %d logs; want 1 and 1", len(e.st.usage), len(e.st.logs))
	}
	e.st.mu.Unlock()

	// It keeps running every interval with the clock's time, and survives store errors.
	e.st.setFail(errors.New("locked"))
	later := testNow.Add(time.Hour)
	e.clk.Set(later)
	for {
		p := pruned()
		if p[len(p)-1].Equal(later.Add(-store.Retention)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no prune with the new time: %v", p)
		}
		time.Sleep(time.Millisecond)
	}
	e.st.setFail(nil)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunRetention: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunRetention did not stop")
	}

	if err := e.svc.RunRetention(t.Context(), 0); err == nil {
		t.Error("interval 0 accepted")
	}
}
