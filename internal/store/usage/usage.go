// Package usage holds the types, limits and checks of the store's usage, report-log and tier
// methods (store.UsageStore, store.TierStore), shared by package store, which re-exports the
// types under its own names (store.UsageQuery is usage.Query), and by the backends, which
// cannot import package store (it imports them). It also defines the opaque page cursor, so
// that every backend hands out the same cursors.
//
// Package usage must not import internal/store or its backends.
package usage

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/metering"
)

// Retention is how long per-minute usage and report logs are kept (93 days).
const Retention = 93 * 24 * time.Hour

// MaxLimit is the largest page a Usage query or a ReportLogs call may ask for.
const MaxLimit = 10_000

// QuotaOutcomes are the request outcomes that count against a key's monthly quota: every
// request admitted past authentication and the limits, whatever it answered. The others
// (unauthorized, forbidden, rate_limited, quota_exceeded) are metered but free. Callers must
// not modify it.
var QuotaOutcomes = []string{"ok", "stale", "bad_request", "not_found", "unavailable"}

// Query selects per-minute usage rows of one key.
type Query struct {
	KeyID string
	// From and To bound the minutes, From inclusive, To exclusive; zero means unbounded. A
	// minute is selected when its start is in [From, To).
	From, To time.Time
	// Limit is the page size (1..MaxLimit). Cursor continues after the last row of the
	// previous page (the NextCursor it returned); "" starts at the beginning.
	Limit  int
	Cursor string
}

// Row is one aggregate: requests of one key in one minute with one protocol, endpoint, asset
// and outcome.
type Row struct {
	Minute   time.Time // start of the minute, UTC
	Protocol string
	Endpoint string
	Asset    string // "" for requests without an asset (batches count once, asset "*")
	Outcome  string
	Count    int64
}

// Day is one key's requests on one UTC day.
type Day struct {
	Day      time.Time // 00:00 UTC
	Requests int64     // every metered request
	Quota    int64     // requests counting against the quota (QuotaOutcomes)
}

// ReportLog is one LRS request of a key, for /reports/report-usage.
type ReportLog struct {
	At       time.Time // stored to the microsecond; read back in UTC
	KeyID    string
	Report   string // usage, summary, report-usage, report-summary
	Format   string // json, csv, tsv, text
	Protocol string // http, udp
	Status   int    // the HTTP-equivalent status answered
}

// invalidError is an error that errors.Is matches with keys.ErrInvalid (store.ErrInvalid)
// but whose message does not speak of a key.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return keys.ErrInvalid }

