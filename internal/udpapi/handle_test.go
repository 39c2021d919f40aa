package udpapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/lpo"
	"github.com/trinityprice/trinity/internal/price"
)

const (
	testKey     = "tb_live_test0000000000000000000000000000000000000"
	revokedKey  = "tb_live_revoked00000000000000000000000000000000000"
	testUnivers = `{"assets":{
 "BTC":{"coinbase":"BTC-USD","kraken":"BTC/USD","gemini":"btcusd","okx":"BTC-USDT","bybit":"BTCUSDT","gateio":"BTC_USDT","cryptocom":"BTC_USD"},
 "ETH":{"coinbase":"ETH-USD","kraken":"ETH/USD"},
 "SOL":{"okx":"SOL-USDT"}
}}`
)

// fakeKeys is a lpo.KeyTable over plaintext keys.
type fakeKeys map[string]*keys.Key

func (f fakeKeys) Lookup(p []byte) (*keys.Key, bool) { k, ok := f[string(p)]; return k, ok }

// newTestService returns a service over a real book with BTC priced by seven exchanges (a
// large full answer), ETH by one and SOL unpriced.
func newTestService(tb testing.TB) (*lpo.Service, *price.Book) {
	tb.Helper()
	u, err := price.ParseUniverse([]byte(testUnivers))
	if err != nil {
		tb.Fatal(err)
	}
	book := price.NewBook(price.BookConfig{Universe: u, Params: price.DefaultParams()})
	now := time.Now().UnixNano()
	for i, sym := range []struct {
		ex  price.Exchange
		sym string
	}{
		{price.Coinbase, "BTC-USD"}, {price.Kraken, "BTC/USD"}, {price.Gemini, "btcusd"}, {price.OKX, "BTC-USDT"},
		{price.Bybit, "BTCUSDT"}, {price.Gateio, "BTC_USDT"}, {price.Cryptocom, "BTC_USD"},
	} {
		p := 105944.25 + float64(i)*0.5
		book.Apply(&price.Tick{Exchange: sym.ex, Symbol: sym.sym, Received: now, ExchangeTime: now - 1e6,
			Last: price.MustParse(strconv.FormatFloat(p, 'f', 2, 64)),
			Bid:  price.MustParse(strconv.FormatFloat(p-0.05, 'f', 2, 64)),
			Ask:  price.MustParse(strconv.FormatFloat(p+0.05, 'f', 2, 64))})
	}
	book.Apply(&price.Tick{Exchange: price.Coinbase, Symbol: "ETH-USD", Last: price.MustParse("3000.5"), Received: now})
	ks := fakeKeys{
		testKey:    {ID: "key_test", Tier: keys.TierPartner},
		revokedKey: {ID: "key_revoked", Tier: keys.TierFree, Revoked: true},
	}
	return lpo.New(lpo.Config{Book: book, Keys: ks, Metrics: metrics.NewSet()}), book
}

func newTestHandler(tb testing.TB) (*handler, *price.Book) {
	svc, book := newTestService(tb)
	s := New(Config{Service: svc, Metrics: metrics.NewSet()})
	h := newHandler(svc, s.tooLarge)
	h.start = time.Now()
	return h, book
}

// pad returns req (a JSON object) with a "pad" field making it exactly n bytes long, or req
// itself when it is already that long or longer.
func pad(req string, n int) string {
	const field = `,"pad":""`
	if len(req)+len(field) > n {
		return req
	}
	return req[:len(req)-1] + `,"pad":"` + strings.Repeat("x", n-len(req)-len(field)) + `"}`
}

func withID(id string, obj []byte) string {
	return `{"id":` + id + `,` + string(obj[1:])
}

func btc(t *testing.T, b *price.Book) *price.Answer {
	t.Helper()
	_, a := b.Lookup([]byte("btc"))
	if a == nil {
		t.Fatal("BTC has no answer")
	}
	return a
}

