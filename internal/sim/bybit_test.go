package sim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/trinityprice/trinity/internal/price"
)

// bybitLevels returns the [price, size] levels of one side of an orderbook.1 message.
func bybitLevels(t testing.TB, data map[string]any, side string) [][2]string {
	t.Helper()
	raw, ok := data[side].([]any)
	if !ok {
		t.Fatalf("%s side missing in %v", side, data)
	}
	var out [][2]string
	for _, l := range raw {
		pair, _ := l.([]any)
		if len(pair) != 2 {
			t.Fatalf("level %v", l)
		}
		p, _ := pair[0].(string)
		sz, _ := pair[1].(string)
		out = append(out, [2]string{p, sz})
	}
	return out
}

// applyBybitSide updates a level-1 side the way a client does: a snapshot replaces it, a
// delta removes levels of size "0" and adds the others.
func applyBybitSide(cur string, levels [][2]string, snapshot bool) string {
	if snapshot {
		cur = ""
	}
	for _, l := range levels {
		if l[1] == "0" {
			if l[0] == cur {
				cur = ""
			}
			continue
		}
		cur = l[0]
	}
	return cur
}

func isTopic(prefix string) func(m map[string]any) bool {
	return func(m map[string]any) bool { return strings.HasPrefix(field(m, "topic"), prefix) }
}

func TestBybitProtocol(t *testing.T) {
	s := startOKXBybit(t)
	if got, want := s.URL(price.Bybit), "ws://"+s.Addr()+"/bybit/v5/public/spot"; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	c := dial(t, s.URL(price.Bybit))

	// More than 10 args: refused whole.
	args := make([]string, 11)
	for i := range args {
		args[i] = `"tickers.BTCUSDT"`
	}
	write(t, c, `{"req_id":"1","op":"subscribe","args":[`+strings.Join(args, ",")+`]}`)
	r := next(t, c, time.Second, func(m map[string]any) bool { return field(m, "op") == "subscribe" })
	if r["success"] != false || field(r, "ret_msg") != "args size >10" || field(r, "req_id") != "1" || field(r, "conn_id") == "" {
		t.Fatalf("response = %v", r)
	}

	// Unknown symbols and channels are named; the valid topics are subscribed anyway.
	write(t, c, `{"req_id":"2","op":"subscribe","args":["tickers.BTCUSDT","orderbook.1.BTCUSDT","tickers.NOPEUSDT","publicTrade.BTCUSDT"]}`)
	r = next(t, c, time.Second, func(m map[string]any) bool { return field(m, "op") == "subscribe" })
	if r["success"] != false || field(r, "ret_msg") != "Invalid symbol :[tickers.NOPEUSDT,publicTrade.BTCUSDT]" || field(r, "req_id") != "2" {
		t.Fatalf("response = %v", r)
	}
	last, bid, ask, _ := s.Quote(price.Bybit, "BTCUSDT")
	tk := next(t, c, time.Second, isTopic("tickers."))
	d, _ := tk["data"].(map[string]any)
	if field(tk, "topic") != "tickers.BTCUSDT" || field(tk, "type") != "snapshot" || field(d, "symbol") != "BTCUSDT" || field(d, "lastPrice") != last.String() {
		t.Fatalf("ticker = %v, want last %v", tk, last)
	}
	if _, ok := d["bid1Price"]; ok {
		t.Fatalf("spot ticker with a bid: %v", tk)
	}
	ob := next(t, c, time.Second, isTopic("orderbook.1."))
	d, _ = ob["data"].(map[string]any)
	if field(ob, "topic") != "orderbook.1.BTCUSDT" || field(ob, "type") != "snapshot" || field(d, "s") != "BTCUSDT" {
		t.Fatalf("orderbook = %v", ob)
	}
	curBid := applyBybitSide("", bybitLevels(t, d, "b"), true)
	curAsk := applyBybitSide("", bybitLevels(t, d, "a"), true)
	if curBid != bid.String() || curAsk != ask.String() {
		t.Fatalf("book %s/%s, want %v/%v", curBid, curAsk, bid, ask)
	}

	// The ping gets the spot pong.
	write(t, c, `{"req_id":"100001","op":"ping"}`)
	p := next(t, c, time.Second, func(m map[string]any) bool { return field(m, "op") == "ping" })
	if p["success"] != true || field(p, "ret_msg") != "pong" || field(p, "req_id") != "100001" || field(p, "conn_id") == "" {
		t.Fatalf("pong = %v", p)
	}

	// Moves: a ticker per move and book deltas (with a snapshot now and then) that keep a
	// client's book equal to the quote.
	snapshots, deltas := 0, 0
	for i := range 25 {
		s.Step()
		last, bid, ask, _ := s.Quote(price.Bybit, "BTCUSDT")
		tk := next(t, c, time.Second, isTopic("tickers."))
		if d, _ := tk["data"].(map[string]any); field(d, "lastPrice") != last.String() {
			t.Fatalf("step %d: ticker %v, want last %v", i, tk, last)
		}
		ob := next(t, c, time.Second, isTopic("orderbook.1."))
		d, _ := ob["data"].(map[string]any)
		snap := field(ob, "type") == "snapshot"
		if snap {
			snapshots++
		} else if field(ob, "type") == "delta" {
			deltas++
		} else {
			t.Fatalf("orderbook type %q", field(ob, "type"))
		}
		curBid = applyBybitSide(curBid, bybitLevels(t, d, "b"), snap)
		curAsk = applyBybitSide(curAsk, bybitLevels(t, d, "a"), snap)
		if curBid != bid.String() || curAsk != ask.String() {
			t.Fatalf("step %d: book %s/%s, want %v/%v after %v", i, curBid, curAsk, bid, ask, ob)
		}
	}
	if snapshots == 0 || deltas == 0 {
		t.Fatalf("%d snapshots and %d deltas; want both", snapshots, deltas)
	}

	// Unsubscribing the ticker keeps the book.
	write(t, c, `{"req_id":"3","op":"unsubscribe","args":["tickers.BTCUSDT"]}`)
	if r := next(t, c, time.Second, func(m map[string]any) bool { return field(m, "op") == "unsubscribe" }); r["success"] != true {
		t.Fatalf("unsubscribe: %v", r)
	}
	s.Step()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			break
		}
		if strings.Contains(string(b), `"topic":"tickers.`) {
			t.Fatalf("ticker after unsubscribing: %s", b)
		}
	}
}

