package lpo_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/lpo"
	"github.com/trinityprice/trinity/internal/price"
)

func TestParseRequestValid(t *testing.T) {
	type want struct{ key, asset, id, assets string } // "<nil>" means absent
	const absent = "<nil>"
	f := func(in string, w want) {
		t.Helper()
		var r lpo.Request
		if e := lpo.ParseRequest([]byte(in), &r); e != nil {
			t.Fatalf("ParseRequest(%s) = %v, want success", in, e)
		}
		check := func(name string, got []byte, want string) {
			t.Helper()
			if want == absent {
				if got != nil {
					t.Errorf("ParseRequest(%s): %s = %q, want absent", in, name, got)
				}
				return
			}
			if got == nil || string(got) != want {
				t.Errorf("ParseRequest(%s): %s = %q (nil %v), want %q", in, name, got, got == nil, want)
			}
		}
		check("Key", r.Key, w.key)
		check("Asset", r.Asset, w.asset)
		check("ID", r.ID, w.id)
		check("Assets", r.Assets, w.assets)
		if !json.Valid([]byte(in)) {
			t.Errorf("test input %s is not valid JSON", in)
		}
	}
	f(`{"key":"k1","asset":"btc","id":7}`, want{"k1", "btc", "7", absent})
	f(`{}`, want{absent, absent, absent, absent})
	f(" \t\r\n{ } \n", want{absent, absent, absent, absent})
	f(`{"key":"","asset":""}`, want{"", "", absent, absent})
	f(`{"assets":["btc","eth"],"key":"k","id":"a1"}`, want{"k", absent, `"a1"`, `["btc","eth"]`})
	f(`{ "assets" : [ ] , "key" : "k" }`, want{"k", absent, absent, `[ ]`})
	f(`{"assets":[1,{"a":[]},null],"key":"k"}`, want{"k", absent, absent, `[1,{"a":[]},null]`}) // elements are AddJSONArray's business
	f(`{"key":null,"asset":null,"assets":null,"id":null}`, want{absent, absent, absent, absent})
	f(`{"id":-0.5e+10}`, want{absent, absent, "-0.5e+10", absent})
	f(`{"id":0}`, want{absent, absent, "0", absent})
	f(`{"id":1E3}`, want{absent, absent, "1E3", absent})
	f(`{"id":"a\"b\\c\u00e9"}`, want{absent, absent, `"a\"b\\c\u00e9"`, absent})
	f(`{"id":"`+strings.Repeat("x", lpo.MaxIDLen)+`"}`, want{absent, absent, `"` + strings.Repeat("x", lpo.MaxIDLen) + `"`, absent})
	f(`{"id":"é"}`, want{absent, absent, `"é"`, absent})
	f(`{"key":"a","key":"b"}`, want{"b", absent, absent, absent}) // last wins, like encoding/json
	f(`{"asset":"btc","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, want{absent, "btc", absent, absent})
	f(`{"pad":{"a":[1,2,{"b":"c\n\"}"}],"t":true,"f":false,"n":null},"asset":"eth"}`, want{absent, "eth", absent, absent})
	f(`{"p\u0061d":"\ud83d\ude00","x":-12.5e-3,"y":[[[[]]]],"asset":"x"}`, want{absent, "x", absent, absent})
	f(`{"k\u0065y":"escaped name is an unknown field"}`, want{absent, absent, absent, absent})
	f(`{"KEY":"names are case-sensitive"}`, want{absent, absent, absent, absent})
	f(`{"pad":"`+string([]byte{0xff, 0xfe})+`"}`, want{absent, absent, absent, absent}) // like encoding/json, no UTF-8 check
}

func TestParseRequestInvalid(t *testing.T) {
	f := func(in string, validJSON bool) {
		t.Helper()
		var r lpo.Request
		if e := lpo.ParseRequest([]byte(in), &r); e != lpo.ErrBadJSON {
			t.Errorf("ParseRequest(%q) = %v, want ErrBadJSON", in, e)
		}
		if json.Valid([]byte(in)) != validJSON {
			t.Errorf("json.Valid(%q) = %v, test says %v", in, !validJSON, validJSON)
		}
	}
	// Malformed JSON.
	for _, in := range []string{
		``, ` `, `{`, `}`, `{"key"}`, `{"key":}`, `{"key":"k",}`, `{"key":"k"`, `{"key":"k"}}`,
		`{"key":"k"} x`, `{"key":"k"}{}`, `{,}`, `{"a":1,,"b":2}`, `{"a" 1}`, `{'a':1}`, `{a:1}`,
		`{"key":"k\x"}`, `{"pad":"\u12"}`, `{"pad":"\u12g4"}`, "{\"pad\":\"a\nb\"}", `{"pad":"abc}`,
		`{"pad":01}`, `{"pad":1.}`, `{"pad":.5}`, `{"pad":1e}`, `{"pad":+1}`, `{"pad":-}`, `{"pad":0x10}`,
		`{"pad":tru}`, `{"pad":nul}`, `{"pad":True}`, `{"pad":[1,]}`, `{"pad":[1 2]}`, `{"pad":{"a"}}`,
		`{"pad":{"a":1,}}`, `{"pad":[}`, `{"pad":{]}`, `{"assets":["btc"}`, `{"assets":["btc",]}`,
		`{"id":01}`, `{"id":-}`, `{"id":1.5.5}`, "\ufeff{}", "{\"key\":\"k\"}\x00",
		`{"key":"k"` + "\x00}",
	} {
		f(in, false)
	}
	// Valid JSON outside the documented request shape.
	for _, in := range []string{
		`[]`, `"key"`, `null`, `1`, `{"key":1}`, `{"key":["k"]}`, `{"asset":{"a":1}}`, `{"asset":true}`, `{"assets":"btc"}`,
		`{"assets":{"btc":1}}`, `{"id":true}`, `{"id":[1]}`, `{"id":{}}`,
		`{"key":"k\u0031"}`, `{"asset":"b\tc"}`, `{"asset":"b\"c"}`,
		`{"id":"` + strings.Repeat("x", lpo.MaxIDLen+1) + `"}`,
		`{"id":` + strings.Repeat("1", lpo.MaxIDLen+1) + `}`,
		"{\"id\":\"\xff\"}",
		`{"pad":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
	} {
		f(in, true)
	}
}

type fakeKeys map[string]*keys.Key

func (f fakeKeys) Lookup(p []byte) (*keys.Key, bool) { k, ok := f[string(p)]; return k, ok }

const testUniverse = `{"assets":{
 "BTC":{"coinbase":"BTC-USD","kraken":"BTC/USD"},
 "ETH":{"coinbase":"ETH-USD"},
 "SOL":{"okx":"SOL-USDT"}
}}`

func newTestService(tb testing.TB) *lpo.Service {
	tb.Helper()
	u, err := price.ParseUniverse([]byte(testUniverse))
	if err != nil {
		tb.Fatal(err)
	}
	book := price.NewBook(price.BookConfig{Universe: u, Params: price.DefaultParams()})
	book.Apply(&price.Tick{Exchange: price.Coinbase, Symbol: "BTC-USD", Bid: price.MustParse("100000"), Ask: price.MustParse("100001")})
	book.Apply(&price.Tick{Exchange: price.Coinbase, Symbol: "ETH-USD", Last: price.MustParse("3000.5")})
	return lpo.New(lpo.Config{Book: book, Keys: fakeKeys{}})
}

func TestAddJSONArray(t *testing.T) {
	s := newTestService(t)
	f := func(raw string, wantErr *lpo.Error, wantCount int) {
		t.Helper()
		var b lpo.Batch
		if e := b.AddJSONArray(s, []byte(raw)); e != wantErr {
			t.Fatalf("AddJSONArray(%s) = %v, want %v", raw, e, wantErr)
		}
		if wantErr == nil && b.Len() != wantCount {
			t.Fatalf("AddJSONArray(%s): %d names, want %d", raw, b.Len(), wantCount)
		}
	}
	f(`[]`, nil, 0)
	f(` [ ] `, nil, 0)
	f(`["btc"]`, nil, 1)
	f(`[ "btc" , "ETH","btc", "BTC" ]`, nil, 2)
	f(`["btc","nope","x y"]`, nil, 3) // unknown and malformed names are per-item errors
	f(`["b\u0074c"]`, nil, 1)         // escapes stay as written: a malformed name
	f(`[1]`, lpo.ErrBadJSON, 0)
	f(`["btc",null]`, lpo.ErrBadJSON, 0)
	f(`["btc",["eth"]]`, lpo.ErrBadJSON, 0)
	f(`["btc",]`, lpo.ErrBadJSON, 0)
	f(`["btc"`, lpo.ErrBadJSON, 0)
	f(`["btc"]]`, lpo.ErrBadJSON, 0)
	f(`"btc"`, lpo.ErrBadJSON, 0)
	f(``, lpo.ErrBadJSON, 0)
	var many []string
	for i := range lpo.MaxBatch + 1 {
		many = append(many, `"a`+strings.Repeat("x", i)+`"`)
	}
	f(`[`+strings.Join(many[:lpo.MaxBatch], ",")+`]`, nil, lpo.MaxBatch)
	f(`[`+strings.Join(many, ",")+`]`, lpo.ErrTooManyAssets, 0)

	// The names reach the answer in order.
	var b lpo.Batch
	if e := b.AddJSONArray(s, []byte(`["eth","nope","btc"]`)); e != nil {
		t.Fatal(e)
	}
	out, o := b.AppendAnswers(nil, s, false)
	if o != lpo.OutcomeOK || !json.Valid(out) {
		t.Fatalf("AppendAnswers = %s, %v", out, o)
	}
	var doc struct {
		Count  int
		Prices []struct{ Asset string }
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Count != 3 || doc.Prices[0].Asset != "ETH" || doc.Prices[1].Asset != "NOPE" || doc.Prices[2].Asset != "BTC" {
		t.Fatalf("batch answer %s", out)
	}
}

// within reports whether sub is a sub-slice of b (shares its memory).
func within(sub, b []byte) bool {
	if sub == nil {
		return true
	}
	if len(b) == 0 {
		return len(sub) == 0
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return p >= lo && p+uintptr(len(sub)) <= lo+uintptr(len(b))
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"key":"k1","asset":"btc","id":7}`,
		`{"key":"k","assets":["btc","eth"],"id":"a1"}`,
		`{"pad":{"a":[1,2,{"b":"c\n\"}"}],"t":true,"f":false,"n":null},"asset":"eth"}`,
		`{"id":-0.5e+10,"key":null}`,
		`{"k\u0065y":"x","id":"\ud83d\ude00"}`,
		`{"assets":[1,{"a":[]},null],"key":"k"}`,
		` { } `,
		`{"key":"k"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		var r lpo.Request
		e := lpo.ParseRequest(b, &r)
		if !bytes.Equal(in, b) {
			t.Fatal("ParseRequest modified its input")
		}
		if e != nil {
			if e != lpo.ErrBadJSON {
				t.Fatalf("error %v, want ErrBadJSON", e)
			}
			if oracleAccepts(b) {
				t.Fatalf("rejected %q, which is a valid request", b)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		for _, s := range [][]byte{r.Key, r.Asset, r.ID, r.Assets} {
			if !within(s, b) {
				t.Fatalf("field %q is not a sub-slice of the input", s)
			}
		}
		if len(r.ID) > lpo.MaxIDLen+2 || r.ID != nil && !json.Valid(r.ID) {
			t.Fatalf("bad ID %q", r.ID)
		}
		if r.Assets != nil && (!json.Valid(r.Assets) || r.Assets[0] != '[') {
			t.Fatalf("bad Assets %q", r.Assets)
		}
		if bytes.IndexByte(b, '\\') >= 0 {
			return // field names with escapes are unknown fields here but not to encoding/json
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("accepted %q, encoding/json: %v", b, err)
		}
		str := func(name string, got []byte) {
			raw, ok := m[name]
			if !ok || string(raw) == "null" {
				if got != nil {
					t.Fatalf("%s = %q, encoding/json: absent", name, got)
				}
				return
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil || got == nil || utf8.Valid(got) && s != string(got) {
				t.Fatalf("%s = %q, encoding/json: %s", name, got, raw)
			}
		}
		str("key", r.Key)
		str("asset", r.Asset)
		if raw := m["id"]; string(raw) != "null" && string(raw) != string(r.ID) {
			t.Fatalf("id = %q, encoding/json: %s", r.ID, raw)
		}
	})
}

// oracleAccepts reports whether b is, by encoding/json, a request ParseRequest must accept:
// a valid JSON object whose known fields have the documented types, without the documented
// exclusions (escapes, long or non-UTF-8 ids, deep nesting).
func oracleAccepts(b []byte) bool {
	if !json.Valid(b) || bytes.IndexByte(b, '\\') >= 0 || bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > 30 {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil || m == nil {
		return false
	}
	for name, raw := range m {
		if string(raw) == "null" {
			continue
		}
		switch name {
		case "key", "asset":
			if raw[0] != '"' {
				return false
			}
		case "assets":
			if raw[0] != '[' {
				return false
			}
		case "id":
			switch {
			case raw[0] == '"':
				if len(raw)-2 > lpo.MaxIDLen || !utf8.Valid(raw) {
					return false
				}
			case raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9':
				if len(raw) > lpo.MaxIDLen {
					return false
				}
			default:
				return false
			}
		}
	}
	// Duplicate names: encoding/json keeps the last, as ParseRequest does, but an earlier
	// duplicate of the wrong type is an error here and not there; treat any duplicate of a
	// known name as "either answer is fine".
	for _, name := range []string{`"key"`, `"asset"`, `"assets"`, `"id"`} {
		if bytes.Count(b, []byte(name)) > 1 {
			return false
		}
	}
	return true
}

func BenchmarkParseRequest(b *testing.B) {
	in := []byte(`{"key":"tb_live_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","asset":"btc","id":7,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var r lpo.Request
	for b.Loop() {
		if e := lpo.ParseRequest(in, &r); e != nil {
			b.Fatal(e)
		}
	}
}
