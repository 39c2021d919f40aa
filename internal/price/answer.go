package price

import (
	"strconv"
	"time"
)

// TimeLayout is the timestamp format of answers: RFC 3339 in UTC with microseconds.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// AppendTime appends Unix nanoseconds ns formatted with TimeLayout.
func AppendTime(dst []byte, ns int64) []byte {
	return time.Unix(0, ns).UTC().AppendFormat(dst, TimeLayout)
}

// appendAnswer appends the JSON object of an answer. With full set it lists every source
// with its prices (converted to USD), its receive time and whether the aggregate used it.
//
//	{"asset":"BTC","price":105944.25,"timestamp":"…","source":"aggregate","stale":false,
//	 "bid":105944.2,"ask":105944.3,"sources":[{"exchange":"kraken","symbol":"BTC/USD",
//	 "quote":"USD","price":…,"bid":…,"ask":…,"last":…,"time":"…","exchange_time":"…",
//	 "fresh":true,"used":true}]}
func appendAnswer(dst []byte, a *Answer, cs []contribution, full bool) []byte {
	dst = append(dst, `{"asset":"`...)
	dst = append(dst, a.Asset...)
	dst = append(dst, `","price":`...)
	dst = AppendValue(dst, a.Price)
	dst = append(dst, `,"timestamp":"`...)
	dst = AppendTime(dst, a.Changed)
	dst = append(dst, `","source":"`...)
	dst = append(dst, a.Source...)
	dst = append(dst, `","stale":`...)
	dst = strconv.AppendBool(dst, a.Stale)
	if a.Bid > 0 {
		dst = append(dst, `,"bid":`...)
		dst = AppendValue(dst, a.Bid)
	}
	if a.Ask > 0 {
		dst = append(dst, `,"ask":`...)
		dst = AppendValue(dst, a.Ask)
	}
	if full {
		dst = append(dst, `,"sources":[`...)
		for i, c := range cs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"exchange":"`...)
			dst = append(dst, c.ex.String()...)
			dst = append(dst, `","symbol":"`...)
			dst = append(dst, c.src.symbol...)
			dst = append(dst, `","quote":"`...)
			dst = append(dst, c.src.quote.String()...)
			dst = append(dst, `","price":`...)
			dst = AppendValue(dst, c.price)
			for _, f := range [...]struct {
				name string
				v    Value
			}{{`,"bid":`, c.bid}, {`,"ask":`, c.ask}, {`,"last":`, c.last}} {
				if f.v > 0 {
					dst = append(dst, f.name...)
					dst = AppendValue(dst, f.v)
				}
			}
			dst = append(dst, `,"time":"`...)
			dst = AppendTime(dst, c.src.received)
			dst = append(dst, '"')
			if c.src.exTime != 0 {
				dst = append(dst, `,"exchange_time":"`...)
				dst = AppendTime(dst, c.src.exTime)
				dst = append(dst, '"')
			}
			dst = append(dst, `,"fresh":`...)
			dst = strconv.AppendBool(dst, c.fresh)
			dst = append(dst, `,"used":`...)
			dst = strconv.AppendBool(dst, c.used)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// buildAssetList builds the GET /assets body: every asset and the exchanges that list it.
func buildAssetList(u *Universe) []byte {
	dst := []byte(`{"count":`)
	dst = strconv.AppendInt(dst, int64(len(u.Assets)), 10)
	dst = append(dst, `,"assets":[`...)
	for i, a := range u.Assets {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"asset":"`...)
		dst = append(dst, a.Name...)
		dst = append(dst, `","exchanges":[`...)
		for j, m := range a.Markets {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = append(dst, m.Exchange.String()...)
			dst = append(dst, '"')
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}\n"...)
}