// TestBybitArgsLengthLimit: the args of one connection may not add up to more than 21,000
// characters; the request that would cross the limit is refused whole.
func TestBybitArgsLengthLimit(t *testing.T) {
	var u strings.Builder
	u.WriteString(`{"assets":{`)
	const n = 600
	for i := range n {
		if i > 0 {
			u.WriteByte(',')
		}
		u.WriteString(`"C` + strconv.Itoa(i) + `":{"bybit":"C` + strconv.Itoa(i) + `USDT"}`)
	}
	u.WriteString(`}}`)
	uni, err := price.ParseUniverse([]byte(u.String()))
	if err != nil {
		t.Fatal(err)
	}
	s := New(uni, Options{})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := dial(t, s.URL(price.Bybit))
	chars := 1 // with one comma per topic: the length of the JSON array of the topics
	for i := 0; i < n; i += 5 {
		var args []string
		for j := i; j < i+5; j++ {
			args = append(args, `"tickers.C`+strconv.Itoa(j)+`USDT"`, `"orderbook.1.C`+strconv.Itoa(j)+`USDT"`)
		}
		grow := 0
		for _, a := range args {
			grow += len(a) + 1
		}
		write(t, c, `{"req_id":"`+strconv.Itoa(i)+`","op":"subscribe","args":[`+strings.Join(args, ",")+`]}`)
		r := next(t, c, 2*time.Second, func(m map[string]any) bool { return field(m, "op") == "subscribe" })
		if chars+grow <= bybitMaxArgsChars {
			if r["success"] != true {
				t.Fatalf("request %d refused at %d characters: %v", i/5, chars, r)
			}
			chars += grow
			continue
		}
		if r["success"] != false || !strings.Contains(field(r, "ret_msg"), "21000") {
			t.Fatalf("request %d at %d characters: %v, want a refusal", i/5, chars, r)
		}
		return
	}
	t.Fatalf("%d symbols (%d characters) subscribed without a refusal", n, chars)
}

