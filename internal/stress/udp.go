package stress

import (
	"bytes"
	"encoding/json"
	"strings"
)

// udpTemplates returns the request templates of proto: JSON objects ending in
// `"id":"0000000000000000"}` (the 16 hex digits are overwritten per request), padded with a
// "pad" field to pad bytes when pad is larger than the bare request.
func udpTemplates(p *Plan, proto Protocol) [][]byte {
	keys := p.Keys
	if len(keys) == 0 {
		keys = []string{""}
	}
	assets := p.Assets
	if proto == UDPLRS {
		assets = []string{""}
	}
	pad := p.UDPPad[proto]
	var out [][]byte
	add := func(key, asset string) {
		var b strings.Builder
		b.WriteString("{")
		if key != "" {
			b.WriteString(`"key":"` + key + `",`)
		}
		if proto == UDPLRS {
			b.WriteString(`"report":"` + p.LRSReport + `",`)
		} else {
			b.WriteString(`"asset":"` + asset + `",`)
		}
		const tail = `"id":"0000000000000000"}`
		if short := pad - (b.Len() + len(`"pad":"",`) + len(tail)); short > 0 {
			b.WriteString(`"pad":"` + strings.Repeat("x", short) + `",`)
		}
		b.WriteString(tail)
		out = append(out, []byte(b.String()))
	}
	if len(keys)*len(assets) <= maxRequestVariants {
		for _, k := range keys {
			for _, a := range assets {
				add(k, a)
			}
		}
	} else {
		for i := range max(len(keys), len(assets)) {
			add(keys[i%len(keys)], assets[i%len(assets)])
		}
	}
	return out
}

// idTailLen is the length of `0000000000000000"}` at the end of a template.
const idTailLen = 18

const hexDigits = "0123456789abcdef"

// putID writes id as 16 hex digits at b[0:16].
func putID(b []byte, id uint64) {
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[id&15]
		id >>= 4
	}
}

var idField = []byte(`"id":"`)

// parseID finds the echoed `"id":"<16 hex>"` in an answer.
func parseID(b []byte) (uint64, bool) {
	i := bytes.Index(b, idField)
	if i < 0 || len(b) < i+len(idField)+17 {
		return 0, false
	}
	h := b[i+len(idField):]
	if h[16] != '"' {
		return 0, false
	}
	var id uint64
	for _, c := range h[:16] {
		switch {
		case c >= '0' && c <= '9':
			id = id<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			id = id<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return id, true
}

var (
	errorField = []byte(`"error":{`)
	codeField  = []byte(`"code":"`)
	needField  = []byte(`"need_bytes":`)
)

// validateUDP classifies a UDP answer of proto. When the server asks for larger requests
// (request_too_small) it returns the size it needs as need.
func validateUDP(proto Protocol, b []byte) (k Kind, need int) {
	if i := bytes.Index(b, errorField); i >= 0 {
		code := b[i:]
		if j := bytes.Index(code, codeField); j >= 0 {
			code = code[j+len(codeField):]
			if e := bytes.IndexByte(code, '"'); e >= 0 {
				code = code[:e]
			}
		}
		switch string(code) { // no allocation: the compiler compares in place
		case "rate_limited", "quota_exceeded", "report_limit", "too_many_requests":
			return RateLimited, 0
		case "no_price", "overloaded", "unavailable", "internal", "internal_error":
			return ServerError, 0
		case "request_too_small":
			if j := bytes.Index(b, needField); j >= 0 {
				rest := b[j+len(needField):]
				e := 0
				for e < len(rest) && rest[e] >= '0' && rest[e] <= '9' {
					e++
				}
				need, _ = parseDec(rest[:e])
			}
			return ClientError, need
		}
		return ClientError, 0
	}
	if proto == UDPLRS {
		if !json.Valid(b) {
			return BadBody, 0
		}
		return OK, 0
	}
	if !bytes.Contains(b, priceField) {
		return BadBody, 0
	}
	return OK, 0
}
