// Package lpo is the price-query service (the "listener price oracle") shared by the HTTP
// and UDP front ends: it authenticates keys, looks up pre-built answers, assembles batches and
// counts every finished request. Transports parse their own wire format and call in here, so
// both answer exactly alike. Nothing in here allocates per request.
package lpo

import (
	"io"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/trinityprice/trinity/internal/histogram"
	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/metering"
	"github.com/trinityprice/trinity/internal/price"
)

// Protocol is the transport a request came in on.
type Protocol uint8

// Protocols.
const (
	HTTP Protocol = iota
	UDP
	numProtocols
)

var protocolNames = [numProtocols]string{"http", "udp"}

// String returns the protocol's metric label.
func (p Protocol) String() string { return protocolNames[p] }

// Endpoint is the operation a request asked for.
type Endpoint uint8

// Endpoints.
const (
	EndpointPrice Endpoint = iota
	EndpointPrices
	EndpointAssets
	EndpointExchanges
	EndpointOther
	numEndpoints
)

var endpointNames = [numEndpoints]string{"price", "prices", "assets", "exchanges", "other"}

// String returns the endpoint's metric label.
func (e Endpoint) String() string { return endpointNames[e] }

// KeyTable looks up presented API keys; keys.Table implements it.
type KeyTable interface {
	Lookup(presented []byte) (*keys.Key, bool)
}

// Config wires a Service.
type Config struct {
	Book    *price.Book
	Keys    KeyTable
	Metrics *metrics.Set // where request counters are registered; nil means a private set
	// Limiter and Tiers enforce rate limits and quotas; nil Limiter admits everything.
	Limiter *limits.Limiter
	Tiers   *limits.TierTable
	// Meter counts every finished request of a known key for usage reports; nil: none.
	Meter *metering.Meter
}

// Service answers price queries. It is safe for concurrent use.
type Service struct {
	book *price.Book
	keys KeyTable
	// cachedKeys is keys when it can look up through a per-reader cache, else nil.
	cachedKeys cachedKeyTable
	limiter    *limits.Limiter
	tiers      *limits.TierTable
	meter      *metering.Meter
	requests   [numProtocols][numEndpoints][numOutcomes]*metrics.Counter
	latency    [numProtocols]*histogram.Histogram
	answered   atomic.Uint64
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{book: cfg.Book, keys: cfg.Keys, limiter: cfg.Limiter, tiers: cfg.Tiers, meter: cfg.Meter}
	s.cachedKeys, _ = cfg.Keys.(cachedKeyTable)
	if s.limiter != nil && s.tiers == nil {
		s.tiers = limits.NewTierTable(nil)
	}
	set := cfg.Metrics
	if set == nil {
		set = metrics.NewSet()
	}
	for p := range numProtocols {
		for e := range numEndpoints {
			for o := range numOutcomes {
				s.requests[p][e][o] = set.NewCounter(`trinity_requests_total{protocol="` + p.String() +
					`",endpoint="` + e.String() + `",outcome="` + o.String() + `"}`)
			}
		}
		s.latency[p] = histogram.New("trinity_request_duration_seconds", `protocol="`+p.String()+`"`, nil)
	}
	set.RegisterMetricsWriter(func(w io.Writer) {
		for _, h := range s.latency {
			h.WritePrometheus(w)
		}
	})
	return s
}

// Book returns the price book the service answers from.
func (s *Service) Book() *price.Book { return s.book }

// cachedKeyTable is a KeyTable that can look keys up through a per-reader cache
// (keys.Table does).
type cachedKeyTable interface {
	LookupCached(c *keys.Cache, presented []byte) (*keys.Key, bool)
}

// Authorize checks a presented API key. It returns ErrMissingKey for an empty key,
// ErrUnknownKey and ErrRevokedKey as named. It does not allocate.
func (s *Service) Authorize(presented []byte) (*keys.Key, *Error) {
	return s.AuthorizeCached(presented, nil)
}

// AuthorizeCached is Authorize through c, a cache owned by the calling reader goroutine: a key
// presented again skips its SHA-256. With a nil c, or a key table without a cache, it looks
// the key up directly.
func (s *Service) AuthorizeCached(presented []byte, c *keys.Cache) (*keys.Key, *Error) {
	if len(presented) == 0 {
		return nil, ErrMissingKey
	}
	var k *keys.Key
	var found bool
	if c != nil && s.cachedKeys != nil {
		k, found = s.cachedKeys.LookupCached(c, presented)
	} else {
		k, found = s.keys.Lookup(presented)
	}
	if !found {
		return nil, ErrUnknownKey
	}
	if k.Revoked {
		return k, ErrRevokedKey
	}
	return k, nil
}

// Price returns the book index and published answer for one asset name
// (case-insensitive), or ErrMissingAsset, ErrBadAsset, ErrUnknownAsset (index AssetNone) or
// ErrNoPrice. It does not allocate.
func (s *Service) Price(asset []byte) (int, *price.Answer, *Error) {
	if len(asset) == 0 {
		return AssetNone, nil, ErrMissingAsset
	}
	if !validAssetName(asset) {
		return AssetNone, nil, ErrBadAsset
	}
	i, ans := s.book.Lookup(asset)
	if i < 0 {
		return AssetNone, nil, ErrUnknownAsset
	}
	if ans == nil {
		return i, nil, ErrNoPrice
	}
	return i, ans, nil
}

// Asset values for Done besides book indexes.
const (
	AssetNone  = -1 // the request named no known asset
	AssetBatch = -2 // a batch: metered once, as asset "*"
)

// AssetName names an asset index for usage records: the asset, "" or "*".
func (s *Service) AssetName(i int32) string {
	switch {
	case i == AssetBatch:
		return "*"
	case i < 0 || int(i) >= s.book.Len():
		return ""
	}
	return s.book.Name(int(i))
}

// Done records a finished request that named no asset (see DoneAsset).
func (s *Service) Done(k *keys.Key, p Protocol, e Endpoint, o Outcome, start time.Time) {
	s.DoneAsset(k, p, e, o, AssetNone, start)
}

// DoneAsset records a finished request: the request counters and latency histogram, and,
// for a known key, one count in the usage meter under (key, minute, protocol, endpoint,
// asset, outcome). asset is a book index, AssetNone or AssetBatch. start is when the request
// was read. It does not allocate once the meter has seen the combination this minute.
func (s *Service) DoneAsset(k *keys.Key, p Protocol, e Endpoint, o Outcome, asset int, start time.Time) {
	s.requests[p][e][o].Inc()
	now := time.Now()
	s.latency[p].Observe(now.Sub(start))
	if o <= OutcomeStale {
		s.answered.Add(1)
	}
	if k != nil && s.meter != nil {
		s.meter.Add(k.ID, uint8(p), uint8(e), int32(asset), uint8(o), now.UnixNano())
	}
}

// Answered returns how many price requests were answered successfully.
func (s *Service) Answered() uint64 { return s.answered.Load() }

// Latency returns the request-latency histogram of protocol p.
func (s *Service) Latency(p Protocol) *histogram.Histogram { return s.latency[p] }

// validAssetName reports whether b looks like an asset name: 1–24 of [A-Za-z0-9._-].
func validAssetName(b []byte) bool {
	if len(b) == 0 || len(b) > 24 {
		return false
	}
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// OutcomeOf returns the outcome of an answer served successfully.
func OutcomeOf(a *price.Answer) Outcome {
	if a.Stale {
		return OutcomeStale
	}
	return OutcomeOK
}
