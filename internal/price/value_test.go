package price

import (
	"math"
	"strconv"
	"testing"
)

func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Value
		err  bool
	}{
		{"0", 0, false},
		{"105944.20", 105944_200000000000, false},
		{"-0.5", -500000000000, false},
		{"+3", 3 * one, false},
		{"1e-5", 10000000, false},
		{"1.5E+3", 1500 * one, false},
		{"0.000000000001", 1, false},
		{"0.0000000000019", 1, false}, // truncated past 12 decimals
		{"105944.2000000000000000000000001234", 105944_200000000000, false},
		{"9000000", 9_000_000 * one, false},
		{"10000000", 0, true}, // beyond the range
		{"", 0, true},
		{"-", 0, true},
		{".", 0, true},
		{"1.2.3", 0, true},
		{"1e", 0, true},
		{"abc", 0, true},
		{"1 ", 0, true},
		{"NaN", 0, true},
	} {
		got, err := ParseValue([]byte(tc.in))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseValue(%q) = %d, %v; want %d, err=%v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestAppendValue(t *testing.T) {
	for _, tc := range []struct {
		v    Value
		want string
	}{
		{0, "0"},
		{MustParse("105944.2"), "105944.2"},
		{MustParse("0.000012"), "0.000012"},
		{MustParse("-1.25"), "-1.25"},
		{MustParse("3"), "3"},
		{1, "0.000000000001"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("AppendValue(%d) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestMulAndMid(t *testing.T) {
	if got := MustParse("100").Mul(MustParse("0.9995")); got != MustParse("99.95") {
		t.Errorf("100×0.9995 = %v", got)
	}
	if got := MustParse("105944.2").Mul(one); got != MustParse("105944.2") {
		t.Errorf("×1 = %v", got)
	}
	if got := Value(math.MaxInt64).Mul(MustParse("2")); got != math.MaxInt64 {
		t.Errorf("overflow did not saturate: %v", got)
	}
	if got := Mid(MustParse("1.1"), MustParse("1.3")); got != MustParse("1.2") {
		t.Errorf("Mid = %v", got)
	}
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"105944.20", "1e-5", "-0.5", "0.000000000001", "9000000.123", "1.5E+3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseValue([]byte(s))
		if err != nil {
			return
		}
		// What we print parses back to the same value.
		back, err := ParseValue(AppendValue(nil, v))
		if err != nil || back != v {
			t.Fatalf("round trip of %q: %v -> %q -> %v, %v", s, v, AppendValue(nil, v), back, err)
		}
		// And agrees with a float parse to float precision.
		if fl, err := strconv.ParseFloat(s, 64); err == nil && math.Abs(fl) < 1e6 {
			if d := math.Abs(fl - v.Float()); d > 1e-9*math.Max(1, math.Abs(fl)) && d > 2e-12 {
				t.Fatalf("%q: parsed %v, float says %v", s, v, fl)
			}
		}
	})
}
