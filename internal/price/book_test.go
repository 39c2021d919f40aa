package price

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const testAssets = `{"assets":{
 "BTC":{"coinbase":"BTC-USD","kraken":"BTC/USD","gemini":"btcusd","okx":"BTC-USDT","bybit":"BTCUSDT"},
 "ETH":{"coinbase":"ETH-USD","kraken":"ETH/USD"},
 "USDT":{"coinbase":"USDT-USD","kraken":"USDT/USD"},
 "SOL":{"okx":"SOL-USDT"}
}}`

// testBook returns a book over testAssets with a settable clock.
func testBook(t *testing.T) (*Book, *int64) {
	t.Helper()
	u, err := ParseUniverse([]byte(testAssets))
	if err != nil {
		t.Fatal(err)
	}
	now := int64(1_700_000_000) * 1e9
	b := NewBook(BookConfig{Universe: u, Params: DefaultParams(), Now: func() int64 { return now }})
	return b, &now
}

func tick(b *Book, now int64, ex Exchange, sym, last, bid, ask string) {
	t := Tick{Exchange: ex, Symbol: sym, Received: now}
	if last != "" {
		t.Last = MustParse(last)
	}
	if bid != "" {
		t.Bid = MustParse(bid)
	}
	if ask != "" {
		t.Ask = MustParse(ask)
	}
	b.Apply(&t)
}

func answer(t *testing.T, b *Book, name string) *Answer {
	t.Helper()
	i, a := b.Lookup([]byte(name))
	if i < 0 {
		t.Fatalf("asset %s unknown", name)
	}
	return a
}

func TestAggregateMedianAndOutliers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prices map[Exchange]string // mid prices via bid=ask
		want   string
		used   int
		source string
	}{
		{"one source", map[Exchange]string{Coinbase: "100"}, "100", 1, "coinbase"},
		{"two sources average", map[Exchange]string{Coinbase: "100", Kraken: "102"}, "101", 2, "aggregate"},
		{"two far apart are both kept", map[Exchange]string{Coinbase: "100", Kraken: "150"}, "125", 2, "aggregate"},
		{"odd median", map[Exchange]string{Coinbase: "100", Kraken: "101", Gemini: "101.5"}, "101", 3, "aggregate"},
		{"2.5% off the median is an outlier", map[Exchange]string{Coinbase: "100", Kraken: "101", Gemini: "103.6"}, "100.5", 2, "aggregate"},
		{"one spike among three", map[Exchange]string{Coinbase: "100", Kraken: "100.5", Gemini: "150"}, "100.25", 2, "aggregate"},
		{"a majority wins", map[Exchange]string{Coinbase: "100", Kraken: "150", Gemini: "150.5"}, "150.25", 2, "aggregate"},
		{"outlier dropped", map[Exchange]string{Coinbase: "100", Kraken: "100.5", Gemini: "101", OKX: "150"}, "100.5", 3, "aggregate"},
		{"low outlier dropped", map[Exchange]string{Coinbase: "100", Kraken: "100.4", Gemini: "99.8", OKX: "100.2", Bybit: "10"}, "100.1", 4, "aggregate"},
		{"within 2% kept", map[Exchange]string{Coinbase: "100", Kraken: "101.5", Gemini: "100.5"}, "100.5", 3, "aggregate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, now := testBook(t)
			syms := map[Exchange]string{Coinbase: "BTC-USD", Kraken: "BTC/USD", Gemini: "btcusd", OKX: "BTC-USDT", Bybit: "BTCUSDT"}
			for ex, p := range tc.prices {
				tick(b, *now, ex, syms[ex], "", p, p)
			}
			a := answer(t, b, "btc")
			if a == nil {
				t.Fatal("no answer")
			}
			if a.Price != MustParse(tc.want) || a.Used != tc.used || a.Source != tc.source || a.Stale {
				t.Errorf("price %v used %d source %s stale %v; want %s used %d source %s", a.Price, a.Used, a.Source, a.Stale, tc.want, tc.used, tc.source)
			}
		})
	}
}

func TestReferencePriceIsMidElseLast(t *testing.T) {
	b, now := testBook(t)
	tick(b, *now, Coinbase, "ETH-USD", "3000", "", "")
	if a := answer(t, b, "ETH"); a.Price != MustParse("3000") {
		t.Fatalf("last only: %v", a.Price)
	}
	tick(b, *now, Coinbase, "ETH-USD", "", "3010", "3012")
	if a := answer(t, b, "ETH"); a.Price != MustParse("3011") || a.Bid != MustParse("3010") || a.Ask != MustParse("3012") {
		t.Fatalf("with book: %v %v %v", a.Price, a.Bid, a.Ask)
	}
	// A crossed book is ignored in favour of the last trade.
	tick(b, *now, Coinbase, "ETH-USD", "", "3020", "3015")
	if a := answer(t, b, "ETH"); a.Price != MustParse("3000") {
		t.Fatalf("crossed book: %v", a.Price)
	}
}