// TestBybitPingTimeout checks the keep-alive rule: a client that sends no ping for the
// timeout is closed, one that pings is kept.
func TestBybitPingTimeout(t *testing.T) {
	s := startOKXBybit(t)
	if !s.SetClientIdleTimeout(price.Bybit, 200*time.Millisecond) {
		t.Fatal("SetClientIdleTimeout(Bybit) = false")
	}
	silent := dial(t, s.URL(price.Bybit))
	write(t, silent, `{"op":"subscribe","args":["tickers.BTCUSDT","orderbook.1.BTCUSDT"]}`)
	pinging := dial(t, s.URL(price.Bybit))
	write(t, pinging, `{"op":"subscribe","args":["tickers.ETHUSDC"]}`)
	start := time.Now()
	stopPing := make(chan struct{})
	pingDone := make(chan struct{})
	go func() {
		defer close(pingDone)
		for {
			select {
			case <-stopPing:
				return
			case <-time.After(50 * time.Millisecond):
				pinging.Write(context.Background(), websocket.MessageText, []byte(`{"op":"ping"}`))
			}
		}
	}()
	// Data keeps flowing to the silent client, but only pings count.
	for range 5 {
		s.Step()
		time.Sleep(10 * time.Millisecond)
	}
	closedWith(t, silent, 2*time.Second)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v, before the 200ms timeout", d)
	}
	time.Sleep(300 * time.Millisecond)
	close(stopPing)
	<-pingDone
	if n := s.Connections(price.Bybit); n != 1 {
		t.Fatalf("%d Bybit connections, want 1 (the pinging one)", n)
	}
}

func TestBybitREST(t *testing.T) {
	s := startOKXBybit(t)
	base := s.RESTURL(price.Bybit)
	if base != "http://"+s.Addr()+"/bybit-rest" {
		t.Fatalf("RESTURL = %q", base)
	}
	type answer struct {
		RetCode int    `json:"retCode"`
		RetMsg  string `json:"retMsg"`
		Result  struct {
			Category string            `json:"category"`
			List     []bybitRESTTicker `json:"list"`
		} `json:"result"`
		RetExtInfo map[string]any `json:"retExtInfo"`
		Time       int64          `json:"time"`
	}
	get := func(path string) (int, answer) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var a answer
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("%s: %s: %v", path, b, err)
		}
		return resp.StatusCode, a
	}
	status, a := get("/v5/market/tickers?category=spot&symbol=ETHUSDC")
	last, bid, ask, _ := s.Quote(price.Bybit, "ETHUSDC")
	if status != 200 || a.RetCode != 0 || a.RetMsg != "OK" || a.Result.Category != "spot" || len(a.Result.List) != 1 || a.RetExtInfo == nil || a.Time == 0 {
		t.Fatalf("HTTP %d %+v", status, a)
	}
	if it := a.Result.List[0]; it.Symbol != "ETHUSDC" || it.LastPrice != last.String() || it.Bid1Price != bid.String() || it.Ask1Price != ask.String() {
		t.Fatalf("ticker %+v, want %v/%v/%v", it, last, bid, ask)
	}
	if status, a := get("/v5/market/tickers?category=spot&symbol=NOPEUSDT"); status != 200 || a.RetCode != 10001 || a.RetMsg != "Not supported symbols" {
		t.Fatalf("unknown symbol: HTTP %d %+v", status, a)
	}
	if status, a := get("/v5/market/tickers?category=spot"); status != 200 || a.RetCode != 0 || len(a.Result.List) != 4 {
		t.Fatalf("all symbols: HTTP %d %+v", status, a)
	}
	if status, a := get("/v5/market/tickers?symbol=BTCUSDT"); status != 200 || a.RetCode == 0 {
		t.Fatalf("no category: HTTP %d %+v", status, a)
	}
}

func TestBybitConnID(t *testing.T) {
	seen := map[string]bool{}
	for n := range uint64(1000) {
		id := bybitConnID(n)
		if len(id) != 36 || strings.Count(id, "-") != 4 || seen[id] {
			t.Fatalf("bybitConnID(%d) = %q", n, id)
		}
		seen[id] = true
	}
}
