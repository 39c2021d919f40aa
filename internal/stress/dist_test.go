package stress

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func startWorker(t *testing.T, token string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := ServeWorker(ctx, ln, WorkerOptions{Token: token}); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ln.Addr().String()
}

func TestDistributedMergesWorkers(t *testing.T) {
	const n = 4000
	f := newFakeHTTP(t, func(i int64) (int, string) {
		if i%8 == 0 {
			return 503, `{"error":{"code":"overloaded"}}`
		}
		return 200, `{"asset":"BTC","price":1}`
	})
	f.limit.Store(n)
	w1, w2 := startWorker(t, "s3cret"), startWorker(t, "s3cret")
	p := testPlan(TCPLPO, []string{f.addr()}, Ladder([]int{4, 8}, 1200*time.Millisecond)...)
	var live bytes.Buffer
	res, err := RunDistributed(context.Background(), p, []string{w1, w2}, DistOptions{Token: "s3cret", StartDelay: 300 * time.Millisecond, Live: &live})
	if err != nil {
		t.Fatal(err)
	}
	if f.answered.Load() != n {
		t.Fatalf("server answered %d, want %d", f.answered.Load(), n)
	}
	var total Stats
	for _, ph := range res.Phases {
		total.Merge(&ph.Total)
		if ph.Elapsed < 1200*time.Millisecond {
			t.Errorf("phase %s elapsed %v", ph.Name, ph.Elapsed)
		}
	}
	if total.Requests() != n || total.Kinds[ServerError] != n/8 || total.Kinds[OK] != n-n/8 || total.Hist.Count() != n {
		t.Fatalf("merged: %d requests, kinds %v, %d latencies; want %d with %d 5xx", total.Requests(), total.Kinds, total.Hist.Count(), n, n/8)
	}
	if len(res.Workers) != 2 || len(res.Phases) != 2 || res.Phases[1].Concurrency != 8 {
		t.Fatalf("workers %v phases %d", res.Workers, len(res.Phases))
	}
	if len(res.Timeline) < 2 || !strings.Contains(live.String(), "phase 1/2") {
		t.Fatalf("timeline %d seconds, live output %q", len(res.Timeline), live.String())
	}
	// The merged result survives a JSON round trip with its histograms.
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Phases[0].Total.Hist != res.Phases[0].Total.Hist || back.Phases[1].Total.Kinds != res.Phases[1].Total.Kinds {
		t.Fatal("JSON round trip changed the result")
	}
}

func TestDistributedBadToken(t *testing.T) {
	w := startWorker(t, "right")
	p := testPlan(TCPLPO, []string{"127.0.0.1:1"}, Phase{Name: "1", Concurrency: 1, Duration: time.Second})
	_, err := RunDistributed(context.Background(), p, []string{w}, DistOptions{Token: "wrong"})
	if err == nil || !strings.Contains(err.Error(), "bad token") {
		t.Fatalf("err = %v, want bad token", err)
	}
}

func TestDistributedStop(t *testing.T) {
	f := newFakeHTTP(t, nil)
	w := startWorker(t, "")
	p := testPlan(TCPLPO, []string{f.addr()}, Phase{Name: "1", Concurrency: 2, Duration: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := RunDistributed(ctx, p, []string{w}, DistOptions{StartDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second || !res.Interrupted || res.Phases[0].Total.Requests() == 0 {
		t.Fatalf("stop: took %v, interrupted %v", time.Since(start), res.Interrupted)
	}
}

func TestResultJSONHidesKeys(t *testing.T) {
	r := &Result{Plan: testPlan(TCPLPO, []string{"127.0.0.1:1"}, Phase{Name: "1", Concurrency: 1, Duration: time.Second})}
	r.Plan.Keys = []string{"tb_live_SECRETSECRETSECRET"}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "SECRET") || !strings.Contains(b.String(), "tb_live_") {
		t.Fatalf("keys not shortened: %s", b.String())
	}
	if r.Plan.Keys[0] != "tb_live_SECRETSECRETSECRET" {
		t.Fatal("WriteJSON changed the plan")
	}
}
