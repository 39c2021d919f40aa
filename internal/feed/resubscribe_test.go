package feed

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseDigits(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{"000000000000000007", 7, true},
		{"999999999999999999", 999999999999999999, true},
		{"1000000000000000000", 0, false}, // 19 digits
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1.5", 0, false},
		{"1e3", 0, false},
		{" 1", 0, false},
	} {
		if got, ok := ParseDigits([]byte(c.in)); got != c.want || ok != c.ok {
			t.Errorf("ParseDigits(%q) = %d, %v, want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestNamedSymbols(t *testing.T) {
	lower := func(r rune) bool { return 'a' <= r && r <= 'z' || '0' <= r && r <= '9' }
	upper := func(r rune) bool { return 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' }
	for _, c := range []struct {
		msg    string
		syms   []string
		fold   func(string) string
		inWord func(rune) bool
		want   map[string]bool
	}{
		{"Invalid symbol: nopeusd@bookTicker", []string{"btcusd", "NOPEUSD"}, strings.ToLower, lower, map[string]bool{"NOPEUSD": true}},
		{"Invalid symbol ZZZUSD", []string{"zzzusd", "zzz"}, strings.ToLower, lower, map[string]bool{"zzzusd": true}},
		// Underscores split words unless inWord keeps them.
		{"unknown currency pair btc_usdt", []string{"BTC_USDT", "BTC", "USDT"}, strings.ToLower, lower, map[string]bool{"BTC": true, "USDT": true}},
		{"unknown currency pair btc_usdt", []string{"BTC_USDT", "BTC", "USDT"}, strings.ToUpper, upper, map[string]bool{"BTC_USDT": true}},
		{"", []string{"BTC_USDT"}, strings.ToUpper, upper, map[string]bool{}},
	} {
		if got := NamedSymbols(c.msg, c.syms, c.fold, c.inWord); !reflect.DeepEqual(got, c.want) {
			t.Errorf("NamedSymbols(%q, %q) = %v, want %v", c.msg, c.syms, got, c.want)
		}
	}
}

func TestRetrySymbols(t *testing.T) {
	syms := []string{"a", "b", "c"}
	for _, c := range []struct {
		named map[string]bool
		want  []string
	}{
		{map[string]bool{"b": true}, []string{"a", "c"}},
		{map[string]bool{"a": true, "c": true}, []string{"b"}},
		{map[string]bool{"x": true}, nil},                       // names none of them
		{nil, nil},                                              // names nothing
		{map[string]bool{"a": true, "b": true, "c": true}, nil}, // names all of them
	} {
		if got := RetrySymbols(syms, c.named); !reflect.DeepEqual(got, c.want) {
			t.Errorf("RetrySymbols(%q, %v) = %q, want %q", syms, c.named, got, c.want)
		}
	}
	if got := RetrySymbols(nil, nil); got != nil {
		t.Errorf("RetrySymbols(nil, nil) = %q", got)
	}
}
