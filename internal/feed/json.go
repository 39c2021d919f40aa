package feed

import (
	"errors"

	"github.com/valyala/fastjson"

	"github.com/trinityprice/trinity/internal/price"
)

// Helpers for adapters that decode frames with a reused fastjson.Parser. None of them
// allocates on success.

// ErrBadPrice is returned by JSONPrice for a price field that is not a non-negative decimal.
var ErrBadPrice = errors.New("bad price field")

// JSONString returns the bytes of the string field key of o, or nil when o is nil or the
// field is missing or not a string. The bytes are valid until the parser's next Parse.
func JSONString(o *fastjson.Object, key string) []byte {
	if o == nil {
		return nil
	}
	v := o.Get(key)
	if v == nil || v.Type() != fastjson.TypeString {
		return nil
	}
	b, _ := v.StringBytes()
	return b
}

// JSONArray returns the array field key of o, or nil.
func JSONArray(o *fastjson.Object, key string) []*fastjson.Value {
	if o == nil {
		return nil
	}
	v := o.Get(key)
	if v == nil || v.Type() != fastjson.TypeArray {
		return nil
	}
	a, _ := v.Array()
	return a
}

// JSONObject returns v as an object, or nil when v is nil or not an object.
func JSONObject(v *fastjson.Value) *fastjson.Object {
	if v == nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	o, _ := v.Object()
	return o
}

// JSONPrice parses the price field key of o, given either as a JSON string ("105944.2", as
// most exchanges send) or as a JSON number (Kraken v2), straight from its text: a number is
// never converted to float64, so digits beyond float64's precision survive (to price.Scale
// decimals). A missing, null or empty field is 0 (unknown). scratch is reused to hold a
// number's text.
func JSONPrice(o *fastjson.Object, key string, scratch *[]byte) (price.Value, error) {
	if o == nil {
		return 0, nil
	}
	v := o.Get(key)
	if v == nil {
		return 0, nil
	}
	var text []byte
	switch v.Type() {
	case fastjson.TypeNull:
		return 0, nil
	case fastjson.TypeString:
		text, _ = v.StringBytes()
		if len(text) == 0 {
			return 0, nil
		}
	case fastjson.TypeNumber:
		*scratch = v.MarshalTo((*scratch)[:0])
		text = *scratch
	default:
		return 0, ErrBadPrice
	}
	p, err := price.ParseValue(text)
	if err != nil || p < 0 {
		return 0, ErrBadPrice
	}
	return p, nil
}

// AppendJSONString appends s as a JSON string literal. It is meant for building subscribe
// frames; it escapes quotes, backslashes and control characters.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// AppendJSONStrings appends ss as a JSON array of strings.
func AppendJSONStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, s)
	}
	return append(dst, ']')
}
