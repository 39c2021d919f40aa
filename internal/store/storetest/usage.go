package storetest

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/metering"
	"github.com/trinityprice/trinity/internal/store"
)

// minuteOf returns the Unix minute of t.
func minuteOf(t time.Time) int64 { return metering.MinuteOf(t.UnixNano()) }

// rec returns a record of key id at t (rounded down to its minute).
func rec(id string, t time.Time, protocol, endpoint, asset, outcome string, count int64) metering.Record {
	return metering.Record{KeyID: id, Minute: minuteOf(t), Protocol: protocol, Endpoint: endpoint, Asset: asset, Outcome: outcome, Count: count}
}

// MustWriteUsage writes recs to s.
func MustWriteUsage(tb testing.TB, s store.Store, recs ...metering.Record) {
	tb.Helper()
	if err := s.WriteUsage(context.Background(), recs); err != nil {
		tb.Fatalf("WriteUsage(%d records): %v", len(recs), err)
	}
}

// rowOf returns the row r should be stored as.
func rowOf(r metering.Record) store.UsageRow {
	return store.UsageRow{Minute: time.Unix(r.Minute*60, 0).UTC(), Protocol: r.Protocol, Endpoint: r.Endpoint, Asset: r.Asset, Outcome: r.Outcome, Count: r.Count}
}

// compareRows orders rows as Usage returns them.
func compareRows(a, b store.UsageRow) int {
	return cmp.Or(a.Minute.Compare(b.Minute), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Endpoint, b.Endpoint),
		cmp.Compare(a.Asset, b.Asset), cmp.Compare(a.Outcome, b.Outcome))
}

// walkUsage reads every page of q (its Cursor must be "") and returns the rows. It checks
// that every page but the last is full, and that the last has no cursor.
func walkUsage(tb testing.TB, s store.Store, q store.UsageQuery) (rows []store.UsageRow, pages int) {
	tb.Helper()
	for {
		page, next, err := s.Usage(context.Background(), q)
		if err != nil {
			tb.Fatalf("Usage(%+v) page %d: %v", q, pages, err)
		}
		pages++
		rows = append(rows, page...)
		if next == "" {
			return rows, pages
		}
		if len(page) != q.Limit {
			tb.Fatalf("Usage(%+v) page %d: %d rows and a next cursor, want a full page of %d", q, pages, len(page), q.Limit)
		}
		if pages > 1_000_000 {
			tb.Fatalf("Usage(%+v): more than a million pages", q)
		}
		q.Cursor = next
	}
}

