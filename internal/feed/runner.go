package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/coder/websocket"

	"github.com/trinityprice/trinity/internal/price"
)

// RunnerConfig configures a Runner. Zero durations and sizes take the Default* constants.
type RunnerConfig struct {
	// Protocol is the exchange's adapter. Required.
	Protocol Protocol
	// URL is the WebSocket endpoint; empty means Protocol.DefaultURL().
	URL string
	// Symbols are the exchange symbols to subscribe to (duplicates are the caller's problem).
	Symbols []string
	// Sink receives every tick, from several goroutines at once. Required.
	Sink price.Sink
	// Logger logs connection events and (throttled) errors; nil discards.
	Logger *slog.Logger
	// Metrics receives the trinity_feed_* metrics labelled with the exchange; nil keeps them
	// private (Status still works). Use one Runner per exchange per Set.
	Metrics *metrics.Set

	// StartDelay delays this runner's first connection, so that the runners of several
	// exchanges (or several processes) do not all dial at the same instant.
	StartDelay time.Duration
	// ConnectSpacing staggers the first dial of each connection: connection i waits
	// StartDelay + i×ConnectSpacing + a random share of ConnectSpacing. Default 500 ms.
	ConnectSpacing time.Duration
	// BackoffBase and BackoffCap shape the reconnect delays (see Backoff). Defaults 500 ms
	// and 30 s.
	BackoffBase, BackoffCap time.Duration
	// HealthyAfter is how long a connection must last for the backoff to start over. Default
	// 30 s.
	HealthyAfter time.Duration
	// DialTimeout bounds connecting. Default 10 s.
	DialTimeout time.Duration
	// MaxFrameSize is the largest frame accepted, in bytes. Default 1 MiB.
	MaxFrameSize int
	// Limits overrides the protocol's limits field by field (non-zero fields win); tests use it
	// for short timeouts. SymbolsPerMessage is applied by the session itself from the
	// protocol's own Limits, so overriding it here has no effect.
	Limits Limits
	// HTTPClient is used for the WebSocket handshake; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Status is a snapshot of a Runner's state, for health checks and the admin API.
type Status struct {
	Exchange string
	URL      string
	// Connections is how many connections the runner keeps (symbols split per
	// Limits.SymbolsPerConn); ConnectionsUp how many are connected and subscribed now.
	Connections, ConnectionsUp, Symbols int
	// Connected is true when every connection is up.
	Connected bool
	// LastMessage is when the last frame arrived (zero: never).
	LastMessage time.Time
	// Messages counts frames read; Ticks the ticks delivered to the sink; Reconnects the
	// connections that ended other than by shutdown (each is followed by a reconnect attempt
	// after a backoff), including failed dials; DecodeErrors the frames that could not be
	// decoded or reported an error (subscription refusals, exchange error messages) plus
	// oversized frames.
	Messages, Ticks, Reconnects, DecodeErrors uint64
	// LastError is the most recent connection or decode error, "" if none yet.
	LastError string
}

// Runner keeps one exchange's feed connections up and decodes their frames into ticks. Create
// it with NewRunner and call Run once.
type Runner struct {
	proto    Protocol
	exchange string
	url      string
	limits   Limits
	chunks   [][]string
	nsymbols int
	sink     price.Sink // counting wrapper around cfg.Sink
	log      *slog.Logger

	startDelay, spacing       time.Duration
	backoffBase, backoffCap   time.Duration
	healthyAfter, dialTimeout time.Duration
	maxFrame                  int
	httpClient                *http.Client
	cfgErr                    error

	messages, ticks, reconnects, decodeErrors *metrics.Counter

	up          atomic.Int64
	lastMessage atomic.Int64 // Unix nanos of the last frame, 0 = never
	started     atomic.Int64 // Unix nanos when Run started, 0 = not running
	lastError   atomic.Pointer[string]
	errLog      throttle
	dropLog     throttle
}

// NewRunner returns a runner for cfg. Configuration errors (no protocol, no sink) are reported
// by Run.
func NewRunner(cfg RunnerConfig) *Runner {
	r := &Runner{
		url:          cfg.URL,
		log:          cfg.Logger,
		startDelay:   max(cfg.StartDelay, 0),
		spacing:      orDefault(cfg.ConnectSpacing, DefaultConnectSpacing),
		backoffBase:  orDefault(cfg.BackoffBase, DefaultBackoffBase),
		backoffCap:   orDefault(cfg.BackoffCap, DefaultBackoffCap),
		healthyAfter: orDefault(cfg.HealthyAfter, DefaultHealthyAfter),
		dialTimeout:  orDefault(cfg.DialTimeout, DefaultDialTimeout),
		maxFrame:     cfg.MaxFrameSize,
		httpClient:   cfg.HTTPClient,
		nsymbols:     len(cfg.Symbols),
		errLog:       throttle{every: 10 * time.Second},
		dropLog:      throttle{every: 10 * time.Second},
	}
	if r.maxFrame <= 0 {
		r.maxFrame = DefaultMaxFrameSize
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	set := cfg.Metrics
	if set == nil {
		set = metrics.NewSet()
	}
	switch {
	case cfg.Protocol == nil:
		r.cfgErr = errors.New("feed: RunnerConfig.Protocol is required")
		r.exchange = "unknown"
	case cfg.Sink == nil:
		r.cfgErr = errors.New("feed: RunnerConfig.Sink is required")
		r.exchange = cfg.Protocol.Exchange().String()
	default:
		r.proto = cfg.Protocol
		r.exchange = cfg.Protocol.Exchange().String()
		if r.url == "" {
			r.url = cfg.Protocol.DefaultURL()
		}
		r.limits = mergeLimits(cfg.Protocol.Limits(), cfg.Limits)
	}
	if r.limits.SubscribeDeadline <= 0 {
		r.limits.SubscribeDeadline = DefaultSubscribeDeadline
	}
	r.chunks = Chunk(cfg.Symbols, r.limits.SymbolsPerConn)
	r.log = r.log.With("exchange", r.exchange)

	label := `{exchange="` + r.exchange + `"}`
	r.messages = set.GetOrCreateCounter("trinity_feed_messages_total" + label)
	r.ticks = set.GetOrCreateCounter("trinity_feed_ticks_total" + label)
	r.reconnects = set.GetOrCreateCounter("trinity_feed_reconnects_total" + label)
	r.decodeErrors = set.GetOrCreateCounter("trinity_feed_decode_errors_total" + label)
	set.GetOrCreateGauge("trinity_feed_connections_up"+label, func() float64 {
		return float64(r.up.Load())
	})
	set.GetOrCreateGauge("trinity_feed_last_message_age_seconds"+label, r.lastMessageAge)
	if cfg.Sink != nil {
		r.sink = &countingSink{next: cfg.Sink, ticks: r.ticks}
	}
	return r
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func mergeLimits(l, over Limits) Limits {
	if over.SymbolsPerConn > 0 {
		l.SymbolsPerConn = over.SymbolsPerConn
	}
	if over.SymbolsPerMessage > 0 {
		l.SymbolsPerMessage = over.SymbolsPerMessage
	}
	if over.PingInterval > 0 {
		l.PingInterval = over.PingInterval
	}
	if over.IdleTimeout > 0 {
		l.IdleTimeout = over.IdleTimeout
	}
	if over.SubscribeDeadline > 0 {
		l.SubscribeDeadline = over.SubscribeDeadline
	}
	if over.SubscribeDelay > 0 {
		l.SubscribeDelay = over.SubscribeDelay
	}
	return l
}

// lastMessageAge is the gauge value: seconds since the last frame, or since Run started when no
// frame has arrived yet, or 0 when the runner is not running.
func (r *Runner) lastMessageAge() float64 {
	t := r.lastMessage.Load()
	if t == 0 {
		t = r.started.Load()
		if t == 0 {
			return 0
		}
	}
	return time.Duration(time.Now().UnixNano() - t).Seconds()
}

// Status returns the runner's current state. It is safe for concurrent use.
func (r *Runner) Status() Status {
	s := Status{
		Exchange:      r.exchange,
		URL:           r.url,
		Connections:   len(r.chunks),
		ConnectionsUp: int(r.up.Load()),
		Symbols:       r.nsymbols,
		Messages:      r.messages.Get(),
		Ticks:         r.ticks.Get(),
		Reconnects:    r.reconnects.Get(),
		DecodeErrors:  r.decodeErrors.Get(),
	}
	s.Connected = s.Connections > 0 && s.ConnectionsUp == s.Connections
	if t := r.lastMessage.Load(); t != 0 {
		s.LastMessage = time.Unix(0, t)
	}
	if e := r.lastError.Load(); e != nil {
		s.LastError = *e
	}
	return s
}

// Run keeps every connection up until ctx is done, then closes them and returns nil. It returns
// an error only for an invalid configuration.
func (r *Runner) Run(ctx context.Context) error {
	if r.cfgErr != nil {
		return r.cfgErr
	}
	r.started.Store(time.Now().UnixNano())
	defer r.started.Store(0)
	var wg sync.WaitGroup
	for i, symbols := range r.chunks {
		wg.Go(func() { r.runConn(ctx, i, symbols) })
	}
	wg.Wait()
	return nil
}

// errIdle reports a connection dropped for silence.
var errIdle = errors.New("idle timeout")

// runConn keeps connection number idx (subscribed to symbols) up until ctx is done.
func (r *Runner) runConn(ctx context.Context, idx int, symbols []string) {
	if !sleep(ctx, r.startDelay+time.Duration(idx)*r.spacing+jitter(r.spacing)) {
		return
	}
	bo := Backoff{Base: r.backoffBase, Cap: r.backoffCap}
	buf := make([]byte, min(16<<10, r.maxFrame+1))
	for {
		start := time.Now()
		err := r.session(ctx, idx, symbols, &buf)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) >= r.healthyAfter {
			bo.Reset()
		}
		if err == nil {
			err = errors.New("connection closed")
		}
		r.reconnects.Inc()
		r.setError(err)
		wait := bo.Next()
		if r.dropLog.allow() {
			r.log.Warn("feed connection lost", "conn", idx, "url", r.url, "err", err, "retry_in", wait)
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// connState is what the reader and the keeper goroutine of one connection share.
type connState struct {
	lastFrame atomic.Int64 // Unix nanos
	idle      atomic.Bool  // the keeper closed the connection for silence
	pinging   atomic.Bool  // a WebSocket ping is in flight
	pingErr   atomic.Bool  // the keeper closed the connection after a failed ping
}

// session runs one connection from dial to close and returns why it ended.
func (r *Runner) session(ctx context.Context, idx int, symbols []string, buf *[]byte) error {
	dctx, cancel := context.WithTimeout(ctx, r.dialTimeout)
	conn, resp, err := websocket.Dial(dctx, r.url, &websocket.DialOptions{HTTPClient: r.httpClient})
	cancel()
	if err != nil {
		if resp != nil {
			return fmt.Errorf("dial: HTTP %d: %w", resp.StatusCode, err)
		}
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(int64(r.maxFrame))

	if !sleep(ctx, r.limits.SubscribeDelay) {
		return ctx.Err()
	}
	sess := r.proto.NewSession(symbols)
	sctx, cancel := context.WithTimeout(ctx, r.limits.SubscribeDeadline)
	for _, f := range sess.Subscribe() {
		if err := conn.Write(sctx, websocket.MessageText, f); err != nil {
			cancel()
			return fmt.Errorf("subscribe: %w", err)
		}
	}
	cancel()

	r.up.Add(1)
	defer r.up.Add(-1)
	r.log.Info("feed connected", "conn", idx, "url", r.url, "symbols", len(symbols))

	var st connState
	st.lastFrame.Store(time.Now().UnixNano())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { r.keep(ctx, conn, sess, &st, done, &wg) })
	err = r.read(ctx, conn, sess, &st, buf)
	close(done)
	conn.CloseNow()
	wg.Wait()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case st.idle.Load():
		return fmt.Errorf("%w: no frame for %v", errIdle, r.limits.IdleTimeout)
	case st.pingErr.Load():
		return errors.New("websocket ping: no pong in time")
	}
	return err
}

// writeTimeout bounds writing one frame outside the subscribe phase.
const writeTimeout = 5 * time.Second

// keep closes conn when ctx ends or the connection goes idle, and sends pings.
func (r *Runner) keep(ctx context.Context, conn *websocket.Conn, sess Session, st *connState, done <-chan struct{}, wg *sync.WaitGroup) {
	var idleC, pingC <-chan time.Time
	idle := r.limits.IdleTimeout
	if idle > 0 {
		t := time.NewTicker(min(max(idle/5, 10*time.Millisecond), time.Second))
		defer t.Stop()
		idleC = t.C
	}
	if r.limits.PingInterval > 0 {
		t := time.NewTicker(r.limits.PingInterval)
		defer t.Stop()
		pingC = t.C
	}
	pingTimeout := writeTimeout
	if idle > 0 {
		pingTimeout = max(idle, writeTimeout)
	}
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			conn.CloseNow()
			return
		case now := <-idleC:
			if now.UnixNano()-st.lastFrame.Load() > int64(idle) {
				st.idle.Store(true)
				conn.CloseNow()
				return
			}
		case <-pingC:
			if f := sess.Ping(); f != nil {
				wctx, cancel := context.WithTimeout(ctx, writeTimeout)
				err := conn.Write(wctx, websocket.MessageText, f)
				cancel()
				if err != nil {
					conn.CloseNow()
					return
				}
			} else if !st.pinging.Swap(true) {
				wg.Go(func() {
					defer st.pinging.Store(false)
					pctx, cancel := context.WithTimeout(ctx, pingTimeout)
					defer cancel()
					if err := conn.Ping(pctx); err != nil && ctx.Err() == nil {
						select {
						case <-done: // the connection ended anyway
						default:
							st.pingErr.Store(true)
							conn.CloseNow()
						}
					}
				})
			}
		}
	}
}

// read reads frames into *buf and hands them to the session until the connection fails.
func (r *Runner) read(ctx context.Context, conn *websocket.Conn, sess Session, st *connState, buf *[]byte) error {
	// The read context never ends; the keeper closes the connection instead. A cancellable
	// context here would cost a timer registration per frame inside the websocket library.
	bg := context.Background()
	limit := r.maxFrame + 1
	for {
		_, rd, err := conn.Reader(bg)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		b := *buf
		n := 0
		for {
			if n == len(b) {
				if len(b) >= limit {
					r.decodeErrors.Inc()
					return fmt.Errorf("frame larger than %d bytes", r.maxFrame)
				}
				nb := make([]byte, min(2*len(b), limit))
				copy(nb, b[:n])
				b = nb
				*buf = b
			}
			m, err := rd.Read(b[n:])
			n += m
			if err == io.EOF {
				break
			}
			if err != nil {
				if errors.Is(err, websocket.ErrMessageTooBig) {
					r.decodeErrors.Inc()
					return fmt.Errorf("frame larger than %d bytes", r.maxFrame)
				}
				return fmt.Errorf("read: %w", err)
			}
		}
		now := time.Now().UnixNano()
		st.lastFrame.Store(now)
		r.lastMessage.Store(now)
		r.messages.Inc()
		reply, err := r.handle(sess, b[:n], now)
		if err != nil {
			r.decodeErrors.Inc()
			r.setError(err)
			if r.errLog.allow() {
				r.log.Warn("feed frame rejected", "err", err, "frame", preview(b[:n]))
			}
		}
		if len(reply) > 0 {
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := conn.Write(wctx, websocket.MessageText, reply)
			cancel()
			if err != nil {
				return fmt.Errorf("write reply: %w", err)
			}
		}
	}
}

// handle calls sess.Handle and turns a panic in the decoder into a counted error, so one bad
// frame can never take the feed down.
func (r *Runner) handle(sess Session, frame []byte, now int64) (reply []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			reply, err = nil, fmt.Errorf("BUG: decoder panic: %v", p)
			r.log.Error("feed decoder panic", "panic", p, "frame", preview(frame))
		}
	}()
	return sess.Handle(frame, now, r.sink)
}

func (r *Runner) setError(err error) {
	s := err.Error()
	r.lastError.Store(&s)
}

// preview returns the start of a frame for a log line.
func preview(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "...(" + strconv.Itoa(len(b)) + " bytes)"
	}
	return string(b)
}

// countingSink counts ticks on their way to the real sink.
type countingSink struct {
	next  price.Sink
	ticks *metrics.Counter
}

func (s *countingSink) Apply(t *price.Tick) {
	s.ticks.Inc()
	s.next.Apply(t)
}

// throttle lets one event through per interval, for log lines that could repeat per frame.
type throttle struct {
	every time.Duration
	last  atomic.Int64
}

func (t *throttle) allow() bool {
	now := time.Now().UnixNano()
	last := t.last.Load()
	if last != 0 && now-last < int64(t.every) {
		return false
	}
	return t.last.CompareAndSwap(last, now)
}

// sleep waits d or until ctx is done, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
