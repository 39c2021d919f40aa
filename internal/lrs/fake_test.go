package lrs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/metering"
	"github.com/trinityprice/trinity/internal/store"
)

// fakeStore is an in-memory store.UsageStore. Its Usage cursor is "o:<offset>" into the
// key's sorted rows of the queried range.
type fakeStore struct {
	mu     sync.Mutex
	usage  []store.UsageRow
	owner  []string // key ID of usage[i]
	logs   []store.ReportLog
	pruned []time.Time
	fail   error // returned by every read and write when set

	usageCalls, dailyCalls, reportLogsCalls, logReportCalls int
}

func (f *fakeStore) addUsage(keyID string, rows ...store.UsageRow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range rows {
		f.usage = append(f.usage, r)
		f.owner = append(f.owner, keyID)
	}
}

func (f *fakeStore) WriteUsage(_ context.Context, recs []metering.Record) error {
	for _, r := range recs {
		f.addUsage(r.KeyID, store.UsageRow{Minute: time.Unix(r.Minute*60, 0).UTC(), Protocol: r.Protocol,
			Endpoint: r.Endpoint, Asset: r.Asset, Outcome: r.Outcome, Count: r.Count})
	}
	return nil
}

func (f *fakeStore) MonthUsage(context.Context, limits.MonthID) (map[string]int64, error) {
	return nil, errors.New("fake: MonthUsage not used by lrs")
}

func inRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}

func (f *fakeStore) selectUsage(keyID string, from, to time.Time) []store.UsageRow {
	var out []store.UsageRow
	for i, r := range f.usage {
		if f.owner[i] == keyID && inRange(r.Minute, from, to) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b store.UsageRow) int {
		return cmp.Or(a.Minute.Compare(b.Minute), cmp.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.Endpoint, b.Endpoint), cmp.Compare(a.Asset, b.Asset), cmp.Compare(a.Outcome, b.Outcome))
	})
	return out
}

func (f *fakeStore) Usage(_ context.Context, q store.UsageQuery) ([]store.UsageRow, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.usageCalls++
	if f.fail != nil {
		return nil, "", f.fail
	}
	if q.Limit < 1 || q.Limit > 10000 {
		return nil, "", fmt.Errorf("%w: limit %d", store.ErrInvalid, q.Limit)
	}
	rows := f.selectUsage(q.KeyID, q.From, q.To)
	off := 0
	if q.Cursor != "" {
		s, ok := strings.CutPrefix(q.Cursor, "o:")
		n, err := strconv.Atoi(s)
		if !ok || err != nil || n < 0 {
			return nil, "", fmt.Errorf("%w: cursor %q", store.ErrInvalid, q.Cursor)
		}
		off = min(n, len(rows))
	}
	end := min(off+q.Limit, len(rows))
	next := ""
	if end < len(rows) {
		next = "o:" + strconv.Itoa(end)
	}
	return rows[off:end], next, nil
}

func (f *fakeStore) DailyUsage(_ context.Context, keyID string, from, to time.Time) ([]store.DayUsage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dailyCalls++
	if f.fail != nil {
		return nil, f.fail
	}
	var days []store.DayUsage
	for _, r := range f.selectUsage(keyID, from, to) {
		d := r.Minute.UTC().Truncate(24 * time.Hour)
		if n := len(days); n == 0 || !days[n-1].Day.Equal(d) {
			days = append(days, store.DayUsage{Day: d})
		}
		du := &days[len(days)-1]
		du.Requests += r.Count
		if slices.Contains(store.QuotaOutcomes, r.Outcome) {
			du.Quota += r.Count
		}
	}
	return days, nil
}

func (f *fakeStore) LogReport(_ context.Context, r store.ReportLog) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logReportCalls++
	if f.fail != nil {
		return 0, f.fail
	}
	f.logs = append(f.logs, r)
	n := 0
	for _, l := range f.logs {
		if l.KeyID == r.KeyID && limits.MonthOf(l.At) == limits.MonthOf(r.At) {
			n++
		}
	}
	return n, nil
}

func (f *fakeStore) ReportLogs(_ context.Context, keyID string, from, to time.Time, limit int) ([]store.ReportLog, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reportLogsCalls++
	if f.fail != nil {
		return nil, f.fail
	}
	var out []store.ReportLog
	for i := len(f.logs) - 1; i >= 0; i-- { // newest first; among equal times, last logged first
		if l := f.logs[i]; l.KeyID == keyID && inRange(l.At, from, to) {
			out = append(out, l)
		}
	}
	slices.SortStableFunc(out, func(a, b store.ReportLog) int { return b.At.Compare(a.At) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeStore) PruneUsage(_ context.Context, before time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruned = append(f.pruned, before)
	if f.fail != nil {
		return 0, f.fail
	}
	var n int64
	keep, owners := f.usage[:0], f.owner[:0]
	for i, r := range f.usage {
		if r.Minute.Before(before) {
			n++
			continue
		}
		keep, owners = append(keep, r), append(owners, f.owner[i])
	}
	f.usage, f.owner = keep, owners
	logs := f.logs[:0]
	for _, l := range f.logs {
		if l.At.Before(before) {
			n++
			continue
		}
		logs = append(logs, l)
	}
	f.logs = logs
	return n, nil
}

func (f *fakeStore) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *fakeStore) logCount(keyID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, l := range f.logs {
		if l.KeyID == keyID {
			n++
		}
	}
	return n
}

var _ store.UsageStore = (*fakeStore)(nil)

// fakeKeys maps plaintext keys to keys.
type fakeKeys map[string]*keys.Key

func (k fakeKeys) Lookup(p []byte) (*keys.Key, bool) { v, ok := k[string(p)]; return v, ok }

// clock is a settable time source, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// The test keys: plaintext → key. "quota-key" is a pro key with its own quota of 500.
const (
	freeKey      = "tb_test_free"
	proQuotaKey  = "tb_test_quota"
	unlimitedKey = "tb_test_unlimited"
	revokedKey   = "tb_test_revoked"
)

// testNow is the default test time: mid-May 2026, UTC.
var testNow = time.Date(2026, 5, 14, 10, 30, 15, 0, time.UTC)

type env struct {
	st    *fakeStore
	clk   *clock
	svc   *Service
	h     http.Handler
	keyID map[string]string // plaintext → ID
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{st: &fakeStore{}, clk: &clock{t: testNow}, keyID: map[string]string{}}
	ks := fakeKeys{
		freeKey:      {ID: "key_free", Tier: keys.TierFree},
		proQuotaKey:  {ID: "key_quota", Tier: keys.TierPro, Quota: 500},
		unlimitedKey: {ID: "key_unlim", Tier: keys.TierUnlimited},
		revokedKey:   {ID: "key_revoked", Tier: keys.TierFree, Revoked: true},
	}
	for p, k := range ks {
		e.keyID[p] = k.ID
	}
	e.svc = New(Config{Store: e.st, Keys: ks, Now: e.clk.Now, Logger: slog.New(slog.DiscardHandler)})
	e.h = NewHTTP("127.0.0.1:0", e.svc, nil).Handler()
	return e
}

// get serves GET target with the key as a Bearer token ("" for none).
func (e *env) get(t *testing.T, key, target string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// row is a shorthand for a usage row.
func row(minute time.Time, proto, endpoint, asset, outcome string, n int64) store.UsageRow {
	return store.UsageRow{Minute: minute, Protocol: proto, Endpoint: endpoint, Asset: asset, Outcome: outcome, Count: n}
}
