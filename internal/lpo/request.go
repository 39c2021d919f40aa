package lpo

import (
	"encoding/binary"
	"unicode/utf8"
)

// MaxIDLen is the longest string id (between its quotes) a request may carry. Numeric ids
// are held to the same length.
const MaxIDLen = 64

// maxJSONDepth bounds the nesting of skipped values so a hostile request cannot recurse deeply.
const maxJSONDepth = 32

// Request is a decoded price request, the JSON object shared by UDP datagrams and the body of
// HTTP POST /prices:
//
//	{"key":"tb_live_…","asset":"btc","id":7}
//	{"key":"tb_live_…","assets":["btc","eth"],"id":"a1","pad":"xxxx"}
//
// Every field is a sub-slice of the buffer it was parsed from and must not outlive it.
// A field that is absent (or JSON null) is nil; a present empty string is empty but non-nil.
type Request struct {
	// Key is the content of the "key" string (without quotes).
	Key []byte
	// Asset is the content of the "asset" string (without quotes).
	Asset []byte
	// ID is the raw token text of "id" as sent, quotes included for a string, so it can be
	// echoed verbatim: a JSON number or a string of at most MaxIDLen bytes.
	ID []byte
	// Assets is the raw text of the "assets" array, brackets included; walk it with
	// Batch.AddJSONArray.
	Assets []byte
}

// ParseRequest decodes the request object in b into r, in place and without allocating.
// r's fields point into b, which must not be modified while r is in use.
//
// The input must be one JSON object (whitespace around it allowed, nothing else). Fields:
// "key" and "asset" are strings, "assets" is an array, "id" is a JSON number or a string;
// each may also be null, which counts as absent. Unknown fields of any type are skipped. If a
// field appears twice, the last one wins. It returns ErrBadJSON for malformed JSON and for
// these documented restrictions of an otherwise valid object:
//   - a "key" or "asset" string containing an escape sequence (no key or asset name needs
//     one), or a known field of the wrong type;
//   - an "id" longer than MaxIDLen bytes (a string is measured between its quotes), or an id
//     string that is not valid UTF-8 (it is echoed verbatim into answers);
//   - values nested more than 32 levels deep.
//
// Field names are compared byte for byte: a name written with escape sequences (e.g.
// "k\u0065y") is an unknown field. The elements of "assets" are checked by AddJSONArray,
// not here; only the array's JSON syntax is.
func ParseRequest(b []byte, r *Request) *Error {
	*r = Request{}
	i := jsonSkipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return ErrBadJSON
	}
	i = jsonSkipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return jsonEnd(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return ErrBadJSON
		}
		j, esc := jsonString(b, i)
		if j < 0 {
			return ErrBadJSON
		}
		name := b[i+1 : j-1]
		i = jsonSkipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return ErrBadJSON
		}
		i = jsonSkipWS(b, i+1)
		if i >= len(b) {
			return ErrBadJSON
		}
		f := reqFieldOther
		if !esc {
			f = reqFieldOf(name)
		}
		switch f {
		case reqFieldKey, reqFieldAsset:
			var s []byte
			switch b[i] {
			case '"':
				j, esc = jsonString(b, i)
				if j < 0 || esc {
					return ErrBadJSON
				}
				s = b[i+1 : j-1]
			case 'n':
				if j = jsonLiteral(b, i, "null"); j < 0 {
					return ErrBadJSON
				}
			default:
				return ErrBadJSON
			}
			if f == reqFieldKey {
				r.Key = s
			} else {
				r.Asset = s
			}
		case reqFieldAssets:
			switch b[i] {
			case '[':
				if j = jsonSkipValue(b, i, 0); j < 0 {
					return ErrBadJSON
				}
				r.Assets = b[i:j]
			case 'n':
				if j = jsonLiteral(b, i, "null"); j < 0 {
					return ErrBadJSON
				}
				r.Assets = nil
			default:
				return ErrBadJSON
			}
		case reqFieldID:
			switch c := b[i]; {
			case c == '"':
				j, _ = jsonString(b, i)
				if j < 0 || j-i-2 > MaxIDLen || !utf8.Valid(b[i+1:j-1]) {
					return ErrBadJSON
				}
				r.ID = b[i:j]
			case c == '-' || '0' <= c && c <= '9':
				j = jsonNumber(b, i)
				if j < 0 || j-i > MaxIDLen {
					return ErrBadJSON
				}
				r.ID = b[i:j]
			case c == 'n':
				if j = jsonLiteral(b, i, "null"); j < 0 {
					return ErrBadJSON
				}
				r.ID = nil
			default:
				return ErrBadJSON
			}
		default:
			if j = jsonSkipValue(b, i, 0); j < 0 {
				return ErrBadJSON
			}
		}
		i = jsonSkipWS(b, j)
		if i >= len(b) {
			return ErrBadJSON
		}
		switch b[i] {
		case ',':
			i = jsonSkipWS(b, i+1)
		case '}':
			return jsonEnd(b, i+1)
		default:
			return ErrBadJSON
		}
	}
}

