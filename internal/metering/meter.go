// Package metering counts every answered request exactly (DESIGN §2 point 1, §6): in memory,
// per key, Unix minute, protocol, endpoint, asset and outcome, and hands the aggregates to a
// Sink (the store) every flush interval. It never writes a row per request.
//
// Counts are exact: a count leaves memory only when the Sink has accepted it; a failed write
// puts the counts back, to be retried with the next flush. After Run's final flush returns
// nil, everything counted before it was written once. A hard kill loses at most what was
// counted since the last successful flush.
//
// Package metering keeps no package-level state and must not import the stores or any
// server package; the store implements Sink.
package metering

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Record is the number of requests one key made in one minute with one protocol, endpoint,
// asset and outcome.
type Record struct {
	KeyID    string
	Minute   int64 // Unix minute: floor(Unix seconds / 60); time.Unix(Minute*60, 0) is its start
	Protocol string
	Endpoint string
	Asset    string
	Outcome  string
	Count    int64 // > 0
}

// Sink stores usage aggregates; the store implements it. WriteUsage must be all or nothing
// (one transaction): on error Meter retries the same counts with the next flush, so a partly
// applied write would count them twice. Records for the same (key, minute, protocol,
// endpoint, asset, outcome) arrive again in later flushes and must be added to the stored
// count (upsert with count = count + excluded.count), not replace it. Within one call each
// combination appears once and records are sorted by Minute, then KeyID, Protocol, Endpoint,
// Asset and Outcome as strings, so that instances upserting concurrently take row locks in
// the same order. WriteUsage must not retain recs or modify them.
type Sink interface {
	WriteUsage(ctx context.Context, recs []Record) error
}

// Config configures a Meter.
type Config struct {
	// Sink receives the aggregates. Required.
	Sink Sink
	// ProtocolName, EndpointName, OutcomeName and AssetName turn the small integers given to
	// Add into the strings of a Record. They are called only when flushing. A nil function
	// formats the number in decimal; a nil AssetName gives "" for a negative asset index
	// (a request about no particular asset).
	ProtocolName func(uint8) string
	EndpointName func(uint8) string
	OutcomeName  func(uint8) string
	AssetName    func(int32) string
	// FlushTimeout bounds each of Run's periodic flushes, so that a hung Sink cannot stall
	// metering for good. Zero or negative means 10 s.
	FlushTimeout time.Duration
	// FinalFlushTimeout bounds Run's final flush after its context is done, retries included.
	// Zero or negative means 10 s.
	FinalFlushTimeout time.Duration
	// Logger receives throttled warnings about failed flushes. Default: discard.
	Logger *slog.Logger
}

// DefaultInterval is Run's flush interval when none is given.
const DefaultInterval = time.Second

const (
	numShards       = 64
	defaultTimeout  = 10 * time.Second
	errLogEvery     = 10 * time.Second
	maxRecycledSize = 1 << 16 // maps that held more entries are left to the GC, not reused
	finalRetryDelay = 100 * time.Millisecond
)

// counterKey is one combination counted by Add.
type counterKey struct {
	keyID    string
	minute   int64
	asset    int32
	protocol uint8
	endpoint uint8
	outcome  uint8
}

type shard struct {
	mu sync.Mutex
	m  map[counterKey]int64 // live counts; guarded by mu
	n  int64                // sum of m's counts; guarded by mu
	// spare is an emptied map to swap in at the next flush. Only Flush touches it, under
	// Meter.flushMu.
	spare map[counterKey]int64
	_     [128 - 8 - 8 - 8 - 8]byte // keep shards on separate cache lines
}

// Meter counts requests per combination in lock-sharded maps and flushes the aggregates to a
// Sink. Add, Flush, Pending and Stats are safe for concurrent use; flushes run one at a time.
type Meter struct {
	seed   maphash.Seed
	shards [numShards]shard

	sink         Sink
	protoName    func(uint8) string
	endpointName func(uint8) string
	outcomeName  func(uint8) string
	assetName    func(int32) string
	flushTimeout time.Duration
	finalTimeout time.Duration
	log          *slog.Logger

	flushMu    sync.Mutex // serialises Flush; guards the fields below it
	taken      [numShards]map[counterKey]int64
	takenN     [numShards]int64
	recs       []Record  // reused between flushes
	failing    bool      // the last flush failed
	nextErrLog time.Time // when a failure may be logged again

	inflight   atomic.Int64 // counts taken out of the shards, not yet written
	flushes    atomic.Uint64
	failures   atomic.Uint64
	recordsOut atomic.Uint64
	requested  atomic.Uint64
}

