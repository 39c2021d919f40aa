// Package sim is a local exchange simulator: one HTTP listener serves each exchange's public
// market-data WebSocket protocol on its own path (/coinbase for Coinbase Advanced Trade,
// /kraken/v2 for Kraken Spot v2), driven by a seeded random-walk market. It enforces the
// exchanges' connection rules (subscribe deadlines, one channel per message, heartbeats, acks,
// refusals of unknown symbols) and injects faults on demand (disconnects, stalls, malformed
// frames, rate-limit refusals, outlier price spikes; see faults.go, also by admin call: POST
// /faults/{exchange}/{fault}), so every feed adapter can be tested end to end without the
// internet. It is used by `trinity sim`, `trinity serve --feeds sim` and the tests.
//
// Adding an exchange is one file: a type implementing venue (its path and a per-connection
// handler for its protocol) plus one line in venues().
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trinityprice/trinity/internal/price"
)

// Options configure a Server. Zero fields take the defaults noted.
type Options struct {
	// Seed makes the random walk reproducible: the same seed and universe give the same
	// sequence of prices.
	Seed int64
	// TickInterval is how often every market moves. Default 200 ms.
	TickInterval time.Duration
	// HeartbeatInterval is how often heartbeats are sent (Coinbase heartbeats channel, Kraken
	// heartbeat). Default 1 s, as on the real exchanges.
	HeartbeatInterval time.Duration
	// SubscribeTimeout is how long Coinbase waits for a subscribe message before closing the
	// connection. Default 5 s, as on the real exchange.
	SubscribeTimeout time.Duration
	// Logger logs connections and faults; nil discards.
	Logger *slog.Logger
}

// Server is the simulator. Create it with New, then Start it and Run the market.
type Server struct {
	opts Options
	log  *slog.Logger

	mu     sync.RWMutex // guards world
	world  *world
	paused atomic.Bool

	venues [price.NumExchanges]venue

	connMu sync.Mutex
	conns  [price.NumExchanges]map[*conn]struct{}

	stallUntil  [price.NumExchanges]atomic.Int64 // Unix nanos
	refuseUntil [price.NumExchanges]atomic.Int64 // Unix nanos
	connSeq     atomic.Uint64                    // numbers connections (Kraken's connection_id)

	ctx    context.Context // ends when the server closes; every connection derives from it
	cancel context.CancelFunc
	srv    *http.Server
	addr   string
	closed sync.Once
}

// New returns a simulator for the markets of u.
func New(u *price.Universe, opts Options) *Server {
	if opts.TickInterval <= 0 {
		opts.TickInterval = 200 * time.Millisecond
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	if opts.SubscribeTimeout <= 0 {
		opts.SubscribeTimeout = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{opts: opts, log: log, world: newWorld(u, opts.Seed), ctx: ctx, cancel: cancel}
	for _, v := range venues() {
		s.venues[v.exchange()] = v
	}
	for i := range s.conns {
		s.conns[i] = map[*conn]struct{}{}
	}
	return s
}

// venues lists the simulated exchanges; each lives in its own file.
func venues() []venue {
	return []venue{coinbaseVenue{}, krakenVenue{}, &cryptocomVenue{}, &okxVenue{}, &bybitVenue{}, geminiVenue{}, gateioVenue{}}
}

// Exchanges returns the exchanges the simulator serves.
func (s *Server) Exchanges() []price.Exchange {
	var out []price.Exchange
	for ex, v := range s.venues {
		if v != nil {
			out = append(out, price.Exchange(ex))
		}
	}
	return out
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves every exchange's
// protocol in the background until Close.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sim: listen: %w", err)
	}
	mux := http.NewServeMux()
	for _, v := range s.venues {
		if v != nil {
			mux.HandleFunc("GET "+v.path(), func(w http.ResponseWriter, r *http.Request) { s.serve(v, w, r) })
		}
	}
	for _, v := range s.venues {
		if rv, ok := v.(restVenue); ok {
			p := rv.restPrefix()
			mux.Handle("GET "+p+"/", http.StripPrefix(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rv.serveREST(s, w, r) })))
		}
	}
	mux.HandleFunc("POST /faults/{exchange}/{fault}", s.serveFault)
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sim: serve", "err", err)
		}
	}()
	s.log.Info("exchange simulator listening", "addr", s.addr)
	return nil
}

// Addr returns the listening address (host:port), "" before Start.
func (s *Server) Addr() string { return s.addr }

// URL returns the WebSocket URL of ex's simulated feed ("ws://127.0.0.1:PORT/coinbase"), or ""
// if the simulator does not serve ex or has not started.
func (s *Server) URL(ex price.Exchange) string {
	if int(ex) >= len(s.venues) || s.venues[ex] == nil || s.addr == "" {
		return ""
	}
	return "ws://" + s.addr + s.venues[ex].path()
}

