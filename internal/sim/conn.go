package sim

import (
	"context"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/trinityprice/trinity/internal/price"
)

// venue is one simulated exchange: where it listens and how it speaks.
type venue interface {
	exchange() price.Exchange
	// path is the URL path of the feed on the simulator's listener ("/coinbase").
	path() string
	// subscribeWithin is how soon a client must subscribe before the venue closes the
	// connection; 0 means no such rule.
	subscribeWithin(o *Options) time.Duration
	// newHandler returns the protocol state of one new connection.
	newHandler(c *conn) handler
}

// handler is the protocol state of one connection. All methods run on the connection's one
// goroutine, so they may use c freely; an error closes the connection.
type handler interface {
	// open runs once after the WebSocket handshake (Kraken sends its status message here).
	open() error
	// request handles one frame from the client (subscribe, ping, ...).
	request(frame []byte) error
	// moved pushes the markets that changed since they were last sent (c.changed).
	moved() error
	// heartbeat runs every HeartbeatInterval.
	heartbeat() error
}

// conn is one client connection to a venue.
type conn struct {
	s   *Server
	ex  price.Exchange
	ws  *websocket.Conn
	ctx context.Context

	notify    chan struct{} // markets moved
	malformed chan struct{} // fault: send one garbage frame

	// subscribed records that the client has subscribed to something (subscribe deadline).
	subscribed bool
	// subs are the subscribed markets and the version last sent for each; order keeps pushes
	// in subscription order.
	subs  map[*market]uint64
	order []*market
	// lastWrite is when a frame was last sent (Kraken sends heartbeats only when idle).
	lastWrite time.Time
}

// poke does a non-blocking send on ch (capacity 1), coalescing repeated signals.
func (c *conn) poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// writeTimeout bounds writing one frame to a client; a client that cannot take a frame in
// this time is dropped.
const writeTimeout = 5 * time.Second

// write sends one text frame, unless the venue is stalled (then the frame is dropped).
func (c *conn) write(b []byte) error {
	if c.s.stalled(c.ex) {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
	defer cancel()
	c.lastWrite = time.Now()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// subscribe adds m to the subscriptions and reports whether it is new.
func (c *conn) subscribe(m *market) bool {
	if _, ok := c.subs[m]; ok {
		return false
	}
	c.subs[m] = 0
	c.order = append(c.order, m)
	c.subscribed = true
	return true
}

// unsubscribe removes m from the subscriptions.
func (c *conn) unsubscribe(m *market) {
	if _, ok := c.subs[m]; !ok {
		return
	}
	delete(c.subs, m)
	for i, o := range c.order {
		if o == m {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
}

// changed calls f for every subscribed market whose values changed since they were last
// marked sent, with a snapshot of the values, and marks them sent when f succeeds.
func (c *conn) changed(f func(m *market, q quoteSnap) error) error {
	for _, m := range c.order {
		q := c.s.snap(m)
		if q.version == c.subs[m] {
			continue
		}
		if err := f(m, q); err != nil {
			return err
		}
		c.subs[m] = q.version
	}
	return nil
}

// markSent records that q's values of m went out (with a snapshot). While the venue is
// stalled nothing goes out, so nothing is marked.
func (c *conn) markSent(m *market, q quoteSnap) {
	if !c.s.stalled(c.ex) {
		c.subs[m] = q.version
	}
}

// garbage is the frame SendMalformed sends: truncated JSON that every adapter must reject.
var garbage = []byte(`{"channel":"ticker","type":"update","events":[{"tickers":[{"product_id":"BTC-USD","price":"1`)

// serve runs one client connection of venue v until it ends.
func (s *Server) serve(v venue, w http.ResponseWriter, r *http.Request) {
	if s.refused(v.exchange(), w) {
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 16)
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	c := &conn{
		s: s, ex: v.exchange(), ws: ws, ctx: ctx,
		notify:    make(chan struct{}, 1),
		malformed: make(chan struct{}, 1),
		subs:      map[*market]uint64{},
	}
	s.connMu.Lock()
	s.conns[c.ex][c] = struct{}{}
	s.connMu.Unlock()
	defer func() {
		s.connMu.Lock()
		delete(s.conns[c.ex], c)
		s.connMu.Unlock()
	}()
	log := s.log.With("exchange", c.ex.String(), "remote", r.RemoteAddr)
	log.Debug("sim: client connected")

	in := make(chan []byte, 16)
	go func() {
		defer cancel()
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			select {
			case in <- b:
			case <-ctx.Done():
				return
			}
		}
	}()

	h := v.newHandler(c)
	if err := h.open(); err != nil {
		return
	}
	hb := time.NewTicker(s.opts.HeartbeatInterval)
	defer hb.Stop()
	var deadline <-chan time.Time
	if d := v.subscribeWithin(&s.opts); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		deadline = t.C
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case b := <-in:
			err = h.request(b)
		case <-c.notify:
			if !s.stalled(c.ex) { // while stalled, changes wait and go out afterwards
				err = h.moved()
			}
		case <-hb.C:
			if !s.stalled(c.ex) {
				err = h.heartbeat()
			}
		case <-c.malformed:
			err = c.write(garbage)
		case <-deadline:
			if !c.subscribed {
				log.Debug("sim: no subscription in time; closing")
				ws.Close(websocket.StatusPolicyViolation, "subscribe within the deadline")
				return
			}
		}
		if err != nil {
			log.Debug("sim: connection ends", "err", err)
			return
		}
	}
}
