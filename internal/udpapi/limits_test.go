package udpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/lpo"
)

// TestFreeKeyLimitsOverUDP: a free key gets its burst of 5 answers, then a rate_limited error
// carrying the exact wait in retry_after_ms; a partner key is never limited.
func TestFreeKeyLimitsOverUDP(t *testing.T) {
	_, book := newTestService(t)
	svc := lpo.New(lpo.Config{Book: book, Limiter: limits.NewLimiter(), Metrics: metrics.NewSet(), Keys: fakeKeys{
		"free":    {ID: "key_free", Tier: keys.TierFree},
		"partner": {ID: "key_partner", Tier: keys.TierPartner},
	}})
	s := New(Config{Service: svc, Metrics: metrics.NewSet()})
	h := newHandler(svc, s.tooLarge)
	h.start = time.Now()
	ask := func(key string) map[string]any {
		t.Helper()
		out := h.handle([]byte(pad(`{"key":"`+key+`","asset":"eth","id":1}`, 300)), nil)
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("answer %q: %v", out, err)
		}
		return m
	}
	for i := 0; i < 5; i++ {
		if m := ask("free"); m["price"] == nil {
			t.Fatalf("burst request %d refused: %v", i+1, m)
		}
	}
	m := ask("free")
	e, _ := m["error"].(map[string]any)
	if e == nil || e["code"] != "rate_limited" {
		t.Fatalf("6th request: %v", m)
	}
	if ms, _ := m["retry_after_ms"].(float64); ms < 900 || ms > 1000 {
		t.Errorf("retry_after_ms = %v, want about 1000 (one token per second)", m["retry_after_ms"])
	}
	for i := 0; i < 100; i++ {
		if m := ask("partner"); m["price"] == nil {
			t.Fatalf("partner refused: %v", m)
		}
	}
}
