package lrs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/store"
)

// KeyLookup finds a key by its presented plaintext; *keys.Table implements it. Lookup must
// return revoked keys too (with Revoked set) and must not retain presented.
type KeyLookup interface {
	Lookup(presented []byte) (*keys.Key, bool)
}

// Config configures a Service.
type Config struct {
	// Store holds the usage and the report log. Required.
	Store store.UsageStore
	// Keys authenticates the presented keys. Required.
	Keys KeyLookup
	// Tier returns the tier called name; nil means limits.DefaultTiers. A key whose tier it
	// does not know gets 500 internal_error.
	Tier func(name string) (limits.Tier, bool)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives store failures (throttled) and retention runs; nil discards.
	Logger *slog.Logger
}

// storeTimeout bounds the store work of one report.
const storeTimeout = 20 * time.Second

// Service builds reports for authenticated keys and enforces the report allowance. The HTTP
// and UDP servers share one. It is safe for concurrent use.
type Service struct {
	store store.UsageStore
	keys  KeyLookup
	tier  func(string) (limits.Tier, bool)
	now   func() time.Time
	log   *slog.Logger
	locks keyLocks
	warn  throttle // store failure logging
}

// New returns a Service for cfg. It panics if cfg.Store or cfg.Keys is nil (a wiring bug).
func New(cfg Config) *Service {
	if cfg.Store == nil || cfg.Keys == nil {
		panic("BUG: lrs.New without a Store or Keys")
	}
	s := &Service{store: cfg.Store, keys: cfg.Keys, tier: cfg.Tier, now: cfg.Now, log: cfg.Logger,
		warn: throttle{every: 10 * time.Second}}
	if s.tier == nil {
		s.tier = limits.NewTierTable(nil).Get
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.locks.m = make(map[string]*keyLock)
	return s
}

// encoder turns a built report into the answer's bytes in format (validated). It returns an
// error instead when the answer cannot be sent (UDP: too large for the request or for a
// datagram); the report then does not count against the allowance.
type encoder func(rep report, format string) ([]byte, *Error)

// run serves one report request: it authenticates the presented key, validates q, checks the
// report allowance, builds the report, encodes it with enc and logs it. It returns the encoded
// answer and the report, or the error to answer. It does not retain presented.
func (s *Service) run(ctx context.Context, presented []byte, q query, enc encoder) ([]byte, report, *Error) {
	now := s.now().UTC().Truncate(time.Microsecond) // stores keep report times to the µs
	k, e := s.authorize(presented, q.protocol)
	if e != nil {
		return nil, nil, e
	}
	if q.keyID != "" && q.keyID != k.ID {
		return nil, nil, errKeyMismatch
	}
	p, e := parseQuery(q, now)
	if e != nil {
		return nil, nil, e
	}
	tier, ok := s.tier(k.Tier)
	if !ok {
		s.log.LogAttrs(ctx, slog.LevelError, "report for a key of an unknown tier",
			slog.String("key_id", k.ID), slog.String("tier", k.Tier))
		return nil, nil, errTierUnknown
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()

	// The allowance check, the report and the log write run under the key's lock so that two
	// concurrent calls cannot both take the last report of the month.
	before := -1 // delivered reports this month before this one, when counted
	if allowance := tier.ReportsPerMonth; allowance > 0 {
		unlock, err := s.locks.lock(ctx, k.ID)
		if err != nil {
			return nil, nil, s.storeErr(ctx, "wait for the key's previous report", err)
		}
		defer unlock()
		m := limits.MonthOf(now)
		// Only delivered reports are logged, so the month holds at most `allowance` logs
		// unless several instances raced; reading that many answers the question.
		logs, err := s.store.ReportLogs(ctx, k.ID, m.Start(), m.Next().Start(), allowance)
		if err != nil {
			return nil, nil, s.storeErr(ctx, "count reports", err)
		}
		if len(logs) >= allowance {
			return nil, nil, errQuota(allowance, m.String(), secondsUntil(now, m.Next().Start()))
		}
		before = len(logs)
	}

	rep, e := s.build(ctx, k, tier, p, now, before)
	if e != nil {
		return nil, nil, e
	}
	body, e := enc(rep, p.format)
	if e != nil {
		return nil, nil, e
	}
	if _, err := s.store.LogReport(ctx, store.ReportLog{
		At: now, KeyID: k.ID, Report: p.report, Format: p.format, Protocol: q.protocol, Status: 200,
	}); err != nil {
		return nil, nil, s.storeErr(ctx, "log report", err)
	}
	return body, rep, nil
}

// authorize returns the key presented, or the error to answer.
func (s *Service) authorize(presented []byte, protocol string) (*keys.Key, *Error) {
	if len(presented) == 0 {
		if protocol == protoUDP {
			return nil, errMissingKeyUDP
		}
		return nil, errMissingKey
	}
	k, ok := s.keys.Lookup(presented)
	if !ok {
		return nil, errUnknownKey
	}
	if k.Revoked {
		return nil, errKeyRevoked
	}
	return k, nil
}

// storeErr logs a store failure (throttled, and not when the client went away) and returns
// the error to answer.
func (s *Service) storeErr(ctx context.Context, doing string, err error) *Error {
	if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		if s.warn.Allow(time.Now()) {
			s.log.LogAttrs(ctx, slog.LevelWarn, "report store failed",
				slog.String("op", doing), slog.String("err", err.Error()))
		}
	}
	return errStore
}

// secondsUntil returns the whole seconds from now until t, rounded up, at least 1.
func secondsUntil(now, t time.Time) int64 {
	d := t.Sub(now)
	return max(int64((d+time.Second-1)/time.Second), 1)
}

// keyLocks is a set of per-key mutexes that can be waited for with a context. Entries exist
// only while some call holds or waits for them.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	token chan struct{} // holds one value while the lock is held
	refs  int           // holders and waiters, guarded by keyLocks.mu
}

// lock locks id's mutex, waiting at most until ctx is done, and returns the unlock function.
func (l *keyLocks) lock(ctx context.Context, id string) (func(), error) {
	l.mu.Lock()
	kl := l.m[id]
	if kl == nil {
		kl = &keyLock{token: make(chan struct{}, 1)}
		l.m[id] = kl
	}
	kl.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if kl.refs--; kl.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
	select {
	case kl.token <- struct{}{}:
		return func() { <-kl.token; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// throttle allows one event per interval; safe for concurrent use.
type throttle struct {
	every time.Duration
	next  atomic.Int64 // unix nanos
}

// Allow reports whether an event at now may go ahead, and if so starts a new interval.
func (t *throttle) Allow(now time.Time) bool {
	n := t.next.Load()
	return now.UnixNano() >= n && t.next.CompareAndSwap(n, now.Add(t.every).UnixNano())
}
