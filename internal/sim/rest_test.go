package sim_test

import (
	"strings"
	"testing"

	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
)

// REST end to end: every adapter's feed.RESTTicker reads the simulator's REST answers back as
// exactly the simulated quote.

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
		c      e2eCase
		prefix string
	}{
		{coinbaseE2E, "/coinbase-rest"},
		{krakenE2E, "/kraken-rest"},
		{cryptocomE2E, "/cryptocom-rest"},
	} {
		t.Run(tc.c.ex.String(), func(t *testing.T) {
			if base := s.RESTURL(tc.c.ex); base != "http://"+s.Addr()+tc.prefix {
				t.Fatalf("RESTURL = %q", base)
			}
			syms := u.Symbols(tc.c.ex)
			if len(syms) < 5 {
				t.Fatalf("only %d symbols", len(syms))
			}
			tc.c.checkREST(t, s, syms)
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
