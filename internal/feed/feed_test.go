package feed

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/trinityprice/trinity/internal/price"
)

func TestBackoffDelayBounds(t *testing.T) {
	const base, ceiling = 500 * time.Millisecond, 30 * time.Second
	prevNominal := time.Duration(0)
	for attempt := 0; attempt < 100; attempt++ {
		lo := backoffDelay(base, ceiling, attempt, 0)
		hi := backoffDelay(base, ceiling, attempt, 0.999999999)
		nominal := 2 * lo
		if nominal < prevNominal {
			t.Fatalf("attempt %d: nominal delay %v shrank from %v", attempt, nominal, prevNominal)
		}
		prevNominal = nominal
		if lo < base/2 || hi > ceiling || lo > hi {
			t.Fatalf("attempt %d: delay range [%v, %v] outside [%v, %v]", attempt, lo, hi, base/2, ceiling)
		}
		if hi < nominal*99/100 {
			t.Fatalf("attempt %d: jitter range [%v, %v] too narrow", attempt, lo, hi)
		}
	}
	// The schedule: 500 ms, 1 s, 2 s, ..., 16 s, then capped at 30 s.
	for attempt, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second} {
		if got := 2 * backoffDelay(base, ceiling, attempt, 0); got != want {
			t.Errorf("attempt %d: nominal %v, want %v", attempt, got, want)
		}
	}
}

func TestBackoffJitter(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Cap: time.Second}
	seen := map[time.Duration]bool{}
	for i := 0; i < 200; i++ {
		d := b.Next()
		if d < 50*time.Millisecond || d > time.Second {
			t.Fatalf("Next() = %v, outside [50ms, 1s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct delays in 200 draws: not jittered", len(seen))
	}
	b.Reset()
	if d := b.Next(); d < 50*time.Millisecond || d > 100*time.Millisecond {
		t.Fatalf("after Reset, Next() = %v, want within [50ms, 100ms]", d)
	}
	var zero Backoff
	if d := zero.Next(); d < DefaultBackoffBase/2 || d > DefaultBackoffBase {
		t.Fatalf("zero Backoff: Next() = %v", d)
	}
}

func TestChunk(t *testing.T) {
	syms := []string{"a", "b", "c", "d", "e"}
	f := func(n int, want [][]string) {
		t.Helper()
		got := Chunk(syms, n)
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("Chunk(%d) = %q, want %q", n, got, want)
		}
	}
	f(2, [][]string{{"a", "b"}, {"c", "d"}, {"e"}})
	f(5, [][]string{syms})
	f(100, [][]string{syms})
	f(0, [][]string{syms})
	f(1, [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}})
	if Chunk(nil, 3) != nil {
		t.Error("Chunk(nil) != nil")
	}
	// Appending to a chunk must not overwrite the next chunk's symbols.
	c := Chunk(syms, 2)
	_ = append(c[0], "x")
	if c[1][0] != "c" || syms[2] != "c" {
		t.Error("append to a chunk clobbered the next one")
	}
}

func TestParseTime(t *testing.T) {
	for _, s := range []string{
		"2023-02-09T20:30:37.167359596Z",
		"2022-12-25T09:30:59.123456Z",
		"2026-04-07T14:30:00Z",
		"2024-02-29T23:59:59.9Z",
		"2022-12-25T09:30:59.123456+01:00",
		"2022-12-25T09:30:59-05:30",
		"1970-01-01T00:00:00Z",
		"2099-12-31T23:59:59.999999999Z",
		"2023-02-09T20:30:37.1673595961234Z",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ParseTime([]byte(s))
		if !ok || got != want.UnixNano() {
			t.Errorf("ParseTime(%q) = %d, %v; want %d", s, got, ok, want.UnixNano())
		}
	}
	for _, s := range []string{
		"", "2023-02-09", "2023-02-09T20:30:37", "2023-02-09T20:30:37.Z", "2023-13-09T20:30:37Z",
		"2023-02-29T20:30:37Z", "2023-02-09T24:30:37Z", "2023-02-09T20:30:37+0100", "2023-02-09T20:30:37Zx",
		"1969-12-31T23:59:59Z", "2023-02-09 20:30:56.121961769 +0000 UTC", "2023-0a-09T20:30:37Z",
	} {
		if got, ok := ParseTime([]byte(s)); ok {
			t.Errorf("ParseTime(%q) = %d, want failure", s, got)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	f.Add("2023-02-09T20:30:37.167359596Z")
	f.Add("2022-12-25T09:30:59-05:30")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseTime([]byte(s))
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err == nil && want.UnixNano() != got {
			t.Fatalf("ParseTime(%q) = %d, time.Parse gives %d", s, got, want.UnixNano())
		}
	})
}

func TestJSONPrice(t *testing.T) {
	var p fastjson.Parser
	v, err := p.Parse(`{"s":"105944.2","n":105944.1234567890123456789,"e":1.5e-5,"null":null,"empty":"","neg":-1,"bad":"1,5","obj":{},"big":1e30}`)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := v.Object()
	var scratch []byte
	f := func(key string, want price.Value, wantErr bool) {
		t.Helper()
		got, err := JSONPrice(o, key, &scratch)
		if (err != nil) != wantErr || got != want {
			t.Errorf("JSONPrice(%s) = %v, %v; want %v, err=%v", key, got, err, want, wantErr)
		}
	}
	f("s", price.MustParse("105944.2"), false)
	f("n", price.MustParse("105944.123456789012"), false)
	f("e", price.MustParse("0.000015"), false)
	f("null", 0, false)
	f("empty", 0, false)
	f("missing", 0, false)
	f("neg", 0, true)
	f("bad", 0, true)
	f("obj", 0, true)
	f("big", 0, true)
	if got, _ := JSONPrice(nil, "s", &scratch); got != 0 {
		t.Errorf("JSONPrice(nil) = %v", got)
	}
}

func TestAppendJSONString(t *testing.T) {
	got := string(AppendJSONStrings(nil, []string{"BTC/USD", `a"b\c`, "x\ny"}))
	want := `["BTC/USD","a\"b\\c","x\u000ay"]`
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if !strings.HasPrefix(string(AppendJSONStrings(nil, nil)), "[]") {
		t.Fatal("empty list")
	}
}
