package feed

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/coder/websocket"

	"github.com/trinityprice/trinity/internal/price"
)

// testProto is a toy line protocol: the client subscribes with "sub A,B", the server sends
// "tick SYM PRICE", "hb" (heartbeat), "hb?" (which wants the reply "hb!") or anything else
// (malformed). "panic" makes the decoder panic.
type testProto struct {
	limits Limits
	ping   []byte
}

func (p testProto) Exchange() price.Exchange { return price.Kraken }
func (p testProto) DefaultURL() string       { return "ws://127.0.0.1:1/unused" }
func (p testProto) Limits() Limits           { return p.limits }
func (p testProto) NewSession(symbols []string) Session {
	return &testSession{symbols: Intern(symbols), list: symbols, ping: p.ping}
}

type testSession struct {
	symbols map[string]string
	list    []string
	ping    []byte
	tick    price.Tick
}

func (s *testSession) Subscribe() [][]byte {
	return [][]byte{[]byte("sub " + strings.Join(s.list, ","))}
}

func (s *testSession) Ping() []byte { return s.ping }

func (s *testSession) Handle(frame []byte, received int64, sink price.Sink) ([]byte, error) {
	switch {
	case string(frame) == "hb":
		return nil, nil
	case string(frame) == "hb?":
		return []byte("hb!"), nil
	case string(frame) == "panic":
		panic("test decoder panic")
	case bytes.HasPrefix(frame, []byte("tick ")):
		rest := frame[len("tick "):]
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			return nil, errors.New("bad tick")
		}
		sym, ok := s.symbols[string(rest[:i])]
		if !ok {
			return nil, errors.New("unknown symbol")
		}
		v, err := price.ParseValue(rest[i+1:])
		if err != nil {
			return nil, err
		}
		s.tick = price.Tick{Exchange: price.Kraken, Symbol: sym, Last: v, Received: received}
		sink.Apply(&s.tick)
		return nil, nil
	}
	return nil, errors.New("malformed frame")
}

// lastSink keeps the last tick per symbol.
type lastSink struct {
	mu   sync.Mutex
	last map[string]price.Tick
	n    int
}

func (s *lastSink) Apply(t *price.Tick) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string]price.Tick{}
	}
	s.last[t.Symbol] = *t
	s.n++
}

func (s *lastSink) get(sym string) (price.Tick, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.last[sym]
	return t, ok
}

// fakeServer is a scripted WebSocket feed. script runs per connection (n counts from 1) after
// the server has read the subscribe frame; the server keeps reading in the background and
// records every frame it gets.
type fakeServer struct {
	srv    *httptest.Server
	url    string
	conns  atomic.Int32
	mu     sync.Mutex
	frames []string
}

func newFakeServer(t testing.TB, script func(ctx context.Context, c *websocket.Conn, n int, sub string)) *fakeServer {
	t.Helper()
	fs := &fakeServer{}
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		n := int(fs.conns.Add(1))
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		_, sub, err := c.Read(ctx)
		if err != nil {
			return
		}
		fs.record(string(sub))
		go func() {
			defer cancel()
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					return
				}
				fs.record(string(b))
			}
		}()
		script(ctx, c, n, string(sub))
	}))
	fs.url = "ws" + strings.TrimPrefix(fs.srv.URL, "http")
	t.Cleanup(fs.srv.Close)
	return fs
}

func (fs *fakeServer) record(s string) {
	fs.mu.Lock()
	fs.frames = append(fs.frames, s)
	fs.mu.Unlock()
}

func (fs *fakeServer) received(prefix string) []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []string
	for _, f := range fs.frames {
		if strings.HasPrefix(f, prefix) {
			out = append(out, f)
		}
	}
	return out
}

func send(ctx context.Context, c *websocket.Conn, frames ...string) error {
	for _, f := range frames {
		if err := c.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
			return err
		}
	}
	return nil
}

