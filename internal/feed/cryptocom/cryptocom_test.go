package cryptocom

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

var update = flag.Bool("update", false, "rewrite testdata/frames/*.golden")

// testSymbols are the symbols of the session the golden tests decode with. BTCUSD-PERP is the
// instrument of the documentation's example frames.
var testSymbols = []string{"BTC_USD", "ETH_USDT", "SHIB_USD", "BTCUSD-PERP"}

// recorder is a sink that keeps copies of the ticks and checks that every symbol is one of
// want's own strings (same backing bytes: interned, not allocated per message).
type recorder struct {
	t     testing.TB
	want  []string
	ticks []price.Tick
}

func (r *recorder) Apply(t *price.Tick) {
	interned := false
	for _, s := range r.want {
		if unsafe.StringData(s) == unsafe.StringData(t.Symbol) && len(s) == len(t.Symbol) {
			interned = true
		}
	}
	if !interned {
		r.t.Errorf("tick symbol %q is not one of the session's symbol strings", t.Symbol)
	}
	r.ticks = append(r.ticks, *t)
}

type nopSink struct{ n int }

func (s *nopSink) Apply(*price.Tick) { s.n++ }

func render(ticks []price.Tick, reply []byte, err error) []byte {
	var b bytes.Buffer
	for _, t := range ticks {
		b.WriteString("tick exchange=" + t.Exchange.String() + " symbol=" + t.Symbol +
			" last=" + t.Last.String() + " bid=" + t.Bid.String() + " ask=" + t.Ask.String())
		if t.ExchangeTime != 0 {
			b.WriteString(" exchange_time=" + time.Unix(0, t.ExchangeTime).UTC().Format(time.RFC3339Nano))
		} else {
			b.WriteString(" exchange_time=0")
		}
		b.WriteString(" received=" + strconv.FormatInt(t.Received, 10) + "\n")
	}
	if reply != nil {
		b.WriteString("reply " + string(reply) + "\n")
	}
	if err != nil {
		b.WriteString("error " + err.Error() + "\n")
	}
	if b.Len() == 0 {
		b.WriteString("(nothing)\n")
	}
	return b.Bytes()
}

// TestHandleGolden decodes every testdata/frames/*.json (message shapes from the exchange
// documentation and reference implementations) and compares the ticks, reply and error with
// the .golden file next to it. Run with -update to rewrite the golden files after review.
func TestHandleGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "frames", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no frames: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			frame, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := Protocol{}.NewSession(testSymbols)
			rec := &recorder{t: t, want: testSymbols}
			reply, herr := s.Handle(frame, 42, rec)
			got := render(rec.ticks, reply, herr)
			golden := strings.TrimSuffix(f, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
			}
		})
	}
}

func TestHandleTicker(t *testing.T) {
	frame, err := os.ReadFile("testdata/frames/ticker_spot.json")
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(testSymbols)
	rec := &recorder{t: t, want: testSymbols}
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
	if len(rec.ticks) != 1 || rec.ticks[0] != want {
		t.Fatalf("ticks = %+v, want [%+v]", rec.ticks, want)
	}
}

// TestHeartbeatReply checks that a heartbeat is answered with its own id, digit for digit,
// and that the reply buffer is reused (valid until the next Handle).
func TestHeartbeatReply(t *testing.T) {
	s := newSession(testSymbols)
	for _, id := range []string{"1587523073344", "9223372036854775807", "-1", "7"} {
		reply, err := s.Handle([]byte(`{"id":`+id+`,"method":"public/heartbeat","code":0}`), 1, &nopSink{})
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
		_, err = newSession(testSymbols).Handle(frame, 1, &recorder{t: t})
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
