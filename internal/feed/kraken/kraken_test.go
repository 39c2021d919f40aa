package kraken

import (
	"bytes"
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

// testSymbols are the symbols of the session the golden tests decode with.
var testSymbols = []string{"BTC/USD", "ETH/USDT", "SHIB/USD"}

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
// documentation and reference fixtures) and compares the ticks, reply and error with the
// .golden file next to it. Run with -update to rewrite the golden files after review.
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

func TestHandleTickerSnapshot(t *testing.T) {
	frame, err := os.ReadFile("testdata/frames/ticker_snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(testSymbols)
	rec := &recorder{t: t, want: testSymbols}
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
	if len(rec.ticks) != 1 || rec.ticks[0] != want {
		t.Fatalf("ticks = %+v, want [%+v]", rec.ticks, want)
	}
}

// TestHandlePrecision checks that JSON numbers with more digits than float64 holds are read
// exactly (to price.Scale decimals) from their text.
func TestHandlePrecision(t *testing.T) {
	frame, err := os.ReadFile("testdata/frames/ticker_precision_in_range.json")
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(testSymbols)
	rec := &recorder{t: t, want: testSymbols}
	if _, err := s.Handle(frame, 1, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.ticks) != 2 {
		t.Fatalf("%d ticks, want 2", len(rec.ticks))
	}
	btc, shib := rec.ticks[0], rec.ticks[1]
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
	frame, err := os.ReadFile("testdata/frames/subscribe_error.json")
	if err != nil {
		t.Fatal(err)
	}
	_, err = newSession(testSymbols).Handle(frame, 1, &recorder{t: t})
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