// New returns a Meter writing to cfg.Sink. It returns an error if cfg.Sink is nil.
func New(cfg Config) (*Meter, error) {
	if cfg.Sink == nil {
		return nil, errors.New("metering: nil Sink")
	}
	m := &Meter{
		seed:         maphash.MakeSeed(),
		sink:         cfg.Sink,
		protoName:    cfg.ProtocolName,
		endpointName: cfg.EndpointName,
		outcomeName:  cfg.OutcomeName,
		assetName:    cfg.AssetName,
		flushTimeout: cfg.FlushTimeout,
		finalTimeout: cfg.FinalFlushTimeout,
		log:          cfg.Logger,
	}
	if m.flushTimeout <= 0 {
		m.flushTimeout = defaultTimeout
	}
	if m.finalTimeout <= 0 {
		m.finalTimeout = defaultTimeout
	}
	if m.protoName == nil {
		m.protoName = decimal
	}
	if m.endpointName == nil {
		m.endpointName = decimal
	}
	if m.outcomeName == nil {
		m.outcomeName = decimal
	}
	if m.assetName == nil {
		m.assetName = assetDecimal
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	for i := range m.shards {
		m.shards[i].m = make(map[counterKey]int64)
	}
	return m, nil
}

func decimal(v uint8) string { return strconv.Itoa(int(v)) }

func assetDecimal(v int32) string {
	if v < 0 {
		return ""
	}
	return strconv.Itoa(int(v))
}

// MinuteOf returns the Unix minute of now (Unix nanoseconds), rounding down.
func MinuteOf(now int64) int64 {
	const minute = int64(time.Minute)
	q := now / minute
	if now%minute < 0 {
		q--
	}
	return q
}

// Add counts one answered request by keyID at now (Unix nanoseconds). protocol, endpoint,
// asset (an index, or negative for none) and outcome are the caller's codes, named at flush
// time by the Config's functions. keyID is retained until the count is flushed, so it must
// be an ordinary immutable string, not one aliasing a reused buffer.
//
// Add does not allocate once the combination has been counted in the current flush interval
// (a new combination adds a map entry; emptied maps are reused across flushes). Combinations
// are spread over 64 mutex-guarded shards by a hash of keyID, asset and endpoint, so that one
// busy key asking for many assets does not serialise on a single lock.
func (m *Meter) Add(keyID string, protocol, endpoint uint8, asset int32, outcome uint8, now int64) {
	k := counterKey{keyID: keyID, minute: MinuteOf(now), asset: asset, protocol: protocol, endpoint: endpoint, outcome: outcome}
	h := maphash.String(m.seed, keyID) ^ (uint64(uint32(asset))<<8|uint64(endpoint))*0x9e3779b97f4a7c15
	sh := &m.shards[h>>(64-6)] // the top 6 bits: 64 shards
	sh.mu.Lock()
	sh.m[k]++
	sh.n++
	sh.mu.Unlock()
}

// Pending returns the number of requests counted but not yet written to the Sink, including
// those of a write in progress. While a flush is taking the counts out of the shards the
// figure may briefly include some counts twice; it is exact when no flush is running.
func (m *Meter) Pending() int64 {
	var n int64
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += sh.n
		sh.mu.Unlock()
	}
	return n + m.inflight.Load()
}

// Stats are a Meter's counters since New.
type Stats struct {
	Flushes  uint64 // Flush calls that succeeded, including those with nothing to write
	Failures uint64 // Flush calls whose Sink write failed (the counts were kept)
	Records  uint64 // records written to the Sink
	Requests uint64 // requests written to the Sink: the sum of the written records' counts
	Pending  int64  // as Pending
}

// Stats returns the Meter's counters.
func (m *Meter) Stats() Stats {
	return Stats{
		Flushes:  m.flushes.Load(),
		Failures: m.failures.Load(),
		Records:  m.recordsOut.Load(),
		Requests: m.requested.Load(),
		Pending:  m.Pending(),
	}
}

