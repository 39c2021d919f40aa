// Package feed is the framework that keeps live prices flowing in from exchange WebSocket
// feeds. Each exchange is one small package (feed/coinbase, feed/kraken, ...) that implements
// Protocol: how to subscribe, how to keep the connection alive and how to decode a frame into
// price ticks. Runner does everything else for every exchange in the same way: it splits the
// symbols over connections, dials, subscribes, reads frames into a reused buffer, detects idle
// connections, sends keep-alive pings, reconnects with capped, jittered exponential backoff,
// and counts what happened (Status and Prometheus metrics).
package feed

import (
	"time"

	"github.com/trinityprice/trinity/internal/price"
)

// Limits are an exchange's connection rules, as its adapter reports them. All durations are
// wall-clock time; a zero field means "no such rule" (or, in RunnerConfig.Limits, "use the
// protocol's value").
type Limits struct {
	// SymbolsPerConn is the most symbols one connection subscribes to; the runner opens
	// ceil(len(symbols)/SymbolsPerConn) connections. 0 means no limit (one connection).
	SymbolsPerConn int
	// SymbolsPerMessage is the most symbols one subscribe message carries; the session
	// chunks its Subscribe frames by it. 0 means no limit.
	SymbolsPerMessage int
	// PingInterval is how often the runner sends the session's Ping frame, or a WebSocket
	// ping control frame when the session has no application-level ping. 0 disables pings.
	PingInterval time.Duration
	// IdleTimeout is how long a connection may go without any data frame before the runner
	// drops it and reconnects. 0 disables idle detection (not recommended).
	IdleTimeout time.Duration
	// SubscribeDeadline is how soon after connecting the exchange wants the subscribe
	// messages; the runner sends them at once (after SubscribeDelay) and gives up on the
	// connection if writing them takes longer. 0 means the runner's default (10 s).
	SubscribeDeadline time.Duration
	// SubscribeDelay is how long the runner waits after connecting before it sends the
	// subscribe messages, for exchanges that refuse requests sent too soon (Crypto.com counts
	// its rate limit from the calendar second the connection opened and answers anything sent
	// within it with TOO_MANY_REQUESTS). Frames that arrive during the wait are read and
	// answered once the subscribe messages are out. 0 means no wait.
	SubscribeDelay time.Duration
}

// Protocol is one exchange's WebSocket market-data protocol. Implementations are stateless
// and safe for concurrent use; per-connection state lives in a Session.
type Protocol interface {
	// Exchange is the exchange this protocol speaks to.
	Exchange() price.Exchange
	// DefaultURL is the exchange's public market-data endpoint.
	DefaultURL() string
	// Limits are the exchange's connection rules.
	Limits() Limits
	// NewSession starts the state of one connection that subscribes to symbols (already
	// limited to Limits().SymbolsPerConn). The session may keep symbols (strings are
	// immutable) but not the slice, and emits ticks carrying these very strings.
	NewSession(symbols []string) Session
}

// Session is the protocol state of one WebSocket connection. The runner calls Subscribe once
// after connecting, then Handle for every frame from one goroutine; Ping may be called from
// another goroutine at the same time as Handle, so it must be safe for that.
type Session interface {
	// Subscribe returns the frames to send right after connecting, in order, already chunked
	// per the exchange's rules.
	Subscribe() [][]byte
	// Ping returns an application-level keep-alive frame, or nil if the exchange has none
	// (the runner then sends a WebSocket ping instead).
	Ping() []byte
	// Handle decodes one frame received at received (Unix nanoseconds), passes every price
	// update in it to sink, and returns an optional frame to send back (for example the answer
	// to a server heartbeat). Emitted ticks carry the session's own symbol strings. Handle must
	// not retain frame; the returned reply is only valid until the next call. An error means the
	// frame was malformed or reported a problem; the runner counts it and keeps reading.
	Handle(frame []byte, received int64, sink price.Sink) (reply []byte, err error)
}

// Chunk splits symbols into consecutive groups of at most n (n <= 0: one group). The groups
// share symbols' backing array. Chunk of no symbols is nil.
func Chunk(symbols []string, n int) [][]string {
	if len(symbols) == 0 {
		return nil
	}
	if n <= 0 || n >= len(symbols) {
		return [][]string{symbols[:len(symbols):len(symbols)]}
	}
	out := make([][]string, 0, (len(symbols)+n-1)/n)
	for len(symbols) > 0 {
		k := min(n, len(symbols))
		out = append(out, symbols[:k:k])
		symbols = symbols[k:]
	}
	return out
}

// Intern returns a map from each symbol to itself, so a decoder can turn the symbol bytes of a
// frame into the session's own string with m[string(b)] (which does not allocate).
func Intern(symbols []string) map[string]string {
	m := make(map[string]string, len(symbols))
	for _, s := range symbols {
		m[s] = s
	}
	return m
}
