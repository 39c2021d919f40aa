package feed

import "strings"

// ParseDigits parses a non-negative decimal integer of at most 18 digits (so it always fits in
// an int64), as exchanges send request ids and millisecond times in strings.
func ParseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// NamedSymbols returns the symbols of syms that an exchange's refusal message msg names as a
// word. Both msg and each symbol are compared after fold (strings.ToUpper or strings.ToLower,
// which makes the match case-insensitive); the words of the folded msg are its runs of runes
// for which inWord is true.
func NamedSymbols(msg string, syms []string, fold func(string) string, inWord func(rune) bool) map[string]bool {
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(fold(msg), func(r rune) bool { return !inWord(r) }) {
		words[w] = true
	}
	out := map[string]bool{}
	for _, sym := range syms {
		if words[fold(sym)] {
			out[sym] = true
		}
	}
	return out
}

// RetrySymbols is how an adapter answers a refused subscribe request for syms whose refusal
// names the symbols in named (see NamedSymbols): it returns the other symbols, in order, to
// subscribe to again, or nil when the refusal names none of them or all of them (then there is
// nothing sensible to retry and the refusal is only reported).
func RetrySymbols(syms []string, named map[string]bool) []string {
	var rest []string
	for _, s := range syms {
		if !named[s] {
			rest = append(rest, s)
		}
	}
	if len(rest) == 0 || len(rest) == len(syms) {
		return nil
	}
	return rest
}