// rowsDiff describes how got differs from want, or returns "".
func rowsDiff(got, want []store.UsageRow) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] || got[i].Minute.Location() != time.UTC {
			return fmt.Sprintf("row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	return ""
}

// mustUsage returns every row of key id in [from, to).
func mustUsage(tb testing.TB, s store.Store, id string, from, to time.Time) []store.UsageRow {
	tb.Helper()
	rows, _ := walkUsage(tb, s, store.UsageQuery{KeyID: id, From: from, To: to, Limit: store.MaxLimit})
	return rows
}

func testWriteUsageAdds(t *testing.T, s store.Store) {
	t0 := time.Date(2025, 11, 3, 10, 20, 30, 0, time.UTC)
	recs := []metering.Record{
		rec("key_a", t0, "http", "price", "btc", "ok", 3),
		rec("key_a", t0, "http", "price", "eth", "ok", 1),
		rec("key_a", t0, "udp", "price", "btc", "ok", 2),
		rec("key_a", t0.Add(time.Minute), "http", "prices", "*", "stale", 5),
		rec("key_b", t0, "http", "price", "btc", "ok", 7),
	}
	if err := s.WriteUsage(context.Background(), nil); err != nil {
		t.Fatalf("WriteUsage(nil): %v", err)
	}
	MustWriteUsage(t, s, recs...)
	var want []store.UsageRow
	for _, r := range recs[:4] {
		want = append(want, rowOf(r))
	}
	slices.SortFunc(want, compareRows)
	if d := rowsDiff(mustUsage(t, s, "key_a", time.Time{}, time.Time{}), want); d != "" {
		t.Fatalf("after one write: %s", d)
	}

	MustWriteUsage(t, s, recs...) // the same counts again: every count doubles
	for i := range want {
		want[i].Count *= 2
	}
	if d := rowsDiff(mustUsage(t, s, "key_a", time.Time{}, time.Time{}), want); d != "" {
		t.Fatalf("after the same write twice: %s", d)
	}

	// Records for one row within one call add up too.
	r := rec("key_a", t0, "http", "price", "btc", "ok", 10)
	MustWriteUsage(t, s, r, r)
	want[0].Count += 20
	if want[0].Asset != "btc" || want[0].Protocol != "http" {
		t.Fatalf("BUG: want[0] = %+v", want[0])
	}
	if d := rowsDiff(mustUsage(t, s, "key_a", time.Time{}, time.Time{}), want); d != "" {
		t.Fatalf("after a write with a repeated record: %s", d)
	}
	if got := mustUsage(t, s, "key_b", time.Time{}, time.Time{}); len(got) != 1 || got[0].Count != 14 {
		t.Fatalf("key_b: %+v, want one row of 14", got)
	}
}

func testWriteUsageInvalid(t *testing.T, s store.Store) {
	t0 := time.Date(2025, 11, 3, 10, 20, 0, 0, time.UTC)
	good := rec("key_a", t0, "http", "price", "btc", "ok", 1)
	for _, tc := range []struct {
		name   string
		mutate func(r *metering.Record)
	}{
		{"no key id", func(r *metering.Record) { r.KeyID = "" }},
		{"zero count", func(r *metering.Record) { r.Count = 0 }},
		{"negative count", func(r *metering.Record) { r.Count = -1 }},
		{"negative minute", func(r *metering.Record) { r.Minute = -1 }},
		{"NUL in asset", func(r *metering.Record) { r.Asset = "b\x00tc" }},
		{"invalid UTF-8 in endpoint", func(r *metering.Record) { r.Endpoint = "pr\xffice" }},
	} {
		bad := good
		bad.Minute++
		tc.mutate(&bad)
		if err := s.WriteUsage(context.Background(), []metering.Record{good, bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("WriteUsage with %s: err = %v, want ErrInvalid", tc.name, err)
		}
	}
	if got := mustUsage(t, s, "key_a", time.Time{}, time.Time{}); len(got) != 0 {
		t.Errorf("failed writes stored %+v", got)
	}

	// A failure in the database (the count would overflow int64) undoes the whole call,
	// including records written before the failing one.
	full := rec("key_a", t0, "http", "price", "btc", "ok", math.MaxInt64-5)
	MustWriteUsage(t, s, full)
	early := rec("key_a", t0.Add(-time.Minute), "http", "price", "btc", "ok", 5)
	other := rec("key_0", t0, "http", "price", "btc", "ok", 5)
	over := full
	over.Count = 10
	if err := s.WriteUsage(context.Background(), []metering.Record{early, other, over}); err == nil {
		t.Fatal("WriteUsage overflowing a count: want error")
	}
	if d := rowsDiff(mustUsage(t, s, "key_a", time.Time{}, time.Time{}), []store.UsageRow{rowOf(full)}); d != "" {
		t.Errorf("after a failed write: %s", d)
	}
	if got := mustUsage(t, s, "key_0", time.Time{}, time.Time{}); len(got) != 0 {
		t.Errorf("a failed write stored %+v", got)
	}
}

func testWriteUsageConcurrent(t *testing.T, s store.Store) {
	// Writers adding to the same rows at once (as instances flushing together do) neither
	// fail nor lose counts. Each writes the rows in the Sink's order (minute first).
	const writers, rounds = 4, 5
	t0 := time.Date(2025, 11, 3, 10, 0, 0, 0, time.UTC)
	var recs []metering.Record
	for m := range 10 {
		for k := range 30 {
			recs = append(recs, rec(fmt.Sprintf("key_%02d", k), t0.Add(time.Duration(m)*time.Minute), "http", "price", "btc", "ok", 1))
		}
	}
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range rounds {
				if err := s.WriteUsage(context.Background(), recs); err != nil {
					t.Errorf("concurrent WriteUsage: %v", err)
				}
			}
		})
	}
	wg.Wait()
	got, err := s.MonthUsage(context.Background(), limits.MonthOf(t0))
	if err != nil {
		t.Fatal(err)
	}
	for k := range 30 {
		if id := fmt.Sprintf("key_%02d", k); got[id] != 10*writers*rounds {
			t.Errorf("%s: %d requests, want %d", id, got[id], 10*writers*rounds)
		}
	}
}

func testMonthUsage(t *testing.T, s store.Store) {
	nov := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	dec := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	var recs []metering.Record
	// Every outcome once for key_a, at the very start and end of November.
	outcomes := []string{"ok", "stale", "bad_request", "unauthorized", "forbidden", "not_found", "rate_limited", "quota_exceeded", "unavailable"}
	for i, o := range outcomes {
		recs = append(recs, rec("key_a", nov, "http", "price", "btc", o, int64(1)<<i))
		recs = append(recs, rec("key_a", dec.Add(-time.Second), "udp", "price", "", o, int64(1)<<(i+10)))
	}
	recs = append(recs,
		rec("key_b", nov.Add(10*24*time.Hour), "http", "prices", "*", "ok", 7),
		rec("key_c", nov.Add(-time.Second), "http", "price", "btc", "ok", 100), // October
		rec("key_a", dec, "http", "price", "btc", "ok", 1000),                  // December
		rec("key_a", dec.Add(time.Hour), "http", "price", "btc", "rate_limited", 2000),
		rec("key_c", dec.Add(30*24*time.Hour), "http", "price", "btc", "stale", 3000),
	)
	MustWriteUsage(t, s, recs...)

	var wantA int64
	for i, o := range outcomes {
		if slices.Contains(store.QuotaOutcomes, o) {
			wantA += int64(1)<<i + int64(1)<<(i+10)
		}
	}
	check := func(m limits.MonthID, want map[string]int64) {
		t.Helper()
		got, err := s.MonthUsage(context.Background(), m)
		if err != nil {
			t.Fatalf("MonthUsage(%s): %v", m, err)
		}
		if got == nil || !maps.Equal(got, want) {
			t.Errorf("MonthUsage(%s) = %v, want %v", m, got, want)
		}
	}
	check(limits.MonthOf(nov), map[string]int64{"key_a": wantA, "key_b": 7})
	check(limits.MonthOf(dec), map[string]int64{"key_a": 1000, "key_c": 3000})
	check(limits.MonthOf(nov)-1, map[string]int64{"key_c": 100})
	check(limits.MonthOf(dec)+1, map[string]int64{})
}