// AddJSONArray adds every asset named in raw, the text of a JSON array of strings such as
// Request.Assets, to the batch (see Add). Elements that are not strings make the whole
// request ErrBadJSON; a string with escape sequences is passed on as written and so becomes
// a malformed asset name (reported per item, not an error). It returns ErrTooManyAssets past
// MaxBatch distinct names. It does not allocate; the names borrow raw.
func (b *Batch) AddJSONArray(s *Service, raw []byte) *Error {
	i := jsonSkipWS(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return ErrBadJSON
	}
	i = jsonSkipWS(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return jsonEnd(raw, i+1)
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return ErrBadJSON
		}
		j, _ := jsonString(raw, i)
		if j < 0 {
			return ErrBadJSON
		}
		if e := b.Add(s, raw[i+1:j-1]); e != nil {
			return e
		}
		i = jsonSkipWS(raw, j)
		if i >= len(raw) {
			return ErrBadJSON
		}
		switch raw[i] {
		case ',':
			i = jsonSkipWS(raw, i+1)
		case ']':
			return jsonEnd(raw, i+1)
		default:
			return ErrBadJSON
		}
	}
}

type reqField uint8

const (
	reqFieldOther reqField = iota
	reqFieldKey
	reqFieldAsset
	reqFieldAssets
	reqFieldID
)

func reqFieldOf(name []byte) reqField {
	switch string(name) { // no allocation: the compiler compares in place
	case "key":
		return reqFieldKey
	case "asset":
		return reqFieldAsset
	case "assets":
		return reqFieldAssets
	case "id":
		return reqFieldID
	}
	return reqFieldOther
}

// end returns nil if only whitespace follows position i of b.
func jsonEnd(b []byte, i int) *Error {
	if jsonSkipWS(b, i) != len(b) {
		return ErrBadJSON
	}
	return nil
}

// jsonSkipWS returns the index of the first non-whitespace byte of b at or after i, or len(b).
func jsonSkipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// jsonString scans the JSON string starting with the quote at b[i]. It returns the index just
// past the closing quote and whether the string contains escape sequences, or -1 if the string
// is malformed (unterminated, a control character, a bad escape). Like encoding/json it does
// not check UTF-8. Plain runs (padding, mostly) are skipped eight bytes at a time.
func jsonString(b []byte, i int) (int, bool) {
	const (
		lsb = 0x0101010101010101
		msb = 0x8080808080808080
	)
	esc := false
	i++
	for {
		// No byte of x is a quote, a backslash or below 0x20 (exact SWAR tests, see
		// "Determine if a word has a byte less than n" in Bit Twiddling Hacks).
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			q := x ^ (lsb * '"')
			s := x ^ (lsb * '\\')
			if ((x-lsb*0x20)&^x|(q-lsb)&^q|(s-lsb)&^s)&msb != 0 {
				break
			}
			i += 8
		}
		if i >= len(b) {
			return -1, esc
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc
		case c == '\\':
			esc = true
			i++
			if i >= len(b) {
				return -1, esc
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1, esc
				}
				for _, h := range b[i+1 : i+5] {
					if !jsonIsHex(h) {
						return -1, esc
					}
				}
				i += 4
			default:
				return -1, esc
			}
		case c < 0x20:
			return -1, esc
		}
		i++
	}
}

func jsonIsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// jsonNumber scans the JSON number starting at b[i] and returns the index just past it, or -1.
func jsonNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = jsonDigits(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := jsonDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := jsonDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func jsonDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// jsonLiteral checks that lit (true, false, null) starts at b[i] and returns the index past it,
// or -1.
func jsonLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// jsonSkipValue scans any JSON value starting at b[i] (no leading whitespace) and returns the
// index just past it, or -1 if it is malformed or nested deeper than maxJSONDepth.
func jsonSkipValue(b []byte, i, depth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		j, _ := jsonString(b, i)
		return j
	case c == '-' || '0' <= c && c <= '9':
		return jsonNumber(b, i)
	case c == 't':
		return jsonLiteral(b, i, "true")
	case c == 'f':
		return jsonLiteral(b, i, "false")
	case c == 'n':
		return jsonLiteral(b, i, "null")
	case c == '[' || c == '{':
		if depth >= maxJSONDepth {
			return -1
		}
		obj := c == '{'
		closer := byte(']')
		if obj {
			closer = '}'
		}
		i = jsonSkipWS(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1
		}
		for {
			if obj {
				if i >= len(b) || b[i] != '"' {
					return -1
				}
				if i, _ = jsonString(b, i); i < 0 {
					return -1
				}
				i = jsonSkipWS(b, i)
				if i >= len(b) || b[i] != ':' {
					return -1
				}
				i = jsonSkipWS(b, i+1)
			}
			if i = jsonSkipValue(b, i, depth+1); i < 0 {
				return -1
			}
			i = jsonSkipWS(b, i)
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case ',':
				i = jsonSkipWS(b, i+1)
			case closer:
				return i + 1
			default:
				return -1
			}
		}
	}
	return -1
}
