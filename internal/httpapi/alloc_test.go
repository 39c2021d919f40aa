//go:build !race

package httpapi

import (
	"context"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/lpo"
	"github.com/trinityprice/trinity/internal/metering"
)

// TestHandleAllocs enforces the budget of 0 heap allocations per request on the price paths.
func TestHandleAllocs(t *testing.T) {
	s, _ := newTestServer(t)
	for _, tc := range []struct{ name, method, uri, body string }{
		{"price", "GET", "/price?asset=btc", ""},
		{"batch GET", "GET", "/prices?assets=btc,eth,nope", ""},
		{"batch POST", "POST", "/prices", `{"assets":["btc","eth"]}`},
		{"unknown asset", "GET", "/price?asset=zzz", ""},
	} {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.Header.SetMethod(tc.method)
		req.SetRequestURI(tc.uri)
		req.Header.Set("Authorization", "Bearer "+testKey)
		if tc.body != "" {
			req.SetBodyString(tc.body)
		}
		ctx.Init(&req, nil, nil)
		run := func() {
			ctx.Response.Reset()
			ctx.Request.URI().Parse(nil, ctx.Request.Header.RequestURI()) // re-parse like a fresh request
			s.Handle(&ctx)
		}
		run()
		if ctx.Response.StatusCode() >= 500 {
			t.Fatalf("%s: status %d", tc.name, ctx.Response.StatusCode())
		}
		if n := testing.AllocsPerRun(1000, run); n != 0 {
			t.Errorf("%s: %v allocs per request, want 0", tc.name, n)
		}
	}
}

func BenchmarkHandlePrice(b *testing.B) {
	s, _ := newTestServer(b)
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.SetRequestURI("/price?asset=btc")
	req.Header.Set("Authorization", "Bearer "+testKey)
	ctx.Init(&req, nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		s.Handle(&ctx)
	}
}

// TestLimitedAllocs: with limits on, admitted and refused requests stay allocation-free.
func TestLimitedAllocs(t *testing.T) {
	s := newLimitedServer(t)
	for _, key := range []string{"partner", "free"} {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.Header.SetMethod("GET")
		req.SetRequestURI("/price?asset=btc")
		req.Header.Set("Authorization", "Bearer "+key)
		ctx.Init(&req, nil, nil)
		run := func() { ctx.Response.Reset(); s.Handle(&ctx) }
		run()
		if n := testing.AllocsPerRun(1000, run); n != 0 {
			t.Errorf("key %s: %v allocs per request, want 0", key, n)
		}
	}
}

type nopSink struct{}

func (nopSink) WriteUsage(context.Context, []metering.Record) error { return nil }

// TestMeteredAllocs: with limits and metering both on, the price path stays allocation-free.
func TestMeteredAllocs(t *testing.T) {
	_, book := newTestServer(t)
	meter, err := metering.New(metering.Config{Sink: nopSink{}})
	if err != nil {
		t.Fatal(err)
	}
	svc := lpo.New(lpo.Config{Book: book, Limiter: limits.NewLimiter(), Meter: meter, Keys: fakeKeys{testKey: {ID: "key_1", Tier: "partner"}}})
	s := New(Config{Service: svc})
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.SetRequestURI("/price?asset=btc")
	req.Header.Set("Authorization", "Bearer "+testKey)
	ctx.Init(&req, nil, nil)
	run := func() { ctx.Response.Reset(); s.Handle(&ctx) }
	run()
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Errorf("%v allocs per metered request, want 0", n)
	}
	if meter.Pending() < 1000 {
		t.Errorf("meter counted %d requests", meter.Pending())
	}
}
