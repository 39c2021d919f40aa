package store

import (
	"context"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/metering"
	"github.com/trinityprice/trinity/internal/store/usage"
)

// The types below are defined in package usage, so that the backends (which package store
// imports, and which therefore cannot import it) can use them; these are the same types
// under the names the rest of Trinity uses.

// Retention is how long per-minute usage and report logs are kept (93 days).
const Retention = usage.Retention

// MaxLimit is the largest page a UsageQuery or a ReportLogs call may ask for (10,000).
const MaxLimit = usage.MaxLimit

// QuotaOutcomes are the request outcomes that count against a key's monthly quota: every
// request admitted past authentication and the limits, whatever it answered ("ok", "stale",
// "bad_request", "not_found", "unavailable"). The others (unauthorized, forbidden,
// rate_limited, quota_exceeded) are metered but free. It is usage.QuotaOutcomes, which the
// backends read: do not modify it.
var QuotaOutcomes = usage.QuotaOutcomes

// UsageQuery selects per-minute usage rows of one key (see usage.Query).
type UsageQuery = usage.Query

// UsageRow is one aggregate: requests of one key in one minute with one protocol, endpoint,
// asset and outcome (see usage.Row).
type UsageRow = usage.Row

// DayUsage is one key's requests on one UTC day (see usage.Day).
type DayUsage = usage.Day

// ReportLog is one LRS request of a key, for /reports/report-usage (see usage.ReportLog).
type ReportLog = usage.ReportLog

// UsageStore keeps metered usage and the report service's own log. Errors for arguments
// that cannot be valid wrap ErrInvalid.
type UsageStore interface {
	// WriteUsage adds the records' counts to the stored per-minute aggregates (an upsert that
	// adds, so several instances and repeated flushes of disjoint counts sum up; records for
	// the same row within one call add up too). It is atomic: on error nothing was written.
	// A record with an empty KeyID, a negative Minute, a Count ≤ 0 or text that is not
	// UTF-8 without NUL makes the whole call fail with ErrInvalid. It implements
	// metering.Sink.
	WriteUsage(ctx context.Context, recs []metering.Record) error
	// MonthUsage returns, per key ID, the requests of month m counting against the quota
	// (outcomes in QuotaOutcomes); keys without such requests are absent. Instances seed
	// their quota counters from it.
	MonthUsage(ctx context.Context, m limits.MonthID) (map[string]int64, error)
	// Usage returns one page of a key's per-minute rows ordered by minute, then protocol,
	// endpoint, asset and outcome compared as byte strings, and the cursor of the next page
	// ("" when this is the last). The cursor is opaque and URL-safe. An empty or non-UTF-8
	// KeyID, a Limit outside 1..MaxLimit or a malformed Cursor is ErrInvalid.
	Usage(ctx context.Context, q UsageQuery) (rows []UsageRow, nextCursor string, err error)
	// DailyUsage returns a key's totals per UTC day with any usage in [from, to) (minutes
	// whose start is in it; zero times are unbounded), in order.
	DailyUsage(ctx context.Context, keyID string, from, to time.Time) ([]DayUsage, error)
	// LogReport records one LRS request and returns how many report requests the key has
	// made in the UTC month of r.At, this one included (the monthly report allowance).
	// Concurrent calls for one key get distinct counts.
	LogReport(ctx context.Context, r ReportLog) (monthCount int, err error)
	// ReportLogs returns a key's report requests in [from, to) (zero times are unbounded),
	// newest first, at most limit (1..MaxLimit, else ErrInvalid).
	ReportLogs(ctx context.Context, keyID string, from, to time.Time, limit int) ([]ReportLog, error)
	// PruneUsage deletes usage rows of minutes starting before before, and report logs older
	// than before, and returns how many rows went.
	PruneUsage(ctx context.Context, before time.Time) (int64, error)
}

// TierStore keeps the tier table (DESIGN §6), seeded with limits.DefaultTiers.
type TierStore interface {
	// Tiers returns every tier, ordered by name.
	Tiers(ctx context.Context) ([]limits.Tier, error)
	// PutTier creates or replaces a tier and bumps the keys version (so instances reload).
	// Its Name must be 1..64 bytes of UTF-8 without NUL, its numbers ≥ 0 (QPS finite), else
	// ErrInvalid. MinWait is stored to the microsecond, truncated.
	PutTier(ctx context.Context, t limits.Tier) error
}

// KeyAdmin changes existing keys; each change bumps the keys version (setting the value a
// key already has changes nothing and does not). They return the key as changed.
type KeyAdmin interface {
	// SetKeyTier moves a key to another tier (which must exist). Errors as RevokeKey, and
	// ErrInvalid for an unknown tier.
	SetKeyTier(ctx context.Context, idOrPrefix, tier string) (keys.Key, error)
	// SetKeyQuota sets a key's monthly quota override (0: the tier's). Errors as RevokeKey,
	// and ErrInvalid for a negative quota.
	SetKeyQuota(ctx context.Context, idOrPrefix string, quota int64) (keys.Key, error)
}

// Ensure the store implements the metering sink.
var _ metering.Sink = UsageStore(nil)
