package kraken

import (
	"strings"
	"testing"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

func TestRESTTicker(t *testing.T) {
	var p feed.RESTTicker = Protocol{}
	if got := p.DefaultRESTURL(); got != "https://api.kraken.com" {
		t.Errorf("DefaultRESTURL() = %q", got)
	}
	for sym, want := range map[string]string{
		"BTC/USD":  "/0/public/Ticker?pair=XBTUSD",
		"DOGE/USD": "/0/public/Ticker?pair=XDGUSD",
		"ETH/BTC":  "/0/public/Ticker?pair=ETHXBT",
		"ETH/USDT": "/0/public/Ticker?pair=ETHUSDT",
		"SOL/USD":  "/0/public/Ticker?pair=SOLUSD",
		"XBTUSD":   "/0/public/Ticker?pair=XBTUSD",
	} {
		if got := p.TickerPath(sym); got != want {
			t.Errorf("TickerPath(%s) = %q, want %q", sym, got, want)
		}
	}
}

func TestParseTicker(t *testing.T) {
	const reference = `{"error": [], "result": {"XXBTZUSD": {"a": ["105944.30000", "1", "1.000"], "b": ["105944.20000", "1", "1.000"], "c": ["105899.40000", "0.00009443"], "v": ["0.78648221", "163.28908096"], "p": ["105960.64756", "105904.39279"], "t": [35, 3276], "l": ["105853.50000", "104711.00000"], "h": ["106112.00000", "106613.10000"], "o": "106021.60000"}}}`
	for _, tc := range []struct {
		name, symbol, body string
		last, bid, ask     string
		wantErrContains    string
	}{
		{name: "reference", symbol: "BTC/USD", body: reference, last: "105899.4", bid: "105944.2", ask: "105944.3"},
		{name: "one entry under any key", symbol: "SOL/USD", body: `{"error":[],"result":{"SOLUSD":{"a":["200.01","1","1.000"],"b":["199.99","1","1.000"],"c":["200.00","0.1"]}}}`, last: "200", bid: "199.99", ask: "200.01"},
		{name: "several entries, pick the altname", symbol: "BTC/USD", body: `{"error":[],"result":{"XETHZUSD":{"a":["1","1","1"],"b":["1","1","1"],"c":["1","1"]},"XBTUSD":{"a":["3","1","1"],"b":["2","1","1"],"c":["2.5","1"]}}}`, last: "2.5", bid: "2", ask: "3"},
		{name: "several entries, none matches", symbol: "BTC/USD", body: `{"error":[],"result":{"XETHZUSD":{"a":["1","1","1"]},"XLTCZUSD":{"a":["1","1","1"]}}}`, wantErrContains: "several pairs"},
		{name: "missing last", symbol: "BTC/USD", body: `{"error":[],"result":{"XXBTZUSD":{"a":["3","1","1"],"b":["2","1","1"]}}}`, last: "0", bid: "2", ask: "3"},
		{name: "error array", symbol: "NOPE/USD", body: `{"error":["EQuery:Unknown asset pair"]}`, wantErrContains: "EQuery:Unknown asset pair"},
		{name: "two errors", symbol: "BTC/USD", body: `{"error":["EGeneral:Too many requests","EAPI:Rate limit exceeded"]}`, wantErrContains: "EGeneral:Too many requests; EAPI:Rate limit exceeded"},
		{name: "error not array", symbol: "BTC/USD", body: `{"error":"boom","result":{}}`, wantErrContains: "not an array"},
		{name: "no result", symbol: "BTC/USD", body: `{"error":[]}`, wantErrContains: "without result"},
		{name: "empty result", symbol: "BTC/USD", body: `{"error":[],"result":{}}`, wantErrContains: "no entry"},
		{name: "entry not object", symbol: "BTC/USD", body: `{"error":[],"result":{"XXBTZUSD":[1]}}`, wantErrContains: "not an object"},
		{name: "bad price", symbol: "BTC/USD", body: `{"error":[],"result":{"XXBTZUSD":{"a":"3","b":["2"],"c":["1"]}}}`, wantErrContains: "bad price"},
		{name: "no price", symbol: "BTC/USD", body: `{"error":[],"result":{"XXBTZUSD":{"o":"1"}}}`, wantErrContains: "no price"},
		{name: "not json", symbol: "BTC/USD", body: `EService:Unavailable`, wantErrContains: "malformed JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := price.Tick{Exchange: price.Kraken, Symbol: tc.symbol, ExchangeTime: 5, Received: 9}
			err := Protocol{}.ParseTicker(tc.symbol, []byte(tc.body), &got)
			if tc.wantErrContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrContains) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErrContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := price.Tick{Exchange: price.Kraken, Symbol: tc.symbol, Received: 9,
				Last: price.MustParse(tc.last), Bid: price.MustParse(tc.bid), Ask: price.MustParse(tc.ask)}
			if got != want {
				t.Fatalf("tick %+v, want %+v", got, want)
			}
		})
	}
}