// Flush takes the current counts out of every shard (swapping in an empty map under the
// shard's lock, so Add is blocked only for the swap) and writes them to the Sink in one
// WriteUsage call. If the Sink fails, the counts are added back into the shards, merged with
// whatever was counted meanwhile, and Flush returns the error; nothing is ever dropped.
// Flushes run one at a time; a concurrent call waits for the running one.
func (m *Meter) Flush(ctx context.Context) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()

	recs := m.recs[:0]
	var total int64
	for i := range m.shards {
		sh := &m.shards[i]
		fresh := sh.spare
		sh.spare = nil
		sh.mu.Lock()
		if sh.n == 0 {
			sh.mu.Unlock()
			sh.spare = fresh
			continue
		}
		taken, n := sh.m, sh.n
		if fresh == nil {
			fresh = make(map[counterKey]int64, len(taken))
		}
		sh.m, sh.n = fresh, 0
		m.inflight.Add(n) // before unlocking, so Pending never misses these counts
		sh.mu.Unlock()

		m.taken[i], m.takenN[i] = taken, n
		total += n
		for k, c := range taken {
			recs = append(recs, Record{
				KeyID:    k.keyID,
				Minute:   k.minute,
				Protocol: m.protoName(k.protocol),
				Endpoint: m.endpointName(k.endpoint),
				Asset:    m.assetName(k.asset),
				Outcome:  m.outcomeName(k.outcome),
				Count:    c,
			})
		}
	}
	if total == 0 {
		m.flushes.Add(1)
		return nil
	}
	slices.SortFunc(recs, compareRecords)

	err := m.sink.WriteUsage(ctx, recs)
	clear(recs) // drop the key strings
	m.recs = recs[:0]
	if err != nil {
		m.putBack()
		m.inflight.Add(-total)
		m.failures.Add(1)
		m.logFailure(ctx, err, len(recs), total)
		return fmt.Errorf("metering: write %d records (%d requests): %w", len(recs), total, err)
	}
	m.recycle()
	m.inflight.Add(-total)
	m.flushes.Add(1)
	m.recordsOut.Add(uint64(len(recs)))
	m.requested.Add(uint64(total))
	if m.failing {
		m.failing = false
		m.log.LogAttrs(ctx, slog.LevelInfo, "usage flush recovered", slog.Int("records", len(recs)), slog.Int64("requests", total))
	}
	return nil
}

// compareRecords orders records by minute, key, then the names.
func compareRecords(a, b Record) int {
	if c := cmp.Compare(a.Minute, b.Minute); c != 0 {
		return c
	}
	if c := strings.Compare(a.KeyID, b.KeyID); c != 0 {
		return c
	}
	if c := strings.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	if c := strings.Compare(a.Endpoint, b.Endpoint); c != 0 {
		return c
	}
	if c := strings.Compare(a.Asset, b.Asset); c != 0 {
		return c
	}
	return strings.Compare(a.Outcome, b.Outcome)
}

// putBack merges the taken maps back into the live shards after a failed write. Under flushMu.
func (m *Meter) putBack() {
	for i, taken := range m.taken {
		if taken == nil {
			continue
		}
		sh := &m.shards[i]
		sh.mu.Lock()
		for k, c := range taken {
			sh.m[k] += c
		}
		sh.n += m.takenN[i]
		sh.mu.Unlock()
	}
	m.recycle()
}

// recycle empties the taken maps and keeps them as the shards' spares. Under flushMu.
func (m *Meter) recycle() {
	for i, taken := range m.taken {
		if taken == nil {
			continue
		}
		if len(taken) <= maxRecycledSize {
			clear(taken)
			m.shards[i].spare = taken
		}
		m.taken[i], m.takenN[i] = nil, 0
	}
}

// logFailure logs a failed write at most once per errLogEvery. Under flushMu.
func (m *Meter) logFailure(ctx context.Context, err error, records int, requests int64) {
	m.failing = true
	if now := time.Now(); now.After(m.nextErrLog) {
		m.nextErrLog = now.Add(errLogEvery)
		m.log.LogAttrs(ctx, slog.LevelWarn, "usage flush failed; counts kept for the next flush",
			slog.Int("records", records), slog.Int64("requests", requests), slog.Int64("pending", m.Pending()),
			slog.String("error", err.Error()))
	}
}

// Run flushes every interval (DefaultInterval if interval <= 0), each flush bounded by
// Config.FlushTimeout, until ctx is done. Then it flushes once more with a fresh context
// (not derived from ctx's cancellation) bounded by Config.FinalFlushTimeout, retrying a
// failing Sink every 100 ms within that time. It returns nil once everything counted before
// the final flush is written, or the final flush's error (the counts then stay Pending; a
// later Flush may still write them). Failed periodic flushes are logged, not returned: their
// counts are retried by the next flush.
//
// Requests counted after Run returns are not flushed by it: stop the request paths before
// cancelling ctx, or call Flush afterwards.
func (m *Meter) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, m.flushTimeout)
			_ = m.Flush(fctx) // a failure is counted, logged and kept for the next flush
			cancel()
		case <-ctx.Done():
			return m.finalFlush(ctx)
		}
	}
}

func (m *Meter) finalFlush(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.finalTimeout)
	defer cancel()
	for {
		err := m.Flush(fctx)
		if err == nil {
			return nil
		}
		select {
		case <-fctx.Done():
			return fmt.Errorf("metering: final flush: %w", err)
		case <-time.After(finalRetryDelay):
		}
	}
}