// startRunner runs a runner with fast test timings until the test ends.
func startRunner(t testing.TB, cfg RunnerConfig) *Runner {
	t.Helper()
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = 10 * time.Millisecond
	}
	if cfg.BackoffCap == 0 {
		cfg.BackoffCap = 50 * time.Millisecond
	}
	if cfg.ConnectSpacing == 0 {
		cfg.ConnectSpacing = time.Millisecond
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	r := NewRunner(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return r
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunnerReconnectsAndResubscribes(t *testing.T) {
	fs := newFakeServer(t, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		if n == 1 {
			_ = send(ctx, c, "tick AAA 1")
			time.Sleep(20 * time.Millisecond)
			c.CloseNow() // drop the first connection
			return
		}
		_ = send(ctx, c, "tick AAA 2")
		for ctx.Err() == nil {
			_ = send(ctx, c, "hb")
			time.Sleep(10 * time.Millisecond)
		}
	})
	sink := &lastSink{}
	r := startRunner(t, RunnerConfig{
		Protocol: testProto{limits: Limits{IdleTimeout: 2 * time.Second}},
		URL:      fs.url, Symbols: []string{"AAA", "BBB"}, Sink: sink,
	})
	waitFor(t, "the tick of the second connection", 3*time.Second, func() bool {
		tk, ok := sink.get("AAA")
		return ok && tk.Last == price.MustParse("2")
	})
	if subs := fs.received("sub "); len(subs) != 2 || subs[0] != "sub AAA,BBB" || subs[1] != "sub AAA,BBB" {
		t.Fatalf("subscribe frames = %q, want the same subscription twice", subs)
	}
	waitFor(t, "connected", time.Second, func() bool { return r.Status().Connected })
	st := r.Status()
	if st.Reconnects != 1 || st.Ticks != 2 || st.ConnectionsUp != 1 || st.Connections != 1 || st.Symbols != 2 ||
		st.LastError == "" || st.LastMessage.IsZero() || st.Exchange != "kraken" || st.URL != fs.url {
		t.Fatalf("Status() = %+v", st)
	}
}

func TestRunnerIdleTimeout(t *testing.T) {
	fs := newFakeServer(t, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		_ = send(ctx, c, "tick AAA 1")
		<-ctx.Done() // then silence
	})
	r := startRunner(t, RunnerConfig{
		Protocol: testProto{limits: Limits{IdleTimeout: 100 * time.Millisecond}},
		URL:      fs.url, Symbols: []string{"AAA"}, Sink: &lastSink{},
	})
	waitFor(t, "a reconnect after silence", 3*time.Second, func() bool { return len(fs.received("sub ")) >= 2 })
	st := r.Status()
	if st.Reconnects < 1 || !strings.Contains(st.LastError, "idle timeout") {
		t.Fatalf("Status() = %+v, want a reconnect for idle timeout", st)
	}
}

func TestRunnerCountsMalformedFramesAndKeepsReading(t *testing.T) {
	fs := newFakeServer(t, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		_ = send(ctx, c, "garbage", "tick AAA 1", "{not json", "panic", "tick ZZZ 1", "tick AAA 2")
		<-ctx.Done()
	})
	sink := &lastSink{}
	r := startRunner(t, RunnerConfig{
		Protocol: testProto{limits: Limits{IdleTimeout: 5 * time.Second}},
		URL:      fs.url, Symbols: []string{"AAA"}, Sink: sink,
	})
	waitFor(t, "all frames", 3*time.Second, func() bool { return r.Status().Messages == 6 })
	st := r.Status()
	if st.DecodeErrors != 4 || st.Ticks != 2 || st.Reconnects != 0 || !st.Connected {
		t.Fatalf("Status() = %+v, want 4 decode errors, 2 ticks, no reconnect", st)
	}
	if tk, _ := sink.get("AAA"); tk.Last != price.MustParse("2") {
		t.Fatalf("last tick %+v", tk)
	}
	if len(fs.received("sub ")) != 1 {
		t.Fatal("reconnected")
	}
}

