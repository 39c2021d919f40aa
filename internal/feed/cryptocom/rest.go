package cryptocom

import (
	"errors"
	"net/url"

	"github.com/valyala/fastjson"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

// DefaultRESTURL is the base URL of the public Exchange v1 REST API.
const DefaultRESTURL = "https://api.crypto.com"

var _ feed.RESTTicker = Protocol{}

// DefaultRESTURL returns DefaultRESTURL.
func (Protocol) DefaultRESTURL() string { return DefaultRESTURL }

// TickerPath returns "/exchange/v1/public/get-tickers?instrument_name=BTC_USD".
func (Protocol) TickerPath(symbol string) string {
	return "/exchange/v1/public/get-tickers?instrument_name=" + url.QueryEscape(symbol)
}

// ParseTicker decodes a public/get-tickers response:
//
//	{"id":-1,"method":"public/get-tickers","code":0,"result":{"data":[{"i":"BTC_USD",
//	 "a":"51174.5","b":"51170.0","k":"51180.0","t":1613580710768,...}]}}
//
// It takes the entry of result.data whose "i" is symbol (not blindly the first), and sets
// t.Last ("a"), t.Bid ("b"), t.Ask ("k") and t.ExchangeTime ("t", Unix ms); null prices are 0.
// A non-zero code, a missing entry or an entry without any price is an error. The other fields
// of t are left alone.
func (Protocol) ParseTicker(symbol string, body []byte, t *price.Tick) error {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return errors.New("cryptocom: ticker response: malformed JSON: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return errors.New("cryptocom: ticker response is not a JSON object")
	}
	if c := o.Get("code"); c != nil && !isZero(c) {
		return refusal(o, feed.JSONString(o, "method"), c)
	}
	res := feed.JSONObject(o.Get("result"))
	if res == nil {
		return errors.New("cryptocom: ticker response without result")
	}
	var scratch []byte
	for _, dv := range feed.JSONArray(res, "data") {
		d := feed.JSONObject(dv)
		if string(feed.JSONString(d, "i")) != symbol {
			continue
		}
		last, err1 := feed.JSONPrice(d, "a", &scratch)
		bid, err2 := feed.JSONPrice(d, "b", &scratch)
		ask, err3 := feed.JSONPrice(d, "k", &scratch)
		if err1 != nil || err2 != nil || err3 != nil {
			return errBadTicker
		}
		exTime, ok := msTime(d.Get("t"))
		if !ok {
			return errBadTime
		}
		if last == 0 && bid == 0 && ask == 0 {
			return errors.New("cryptocom: ticker response for " + symbol + " has no price")
		}
		t.Last, t.Bid, t.Ask, t.ExchangeTime = last, bid, ask, exTime
		return nil
	}
	return errors.New("cryptocom: ticker response has no entry for " + symbol)
}
