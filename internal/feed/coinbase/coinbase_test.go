package coinbase

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

// testSymbols are the symbols of the session the golden tests decode with. ETH-USDC exercises
// the -USDC → -USD product alias.
var testSymbols = []string{"BTC-USD", "ETH-USDC", "SOL-USD"}

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
		Exchange:     price.Coinbase,
		Symbol:       "BTC-USD",
		Last:         price.MustParse("21932.98"),
		Bid:          price.MustParse("21932.97"),
		Ask:          price.MustParse("21932.98"),
		ExchangeTime: time.Date(2023, 2, 9, 20, 30, 37, 167359596, time.UTC).UnixNano(),
		Received:     7,
	}
	if len(rec.Ticks) != 1 || rec.Ticks[0] != want {
		t.Fatalf("ticks = %+v, want [%+v]", rec.Ticks, want)
	}
}

func TestHandleHeartbeatCounter(t *testing.T) {
	s := newSession(testSymbols)
	rec := feedtest.NewRecordingSink(t, testSymbols)
	for _, c := range []string{`3049`, `"3049"`, `0`, `18446744073709551615`} {
		frame := `{"channel":"heartbeats","client_id":"","timestamp":"2023-06-23T20:31:26.122969572Z","sequence_num":0,"events":[{"current_time":"x","heartbeat_counter":` + c + `}]}`
		if _, err := s.Handle([]byte(frame), 1, rec); err != nil {
			t.Errorf("heartbeat_counter %s: %v", c, err)
		}
	}
	for _, c := range []string{`true`, `"x1"`, `-1`, `1.5`, `null`} {
		frame := `{"channel":"heartbeats","events":[{"heartbeat_counter":` + c + `}]}`
		if _, err := s.Handle([]byte(frame), 1, rec); err == nil {
			t.Errorf("heartbeat_counter %s: no error", c)
		}
	}
	if len(rec.Ticks) != 0 {
		t.Fatalf("heartbeats produced ticks: %+v", rec.Ticks)
	}
}

func TestHandleErrorMessage(t *testing.T) {
	s := newSession(testSymbols)
	_, err := s.Handle([]byte(`{"type":"error","message":"Failed to subscribe","reason":"unknown product"}`), 1, feedtest.NewRecordingSink(t, nil))
	if err == nil || !strings.Contains(err.Error(), "Failed to subscribe") || !strings.Contains(err.Error(), "unknown product") {
		t.Fatalf("err = %v", err)
	}
}

func TestSubscribe(t *testing.T) {
	s := newSession([]string{"BTC-USD", "ETH-USD"})
	got := s.Subscribe()
	want := []string{
		`{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"heartbeats"}`,
		`{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"ticker"}`,
	}
	if len(got) != len(want) {
		t.Fatalf("Subscribe() = %q, want %q", got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("frame %d = %s, want %s", i, got[i], want[i])
		}
	}
	if s.Ping() != nil {
		t.Errorf("Ping() = %q, want nil", s.Ping())
	}
}

func TestSubscribeChunks(t *testing.T) {
	syms := make([]string, 2*SymbolsPerMessage+1)
	for i := range syms {
		syms[i] = "C" + strconv.Itoa(i) + "-USD"
	}
	frames := newSession(syms).Subscribe()
	if len(frames) != 1+3 {
		t.Fatalf("%d frames, want 4 (heartbeats + 3 ticker chunks)", len(frames))
	}
	n := 0
	for _, f := range frames[1:] {
		if !bytes.Contains(f, []byte(`"channel":"ticker"`)) || bytes.Contains(f, []byte(`"channels"`)) {
			t.Errorf("frame %s: want exactly one channel, ticker", f)
		}
		n += bytes.Count(f, []byte("-USD"))
	}
	if n != len(syms) {
		t.Errorf("ticker frames carry %d products, want %d", n, len(syms))
	}
}

func TestProtocol(t *testing.T) {
	var p feed.Protocol = Protocol{}
	if p.Exchange() != price.Coinbase || p.DefaultURL() != "wss://advanced-trade-ws.coinbase.com" {
		t.Fatalf("Exchange/DefaultURL = %v %q", p.Exchange(), p.DefaultURL())
	}
	l := p.Limits()
	if l.SubscribeDeadline != 5*time.Second || l.IdleTimeout < 10*time.Second || l.IdleTimeout > 15*time.Second {
		t.Fatalf("Limits() = %+v", l)
	}
}