func TestRunnerOversizeFrame(t *testing.T) {
	fs := newFakeServer(t, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		if n == 1 {
			_ = send(ctx, c, "tick AAA "+strings.Repeat("1", 3000))
		}
		_ = send(ctx, c, "tick AAA 7")
		<-ctx.Done()
	})
	sink := &lastSink{}
	r := startRunner(t, RunnerConfig{
		Protocol: testProto{limits: Limits{IdleTimeout: 5 * time.Second}},
		URL:      fs.url, Symbols: []string{"AAA"}, Sink: sink, MaxFrameSize: 1024,
	})
	waitFor(t, "the tick after reconnecting", 3*time.Second, func() bool {
		tk, ok := sink.get("AAA")
		return ok && tk.Last == price.MustParse("7")
	})
	st := r.Status()
	if st.DecodeErrors != 1 || st.Reconnects != 1 || !strings.Contains(st.LastError, "larger than 1024") {
		t.Fatalf("Status() = %+v", st)
	}
}

func TestRunnerLargeFrameWithinLimit(t *testing.T) {
	big := "tick AAA 1." + strings.Repeat("0", 100_000) // grows the read buffer past its start size
	fs := newFakeServer(t, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		_ = send(ctx, c, big)
		<-ctx.Done()
	})
	sink := &lastSink{}
	r := startRunner(t, RunnerConfig{
		Protocol: testProto{}, URL: fs.url, Symbols: []string{"AAA"}, Sink: sink,
	})
	waitFor(t, "the big tick", 3*time.Second, func() bool { _, ok := sink.get("AAA"); return ok })
	if st := r.Status(); st.DecodeErrors != 0 || st.Reconnects != 0 {
		t.Fatalf("Status() = %+v", st)
	}
}

func TestRunnerSplitsSymbolsOverConnections(t *testing.T) {
	fs := newFakeServer(t, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		<-ctx.Done()
	})
	syms := []string{"A", "B", "C", "D", "E"}
	r := startRunner(t, RunnerConfig{
		Protocol: testProto{limits: Limits{SymbolsPerConn: 2}},
		URL:      fs.url, Symbols: syms, Sink: &lastSink{},
	})
	waitFor(t, "3 subscriptions", 3*time.Second, func() bool {
		return r.Status().ConnectionsUp == 3 && len(fs.received("sub ")) == 3
	})
	subs := fs.received("sub ")
	var got []string
	for _, s := range subs {
		part := strings.Split(strings.TrimPrefix(s, "sub "), ",")
		if len(part) > 2 {
			t.Errorf("subscription %q has more than 2 symbols", s)
		}
		got = append(got, part...)
	}
	slices.Sort(got)
	if !slices.Equal(got, syms) {
		t.Fatalf("subscribed %q, want %q", got, syms)
	}
	if st := r.Status(); st.Connections != 3 || !st.Connected {
		t.Fatalf("Status() = %+v", st)
	}
}

func TestRunnerPingsAndReplies(t *testing.T) {
	fs := newFakeServer(t, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		_ = send(ctx, c, "hb?")
		<-ctx.Done()
	})
	r := startRunner(t, RunnerConfig{
		Protocol: testProto{limits: Limits{PingInterval: 20 * time.Millisecond}, ping: []byte("ping")},
		URL:      fs.url, Symbols: []string{"AAA"}, Sink: &lastSink{},
	})
	waitFor(t, "pings and the reply", 3*time.Second, func() bool {
		return len(fs.received("ping")) >= 3 && len(fs.received("hb!")) == 1
	})
	if st := r.Status(); st.Reconnects != 0 {
		t.Fatalf("Status() = %+v", st)
	}
}

func TestRunnerWebSocketPing(t *testing.T) {
	fs := newFakeServer(t, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		for ctx.Err() == nil {
			_ = send(ctx, c, "hb")
			time.Sleep(10 * time.Millisecond)
		}
	})
	// No application ping: the runner sends WebSocket pings, which the server answers.
	r := startRunner(t, RunnerConfig{
		Protocol: testProto{limits: Limits{PingInterval: 10 * time.Millisecond, IdleTimeout: time.Second}},
		URL:      fs.url, Symbols: []string{"AAA"}, Sink: &lastSink{},
	})
	time.Sleep(300 * time.Millisecond)
	if st := r.Status(); st.Reconnects != 0 || !st.Connected {
		t.Fatalf("Status() = %+v", st)
	}
}

