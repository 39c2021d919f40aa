package kraken

import (
	"errors"
	"net/url"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

// DefaultRESTURL is the base URL of Kraken's public REST API.
const DefaultRESTURL = "https://api.kraken.com"

var _ feed.RESTTicker = Protocol{}

// DefaultRESTURL returns DefaultRESTURL.
func (Protocol) DefaultRESTURL() string { return DefaultRESTURL }

// TickerPath returns "/0/public/Ticker?pair=XBTUSD" for the WebSocket v2 symbol "BTC/USD".
func (Protocol) TickerPath(symbol string) string {
	return "/0/public/Ticker?pair=" + url.QueryEscape(restPair(symbol))
}

// restAssets are the WebSocket v2 asset codes whose REST (v1) code differs.
var restAssets = map[string]string{"BTC": "XBT", "DOGE": "XDG"}

// restPair turns a WebSocket v2 symbol ("BTC/USD") into the pair name the REST API is asked
// for ("XBTUSD"): the slash is dropped and BTC and DOGE become Kraken's REST codes XBT and XDG,
// which gives the pairs' documented altnames (XBTUSD, XDGUSD, ETHXBT). Kraken's REST API may
// also accept "BTCUSD", but the altname is the documented form. A symbol without a slash is
// returned as it is.
func restPair(symbol string) string {
	base, quote, ok := strings.Cut(symbol, "/")
	if !ok {
		return symbol
	}
	if r, ok := restAssets[base]; ok {
		base = r
	}
	if r, ok := restAssets[quote]; ok {
		quote = r
	}
	return base + quote
}

// ParseTicker decodes a Ticker response:
//
//	{"error":[],"result":{"XXBTZUSD":{"a":["105944.30000","1","1.000"],
//	 "b":["105944.20000","1","1.000"],"c":["105899.40000","0.00009443"],...}}}
//
// A non-empty error array is an error carrying Kraken's messages. The result key is Kraken's
// internal pair name (XXBTZUSD), not the name asked for, so the map is iterated: its one entry
// is taken; if there are several, the one named like the pair asked for (XBTUSD) or like the
// symbol without its slash (BTCUSD). t.Last is c[0], t.Bid b[0], t.Ask a[0]; the response has
// no time, so t.ExchangeTime is 0. The other fields of t are left alone.
func (Protocol) ParseTicker(symbol string, body []byte, t *price.Tick) error {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return errors.New("kraken: ticker response: malformed JSON: " + err.Error())
	}
	o := feed.JSONObject(v)
	if o == nil {
		return errors.New("kraken: ticker response is not a JSON object")
	}
	if ev := o.Get("error"); ev != nil && ev.Type() != fastjson.TypeNull {
		errs, err := ev.Array()
		if err != nil {
			return errors.New("kraken: ticker response: error is not an array")
		}
		if len(errs) > 0 {
			msgs := make([]string, 0, len(errs))
			for _, e := range errs {
				b, _ := e.StringBytes()
				msgs = append(msgs, string(b))
			}
			return errors.New("kraken: ticker " + symbol + ": " + strings.Join(msgs, "; "))
		}
	}
	res := feed.JSONObject(o.Get("result"))
	if res == nil {
		return errors.New("kraken: ticker response without result")
	}
	var entry *fastjson.Object
	switch res.Len() {
	case 0:
		return errors.New("kraken: ticker response has no entry for " + symbol)
	case 1:
		res.Visit(func(_ []byte, v *fastjson.Value) { entry = feed.JSONObject(v) })
	default:
		want, plain := restPair(symbol), strings.ReplaceAll(symbol, "/", "")
		res.Visit(func(k []byte, v *fastjson.Value) {
			if string(k) == want || string(k) == plain {
				entry = feed.JSONObject(v)
			}
		})
		if entry == nil {
			return errors.New("kraken: ticker response has several pairs and none is " + want)
		}
	}
	if entry == nil {
		return errors.New("kraken: ticker entry for " + symbol + " is not an object")
	}
	var scratch []byte
	last, err1 := first(entry, "c", &scratch)
	bid, err2 := first(entry, "b", &scratch)
	ask, err3 := first(entry, "a", &scratch)
	if err1 != nil || err2 != nil || err3 != nil {
		return errors.New("kraken: ticker response with a bad price field")
	}
	if last == 0 && bid == 0 && ask == 0 {
		return errors.New("kraken: ticker response for " + symbol + " has no price")
	}
	t.Last, t.Bid, t.Ask, t.ExchangeTime = last, bid, ask, 0
	return nil
}

// first parses the price that is the first element of the array field key of o
// (["105944.30000","1","1.000"]). A missing field is 0.
func first(o *fastjson.Object, key string, scratch *[]byte) (price.Value, error) {
	v := o.Get(key)
	if v == nil {
		return 0, nil
	}
	a, err := v.Array()
	if err != nil || len(a) == 0 {
		return 0, feed.ErrBadPrice
	}
	var text []byte
	switch a[0].Type() {
	case fastjson.TypeString:
		text, _ = a[0].StringBytes()
		if len(text) == 0 {
			return 0, nil
		}
	case fastjson.TypeNumber:
		*scratch = a[0].MarshalTo((*scratch)[:0])
		text = *scratch
	default:
		return 0, feed.ErrBadPrice
	}
	p, err := price.ParseValue(text)
	if err != nil || p < 0 {
		return 0, feed.ErrBadPrice
	}
	return p, nil
}
