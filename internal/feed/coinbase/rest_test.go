package coinbase

import (
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

func TestRESTTicker(t *testing.T) {
	var p feed.RESTTicker = Protocol{}
	if got := p.DefaultRESTURL(); got != "https://api.coinbase.com" {
		t.Errorf("DefaultRESTURL() = %q", got)
	}
	if got := p.TickerPath("BTC-USD"); got != "/api/v3/brokerage/market/products/BTC-USD/ticker?limit=1" {
		t.Errorf("TickerPath(BTC-USD) = %q", got)
	}
}

func TestParseTicker(t *testing.T) {
	ts := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixNano()
	}
	for _, tc := range []struct {
		name, body      string
		last, bid, ask  string
		exTime          int64
		wantErrContains string
	}{
		{
			name: "reference",
			body: `{"trades":[{"trade_id":"995098663","product_id":"BTC-USD","price":"68923.67","size":"0.00064","time":"2026-04-07T00:28:58.544778Z","side":"SELL","bid":"","ask":"","exchange":"coinbase"}],"best_bid":"68923.66","best_ask":"68923.67"}`,
			last: "68923.67", bid: "68923.66", ask: "68923.67", exTime: ts("2026-04-07T00:28:58.544778Z"),
		},
		{
			name: "usdc alias answers with the usd product",
			body: `{"trades":[{"trade_id":"1","product_id":"ETH-USD","price":"4000.01","size":"1","time":"2026-04-07T00:28:58Z","side":"BUY"}],"best_bid":"4000","best_ask":"4000.02"}`,
			last: "4000.01", bid: "4000", ask: "4000.02", exTime: ts("2026-04-07T00:28:58Z"),
		},
		{
			name: "no trades",
			body: `{"trades":[],"best_bid":"1.5","best_ask":"1.6"}`,
			last: "0", bid: "1.5", ask: "1.6",
		},
		{
			name: "empty best bid and ask",
			body: `{"trades":[{"price":"2.5","time":"2026-04-07T00:28:58Z"}],"best_bid":"","best_ask":""}`,
			last: "2.5", bid: "0", ask: "0", exTime: ts("2026-04-07T00:28:58Z"),
		},
		{name: "not found", body: `{"error":"NOT_FOUND","error_details":"ProductID not found","message":"ProductID not found"}`, wantErrContains: "NOT_FOUND: ProductID not found"},
		{name: "no prices", body: `{"trades":[],"best_bid":"","best_ask":""}`, wantErrContains: "no price"},
		{name: "wrong shape", body: `{"price":"1"}`, wantErrContains: "without trades"},
		{name: "bad price", body: `{"trades":[{"price":"x"}],"best_bid":"1","best_ask":"2"}`, wantErrContains: "bad price"},
		{name: "negative price", body: `{"trades":[],"best_bid":"-1","best_ask":"2"}`, wantErrContains: "bad price"},
		{name: "bad time", body: `{"trades":[{"price":"1","time":"yesterday"}]}`, wantErrContains: "timestamp"},
		{name: "not json", body: `<html>`, wantErrContains: "malformed JSON"},
		{name: "not object", body: `[]`, wantErrContains: "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := price.Tick{Exchange: price.Coinbase, Symbol: "BTC-USD", Received: 9}
			err := Protocol{}.ParseTicker("BTC-USD", []byte(tc.body), &got)
			if tc.wantErrContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrContains) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErrContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := price.Tick{Exchange: price.Coinbase, Symbol: "BTC-USD", Received: 9,
				Last: price.MustParse(tc.last), Bid: price.MustParse(tc.bid), Ask: price.MustParse(tc.ask), ExchangeTime: tc.exTime}
			if got != want {
				t.Fatalf("tick %+v, want %+v", got, want)
			}
		})
	}
}