// pagingData returns records of key_m for three hours across a day boundary, in several
// combinations (and byte orders that differ from dictionary order), among records of keys
// sorting before and after it.
func pagingData() []metering.Record {
	t0 := time.Date(2025, 11, 3, 23, 0, 0, 0, time.UTC)
	var recs []metering.Record
	for i := range 180 {
		at := t0.Add(time.Duration(i) * time.Minute)
		recs = append(recs,
			rec("key_l", at, "http", "price", "btc", "ok", 1),
			rec("key_n", at, "http", "price", "btc", "ok", 1))
		if i%7 == 3 {
			continue // some minutes without usage
		}
		recs = append(recs, rec("key_m", at, "http", "price", "btc", "ok", int64(i+1)))
		if i%3 == 0 {
			recs = append(recs,
				rec("key_m", at, "http", "price", "BTC", "ok", 2),
				rec("key_m", at, "http", "price", "btc", "not_found", 3),
				rec("key_m", at, "http", "prices", "*", "ok", 4),
				rec("key_m", at, "udp", "price", "", "bad_request", 5),
				rec("key_m", at, "HTTP", "price", "é", "ok", 6))
		}
	}
	return recs
}

func testUsagePaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	recs := pagingData()
	MustWriteUsage(t, s, recs...)
	var all []store.UsageRow
	for _, r := range recs {
		if r.KeyID == "key_m" {
			all = append(all, rowOf(r))
		}
	}
	slices.SortFunc(all, compareRows)
	t0 := all[0].Minute

	for _, tc := range []struct {
		name     string
		from, to time.Time
	}{
		{"unbounded", time.Time{}, time.Time{}},
		{"from", t0.Add(61*time.Minute + 30*time.Second), time.Time{}}, // mid-minute: from the next one
		{"to", time.Time{}, t0.Add(90 * time.Minute)},                  // exclusive
		{"from to", t0.Add(30 * time.Minute), t0.Add(90*time.Minute + time.Nanosecond)},
		{"one minute", t0.Add(60 * time.Minute), t0.Add(61 * time.Minute)},
		{"empty", t0.Add(90 * time.Minute), t0.Add(90 * time.Minute)},
		{"reversed", t0.Add(90 * time.Minute), t0.Add(30 * time.Minute)},
		{"before", t0.Add(-24 * time.Hour), t0},
	} {
		var want []store.UsageRow
		for _, r := range all {
			if (tc.from.IsZero() || !r.Minute.Before(tc.from)) && (tc.to.IsZero() || r.Minute.Before(tc.to)) {
				want = append(want, r)
			}
		}
		sizes := []int{3, 7, 50, len(want), store.MaxLimit}
		if len(want) <= 60 {
			sizes = append(sizes, 1, 2) // (too slow for the long walks under -race)
		}
		for _, limit := range sizes {
			if limit < 1 {
				continue
			}
			got, pages := walkUsage(t, s, store.UsageQuery{KeyID: "key_m", From: tc.from, To: tc.to, Limit: limit})
			if d := rowsDiff(got, want); d != "" {
				t.Errorf("%s, limit %d: %s", tc.name, limit, d)
			}
			if wantPages := max(1, (len(want)+limit-1)/limit); pages != wantPages {
				t.Errorf("%s, limit %d: %d pages for %d rows, want %d", tc.name, limit, pages, len(want), wantPages)
			}
		}
	}

	// A cursor is a position, not a snapshot: rows written after it was handed out are seen.
	page, next, err := s.Usage(ctx, store.UsageQuery{KeyID: "key_m", Limit: 10})
	if err != nil || next == "" {
		t.Fatalf("Usage: %v, %q", err, next)
	}
	late := rec("key_m", all[len(all)-1].Minute.Add(time.Minute), "http", "price", "btc", "ok", 1)
	MustWriteUsage(t, s, late)
	rest, _ := walkUsage(t, s, store.UsageQuery{KeyID: "key_m", Limit: 100, Cursor: next})
	if d := rowsDiff(append(page, rest...), append(slices.Clone(all), rowOf(late))); d != "" {
		t.Errorf("walk with a row added midway: %s", d)
	}

	// Bad queries.
	tok := func(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }
	for _, q := range []store.UsageQuery{
		{KeyID: "key_m", Limit: 0},
		{KeyID: "key_m", Limit: -1},
		{KeyID: "key_m", Limit: store.MaxLimit + 1},
		{KeyID: "", Limit: 10},
		{KeyID: "key_m\xff", Limit: 10},
		{KeyID: "key_m", Limit: 10, Cursor: "garbage!"},
		{KeyID: "key_m", Limit: 10, Cursor: next + "="}, // padded
		{KeyID: "key_m", Limit: 10, Cursor: tok(`[]`)},
		{KeyID: "key_m", Limit: 10, Cursor: tok(`[2,1,"a","b","c","d"]`)}, // unknown version
		{KeyID: "key_m", Limit: 10, Cursor: tok(`[1,1,"a","b",null,"d"]`)},
		{KeyID: "key_m", Limit: 10, Cursor: tok(`[1,1,"a","b",3,"d"]`)},
		{KeyID: "key_m", Limit: 10, Cursor: tok(`[1,-1,"a","b","c","d"]`)},
		{KeyID: "key_m", Limit: 10, Cursor: tok(`[1,1.5,"a","b","c","d"]`)},
		{KeyID: "key_m", Limit: 10, Cursor: tok(`[1,1,"a","b","\u0000","d"]`)},
		{KeyID: "key_m", Limit: 10, Cursor: tok(`[1,1,"a","b","c","d","e"]`)},
		{KeyID: "key_m", Limit: 10, Cursor: tok(`{"minute":1}`)},
		{KeyID: "key_m", Limit: 10, Cursor: tok(`[1,1,"a","b","c","d"] trailing`)},
	} {
		if rows, next, err := s.Usage(ctx, q); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Usage(%+v) = %d rows, %q, %v; want ErrInvalid", q, len(rows), next, err)
		}
	}
	// A well-formed cursor of the current version is accepted.
	if _, _, err := s.Usage(ctx, store.UsageQuery{KeyID: "key_m", Limit: 10, Cursor: tok(`[1,1,"a","b","c","d"]`)}); err != nil {
		t.Errorf("Usage with a cursor made by hand: %v", err)
	}
	if rows, next, err := s.Usage(ctx, store.UsageQuery{KeyID: "key_x", Limit: 10}); err != nil || len(rows) != 0 || next != "" {
		t.Errorf("Usage of a key without usage = %v, %q, %v; want nothing", rows, next, err)
	}
}

