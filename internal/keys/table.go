package keys

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Source is where a Table loads keys from. The stores implement it.
type Source interface {
	// Keys returns every stored key, revoked ones included (Revoked true), in any order.
	// The caller owns the returned slice.
	Keys(ctx context.Context) ([]Key, error)
	// KeysVersion returns a number that increases whenever any key is created or changed.
	KeysVersion(ctx context.Context) (int64, error)
}

// pollTimeout bounds one poll of the Source so a hung store shows up in the log.
const pollTimeout = 5 * time.Second

// errLogEvery is how often Run logs a persisting Source error.
const errLogEvery = 10 * time.Second

// snapshot is one immutable generation of the table.
type snapshot struct {
	version int64 // Source.KeysVersion read before the keys were loaded
	byHash  map[[32]byte]*Key
}

// Table is an in-memory map from key hash to Key, loaded from a Source and refreshed by Run
// when the Source's version changes. Lookups read an immutable snapshot through an atomic
// pointer and never lock or allocate. A Table is safe for concurrent use.
type Table struct {
	src     Source
	log     *slog.Logger
	snap    atomic.Pointer[snapshot] // nil until the first successful load
	errLog  throttle
	failing atomic.Bool // the last poll failed; log when it recovers
}

// NewTable returns an empty Table that loads from src and logs to log. Call Load before
// serving and Run to keep it fresh; until the first load every Lookup misses.
func NewTable(src Source, log *slog.Logger) *Table {
	return &Table{src: src, log: log, errLog: throttle{every: errLogEvery}}
}

// Load loads every key from the Source and replaces the snapshot. On error the previous
// snapshot stays in place.
func (t *Table) Load(ctx context.Context) error {
	// Read the version first: a change that lands between the two reads is then either in
	// the keys already or seen as a newer version on the next poll, never lost.
	v, err := t.src.KeysVersion(ctx)
	if err != nil {
		return fmt.Errorf("load keys: read version: %w", err)
	}
	ks, err := t.src.Keys(ctx)
	if err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	m := make(map[[32]byte]*Key, len(ks))
	for i := range ks {
		m[ks[i].Hash] = &ks[i]
	}
	t.snap.Store(&snapshot{version: v, byHash: m})
	if t.log.Enabled(ctx, slog.LevelDebug) {
		t.log.LogAttrs(ctx, slog.LevelDebug, "keys loaded",
			slog.Int("keys", len(m)), slog.Int64("version", v))
	}
	return nil
}

// Run polls the Source's version every interval (serve uses 250ms) and reloads all keys when it
// changed, until ctx is done; then it returns nil. Source errors are logged, at most once per
// 10s, and the previous snapshot keeps serving. If nothing has been loaded yet, the first poll
// loads.
func (t *Table) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("run key table: poll interval %v is not positive", interval)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		err := t.poll(ctx)
		switch {
		case err == nil:
			if t.failing.Swap(false) {
				t.log.LogAttrs(ctx, slog.LevelInfo, "key store reachable again")
			}
		case ctx.Err() != nil:
			return nil // shutting down: the error is the cancellation
		default:
			t.failing.Store(true)
			if t.errLog.Allow(time.Now()) {
				t.log.LogAttrs(ctx, slog.LevelWarn, "key refresh failed, serving previous keys",
					slog.String("err", err.Error()))
			}
		}
	}
}

// poll reloads the table if the Source's version differs from the snapshot's.
func (t *Table) poll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	if s := t.snap.Load(); s != nil {
		v, err := t.src.KeysVersion(ctx)
		if err != nil {
			return fmt.Errorf("poll keys version: %w", err)
		}
		if v == s.version {
			return nil
		}
	}
	return t.Load(ctx)
}

// Lookup returns the key whose plaintext is presented, revoked or not (check Key.Revoked), or
// false if there is none. The Key is shared and must not be modified. Lookup does not allocate
// or retain presented.
func (t *Table) Lookup(presented []byte) (*Key, bool) {
	s := t.snap.Load()
	if s == nil {
		return nil, false
	}
	k, ok := s.byHash[HashOf(presented)]
	return k, ok
}

// Len returns the number of keys in the current snapshot, revoked ones included.
func (t *Table) Len() int {
	if s := t.snap.Load(); s != nil {
		return len(s.byHash)
	}
	return 0
}

// Version returns the Source version of the current snapshot, or -1 before the first load.
func (t *Table) Version() int64 {
	if s := t.snap.Load(); s != nil {
		return s.version
	}
	return -1
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