// RESTURL returns the base URL of ex's simulated REST API ("http://127.0.0.1:PORT/okx-rest"),
// to which the adapter's feed.RESTTicker.TickerPath is appended, or "" if the simulator does
// not serve ex's REST API or has not started.
func (s *Server) RESTURL(ex price.Exchange) string {
	if int(ex) >= len(s.venues) || s.addr == "" {
		return ""
	}
	if rv, ok := s.venues[ex].(restVenue); ok {
		return "http://" + s.addr + rv.restPrefix()
	}
	return ""
}

// restVenue is implemented by a venue that also serves its exchange's public REST API (the
// ticker endpoint the REST fallback uses) under restPrefix() ("/okx-rest") on the simulator's
// listener. Start routes GET restPrefix()+"/..." to serveREST with the prefix stripped from
// r.URL.Path. Adding an exchange's REST API is implementing these two methods in its file.
type restVenue interface {
	restPrefix() string
	serveREST(s *Server, w http.ResponseWriter, r *http.Request)
}

// Run moves the markets every TickInterval until ctx is done, and returns nil then.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.ctx.Done():
			return nil
		case <-t.C:
			if !s.paused.Load() {
				s.Step()
			}
		}
	}
}

// Step moves every market once, now, and pushes the changes to subscribers. Run calls it every
// TickInterval; tests may call it directly.
func (s *Server) Step() {
	s.mu.Lock()
	s.world.step(time.Now().UnixNano())
	s.mu.Unlock()
	s.connMu.Lock()
	for _, set := range s.conns {
		for c := range set {
			c.poke(c.notify)
		}
	}
	s.connMu.Unlock()
}

// Pause stops Run from moving the markets (quotes stay still, heartbeats continue); Resume
// starts it again. Tests pause the walk to compare what a feed delivered with Quote.
func (s *Server) Pause() { s.paused.Store(true) }

// Resume undoes Pause.
func (s *Server) Resume() { s.paused.Store(false) }

// Quote returns the simulator's current last trade, bid and ask for ex's market symbol.
func (s *Server) Quote(ex price.Exchange, symbol string) (last, bid, ask price.Value, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.world.markets[marketKey{ex, symbol}]
	if m == nil {
		return 0, 0, 0, false
	}
	return m.last, m.bid, m.ask, true
}

// Connections returns how many clients are connected to ex's feed.
func (s *Server) Connections(ex price.Exchange) int {
	if int(ex) >= len(s.conns) {
		return 0
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return len(s.conns[ex])
}

// Disconnect drops every connection to ex's feed at once (no close handshake, as when an
// exchange's load balancer goes away) and returns how many it dropped.
func (s *Server) Disconnect(ex price.Exchange) int {
	cs := s.connsOf(ex)
	for _, c := range cs {
		c.ws.CloseNow()
	}
	s.log.Info("sim fault: disconnect", "exchange", ex.String(), "connections", len(cs))
	return len(cs)
}

// Stall makes ex's feed send nothing at all (no data, no heartbeats, no acks, no pongs) for d,
// on existing and new connections, while the connections stay open.
func (s *Server) Stall(ex price.Exchange, d time.Duration) {
	if int(ex) >= len(s.stallUntil) {
		return
	}
	s.stallUntil[ex].Store(time.Now().Add(d).UnixNano())
	s.log.Info("sim fault: stall", "exchange", ex.String(), "for", d)
}

// SendMalformed sends one garbage frame on every connection to ex's feed and returns how many
// connections it was sent to.
func (s *Server) SendMalformed(ex price.Exchange) int {
	cs := s.connsOf(ex)
	for _, c := range cs {
		c.poke(c.malformed)
	}
	s.log.Info("sim fault: malformed frame", "exchange", ex.String(), "connections", len(cs))
	return len(cs)
}

// Close stops serving and drops every connection.
func (s *Server) Close() error {
	var err error
	s.closed.Do(func() {
		s.cancel()
		if s.srv != nil {
			err = s.srv.Close()
		}
		for ex := range s.conns {
			for _, c := range s.connsOf(price.Exchange(ex)) {
				c.ws.CloseNow()
			}
		}
	})
	return err
}

func (s *Server) stalled(ex price.Exchange) bool {
	return time.Now().UnixNano() < s.stallUntil[ex].Load()
}

func (s *Server) connsOf(ex price.Exchange) []*conn {
	if int(ex) >= len(s.conns) {
		return nil
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	out := make([]*conn, 0, len(s.conns[ex]))
	for c := range s.conns[ex] {
		out = append(out, c)
	}
	return out
}

// market returns ex's market symbol, or nil.
func (s *Server) market(ex price.Exchange, symbol string) *market {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.world.markets[marketKey{ex, symbol}]
}

// snap returns a consistent copy of m's values.
func (s *Server) snap(m *market) quoteSnap {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return m.snap()
}
