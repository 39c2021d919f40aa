package cryptocom

import (
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

func TestRESTTicker(t *testing.T) {
	var p feed.RESTTicker = Protocol{}
	if got := p.DefaultRESTURL(); got != "https://api.crypto.com" {
		t.Errorf("DefaultRESTURL() = %q", got)
	}
	if got := p.TickerPath("BTC_USD"); got != "/exchange/v1/public/get-tickers?instrument_name=BTC_USD" {
		t.Errorf("TickerPath(BTC_USD) = %q", got)
	}
}

func TestParseTicker(t *testing.T) {
	const reference = `{"id": -1, "method": "public/get-tickers", "code": 0, "result": {"data": [{"i": "BTC_USDT", "h": "51790.00", "l": "47895.50", "a": "51174.500000", "v": "879.5024", "vv": "26370000.12", "c": "0.03955106", "b": "51170.000000", "k": "51180.000000", "t": 1613580710768}]}}`
	for _, tc := range []struct {
		name, symbol, body string
		last, bid, ask     string
		exTime             int64
		wantErrContains    string
	}{
		{name: "reference", symbol: "BTC_USDT", body: reference, last: "51174.5", bid: "51170", ask: "51180", exTime: time.UnixMilli(1613580710768).UnixNano()},
		{name: "picks the entry by instrument", symbol: "ETH_USD", body: `{"id":-1,"method":"public/get-tickers","code":0,"result":{"data":[{"i":"BTC_USD","a":"1","b":"1","k":"1","t":1},{"i":"ETH_USD","a":"4000.5","b":"4000.4","k":"4000.6","t":1613580710768}]}}`, last: "4000.5", bid: "4000.4", ask: "4000.6", exTime: time.UnixMilli(1613580710768).UnixNano()},
		{name: "null last", symbol: "BTC_USD", body: `{"code":0,"result":{"data":[{"i":"BTC_USD","a":null,"b":"1.5","k":"1.6"}]}}`, last: "0", bid: "1.5", ask: "1.6"},
		{name: "other instrument only", symbol: "BTC_USD", body: reference, wantErrContains: "no entry for BTC_USD"},
		{name: "refused", symbol: "NOPE_USD", body: `{"id":-1,"method":"public/get-tickers","code":10004,"message":"BAD_REQUEST"}`, wantErrContains: "public/get-tickers refused: code 10004: BAD_REQUEST"},
		{name: "no result", symbol: "BTC_USD", body: `{"code":0}`, wantErrContains: "without result"},
		{name: "bad price", symbol: "BTC_USD", body: `{"code":0,"result":{"data":[{"i":"BTC_USD","a":"x","b":"1","k":"2"}]}}`, wantErrContains: "bad price"},
		{name: "bad time", symbol: "BTC_USD", body: `{"code":0,"result":{"data":[{"i":"BTC_USD","a":"1","b":"1","k":"2","t":true}]}}`, wantErrContains: "bad time"},
		{name: "no price", symbol: "BTC_USD", body: `{"code":0,"result":{"data":[{"i":"BTC_USD","a":null,"b":null,"k":null}]}}`, wantErrContains: "no price"},
		{name: "not json", symbol: "BTC_USD", body: `<html>`, wantErrContains: "malformed JSON"},
		{name: "not object", symbol: "BTC_USD", body: `"x"`, wantErrContains: "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := price.Tick{Exchange: price.Cryptocom, Symbol: tc.symbol, Received: 9}
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
			want := price.Tick{Exchange: price.Cryptocom, Symbol: tc.symbol, Received: 9,
				Last: price.MustParse(tc.last), Bid: price.MustParse(tc.bid), Ask: price.MustParse(tc.ask), ExchangeTime: tc.exTime}
			if got != want {
				t.Fatalf("tick %+v, want %+v", got, want)
			}
		})
	}
}
