package price

import (
	"errors"
	"math"
	"math/bits"
	"strconv"
)

// Scale is the number of decimal places a Value keeps: a Value counts units of 1e-12.
const Scale = 12

// one is 1.0 as a Value.
const one Value = 1_000_000_000_000

// Value is an exact decimal amount (a price or a rate) in fixed point, counting units of
// 1e-12. It holds up to about 9.2 million with 12 decimal places, which covers every spot price
// quoted in USD, USDT or USDC. Zero means "unknown" wherever a price may be absent.
//
// Exchange decimals are parsed straight from their text into a Value, never through float64,
// so a price reads back exactly as the exchange sent it (to 12 decimals).
type Value int64

// ErrBadNumber is returned by ParseValue for text that is not a decimal number in range.
var ErrBadNumber = errors.New("price: not a decimal number in range")

// ParseValue parses a decimal number such as "105944.2", "-0.5", "1e-5" or "1.5E+3" from b.
// Digits beyond the 12th decimal place are truncated. It does not allocate.
func ParseValue(b []byte) (Value, error) {
	i, n := 0, len(b)
	if n == 0 {
		return 0, ErrBadNumber
	}
	neg := false
	switch b[0] {
	case '-':
		neg = true
		i++
	case '+':
		i++
	}
	var mant uint64 // significant digits read so far
	exp := 0        // decimal exponent applied to mant
	digits := 0
	for ; i < n && b[i] >= '0' && b[i] <= '9'; i++ {
		digits++
		if mant < 1e18 {
			mant = mant*10 + uint64(b[i]-'0')
		} else {
			exp++ // integer digits beyond our precision: overflow caught below
		}
	}
	if i < n && b[i] == '.' {
		i++
		for ; i < n && b[i] >= '0' && b[i] <= '9'; i++ {
			digits++
			if mant < 1e17 {
				mant = mant*10 + uint64(b[i]-'0')
				exp--
			}
		}
	}
	if digits == 0 {
		return 0, ErrBadNumber
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < n && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		e, ed := 0, 0
		for ; i < n && b[i] >= '0' && b[i] <= '9'; i++ {
			ed++
			if e < 10000 {
				e = e*10 + int(b[i]-'0')
			}
		}
		if ed == 0 {
			return 0, ErrBadNumber
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != n {
		return 0, ErrBadNumber
	}
	// Bring mant to scale 1e-12: value = mant * 10^(exp+Scale).
	shift := exp + Scale
	for shift < 0 {
		if mant == 0 {
			break
		}
		mant /= 10
		shift++
	}
	for ; shift > 0 && mant != 0; shift-- {
		if mant > math.MaxInt64/10 {
			return 0, ErrBadNumber
		}
		mant *= 10
	}
	if mant > math.MaxInt64 {
		return 0, ErrBadNumber
	}
	v := Value(mant)
	if neg {
		v = -v
	}
	return v, nil
}

// MustParse parses s or panics; for tests and compiled-in constants only.
func MustParse(s string) Value {
	v, err := ParseValue([]byte(s))
	if err != nil {
		panic("BUG: price.MustParse(" + strconv.Quote(s) + "): " + err.Error())
	}
	return v
}

// AppendValue appends v in plain decimal notation with trailing zeros removed ("105944.2",
// "0.000012", "3"), which is valid JSON number syntax.
func AppendValue(dst []byte, v Value) []byte {
	u := uint64(v)
	if v < 0 {
		dst = append(dst, '-')
		u = uint64(-v)
	}
	ip, fp := u/uint64(one), u%uint64(one)
	dst = strconv.AppendUint(dst, ip, 10)
	if fp == 0 {
		return dst
	}
	var frac [Scale]byte
	for i := Scale - 1; i >= 0; i-- {
		frac[i] = byte('0' + fp%10)
		fp /= 10
	}
	end := Scale
	for end > 0 && frac[end-1] == '0' {
		end--
	}
	dst = append(dst, '.')
	return append(dst, frac[:end]...)
}

// String formats v like AppendValue.
func (v Value) String() string { return string(AppendValue(nil, v)) }

// Float returns v as a float64, for ratios and statistics (never for wire values).
func (v Value) Float() float64 { return float64(v) / float64(one) }

// Mul returns v×r rounded to the nearest unit, computed exactly in 128 bits. Both are
// non-negative prices or rates; a result out of range saturates at the maximum Value.
func (v Value) Mul(r Value) Value {
	if v <= 0 || r <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(v), uint64(r))
	// add half a unit for rounding
	lo, carry := bits.Add64(lo, uint64(one)/2, 0)
	hi += carry
	if hi >= uint64(one) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(one))
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return Value(q)
}

// Mid returns the midpoint of a and b without overflow, rounding down.
func Mid(a, b Value) Value { return a/2 + b/2 + (a%2+b%2)/2 }