func testDailyUsage(t *testing.T, s store.Store) {
	d0 := time.Date(2025, 11, 3, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	MustWriteUsage(t, s,
		rec("key_a", d0.Add(-time.Minute), "http", "price", "btc", "ok", 1000), // Nov 2, 23:59
		rec("key_a", d0, "http", "price", "btc", "ok", 1),
		rec("key_a", d0, "http", "price", "btc", "rate_limited", 2),
		rec("key_a", d0.Add(12*time.Hour), "udp", "price", "eth", "stale", 4),
		rec("key_a", d0.Add(day-time.Minute), "http", "prices", "*", "quota_exceeded", 8),
		rec("key_a", d0.Add(day), "http", "price", "btc", "unauthorized", 16), // Nov 4: nothing for the quota
		rec("key_a", d0.Add(3*day+5*time.Hour), "http", "price", "btc", "unavailable", 32),
		rec("key_a", d0.Add(3*day+6*time.Hour), "http", "price", "btc", "not_found", 64),
		rec("key_b", d0, "http", "price", "btc", "ok", 128),
	)
	check := func(from, to time.Time, want ...store.DayUsage) {
		t.Helper()
		got, err := s.DailyUsage(context.Background(), "key_a", from, to)
		if err != nil {
			t.Fatalf("DailyUsage(%v, %v): %v", from, to, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("DailyUsage(%v, %v) =\n%+v\nwant\n%+v", from, to, got, want)
		}
		for _, d := range got {
			if d.Day.Location() != time.UTC {
				t.Errorf("DailyUsage: Day %v not in UTC", d.Day)
			}
		}
	}
	nov2 := store.DayUsage{Day: d0.Add(-day), Requests: 1000, Quota: 1000}
	nov3 := store.DayUsage{Day: d0, Requests: 15, Quota: 5}
	nov4 := store.DayUsage{Day: d0.Add(day), Requests: 16, Quota: 0}
	nov6 := store.DayUsage{Day: d0.Add(3 * day), Requests: 96, Quota: 96}
	check(time.Time{}, time.Time{}, nov2, nov3, nov4, nov6)
	check(d0, d0.Add(7*day), nov3, nov4, nov6)
	check(d0.Add(-time.Minute), d0.Add(day), nov2, nov3)
	check(d0.Add(time.Second), d0.Add(day), store.DayUsage{Day: d0, Requests: 12, Quota: 4}) // from the next minute
	check(d0.Add(4*day), time.Time{})
	if got, err := s.DailyUsage(context.Background(), "", time.Time{}, time.Time{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("DailyUsage of key \"\" = %v, %v; want ErrInvalid", got, err)
	}
}

// reportDiff describes how got differs from want (At compared as an instant, and required
// to be UTC), or returns "".
func reportDiff(got, want []store.ReportLog) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d logs, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		g := got[i]
		if g.At.Location() != time.UTC {
			return fmt.Sprintf("log %d: At %v not in UTC", i, g.At)
		}
		if g.At.Equal(want[i].At) {
			g.At = want[i].At
		}
		if g != want[i] {
			return fmt.Sprintf("log %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	return ""
}

func testLogReport(t *testing.T, s store.Store) {
	ctx := context.Background()
	nov := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	logs := []store.ReportLog{
		{At: nov.Add(-time.Microsecond), KeyID: "key_a", Report: "usage", Format: "json", Protocol: "http", Status: 200},
		{At: nov, KeyID: "key_a", Report: "summary", Format: "csv", Protocol: "udp", Status: 200},
		{At: nov.Add(14*24*time.Hour + 123456*time.Microsecond), KeyID: "key_a", Report: "report-usage", Format: "text", Protocol: "http", Status: 429},
		{At: nov.Add(time.Hour), KeyID: "key_b", Report: "usage", Format: "tsv", Protocol: "http", Status: 200},
		{At: nov.Add(15 * 24 * time.Hour).In(time.FixedZone("X", -5*3600)), KeyID: "key_a", Report: "report-summary", Format: "json", Protocol: "http", Status: 200},
		{At: nov.AddDate(0, 1, 0), KeyID: "key_a", Report: "usage", Format: "json", Protocol: "http", Status: 200},
	}
	for i, want := range []int{1, 1, 2, 1, 3, 1} {
		got, err := s.LogReport(ctx, logs[i])
		if err != nil {
			t.Fatalf("LogReport(%+v): %v", logs[i], err)
		}
		if got != want {
			t.Errorf("LogReport(%+v) = %d, want %d", logs[i], got, want)
		}
	}
	logs[4].At = logs[4].At.UTC()

	check := func(id string, from, to time.Time, limit int, want ...store.ReportLog) {
		t.Helper()
		got, err := s.ReportLogs(ctx, id, from, to, limit)
		if err != nil {
			t.Fatalf("ReportLogs(%s, %v, %v, %d): %v", id, from, to, limit, err)
		}
		if d := reportDiff(got, want); d != "" {
			t.Errorf("ReportLogs(%s, %v, %v, %d): %s", id, from, to, limit, d)
		}
	}
	check("key_a", time.Time{}, time.Time{}, 100, logs[5], logs[4], logs[2], logs[1], logs[0])
	check("key_a", time.Time{}, time.Time{}, 2, logs[5], logs[4])
	check("key_a", nov, nov.AddDate(0, 1, 0), 100, logs[4], logs[2], logs[1])
	check("key_a", nov.Add(time.Microsecond), logs[4].At, 100, logs[2])
	check("key_b", time.Time{}, time.Time{}, 100, logs[3])
	check("key_c", time.Time{}, time.Time{}, 100)

	// Logs at the same time come newest (last logged) first.
	same := time.Date(2025, 10, 10, 0, 0, 0, 0, time.UTC)
	var sameLogs []store.ReportLog
	for i := range 3 {
		l := store.ReportLog{At: same, KeyID: "key_s", Report: "usage", Format: "json", Protocol: "http", Status: 200 + i}
		if _, err := s.LogReport(ctx, l); err != nil {
			t.Fatal(err)
		}
		sameLogs = append([]store.ReportLog{l}, sameLogs...)
	}
	check("key_s", time.Time{}, time.Time{}, 10, sameLogs...)

	for _, bad := range []store.ReportLog{
		{At: nov, KeyID: "", Report: "usage"},
		{KeyID: "key_a", Report: "usage"},
		{At: nov, KeyID: "key_a", Report: "us\x00age"},
		{At: nov, KeyID: "key_a", Report: "usage", Status: -1},
	} {
		if n, err := s.LogReport(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("LogReport(%+v) = %d, %v; want ErrInvalid", bad, n, err)
		}
	}
	for _, limit := range []int{0, -1, store.MaxLimit + 1} {
		if _, err := s.ReportLogs(ctx, "key_a", time.Time{}, time.Time{}, limit); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ReportLogs with limit %d: err = %v, want ErrInvalid", limit, err)
		}
	}
	if _, err := s.ReportLogs(ctx, "", time.Time{}, time.Time{}, 10); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ReportLogs of key \"\": err = %v, want ErrInvalid", err)
	}
}

func testLogReportConcurrent(t *testing.T, s store.Store) {
	// Concurrent reports of one key each get their own count: the allowance cannot be
	// overrun by racing requests.
	const n = 16
	at := time.Date(2025, 11, 5, 0, 0, 0, 0, time.UTC)
	counts := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := s.LogReport(context.Background(), store.ReportLog{At: at.Add(time.Duration(i) * time.Second), KeyID: "key_c", Report: "usage", Format: "json", Protocol: "http", Status: 200})
			if err != nil {
				t.Errorf("LogReport: %v", err)
			}
			counts <- c
		})
	}
	wg.Wait()
	close(counts)
	got := slices.Sorted(func(yield func(int) bool) {
		for c := range counts {
			if !yield(c) {
				return
			}
		}
	})
	for i, c := range got {
		if c != i+1 {
			t.Fatalf("concurrent LogReport counts = %v, want 1..%d", got, n)
		}
	}
}

