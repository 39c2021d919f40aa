package feedtest

import (
	"errors"
	"testing"

	"github.com/trinityprice/trinity/internal/price"
)

func TestRender(t *testing.T) {
	ticks := []price.Tick{
		{Exchange: price.Kraken, Symbol: "BTC/USD", Last: price.MustParse("1.5"), ExchangeTime: 1e9, Received: 42},
		{Exchange: price.Kraken, Symbol: "ETH/USD", Bid: price.MustParse("2"), Received: 42},
	}
	got := string(Render(ticks, []byte(`{"pong":1}`), errors.New("boom")))
	want := "tick exchange=" + price.Kraken.String() + " symbol=BTC/USD last=1.5 bid=0 ask=0 exchange_time=1970-01-01T00:00:01Z received=42\n" +
		"tick exchange=" + price.Kraken.String() + " symbol=ETH/USD last=0 bid=2 ask=0 exchange_time=0 received=42\n" +
		"reply {\"pong\":1}\n" +
		"error boom\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := string(Render(nil, nil, nil)); got != "(nothing)\n" {
		t.Errorf("Render of nothing = %q", got)
	}
}

func TestRecordingSink(t *testing.T) {
	syms := []string{"BTC-USD"}
	ft := &fakeTB{TB: t}
	r := NewRecordingSink(ft, syms)
	r.Apply(&price.Tick{Symbol: syms[0]})
	if ft.errors != 0 || len(r.Ticks) != 1 {
		t.Fatalf("interned symbol: %d errors, %d ticks", ft.errors, len(r.Ticks))
	}
	copied := string([]byte("BTC-USD"))
	r.Apply(&price.Tick{Symbol: copied})
	if ft.errors != 1 || len(r.Ticks) != 2 {
		t.Fatalf("copied symbol: %d errors, %d ticks, want 1 error", ft.errors, len(r.Ticks))
	}
}

// fakeTB counts Errorf calls instead of failing the test.
type fakeTB struct {
	testing.TB
	errors int
}

func (f *fakeTB) Errorf(string, ...any) { f.errors++ }