func TestRunnerDialFailureBacksOff(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	srv.Close()
	r := startRunner(t, RunnerConfig{
		Protocol: testProto{}, URL: url, Symbols: []string{"AAA"}, Sink: &lastSink{},
		BackoffBase: 20 * time.Millisecond, BackoffCap: 40 * time.Millisecond,
	})
	time.Sleep(300 * time.Millisecond)
	st := r.Status()
	// At most one attempt per 10 ms (half the 20 ms base), at least one per 40 ms plus dial time.
	if st.Reconnects < 3 || st.Reconnects > 30 || st.Connected || !strings.Contains(st.LastError, "dial") {
		t.Fatalf("Status() = %+v", st)
	}
}

func TestRunnerMetrics(t *testing.T) {
	fs := newFakeServer(t, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		_ = send(ctx, c, "tick AAA 1", "junk")
		<-ctx.Done()
	})
	set := metrics.NewSet()
	r := startRunner(t, RunnerConfig{
		Protocol: testProto{}, URL: fs.url, Symbols: []string{"AAA"}, Sink: &lastSink{}, Metrics: set,
	})
	waitFor(t, "frames", 3*time.Second, func() bool { return r.Status().Messages == 2 })
	var b bytes.Buffer
	set.WritePrometheus(&b)
	for _, want := range []string{
		`trinity_feed_messages_total{exchange="kraken"} 2`,
		`trinity_feed_ticks_total{exchange="kraken"} 1`,
		`trinity_feed_decode_errors_total{exchange="kraken"} 1`,
		`trinity_feed_reconnects_total{exchange="kraken"} 0`,
		`trinity_feed_connections_up{exchange="kraken"} 1`,
		`trinity_feed_last_message_age_seconds{exchange="kraken"} `,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

func TestRunnerStopsOnCancel(t *testing.T) {
	fs := newFakeServer(t, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		<-ctx.Done()
	})
	r := NewRunner(RunnerConfig{Protocol: testProto{}, URL: fs.url, Symbols: []string{"A", "B"}, Sink: &lastSink{}, ConnectSpacing: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, "connected", 3*time.Second, func() bool { return r.Status().Connected })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return")
	}
	if st := r.Status(); st.ConnectionsUp != 0 || st.Reconnects != 0 {
		t.Fatalf("after Run: %+v", st)
	}
}

func TestRunnerConfigErrors(t *testing.T) {
	if err := NewRunner(RunnerConfig{Sink: &lastSink{}}).Run(context.Background()); err == nil {
		t.Error("no protocol: Run returned nil")
	}
	if err := NewRunner(RunnerConfig{Protocol: testProto{}}).Run(context.Background()); err == nil {
		t.Error("no sink: Run returned nil")
	}
}

func TestRunnerStaggersConnections(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	fs := newFakeServer(t, func(ctx context.Context, c *websocket.Conn, n int, sub string) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		<-ctx.Done()
	})
	start := time.Now()
	r := startRunner(t, RunnerConfig{
		Protocol: testProto{limits: Limits{SymbolsPerConn: 1}}, URL: fs.url,
		Symbols: []string{"A", "B", "C"}, Sink: &lastSink{},
		StartDelay: 50 * time.Millisecond, ConnectSpacing: 50 * time.Millisecond,
	})
	waitFor(t, "3 connections", 3*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return r.Status().ConnectionsUp == 3 && len(at) == 3
	})
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	if first := at[0].Sub(start); first < 50*time.Millisecond {
		t.Errorf("first connection after %v, want >= StartDelay 50ms", first)
	}
	if spread := at[2].Sub(at[0]); spread < 50*time.Millisecond {
		t.Errorf("3 connections within %v, want them spread out", spread)
	}
}
