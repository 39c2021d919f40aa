package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/lpo"
	"github.com/trinityprice/trinity/internal/price"
)

const testKey = "tb_live_testkeytestkeytestkeytestkeytestkeytes"

type fakeKeys map[string]*keys.Key

func (f fakeKeys) Lookup(b []byte) (*keys.Key, bool) {
	k, ok := f[string(b)]
	return k, ok
}

func newTestServer(t testing.TB) (*Server, *price.Book) {
	t.Helper()
	u, err := price.ParseUniverse([]byte(`{"assets":{"BTC":{"coinbase":"BTC-USD","kraken":"BTC/USD"},"ETH":{"coinbase":"ETH-USD"},"DOGE":{"kraken":"DOGE/USD"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	book := price.NewBook(price.BookConfig{Universe: u, Params: price.DefaultParams()})
	now := price.NowNanos()
	book.Apply(&price.Tick{Exchange: price.Coinbase, Symbol: "BTC-USD", Last: price.MustParse("100000"), Bid: price.MustParse("99999"), Ask: price.MustParse("100001"), Received: now})
	book.Apply(&price.Tick{Exchange: price.Coinbase, Symbol: "ETH-USD", Last: price.MustParse("4000"), Received: now})
	svc := lpo.New(lpo.Config{Book: book, Keys: fakeKeys{
		testKey:   {ID: "key_1", Tier: "partner"},
		"revoked": {ID: "key_2", Tier: "free", Revoked: true},
	}})
	return New(Config{Service: svc}), book
}

// do runs one request through the handler and returns status and body.
func do(s *Server, method, uri, auth, body string) (int, string) {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.SetBodyString(body)
	}
	ctx.Init(&req, nil, nil)
	s.Handle(&ctx)
	return ctx.Response.StatusCode(), string(ctx.Response.Body())
}

func TestPrice(t *testing.T) {
	s, book := newTestServer(t)
	code, body := do(s, "GET", "/price?asset=BtC", "Bearer "+testKey, "")
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	_, ans := book.Lookup([]byte("btc"))
	if body != string(ans.JSON) {
		t.Fatalf("body is not the book's answer:\n%s\n%s", body, ans.JSON)
	}
	var got struct {
		Asset string  `json:"asset"`
		Price float64 `json:"price"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.Asset != "BTC" || got.Price != 100000 {
		t.Fatalf("answer %+v, %v", got, err)
	}
}

func TestErrors(t *testing.T) {
	s, _ := newTestServer(t)
	auth := "Bearer " + testKey
	for _, tc := range []struct {
		name, method, uri, auth, body string
		status                        int
		code                          string
	}{
		{"no key", "GET", "/price?asset=btc", "", "", 401, "missing_key"},
		{"not bearer", "GET", "/price?asset=btc", "Basic abc", "", 401, "missing_key"},
		{"unknown key", "GET", "/price?asset=btc", "Bearer nope", "", 401, "unknown_key"},
		{"revoked key", "GET", "/price?asset=btc", "Bearer revoked", "", 403, "key_revoked"},
		{"no asset", "GET", "/price", auth, "", 400, "missing_asset"},
		{"bad asset", "GET", "/price?asset=%22x%22", auth, "", 400, "bad_asset"},
		{"unknown asset", "GET", "/price?asset=zzz", auth, "", 404, "unknown_asset"},
		{"no price yet", "GET", "/price?asset=doge", auth, "", 503, "no_price"},
		{"unknown path", "GET", "/nope", auth, "", 404, "not_found"},
		{"wrong method", "DELETE", "/price?asset=btc", auth, "", 405, "method_not_allowed"},
		{"post price", "POST", "/price?asset=btc", auth, "", 405, "method_not_allowed"},
		{"malformed batch", "POST", "/prices", auth, `{"assets":[`, 400, "bad_json"},
		{"batch not strings", "POST", "/prices", auth, `{"assets":[1,2]}`, 400, "bad_json"},
		{"empty batch", "POST", "/prices", auth, `{"assets":[]}`, 400, "missing_assets"},
		{"batch without assets", "POST", "/prices", auth, `{}`, 400, "missing_assets"},
		{"empty query batch", "GET", "/prices?assets=", auth, "", 400, "missing_assets"},
		{"too many", "GET", "/prices?assets=" + manyAssets(31), auth, "", 400, "too_many_assets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(s, tc.method, tc.uri, tc.auth, tc.body)
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, body)
			}
			if code != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Fatalf("got %d %q (%s), want %d %q", code, e.Error.Code, body, tc.status, tc.code)
			}
		})
	}
}

func manyAssets(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("a")
		b.WriteString(strings.Repeat("b", i))
	}
	return b.String()
}

func TestBatch(t *testing.T) {
	s, _ := newTestServer(t)
	auth := "Bearer " + testKey
	type item struct {
		Asset string  `json:"asset"`
		Price float64 `json:"price"`
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	check := func(t *testing.T, code int, body string) {
		t.Helper()
		var got struct {
			Count  int    `json:"count"`
			Prices []item `json:"prices"`
		}
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, body)
		}
		if got.Count != 4 || len(got.Prices) != 4 {
			t.Fatalf("want 4 distinct items, got %s", body)
		}
		want := []struct{ asset, code string }{{"BTC", ""}, {"ETH", ""}, {"NOPE", "unknown_asset"}, {"DOGE", "no_price"}}
		for i, w := range want {
			p := got.Prices[i]
			gotCode := ""
			if p.Error != nil {
				gotCode = p.Error.Code
			}
			if p.Asset != w.asset || gotCode != w.code || (w.code == "" && p.Price <= 0) {
				t.Errorf("item %d = %+v, want %s %q", i, p, w.asset, w.code)
			}
		}
	}
	t.Run("GET", func(t *testing.T) {
		code, body := do(s, "GET", "/prices?assets=btc,eth,BTC,nope,,doge,Eth", auth, "")
		check(t, code, body)
	})
	t.Run("POST", func(t *testing.T) {
		code, body := do(s, "POST", "/prices", auth, `{"assets":["btc","eth","BTC","nope","doge","Eth"]}`)
		check(t, code, body)
	})
	t.Run("30 with duplicates is fine", func(t *testing.T) {
		list := strings.Repeat("btc,", 40) + "eth"
		if code, body := do(s, "GET", "/prices?assets="+list, auth, ""); code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
	})
}

func TestAssetsAndExchanges(t *testing.T) {
	s, book := newTestServer(t)
	code, body := do(s, "GET", "/assets", "Bearer "+testKey, "")
	if code != 200 || body != string(book.AssetListJSON()) {
		t.Fatalf("assets: %d %s", code, body)
	}
	code, body = do(s, "GET", "/exchanges", "Bearer "+testKey, "")
	if code != 200 || !json.Valid([]byte(body)) {
		t.Fatalf("exchanges: %d %s", code, body)
	}
}
