package cryptocom

import (
	"encoding/json"
	"flag"
	"os"
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

// testSymbols are the symbols of the session the golden tests decode with. BTCUSD-PERP is the
// instrument of the documentation's example frames.
var testSymbols = []string{"BTC_USD", "ETH_USDT", "SHIB_USD", "BTCUSD-PERP"}

// TestHandleGolden decodes every testdata/frames/*.json (message shapes from the exchange
// documentation and reference implementations) and compares the ticks, reply and error with
// the .golden file next to it. Run with -update to rewrite the golden files after review.
func TestHandleGolden(t *testing.T) {
	feedtest.RunGolden(t, func() feed.Session { return Protocol{}.NewSession(testSymbols) }, testSymbols, frames, *update)
}

func TestHandleTicker(t *testing.T) {
	frame := feedtest.ReadFrame(t, frames, "ticker_spot")
	s := newSession(testSymbols)
	rec := feedtest.NewRecordingSink(t, testSymbols)
	if _, err := s.Handle(frame, 7, rec); err != nil {
		t.Fatal(err)
	}
	want := price.Tick{
		Exchange:     price.Cryptocom,
		Symbol:       "BTC_USD",
		Last:         price.MustParse("105899.4"),              // "a"
		Bid:          price.MustParse("105944.2"),              // "b"
		Ask:          price.MustParse("105944.3"),              // "k"
		ExchangeTime: time.UnixMilli(1766655059123).UnixNano(), // "t", ms
		Received:     7,
	}
	if len(rec.Ticks) != 1 || rec.Ticks[0] != want {
		t.Fatalf("ticks = %+v, want [%+v]", rec.Ticks, want)
	}
}

// TestHeartbeatReply checks that a heartbeat is answered with its own id, digit for digit,
// and that the reply buffer is reused (valid until the next Handle).
func TestHeartbeatReply(t *testing.T) {
	s := newSession(testSymbols)
	for _, id := range []string{"1587523073344", "9223372036854775807", "-1", "7"} {
		reply, err := s.Handle([]byte(`{"id":`+id+`,"method":"public/heartbeat","code":0}`), 1, &feedtest.CountingSink{})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"id":` + id + `,"method":"public/respond-heartbeat"}`
		if string(reply) != want {
			t.Fatalf("reply %s, want %s", reply, want)
		}
		var m map[string]any
		if err := json.Unmarshal(reply, &m); err != nil {
			t.Fatalf("reply %s is not JSON: %v", reply, err)
		}
	}
}

func TestHandleRefusals(t *testing.T) {
	for name, want := range map[string][]string{
		"too_many_requests":        {"subscribe", "42901", "TOO_MANY_REQUESTS"},
		"exceed_max_subscriptions": {"40107", "EXCEED_MAX_SUBSCRIPTIONS"},
		"subscribe_error":          {"10004", "trade.BTCUSD-PERP"},
	} {
		frame, err := os.ReadFile("testdata/frames/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		_, err = newSession(testSymbols).Handle(frame, 1, feedtest.NewRecordingSink(t, nil))
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want it to mention %q", name, err, w)
			}
		}
	}
}

func TestSubscribe(t *testing.T) {
	s := newSession([]string{"BTC_USD", "ETH_USDT"})
	s.now = func() int64 { return 1587523073344 }
	got := s.Subscribe()
	want := `{"id":1,"method":"subscribe","params":{"channels":["ticker.BTC_USD","ticker.ETH_USDT"]},"nonce":1587523073344}`
	if len(got) != 1 || string(got[0]) != want {
		t.Fatalf("Subscribe() = %q, want [%s]", got, want)
	}
	if p := s.Ping(); p != nil {
		t.Fatalf("Ping() = %s, want nil", p)
	}
}

func TestSubscribeChunks(t *testing.T) {
	syms := make([]string, 3*SymbolsPerMessage+7)
	for i := range syms {
		syms[i] = "C" + strconv.Itoa(i) + "_USD"
	}
	frames := newSession(syms).Subscribe()
	if len(frames) != 4 {
		t.Fatalf("%d frames, want 4", len(frames))
	}
	n := 0
	for i, f := range frames {
		var req struct {
			ID     int64  `json:"id"`
			Method string `json:"method"`
			Params struct {
				Channels []string `json:"channels"`
			} `json:"params"`
			Nonce int64 `json:"nonce"`
		}
		if err := json.Unmarshal(f, &req); err != nil {
			t.Fatalf("frame %d: %s: %v", i, f, err)
		}
		if req.ID != int64(i+1) || req.Method != "subscribe" || len(req.Params.Channels) > SymbolsPerMessage ||
			time.Since(time.UnixMilli(req.Nonce)).Abs() > time.Minute {
			t.Errorf("frame %d: %+v", i, req)
		}
		for _, c := range req.Params.Channels {
			if c != "ticker."+syms[n] {
				t.Fatalf("channel %q, want ticker.%s", c, syms[n])
			}
			n++
		}
	}
	if n != len(syms) {
		t.Errorf("frames carry %d symbols, want %d", n, len(syms))
	}
}

func TestProtocol(t *testing.T) {
	var p feed.Protocol = Protocol{}
	if p.Exchange() != price.Cryptocom || p.DefaultURL() != "wss://stream.crypto.com/exchange/v1/market" {
		t.Fatalf("Exchange/DefaultURL = %v %q", p.Exchange(), p.DefaultURL())
	}
	l := p.Limits()
	if l.SymbolsPerConn > 400 || l.SymbolsPerConn < 1 || l.SubscribeDelay < time.Second ||
		l.IdleTimeout <= HeartbeatInterval || l.PingInterval != 0 {
		t.Fatalf("Limits() = %+v", l)
	}
}
