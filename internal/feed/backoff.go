package feed

import (
	"math/rand/v2"
	"time"
)

// Reconnect and stagger defaults (RunnerConfig fields left zero take these).
const (
	// DefaultBackoffBase is the nominal delay before the first reconnect.
	DefaultBackoffBase = 500 * time.Millisecond
	// DefaultBackoffCap bounds the nominal delay: 500 ms, 1 s, 2 s, ... 16 s, 30 s, 30 s, ...
	DefaultBackoffCap = 30 * time.Second
	// DefaultHealthyAfter is how long a connection must have stayed up for the next failure to
	// start again from DefaultBackoffBase.
	DefaultHealthyAfter = 30 * time.Second
	// DefaultConnectSpacing spaces the first dials of one runner's connections: connection i
	// first dials after StartDelay + i×spacing + a random [0, spacing). 500 ms keeps a runner
	// under Coinbase's 8 connections (and messages) per second per IP.
	DefaultConnectSpacing = 500 * time.Millisecond
	// DefaultDialTimeout bounds the TCP+TLS+WebSocket handshake.
	DefaultDialTimeout = 10 * time.Second
	// DefaultSubscribeDeadline bounds writing the subscribe frames when the protocol names
	// no deadline of its own.
	DefaultSubscribeDeadline = 10 * time.Second
	// DefaultMaxFrameSize is the largest frame the runner reads (1 MiB); a larger one is
	// counted as a decode error and the connection is re-established.
	DefaultMaxFrameSize = 1 << 20
)

// Backoff computes reconnect delays: the nominal delay doubles from Base on every failure up
// to Cap, and the actual delay is drawn uniformly from [nominal/2, nominal] ("equal jitter"),
// so connections that failed together spread out but a failing exchange is never retried
// faster than half the nominal delay. The zero value uses the defaults. Not safe for
// concurrent use; each connection has its own.
type Backoff struct {
	Base, Cap time.Duration
	attempt   int
}

// Next returns the delay before the next attempt and advances the schedule.
func (b *Backoff) Next() time.Duration {
	d := backoffDelay(b.Base, b.Cap, b.attempt, rand.Float64())
	if b.attempt < 62 {
		b.attempt++
	}
	return d
}

// Reset starts the schedule again from Base, after a connection proved healthy.
func (b *Backoff) Reset() { b.attempt = 0 }

// backoffDelay is the delay for the attempt-th consecutive failure (0-based) given r in [0, 1).
func backoffDelay(base, ceiling time.Duration, attempt int, r float64) time.Duration {
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if ceiling <= 0 {
		ceiling = DefaultBackoffCap
	}
	if ceiling < base {
		ceiling = base
	}
	d := base
	for i := 0; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	half := d / 2
	return half + time.Duration(r*float64(d-half))
}

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}
