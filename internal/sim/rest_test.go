package sim_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/coinbase"
	"github.com/trinityprice/trinity/internal/feed/cryptocom"
	"github.com/trinityprice/trinity/internal/feed/kraken"
	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
)

// REST end to end: every adapter's feed.RESTTicker reads the simulator's REST answers back as
// exactly the simulated quote.

func restGetBody(t *testing.T, url string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestRESTTickersMatchQuotes(t *testing.T) {
	u, err := price.ParseUniverse([]byte(cdcUniverse))
	if err != nil {
		t.Fatal(err)
	}
	s := sim.New(u, sim.Options{Seed: 3})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for range 3 {
		s.Step()
	}
	for _, tc := range []struct {
		ex      price.Exchange
		proto   feed.RESTTicker
		prefix  string
		hasTime bool
		unknown string
	}{
		{price.Coinbase, coinbase.Protocol{}, "/coinbase-rest", true, "NOPE-USD"},
		{price.Kraken, kraken.Protocol{}, "/kraken-rest", false, "NOPE/USD"},
		{price.Cryptocom, cryptocom.Protocol{}, "/cryptocom-rest", true, "NOPE_USD"},
	} {
		t.Run(tc.ex.String(), func(t *testing.T) {
			base := s.RESTURL(tc.ex)
			if base != "http://"+s.Addr()+tc.prefix {
				t.Fatalf("RESTURL = %q", base)
			}
			syms := u.Symbols(tc.ex)
			if len(syms) < 5 {
				t.Fatalf("only %d symbols", len(syms))
			}
			for _, sym := range syms {
				status, body := restGetBody(t, base+tc.proto.TickerPath(sym))
				if status != http.StatusOK {
					t.Fatalf("%s: status %d: %s", sym, status, body)
				}
				got := price.Tick{Exchange: tc.ex, Symbol: sym}
				if err := tc.proto.ParseTicker(sym, body, &got); err != nil {
					t.Fatalf("%s: %v (body %s)", sym, err, body)
				}
				last, bid, ask, ok := s.Quote(tc.ex, sym)
				if !ok || got.Last != last || got.Bid != bid || got.Ask != ask {
					t.Fatalf("%s: got %v/%v/%v, want %v/%v/%v (body %s)", sym, got.Last, got.Bid, got.Ask, last, bid, ask, body)
				}
				if tc.hasTime && time.Since(time.Unix(0, got.ExchangeTime)).Abs() > time.Minute {
					t.Fatalf("%s: exchange time %v", sym, time.Unix(0, got.ExchangeTime))
				}
				if !tc.hasTime && got.ExchangeTime != 0 {
					t.Fatalf("%s: exchange time %v from a response without one", sym, got.ExchangeTime)
				}
			}
			_, body := restGetBody(t, base+tc.proto.TickerPath(tc.unknown))
			var got price.Tick
			if err := tc.proto.ParseTicker(tc.unknown, body, &got); err == nil {
				t.Fatalf("%s: no error for %s", tc.ex, body)
			}
		})
	}
}

// TestRESTShapes checks details of the simulated answers the adapters do not depend on.
func TestRESTShapes(t *testing.T) {
	u, err := price.ParseUniverse([]byte(cdcUniverse))
	if err != nil {
		t.Fatal(err)
	}
	s := sim.New(u, sim.Options{Seed: 3})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, tc := range []struct {
		path     string
		status   int
		contains []string
	}{
		// Kraken keys the result by its internal pair name and accepts the names it knows.
		{"/kraken-rest/0/public/Ticker?pair=XBTUSD", 200, []string{`"error":[]`, `"XXBTZUSD":{"a":["`}},
		{"/kraken-rest/0/public/Ticker?pair=BTCUSD", 200, []string{`"XXBTZUSD"`}},
		{"/kraken-rest/0/public/Ticker?pair=XDGUSD,ETHUSDT", 200, []string{`"XXDGZUSD"`, `"ETHUSDT"`}},
		{"/kraken-rest/0/public/Ticker?pair=NOPEUSD", 200, []string{`{"error":["EQuery:Unknown asset pair"]}`}},
		// Coinbase answers a -USDC product with its -USD book.
		{"/coinbase-rest/api/v3/brokerage/market/products/ETH-USDC/ticker?limit=1", 200, []string{`"product_id":"ETH-USD"`, `"best_bid":"`}},
		{"/coinbase-rest/api/v3/brokerage/market/products/NOPE-USD/ticker?limit=1", 404, []string{`"error":"NOT_FOUND"`}},
		// Crypto.com lists every instrument without instrument_name.
		{"/cryptocom-rest/exchange/v1/public/get-tickers", 200, []string{`"method":"public/get-tickers","code":0`, `"i":"BTC_USD"`, `"i":"ZORK_USDC"`}},
		{"/cryptocom-rest/exchange/v1/public/get-tickers?instrument_name=NOPE_USD", 400, []string{`"code":10004`}},
	} {
		status, body := restGetBody(t, "http://"+s.Addr()+tc.path)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.path, status, tc.status, body)
		}
		for _, c := range tc.contains {
			if !strings.Contains(string(body), c) {
				t.Errorf("%s: %s does not contain %s", tc.path, body, c)
			}
		}
	}
}