func testPruneUsage(t *testing.T, s store.Store) {
	ctx := context.Background()
	cut := time.Date(2025, 11, 3, 12, 0, 0, 0, time.UTC)
	MustWriteUsage(t, s,
		rec("key_a", cut.Add(-48*time.Hour), "http", "price", "btc", "ok", 1),
		rec("key_a", cut.Add(-time.Minute), "http", "price", "btc", "ok", 1),
		rec("key_a", cut.Add(-time.Minute), "udp", "price", "btc", "ok", 1),
		rec("key_b", cut.Add(-time.Minute), "http", "price", "btc", "ok", 1),
		rec("key_a", cut, "http", "price", "btc", "ok", 1),
		rec("key_b", cut.Add(time.Hour), "http", "price", "btc", "ok", 1),
	)
	for _, at := range []time.Time{cut.Add(-30 * 24 * time.Hour), cut.Add(-time.Microsecond), cut, cut.Add(time.Second)} {
		if _, err := s.LogReport(ctx, store.ReportLog{At: at, KeyID: "key_a", Report: "usage", Format: "json", Protocol: "http", Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneUsage(ctx, cut)
	if err != nil {
		t.Fatalf("PruneUsage: %v", err)
	}
	if n != 4+2 {
		t.Errorf("PruneUsage = %d, want 6 (4 usage rows, 2 logs)", n)
	}
	if got := mustUsage(t, s, "key_a", time.Time{}, time.Time{}); len(got) != 1 || !got[0].Minute.Equal(cut) {
		t.Errorf("key_a after pruning: %+v, want the row at %v", got, cut)
	}
	if got := mustUsage(t, s, "key_b", time.Time{}, time.Time{}); len(got) != 1 || !got[0].Minute.Equal(cut.Add(time.Hour)) {
		t.Errorf("key_b after pruning: %+v", got)
	}
	logs, err := s.ReportLogs(ctx, "key_a", time.Time{}, time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 2 || !logs[1].At.Equal(cut) {
		t.Errorf("report logs after pruning: %+v, want those at and after %v", logs, cut)
	}
	if n, err := s.PruneUsage(ctx, cut); err != nil || n != 0 {
		t.Errorf("PruneUsage again = %d, %v; want 0", n, err)
	}
}

// mustTiers returns s.Tiers, checking they are ordered by name.
func mustTiers(tb testing.TB, s store.Store) []limits.Tier {
	tb.Helper()
	ts, err := s.Tiers(context.Background())
	if err != nil {
		tb.Fatalf("Tiers: %v", err)
	}
	if !slices.IsSortedFunc(ts, func(a, b limits.Tier) int { return cmp.Compare(a.Name, b.Name) }) {
		tb.Errorf("Tiers not ordered by name: %+v", ts)
	}
	return ts
}

func testDefaultTiers(t *testing.T, s store.Store) {
	got := mustTiers(t, s)
	want := limits.DefaultTiers()
	if len(got) != len(want) {
		t.Errorf("Tiers = %d tiers, want %d", len(got), len(want))
	}
	for _, g := range got {
		if w, ok := want[g.Name]; !ok || g != w {
			t.Errorf("tier %s = %+v, want %+v", g.Name, g, w)
		}
	}
	for _, name := range keys.Tiers() {
		if !slices.ContainsFunc(got, func(t limits.Tier) bool { return t.Name == name }) {
			t.Errorf("tier %s missing", name)
		}
	}
}

func testPutTier(t *testing.T, s store.Store) {
	ctx := context.Background()
	v := MustVersion(t, s)
	put := func(tier limits.Tier) {
		t.Helper()
		if err := s.PutTier(ctx, tier); err != nil {
			t.Fatalf("PutTier(%+v): %v", tier, err)
		}
		if v2 := MustVersion(t, s); v2 <= v {
			t.Errorf("PutTier(%+v): KeysVersion %d → %d, want a bump", tier, v, v2)
		} else {
			v = v2
		}
	}
	gold := limits.Tier{Name: "gold", MonthlyQuota: 123_456, QPS: 2.5, Burst: 7, MinWait: 1234567 * time.Microsecond, ReportsPerMonth: 42}
	put(gold)
	free := limits.Tier{Name: keys.TierFree, MonthlyQuota: 2_000, QPS: 0.5, Burst: 3, MinWait: 2 * time.Second, ReportsPerMonth: 20}
	put(free)
	want := limits.DefaultTiers()
	want[gold.Name] = gold
	want[free.Name] = free
	got := mustTiers(t, s)
	if len(got) != len(want) {
		t.Errorf("Tiers = %+v, want %d tiers", got, len(want))
	}
	for _, g := range got {
		if g != want[g.Name] {
			t.Errorf("tier %s = %+v, want %+v", g.Name, g, want[g.Name])
		}
	}
	// MinWait is kept to the microsecond, truncated.
	put(limits.Tier{Name: "ns", MinWait: 1999 * time.Nanosecond})
	for _, g := range mustTiers(t, s) {
		if g.Name == "ns" && g.MinWait != time.Microsecond {
			t.Errorf("tier ns: MinWait = %v, want 1µs", g.MinWait)
		}
	}

	for _, bad := range []limits.Tier{
		{Name: ""},
		{Name: string(make([]byte, 65))},
		{Name: "a\x00b"},
		{Name: "a\xffb"},
		{Name: "x", MonthlyQuota: -1},
		{Name: "x", QPS: -1},
		{Name: "x", QPS: math.NaN()},
		{Name: "x", QPS: math.Inf(1)},
		{Name: "x", Burst: -1},
		{Name: "x", MinWait: -time.Microsecond},
		{Name: "x", ReportsPerMonth: -1},
	} {
		if err := s.PutTier(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutTier(%+v): err = %v, want ErrInvalid", bad, err)
		}
	}
	if v2 := MustVersion(t, s); v2 != v {
		t.Errorf("invalid PutTier calls changed KeysVersion from %d to %d", v, v2)
	}
	if n := len(mustTiers(t, s)); n != len(want)+1 {
		t.Errorf("%d tiers after invalid PutTier calls, want %d", n, len(want)+1)
	}
}

func testSetKeyTier(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := withPrefix(t, "tb_live_AAAA")
	b := withPrefix(t, "tb_live_AAAB")
	MustCreate(t, s, a)
	MustCreate(t, s, b)
	v := MustVersion(t, s)
	set := func(idOrPrefix, tier string, want keys.Key, bump bool) {
		t.Helper()
		got, err := s.SetKeyTier(ctx, idOrPrefix, tier)
		if err != nil {
			t.Fatalf("SetKeyTier(%q, %q): %v", idOrPrefix, tier, err)
		}
		want.Tier = tier
		if d := KeyDiff(got, want); d != "" {
			t.Errorf("SetKeyTier(%q, %q):\n%s", idOrPrefix, tier, d)
		}
		if ks := mustKeys(t, s); !slices.ContainsFunc(ks, func(k keys.Key) bool { return KeyDiff(k, want) == "" }) {
			t.Errorf("after SetKeyTier(%q, %q), Keys = %+v", idOrPrefix, tier, ks)
		}
		v2 := MustVersion(t, s)
		if bump && v2 <= v || !bump && v2 != v {
			t.Errorf("SetKeyTier(%q, %q): KeysVersion %d → %d, want bump %v", idOrPrefix, tier, v, v2, bump)
		}
		v = v2
	}
	set(a.ID, keys.TierPro, a, true)
	a.Tier = keys.TierPro
	set("tb_live_AAAB", keys.TierEnterprise, b, true) // by prefix
	b.Tier = keys.TierEnterprise
	set(a.ID, keys.TierPro, a, false) // no change
	if err := s.PutTier(ctx, limits.Tier{Name: "gold", QPS: 5, Burst: 5}); err != nil {
		t.Fatal(err)
	}
	v = MustVersion(t, s)
	set(a.ID, "gold", a, true) // a tier added to the table
	a.Tier = "gold"
	mustRevoke(t, s, b.ID, b)
	b.Revoked = true
	v = MustVersion(t, s)
	set(b.ID, keys.TierFree, b, true) // revoked keys keep their state

	for _, tc := range []struct {
		idOrPrefix, tier string
		want             error
	}{
		{a.ID, "platinum", store.ErrInvalid},
		{a.ID, "", store.ErrInvalid},
		{a.ID, "GOLD", store.ErrInvalid},
		{a.ID, "gold\x00", store.ErrInvalid},
		{"", keys.TierPro, store.ErrNotFound},
		{"key_nope", keys.TierPro, store.ErrNotFound},
		{"tb_live_AAA", keys.TierPro, store.ErrAmbiguous},
	} {
		if got, err := s.SetKeyTier(ctx, tc.idOrPrefix, tc.tier); !errors.Is(err, tc.want) {
			t.Errorf("SetKeyTier(%q, %q) = %+v, %v; want %v", tc.idOrPrefix, tc.tier, got, err, tc.want)
		}
	}
	if v2 := MustVersion(t, s); v2 != v {
		t.Errorf("failed SetKeyTier calls changed KeysVersion from %d to %d", v, v2)
	}
	for _, k := range MustList(t, s) {
		if want := map[string]string{a.ID: "gold", b.ID: keys.TierFree}[k.ID]; k.Tier != want {
			t.Errorf("key %s: tier %q, want %q", k.ID, k.Tier, want)
		}
	}
}

func testSetKeyQuota(t *testing.T, s store.Store) {
	ctx := context.Background()
	plain, a := MustNewKey(t, "a")
	_, b := MustNewKey(t, "b")
	MustCreate(t, s, a)
	MustCreate(t, s, b)
	v := MustVersion(t, s)
	set := func(idOrPrefix string, quota int64, bump bool) {
		t.Helper()
		got, err := s.SetKeyQuota(ctx, idOrPrefix, quota)
		if err != nil {
			t.Fatalf("SetKeyQuota(%q, %d): %v", idOrPrefix, quota, err)
		}
		a.Quota = quota
		if d := KeyDiff(got, a); d != "" {
			t.Errorf("SetKeyQuota(%q, %d):\n%s", idOrPrefix, quota, d)
		}
		v2 := MustVersion(t, s)
		if bump && v2 <= v || !bump && v2 != v {
			t.Errorf("SetKeyQuota(%q, %d): KeysVersion %d → %d, want bump %v", idOrPrefix, quota, v, v2, bump)
		}
		v = v2
	}
	set(a.ID, 5_000, true)
	set(plain, 7_000, true) // by plaintext
	set(a.ID, 7_000, false)
	set(a.ID, 0, true) // back to the tier's
	set(a.ID, math.MaxInt64, true)
	for _, tc := range []struct {
		idOrPrefix string
		quota      int64
		want       error
	}{
		{a.ID, -1, store.ErrInvalid},
		{"", 1, store.ErrNotFound},
		{"key_nope", 1, store.ErrNotFound},
	} {
		if got, err := s.SetKeyQuota(ctx, tc.idOrPrefix, tc.quota); !errors.Is(err, tc.want) {
			t.Errorf("SetKeyQuota(%q, %d) = %+v, %v; want %v", tc.idOrPrefix, tc.quota, got, err, tc.want)
		}
	}
	if v2 := MustVersion(t, s); v2 != v {
		t.Errorf("failed SetKeyQuota calls changed KeysVersion from %d to %d", v, v2)
	}
	for _, k := range MustList(t, s) {
		if want := map[string]int64{a.ID: math.MaxInt64, b.ID: 0}[k.ID]; k.Quota != want {
			t.Errorf("key %s: quota %d, want %d", k.ID, k.Quota, want)
		}
	}
}

// MonthOfMinutes is the number of minutes in 30 days, the per-minute rows one key with one
// combination has in a month.
const MonthOfMinutes = 30 * 24 * 60

// MonthData writes a month (MonthOfMinutes minutes from start) of per-minute usage: key
// "key_month" has perMinute combinations every minute, and each of others keys ("key_0…",
// sorting before it, and "key_z…", after it) one row every otherEvery minutes. Writes go in
// batches of at most 10,000 records; it returns the number of rows and the time WriteUsage
// took in total.
func MonthData(tb testing.TB, s store.Store, start time.Time, perMinute, others, otherEvery int) (int, time.Duration) {
	tb.Helper()
	var (
		batch []metering.Record
		took  time.Duration
		n     int
	)
	flush := func() {
		t0 := time.Now()
		MustWriteUsage(tb, s, batch...)
		took += time.Since(t0)
		batch = batch[:0]
	}
	outcomes := []string{"ok", "stale", "not_found", "rate_limited"}
	for i := range MonthOfMinutes {
		at := start.Add(time.Duration(i) * time.Minute)
		for j := range perMinute {
			batch = append(batch, rec("key_month", at, "http", "price", fmt.Sprintf("a%02d", j/len(outcomes)), outcomes[j%len(outcomes)], int64(i%100+1)))
			n++
		}
		for j := range others {
			if i%otherEvery != 0 {
				break
			}
			id := fmt.Sprintf("key_0%d", j)
			if j%2 == 1 {
				id = fmt.Sprintf("key_z%d", j)
			}
			batch = append(batch, rec(id, at, "udp", "price", "btc", "ok", 1))
			n++
		}
		if len(batch) >= 10_000-perMinute-others {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	return n, took
}

// testUsageMonth walks a month of per-minute rows of one key (43,200), among other keys'
// rows, with pages of 1000 and checks every row comes once, in order; it logs the time per
// page. (BenchUsagePaging measures the same with more rows.)
func testUsageMonth(t *testing.T, s store.Store) {
	if testing.Short() {
		t.Skip("short mode: skipping a month of per-minute usage")
	}
	start := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	n, wrote := MonthData(t, s, start, 1, 2, 10)
	t.Logf("WriteUsage: %d rows in %v", n, wrote)
	q := store.UsageQuery{KeyID: "key_month", Limit: 1000}
	t0 := time.Now()
	rows, pages := walkUsage(t, s, q)
	took := time.Since(t0)
	t.Logf("Usage: %d rows in %d pages of %d in %v, %v per page", len(rows), pages, q.Limit, took, took/time.Duration(pages))
	if len(rows) != MonthOfMinutes {
		t.Fatalf("walked %d rows, want %d", len(rows), MonthOfMinutes)
	}
	for i, r := range rows {
		if want := start.Add(time.Duration(i) * time.Minute); !r.Minute.Equal(want) || r.Count != int64(i%100+1) {
			t.Fatalf("row %d = %+v, want minute %v, count %d", i, r, want, i%100+1)
		}
	}
	// A page deep in the month is as cheap as the first.
	mid := store.UsageQuery{KeyID: "key_month", From: start.Add(20 * 24 * time.Hour), Limit: 1000}
	page, next, err := s.Usage(context.Background(), mid)
	if err != nil || len(page) != 1000 || next == "" || !page[0].Minute.Equal(mid.From) {
		t.Fatalf("Usage(%+v) = %d rows (first %+v), %q, %v", mid, len(page), page[0], next, err)
	}
	days, err := s.DailyUsage(context.Background(), "key_month", time.Time{}, time.Time{})
	if err != nil || len(days) != 30 {
		t.Fatalf("DailyUsage = %d days, %v; want 30", len(days), err)
	}
}

// BenchUsagePaging measures Usage pages of 1000 rows (ns/op is per page) over a month of
// per-minute rows of one key with perMinute combinations, among 4 other keys' rows. s must
// be empty; setup is not timed.
func BenchUsagePaging(b *testing.B, s store.Store, perMinute int) {
	start := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	n, wrote := MonthData(b, s, start, perMinute, 4, 1)
	b.Logf("WriteUsage: %d rows in %v", n, wrote)
	ctx := context.Background()
	q := store.UsageQuery{KeyID: "key_month", Limit: 1000}
	b.ReportAllocs()
	b.ResetTimer()
	rows := 0
	for b.Loop() {
		page, next, err := s.Usage(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		rows += len(page)
		q.Cursor = next // from the start again after the last page
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchWriteUsage measures WriteUsage of flushes of n records (ns/op is per flush): n/5 keys
// with 5 combinations each. Every flush is for a new minute when insert is true (new rows),
// else for the same minute (every record adds to an existing row).
func BenchWriteUsage(b *testing.B, s store.Store, n int, insert bool) {
	start := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]metering.Record, 0, n)
	outcomes := []string{"ok", "stale", "not_found", "rate_limited", "bad_request"}
	for i := range n {
		recs = append(recs, rec(fmt.Sprintf("key_%06d", i/len(outcomes)), start, "http", "price", "btc", outcomes[i%len(outcomes)], 1))
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WriteUsage(ctx, recs); err != nil {
			b.Fatal(err)
		}
		if insert {
			for i := range recs {
				recs[i].Minute++
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