func TestStablecoinConversion(t *testing.T) {
	b, now := testBook(t)
	// No USDT rate yet: USDT counts as 1 USD.
	tick(b, *now, OKX, "SOL-USDT", "200", "", "")
	if a := answer(t, b, "SOL"); a.Price != MustParse("200") {
		t.Fatalf("before rate: %v", a.Price)
	}
	tick(b, *now, Kraken, "USDT/USD", "0.999", "", "")
	if a := answer(t, b, "USDT"); a.Price != MustParse("0.999") {
		t.Fatalf("usdt: %v", a.Price)
	}
	b.Sweep() // the rate moved: USDT-quoted assets are recomputed
	a := answer(t, b, "SOL")
	if a.Price != MustParse("199.8") {
		t.Fatalf("after rate: %v, want 199.8", a.Price)
	}
	if !strings.Contains(string(a.JSON), `"quote":"USDT"`) {
		t.Errorf("answer does not name the quote: %s", a.JSON)
	}
}

func TestStalenessAndExpiry(t *testing.T) {
	b, now := testBook(t)
	tick(b, *now, Coinbase, "ETH-USD", "3000", "", "")
	*now += int64(9 * time.Second)
	b.Sweep()
	if a := answer(t, b, "ETH"); a == nil || a.Stale {
		t.Fatal("fresh within 10 s")
	}
	*now += int64(2 * time.Second)
	b.Sweep()
	a := answer(t, b, "ETH")
	if a == nil || !a.Stale || a.Price != MustParse("3000") || a.Used != 0 {
		t.Fatalf("after 11 s want stale 3000, got %+v", a)
	}
	if !strings.Contains(string(a.JSON), `"stale":true`) || !strings.Contains(string(a.Brief), `"stale":true`) {
		t.Errorf("stale flag missing: %s", a.JSON)
	}
	*now += int64(5 * time.Minute)
	b.Sweep()
	if a := answer(t, b, "ETH"); a != nil {
		t.Fatalf("past the stale limit want no answer, got %+v", a)
	}
	// A new tick brings it back.
	tick(b, *now, Kraken, "ETH/USD", "3100", "", "")
	if a := answer(t, b, "ETH"); a == nil || a.Stale || a.Price != MustParse("3100") {
		t.Fatalf("after new tick: %+v", a)
	}
}

func TestStaleSourceLeavesAggregate(t *testing.T) {
	b, now := testBook(t)
	tick(b, *now, Coinbase, "BTC-USD", "100", "", "")
	*now += int64(6 * time.Second)
	tick(b, *now, Kraken, "BTC/USD", "110", "", "")
	if a := answer(t, b, "BTC"); a.Price != MustParse("105") {
		t.Fatalf("both fresh: %v", a.Price)
	}
	*now += int64(5 * time.Second) // coinbase is now 11 s old
	b.Sweep()
	a := answer(t, b, "BTC")
	if a.Price != MustParse("110") || a.Source != "kraken" {
		t.Fatalf("coinbase aged out: %v from %s", a.Price, a.Source)
	}
}

func TestAnswerJSONIsValid(t *testing.T) {
	b, now := testBook(t)
	tick(b, *now, Coinbase, "BTC-USD", "100000.5", "100000.25", "100000.75")
	tick(b, *now, OKX, "BTC-USDT", "100001", "100000.9", "100001.1")
	a := answer(t, b, "BTC")
	var full struct {
		Asset     string  `json:"asset"`
		Price     float64 `json:"price"`
		Timestamp string  `json:"timestamp"`
		Source    string  `json:"source"`
		Stale     bool    `json:"stale"`
		Sources   []struct {
			Exchange string `json:"exchange"`
			Used     bool   `json:"used"`
			Time     string `json:"time"`
		} `json:"sources"`
	}
	if err := json.Unmarshal(a.JSON, &full); err != nil {
		t.Fatalf("full answer is not JSON: %v\n%s", err, a.JSON)
	}
	if full.Asset != "BTC" || full.Price != 100000.75 || full.Source != "aggregate" || len(full.Sources) != 2 {
		t.Errorf("unexpected answer %+v", full)
	}
	if _, err := time.Parse(time.RFC3339Nano, full.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", full.Timestamp, err)
	}
	var brief map[string]any
	if err := json.Unmarshal(a.Brief, &brief); err != nil {
		t.Fatalf("brief answer is not JSON: %v\n%s", err, a.Brief)
	}
	if _, ok := brief["sources"]; ok || len(a.Brief) > 200 {
		t.Errorf("brief answer too big or has sources: %s", a.Brief)
	}
	var list struct {
		Count  int `json:"count"`
		Assets []struct {
			Asset     string   `json:"asset"`
			Exchanges []string `json:"exchanges"`
		} `json:"assets"`
	}
	if err := json.Unmarshal(b.AssetListJSON(), &list); err != nil || list.Count != 4 || len(list.Assets) != 4 {
		t.Fatalf("asset list: %v %s", err, b.AssetListJSON())
	}
}

func TestUnknownSymbolIgnored(t *testing.T) {
	b, now := testBook(t)
	tick(b, *now, Coinbase, "DOGE-USD", "1", "", "")
	if b.Ticks() != 0 {
		t.Fatal("tick for an unmapped symbol was applied")
	}
	if i, _ := b.Lookup([]byte("doge")); i != -1 {
		t.Fatal("unknown asset found")
	}
}

func TestDefaultUniverse(t *testing.T) {
	u, err := DefaultUniverse()
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Assets) < 100 {
		t.Errorf("default universe has %d assets, want about 150", len(u.Assets))
	}
	for _, name := range []string{"BTC", "ETH", "SOL", "USDT"} {
		if a := u.Find(name); a == nil || len(a.Markets) < 2 {
			t.Errorf("%s missing or on fewer than 2 exchanges", name)
		}
	}
}