// Invalid returns an error wrapping keys.ErrInvalid (store.ErrInvalid) with the formatted
// message.
func Invalid(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// Storable reports whether s can be stored in, and compared with, a text column of every
// backend: valid UTF-8 without NUL bytes.
func Storable(s string) bool {
	return utf8.ValidString(s) && !strings.Contains(s, "\x00")
}

// CheckRecord returns an error wrapping keys.ErrInvalid if r cannot be stored: it needs a
// KeyID, a Minute ≥ 0 (not before 1970), a Count > 0, and text that is Storable.
func CheckRecord(r metering.Record) error {
	switch {
	case r.KeyID == "":
		return Invalid("invalid usage record: no key id")
	case r.Minute < 0:
		return Invalid("invalid usage record: minute %d is before 1970", r.Minute)
	case r.Count <= 0:
		return Invalid("invalid usage record: count %d, want > 0", r.Count)
	}
	for _, s := range [...]string{r.KeyID, r.Protocol, r.Endpoint, r.Asset, r.Outcome} {
		if !Storable(s) {
			return Invalid("invalid usage record: %q is not valid UTF-8 text without NUL", s)
		}
	}
	return nil
}

// CheckReportLog returns an error wrapping keys.ErrInvalid if r cannot be stored: it needs a
// KeyID, an At in the years 1..9999, a Status in 0..999 and text that is Storable.
func CheckReportLog(r ReportLog) error {
	switch {
	case r.KeyID == "":
		return Invalid("invalid report log: no key id")
	case r.At.IsZero() || r.At.UTC().Year() < 1 || r.At.UTC().Year() > 9999:
		return Invalid("invalid report log: time %v out of range", r.At)
	case r.Status < 0 || r.Status > 999:
		return Invalid("invalid report log: status %d out of range", r.Status)
	}
	for _, s := range [...]string{r.KeyID, r.Report, r.Format, r.Protocol} {
		if !Storable(s) {
			return Invalid("invalid report log: %q is not valid UTF-8 text without NUL", s)
		}
	}
	return nil
}

// CheckKeyID returns an error wrapping keys.ErrInvalid if id cannot name a key in a query:
// it is empty or not Storable.
func CheckKeyID(id string) error {
	if id == "" || !Storable(id) {
		return Invalid("invalid key id %q", id)
	}
	return nil
}

// CheckLimit returns an error wrapping keys.ErrInvalid unless 1 ≤ limit ≤ MaxLimit.
func CheckLimit(limit int) error {
	if limit < 1 || limit > MaxLimit {
		return Invalid("invalid limit %d: want 1..%d", limit, MaxLimit)
	}
	return nil
}

// CheckTier returns an error wrapping keys.ErrInvalid if t cannot be stored: it needs a
// Storable Name of 1..64 bytes, and MonthlyQuota, QPS (finite), Burst, MinWait and
// ReportsPerMonth ≥ 0. (Stores keep MinWait to the microsecond, truncated.)
func CheckTier(t limits.Tier) error {
	switch {
	case t.Name == "" || len(t.Name) > 64 || !Storable(t.Name):
		return Invalid("invalid tier name %q: want 1..64 bytes of UTF-8 without NUL", t.Name)
	case t.MonthlyQuota < 0:
		return Invalid("invalid tier %s: monthly quota %d < 0", t.Name, t.MonthlyQuota)
	case !(t.QPS >= 0) || math.IsInf(t.QPS, 1):
		return Invalid("invalid tier %s: qps %v, want a finite number ≥ 0", t.Name, t.QPS)
	case t.Burst < 0:
		return Invalid("invalid tier %s: burst %d < 0", t.Name, t.Burst)
	case t.MinWait < 0:
		return Invalid("invalid tier %s: min wait %v < 0", t.Name, t.MinWait)
	case t.ReportsPerMonth < 0:
		return Invalid("invalid tier %s: reports per month %d < 0", t.Name, t.ReportsPerMonth)
	}
	return nil
}

// MinuteFrom returns the first Unix minute whose start is at or after t: the lower bound
// (inclusive) of a [t, …) range of minutes, and the upper bound (exclusive) of a […, t)
// one. A zero t returns ifZero.
func MinuteFrom(t time.Time, ifZero int64) int64 {
	if t.IsZero() {
		return ifZero
	}
	sec := t.Unix()
	m := sec / 60
	if sec%60 < 0 {
		m-- // floor
	}
	if m*60 != sec || t.Nanosecond() != 0 {
		m++ // ceil
	}
	return m
}

// MinuteTime returns the start of Unix minute m, in UTC.
func MinuteTime(m int64) time.Time { return time.Unix(m*60, 0).UTC() }

// MonthMinutes returns the Unix minutes of month m as [from, to).
func MonthMinutes(m limits.MonthID) (from, to int64) {
	return m.Start().Unix() / 60, m.Next().Start().Unix() / 60
}

// MinutesPerDay is the number of Unix minutes in a UTC day (Unix time has no leap seconds).
const MinutesPerDay = 24 * 60

// Cursor is the position after which a Usage page starts: the sort key of the previous
// page's last row.
type Cursor struct {
	Minute   int64 // Unix minute
	Protocol string
	Endpoint string
	Asset    string
	Outcome  string
}

// CursorOf returns the cursor that continues after r.
func CursorOf(r Row) Cursor {
	return Cursor{Minute: r.Minute.Unix() / 60, Protocol: r.Protocol, Endpoint: r.Endpoint, Asset: r.Asset, Outcome: r.Outcome}
}

// cursorVersion starts every encoded cursor, so that the format can change.
const cursorVersion = 1

// String encodes c as an opaque, URL-safe token: unpadded base64url of the JSON array
// [1, minute, protocol, endpoint, asset, outcome].
func (c Cursor) String() string {
	b, err := json.Marshal([]any{cursorVersion, c.Minute, c.Protocol, c.Endpoint, c.Asset, c.Outcome})
	if err != nil {
		panic("BUG: marshal cursor: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor decodes a token made by Cursor.String. Any other token returns an error
// wrapping keys.ErrInvalid.
func ParseCursor(s string) (Cursor, error) {
	bad := func(why string) (Cursor, error) { return Cursor{}, Invalid("invalid cursor %q: %s", s, why) }
	if len(s) > 4096 {
		return bad("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad("not base64url")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || len(raw) != 6 {
		return bad("not a cursor")
	}
	var (
		c       Cursor
		version int
	)
	if json.Unmarshal(raw[0], &version) != nil || version != cursorVersion {
		return bad("unknown version")
	}
	if json.Unmarshal(raw[1], &c.Minute) != nil || c.Minute < 0 {
		return bad("bad minute")
	}
	for i, p := range []*string{&c.Protocol, &c.Endpoint, &c.Asset, &c.Outcome} {
		if json.Unmarshal(raw[2+i], p) != nil || !Storable(*p) || !strings.HasPrefix(string(raw[2+i]), `"`) {
			return bad("bad field")
		}
	}
	return c, nil
}
