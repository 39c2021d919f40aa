package kraken

import (
	"bytes"
	"flag"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/feed/feedtest"
	"github.com/trinityprice/trinity/internal/price"
)

var update = flag.Bool("update", false, "rewrite testdata/frames/*.golden")

// frames is the folder of the recorded frames and their .golden files.
const frames = "testdata/frames"

// testSymbols are the symbols of the session the golden tests decode with.
var testSymbols = []string{"BTC/USD", "ETH/USDT", "SHIB/USD"}

// TestHandleGolden decodes every testdata/frames/*.json (message shapes from the exchange
// documentation and reference fixtures) and compares the ticks, reply and error with the
// .golden file next to it. Run with -update to rewrite the golden files after review.
func TestHandleGolden(t *testing.T) {
	feedtest.RunGolden(t, func() feed.Session { return Protocol{}.NewSession(testSymbols) }, testSymbols, frames, *update)
}

func TestHandleTickerSnapshot(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "ticker_snapshot")
	s := newSession(testSymbols)
	rec := feedtest.NewRecordingSink(t, testSymbols)
	if _, err := s.Handle(frame, 7, rec); err != nil {
		t.Fatal(err)
	}
	want := price.Tick{
		Exchange:     price.Kraken,
		Symbol:       "BTC/USD",
		Last:         price.MustParse("105899.4"),
		Bid:          price.MustParse("105944.2"),
		Ask:          price.MustParse("105944.3"),
		ExchangeTime: time.Date(2022, 12, 25, 9, 30, 59, 123456000, time.UTC).UnixNano(),
		Received:     7,
	}
	if len(rec.Ticks) != 1 || rec.Ticks[0] != want {
		t.Fatalf("ticks = %+v, want [%+v]", rec.Ticks, want)
	}
}

// TestHandlePrecision checks that JSON numbers with more digits than float64 holds are read
// exactly (to price.Scale decimals) from their text.
func TestHandlePrecision(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "ticker_precision_in_range")
	s := newSession(testSymbols)
	rec := feedtest.NewRecordingSink(t, testSymbols)
	if _, err := s.Handle(frame, 1, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Ticks) != 2 {
		t.Fatalf("%d ticks, want 2", len(rec.Ticks))
	}
	btc, shib := rec.Ticks[0], rec.Ticks[1]
	check := func(name string, got price.Value, want string) {
		t.Helper()
		if got != price.MustParse(want) {
			t.Errorf("%s = %v, want %s", name, got, want)
		}
	}
	check("BTC bid", btc.Bid, "105944.123456789012")
	check("BTC ask", btc.Ask, "105944.223456789012")
	check("BTC last", btc.Last, "105944.323456789012")
	check("SHIB bid", shib.Bid, "0.000012345678")
	check("SHIB ask", shib.Ask, "0.000012346")
	check("SHIB last", shib.Last, "0.00001234")
	// float64 would not have kept these digits.
	f, _ := strconv.ParseFloat("105944.1234567890123456789012345678", 64)
	if s := strconv.FormatFloat(f, 'f', 12, 64); s == "105944.123456789012" {
		t.Errorf("float64 kept all digits (%s); the fixture no longer proves anything", s)
	}
}

func TestHandleSubscribeRefused(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "subscribe_error")
	_, err := newSession(testSymbols).Handle(frame, 1, feedtest.NewRecordingSink(t, nil))
	if err == nil || !strings.Contains(err.Error(), "FOO/USD") || !strings.Contains(err.Error(), "Currency pair not supported") {
		t.Fatalf("err = %v, want the symbol and Kraken's message", err)
	}
}

func TestSubscribe(t *testing.T) {
	s := newSession([]string{"BTC/USD", "ETH/USD"})
	got := s.Subscribe()
	want := `{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD","ETH/USD"],"event_trigger":"bbo","snapshot":true},"req_id":1}`
	if len(got) != 1 || string(got[0]) != want {
		t.Fatalf("Subscribe() = %q, want [%s]", got, want)
	}
	if p := string(s.Ping()); p != `{"method":"ping","req_id":2}` {
		t.Fatalf("Ping() = %s", p)
	}
}

func TestSubscribeChunks(t *testing.T) {
	syms := make([]string, 2*SymbolsPerMessage+3)
	for i := range syms {
		syms[i] = "C" + strconv.Itoa(i) + "/USD"
	}
	frames := newSession(syms).Subscribe()
	if len(frames) != 3 {
		t.Fatalf("%d frames, want 3", len(frames))
	}
	n := 0
	for i, f := range frames {
		n += bytes.Count(f, []byte("/USD"))
		if !bytes.HasSuffix(f, []byte(`"req_id":`+strconv.Itoa(i+1)+`}`)) {
			t.Errorf("frame %d: %s: want req_id %d", i, f, i+1)
		}
	}
	if n != len(syms) {
		t.Errorf("frames carry %d symbols, want %d", n, len(syms))
	}
}

func TestProtocol(t *testing.T) {
	var p feed.Protocol = Protocol{}
	if p.Exchange() != price.Kraken || p.DefaultURL() != "wss://ws.kraken.com/v2" {
		t.Fatalf("Exchange/DefaultURL = %v %q", p.Exchange(), p.DefaultURL())
	}
	if l := p.Limits(); l.IdleTimeout < 5*time.Second || l.IdleTimeout > 10*time.Second || l.SymbolsPerMessage != 20 {
		t.Fatalf("Limits() = %+v", l)
	}
}
