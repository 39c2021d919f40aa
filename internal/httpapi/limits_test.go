package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/lpo"
)

// newLimitedServer is newTestServer with the limiter on and keys of several tiers.
func newLimitedServer(t testing.TB) *Server {
	t.Helper()
	_, book := newTestServer(t)
	svc := lpo.New(lpo.Config{Book: book, Limiter: limits.NewLimiter(), Keys: fakeKeys{
		"free":    {ID: "key_free", Tier: "free"},
		"quota3":  {ID: "key_q3", Tier: "pro", Quota: 3},
		"partner": {ID: "key_partner", Tier: "partner"},
	}})
	return New(Config{Service: svc})
}

func doFull(s *Server, uri, key string) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.SetRequestURI(uri)
	req.Header.Set("Authorization", "Bearer "+key)
	ctx.Init(&req, nil, nil)
	s.Handle(&ctx)
	var resp fasthttp.Response
	ctx.Response.CopyTo(&resp)
	return &resp
}

func errCode(t *testing.T, body []byte) string {
	t.Helper()
	var e struct{ Error struct{ Code string } }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	return e.Error.Code
}

func TestFreeKeyBurstThen429(t *testing.T) {
	s := newLimitedServer(t)
	for i := 0; i < 5; i++ {
		r := doFull(s, "/price?asset=btc", "free")
		if r.StatusCode() != 200 {
			t.Fatalf("request %d of the burst: %d %s", i+1, r.StatusCode(), r.Body())
		}
		if got := string(r.Header.Peek("RateLimit-Policy")); !strings.Contains(got, `"burst";q=5;w=5`) || !strings.Contains(got, `"monthly";q=1000`) {
			t.Errorf("RateLimit-Policy %q", got)
		}
	}
	r := doFull(s, "/price?asset=btc", "free")
	if r.StatusCode() != 429 || errCode(t, r.Body()) != "rate_limited" {
		t.Fatalf("6th request: %d %s", r.StatusCode(), r.Body())
	}
	if ra := string(r.Header.Peek("Retry-After")); ra != "1" {
		t.Errorf("Retry-After %q, want 1 (free tier refills a token per second)", ra)
	}
	if st := string(r.Header.Peek("RateLimit")); !strings.Contains(st, `"burst";r=0`) || !strings.Contains(st, `"monthly";r=995`) {
		t.Errorf("RateLimit %q", st)
	}
	// The informational endpoints are not limited.
	if r := doFull(s, "/assets", "free"); r.StatusCode() != 200 {
		t.Errorf("/assets limited: %d", r.StatusCode())
	}
}

func TestQuotaExactlyN(t *testing.T) {
	s := newLimitedServer(t)
	for i := 0; i < 3; i++ {
		if r := doFull(s, "/prices?assets=btc,eth", "quota3"); r.StatusCode() != 200 {
			t.Fatalf("request %d: %d %s", i+1, r.StatusCode(), r.Body())
		}
	}
	r := doFull(s, "/price?asset=btc", "quota3")
	if r.StatusCode() != 429 || errCode(t, r.Body()) != "quota_exceeded" {
		t.Fatalf("4th request: %d %s", r.StatusCode(), r.Body())
	}
	if ra := string(r.Header.Peek("Retry-After")); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
}

func TestPartnerUnlimited(t *testing.T) {
	s := newLimitedServer(t)
	for i := 0; i < 500; i++ {
		r := doFull(s, "/price?asset=btc", "partner")
		if r.StatusCode() != 200 {
			t.Fatalf("partner request %d: %d", i, r.StatusCode())
		}
		if len(r.Header.Peek("RateLimit-Policy")) != 0 {
			t.Fatal("partner answers carry RateLimit-Policy")
		}
	}
}
