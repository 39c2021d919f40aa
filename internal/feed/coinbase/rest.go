package coinbase

import (
	"errors"
	"net/url"

	"github.com/valyala/fastjson"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

// DefaultRESTURL is the base URL of the Advanced Trade REST API.
const DefaultRESTURL = "https://api.coinbase.com"

var _ feed.RESTTicker = Protocol{}

// DefaultRESTURL returns DefaultRESTURL.
func (Protocol) DefaultRESTURL() string { return DefaultRESTURL }

// TickerPath returns the public (unauthenticated) market-trades ticker of one product,
// "/api/v3/brokerage/market/products/BTC-USD/ticker?limit=1": the latest trade plus the best
// bid and ask. (The same path without /market is the authenticated variant.)
func (Protocol) TickerPath(symbol string) string {
	return "/api/v3/brokerage/market/products/" + url.PathEscape(symbol) + "/ticker?limit=1"
}

// ParseTicker decodes a product ticker response:
//
//	{"trades":[{"trade_id":"995098663","product_id":"BTC-USD","price":"68923.67",
//	 "size":"0.00064","time":"2026-04-07T00:28:58.544778Z","side":"SELL",...}],
//	 "best_bid":"68923.66","best_ask":"68923.67"}
//
// t.Last and t.ExchangeTime come from the first (latest) trade, t.Bid and t.Ask from
// best_bid and best_ask; an absent or empty value is 0. The response is for the product in
// the path, so product_id is not checked (a -USDC product answers with its -USD book). An
// error response ({"error":"NOT_FOUND","message":...}) or a response without any price is an
// error. The other fields of t are left alone.
func (Protocol) ParseTicker(symbol string, body []byte, t *price.Tick) error {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return errors.New("coinbase: ticker response: malformed JSON: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return errors.New("coinbase: ticker response is not a JSON object")
	}
	if e := feed.JSONString(o, "error"); len(e) > 0 {
		msg := "coinbase: ticker " + symbol + ": " + string(e)
		if m := feed.JSONString(o, "message"); len(m) > 0 {
			msg += ": " + string(m)
		}
		return errors.New(msg)
	}
	if o.Get("trades") == nil && o.Get("best_bid") == nil && o.Get("best_ask") == nil {
		return errors.New("coinbase: ticker response without trades, best_bid or best_ask")
	}
	var scratch []byte
	bid, err1 := feed.JSONPrice(o, "best_bid", &scratch)
	ask, err2 := feed.JSONPrice(o, "best_ask", &scratch)
	var last price.Value
	var exTime int64
	var err3 error
	if trades := feed.JSONArray(o, "trades"); len(trades) > 0 {
		tr := feed.JSONObject(trades[0])
		last, err3 = feed.JSONPrice(tr, "price", &scratch)
		if ts := feed.JSONString(tr, "time"); len(ts) > 0 {
			var ok bool
			if exTime, ok = feed.ParseTime(ts); !ok {
				return errBadTimestamp
			}
		}
	}
	if err1 != nil || err2 != nil || err3 != nil {
		return errBadTicker
	}
	if last == 0 && bid == 0 && ask == 0 {
		return errors.New("coinbase: ticker response for " + symbol + " has no price")
	}
	t.Last, t.Bid, t.Ask, t.ExchangeTime = last, bid, ask, exTime
	return nil
}