type errorAnswer struct {
	ID    json.RawMessage `json:"id"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	NeedBytes int `json:"need_bytes"`
}

func decodeError(t *testing.T, got []byte) errorAnswer {
	t.Helper()
	var e errorAnswer
	if err := json.Unmarshal(got, &e); err != nil || e.Error == nil {
		t.Fatalf("answer %s is not an error object (%v)", got, err)
	}
	return e
}

func TestHandlePrice(t *testing.T) {
	h, book := newTestHandler(t)
	a := btc(t, book)
	big := 1 + len(a.JSON)/Amplification + 40 // room for the id and padding field
	out := make([]byte, 0, 8192)
	f := func(req, want string) {
		t.Helper()
		got := h.handle([]byte(req), out[:0])
		if string(got) != want {
			t.Fatalf("handle(%.80s…)\n got %s\nwant %s", req, got, want)
		}
		if len(got) > Amplification*len(req) {
			t.Fatalf("answer of %d bytes to a request of %d", len(got), len(req))
		}
		if !json.Valid(got) {
			t.Fatalf("answer is not JSON: %s", got)
		}
	}
	f(pad(`{"key":"`+testKey+`","asset":"btc","id":7}`, big), withID("7", a.JSON))
	f(pad(`{"key":"`+testKey+`","asset":"BTC","id":"a-1"}`, big), withID(`"a-1"`, a.JSON))
	f(pad(`{"key":"`+testKey+`","asset":"btc"}`, big), string(a.JSON))
	f(pad(`{ "id" : -1.5e3 , "asset" : "btc" , "key" : "`+testKey+`" }`, big), withID("-1.5e3", a.JSON))
	// Unpadded: only the brief answer fits.
	f(`{"key":"`+testKey+`","asset":"btc","id":7}`, withID("7", a.Brief))
	f(`{"key":"`+testKey+`","asset":"btc"}`, string(a.Brief))
}

func TestHandleBatch(t *testing.T) {
	h, _ := newTestHandler(t)
	svc := h.svc
	var b lpo.Batch
	for _, n := range []string{"btc", "eth", "nope", "sol"} {
		b.Add(svc, []byte(n))
	}
	full, o := b.AppendAnswers(nil, svc, true)
	brief, _ := b.AppendAnswers(nil, svc, false)
	if o != lpo.OutcomeOK {
		t.Fatal(o)
	}
	req := `{"key":"` + testKey + `","assets":["btc","eth","BTC","nope","sol"],"id":"b1"}`
	got := h.handle([]byte(pad(req, len(full)/3+30)), nil)
	if string(got) != withID(`"b1"`, full) {
		t.Fatalf("padded batch:\n got %s\nwant %s", got, withID(`"b1"`, full))
	}
	got = h.handle([]byte(pad(req, len(brief)/3+20)), nil)
	if string(got) != withID(`"b1"`, brief) {
		t.Fatalf("brief batch:\n got %s\nwant %s", got, withID(`"b1"`, brief))
	}
	// Too small for the brief batch: the error says how much to pad, and padding works.
	got = h.handle([]byte(req), nil)
	e := decodeError(t, got)
	if e.Error.Code != "request_too_small" || string(e.ID) != `"b1"` || len(got) > 3*len(req) {
		t.Fatalf("small batch: %s", got)
	}
	if want := (len(full) + len(`"id":"b1",`) + 2) / 3; e.NeedBytes != want {
		t.Fatalf("need_bytes %d, want %d", e.NeedBytes, want)
	}
	if !strings.Contains(e.Error.Message, strconv.Itoa(e.NeedBytes)) {
		t.Fatalf("message %q does not name %d", e.Error.Message, e.NeedBytes)
	}
	got = h.handle([]byte(pad(req, e.NeedBytes)), nil)
	if string(got) != withID(`"b1"`, full) {
		t.Fatalf("batch padded to need_bytes=%d: %s", e.NeedBytes, got)
	}

	for _, tc := range []struct{ req, code string }{
		{`{"key":"` + testKey + `","assets":[],"id":1}`, "missing_assets"},
		{`{"key":"` + testKey + `","assets":["btc",2],"id":1}`, "bad_json"},
		{`{"key":"` + testKey + `","assets":["a1","a2","a3","a4","a5","a6","a7","a8","a9","a10","a11","a12","a13","a14","a15","a16","a17","a18","a19","a20","a21","a22","a23","a24","a25","a26","a27","a28","a29","a30","a31"],"id":1}`, "too_many_assets"},
		{`{"key":"nope","assets":["btc"],"id":1}`, "unknown_key"},
	} {
		got := h.handle([]byte(tc.req), nil)
		if e := decodeError(t, got); e.Error.Code != tc.code || string(e.ID) != "1" {
			t.Errorf("%s: got %s, want code %s", tc.req, got, tc.code)
		}
	}
}

func TestHandleErrors(t *testing.T) {
	h, _ := newTestHandler(t)
	f := func(req, code, id string) {
		t.Helper()
		got := h.handle([]byte(req), nil)
		if len(got) > Amplification*len(req) {
			t.Fatalf("%s: answer of %d bytes to a request of %d", req, len(got), len(req))
		}
		e := decodeError(t, got)
		if e.Error.Code != code || string(e.ID) != id {
			t.Fatalf("handle(%s) = %s, want code %s and id %s", req, got, code, id)
		}
		if !bytes.HasPrefix(got, []byte(`{"id":`+id+`,"error":{"code":`)) && !(id == "" && bytes.HasPrefix(got, []byte(`{"error":{"code":`))) {
			t.Fatalf("handle(%s) = %s: id must come first", req, got)
		}
	}
	f(`{"key":"`+testKey+`","asset":"doge","id":3}`, "unknown_asset", "3")
	f(`{"key":"`+testKey+`","asset":"sol","id":3}`, "no_price", "3")
	f(`{"key":"`+testKey+`","asset":"b c","id":3}`, "bad_asset", "3")
	f(`{"key":"`+testKey+`","id":"no-asset"}`, "missing_asset", `"no-asset"`)
	f(`{"asset":"btc","id":3,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, "missing_key", "3")
	f(`{"key":"","asset":"btc","id":3,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, "missing_key", "3")
	f(`{"key":"tb_live_unknown","asset":"btc","id":3}`, "unknown_key", "3")
	f(`{"key":"`+revokedKey+`","asset":"btc","id":3}`, "key_revoked", "3")
	f(`{"key":"`+testKey+`","asset":"btc","id":3`, "bad_json", "")
	f(`{"key":"`+testKey+`","asset":"btc","id":[3]}`, "bad_json", "")
	f(`{"key":"`+testKey+`","asset":"btc","id":3} trailing`, "bad_json", "")
	f(`not json at all, not json at all, not json at all`, "bad_json", "")
}

func TestHandleAmplification(t *testing.T) {
	h, book := newTestHandler(t)
	a := btc(t, book)
	// Requests of every size from 0 up: the answer is full, brief, request_too_small or
	// nothing, and never more than 3x the request.
	base := `{"key":"` + testKey + `","asset":"btc","id":12}`
	seen := map[string]bool{}
	for n := 0; n <= len(a.JSON)/Amplification+50; n++ {
		var req string
		switch {
		case n < len(base):
			req = base[:n] // truncated: malformed
		default:
			req = pad(base, n)
		}
		got := h.handle([]byte(req), nil)
		if len(got) > Amplification*len(req) {
			t.Fatalf("%d-byte request got %d bytes: %s", len(req), len(got), got)
		}
		switch {
		case len(got) == 0:
			seen["dropped"] = true
		case string(got) == withID("12", a.JSON):
			seen["full"] = true
		case string(got) == withID("12", a.Brief):
			seen["brief"] = true
			if len(req) < len(base) {
				t.Fatalf("a truncated request got an answer")
			}
		default:
			e := decodeError(t, got)
			seen[e.Error.Code] = true
			if e.Error.Code == "request_too_small" {
				t.Fatalf("request_too_small for a %d-byte request, yet the brief answer (%d) would fit", len(req), len(a.Brief))
			}
		}
	}
	for _, k := range []string{"dropped", "full", "brief", "bad_json"} {
		if !seen[k] {
			t.Errorf("never saw outcome %q (saw %v)", k, seen)
		}
	}
	// The request_too_small error is about as large as a brief single answer, so it shows up
	// for batches (TestHandleBatch). A tiny request gets nothing at all: dropped and counted.
	h2 := newHandler(lpo.New(lpo.Config{Book: book, Keys: fakeKeys{"k": {ID: "k"}}, Metrics: metrics.NewSet()}), h.tooLarge)
	// Even the error is too big: dropped and counted.
	drops := h2.ampDrops
	if got := h2.handle([]byte(`{"key":"k","asset":"btc"}`), nil); len(got) != 0 {
		t.Fatalf("got %s", got)
	}
	if h2.ampDrops != drops+1 {
		t.Fatalf("ampDrops %d, want %d", h2.ampDrops, drops+1)
	}
}

func TestHandleTooLarge(t *testing.T) {
	h, _ := newTestHandler(t)
	got := h.handleTooLarge(nil, DefaultMaxDatagram)
	if e := decodeError(t, got); e.Error.Code != "request_too_large" || e.ID != nil {
		t.Fatalf("got %s", got)
	}
}

func FuzzHandle(f *testing.F) {
	for _, s := range []string{
		`{"key":"` + testKey + `","asset":"btc","id":7}`,
		pad(`{"key":"`+testKey+`","asset":"btc","id":"x"}`, 700),
		pad(`{"key":"`+testKey+`","assets":["btc","eth","nope"],"id":7}`, 500),
		`{"key":"` + testKey + `","assets":["btc"]}`,
		`{"key":"k","asset":"btc"}`,
		`{"key":"` + revokedKey + `","asset":"btc","id":1}`,
		`{`,
		``,
	} {
		f.Add([]byte(s))
	}
	h, _ := newTestHandler(f)
	out := make([]byte, 0, 3*DefaultMaxDatagram)
	f.Fuzz(func(t *testing.T, req []byte) {
		got := h.handle(req, out[:0])
		if len(got) > Amplification*len(req) {
			t.Fatalf("answer of %d bytes to a request of %d", len(got), len(req))
		}
		if len(got) > 0 && !json.Valid(got) {
			t.Fatalf("answer is not JSON: %s", got)
		}
	})
}
