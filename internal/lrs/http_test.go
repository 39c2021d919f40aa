package lrs

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/store"
)

// errAnswer is the JSON of an error answer.
type errAnswer struct {
	ID    json.RawMessage `json:"id"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	RetryAfter     int64 `json:"retry_after"`
	NeedBytes      int   `json:"need_bytes"`
	SuggestedLimit int   `json:"suggested_limit"`
}

func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) errAnswer {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	var a errAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	if a.Error.Code != code || a.Error.Message == "" {
		t.Fatalf("error %+v, want code %q", a.Error, code)
	}
	return a
}

func wantOK(t *testing.T, w *httptest.ResponseRecorder, contentType string) []byte {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != contentType {
		t.Errorf("Content-Type %q, want %q", ct, contentType)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	return w.Body.Bytes()
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// readTable parses a csv or tsv answer.
func readTable(t *testing.T, b []byte, tsv bool) [][]string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(string(b)))
	if tsv {
		r.Comma = '\t'
	}
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("parse table %q: %v", b, err)
	}
	return recs
}

func wantRecords(t *testing.T, got, want [][]string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records\n got %q\nwant %q", got, want)
	}
}

func may(day, h, m int) time.Time { return time.Date(2026, 5, day, h, m, 0, 0, time.UTC) }

// seedQuotaKey stores the usage of proQuotaKey used by several tests.
func (e *env) seedQuotaKey() {
	id := e.keyID[proQuotaKey]
	e.st.addUsage(id,
		row(time.Date(2026, 4, 30, 23, 59, 0, 0, time.UTC), "http", "price", "BTC", "ok", 7),
		row(may(1, 0, 5), "http", "price", "BTC", "rate_limited", 3),
		row(may(1, 0, 5), "http", "price", "BTC", "ok", 10),
		row(may(2, 12, 0), "udp", "prices", "*", "ok", 5),
		row(may(14, 10, 0), "http", "price", `we"ird,asset`, "not_found", 2),
	)
	e.st.addUsage("key_other", row(may(3, 0, 0), "http", "price", "BTC", "ok", 99))
}

func TestUsageReportFormats(t *testing.T) {
	e := newEnv(t)
	e.seedQuotaKey()
	header := []string{"minute", "protocol", "endpoint", "asset", "outcome", "count"}
	want := [][]string{
		{"2026-05-01T00:05:00Z", "http", "price", "BTC", "ok", "10"},
		{"2026-05-01T00:05:00Z", "http", "price", "BTC", "rate_limited", "3"},
		{"2026-05-02T12:00:00Z", "udp", "prices", "*", "ok", "5"},
		{"2026-05-14T10:00:00Z", "http", "price", `we"ird,asset`, "not_found", "2"},
	}

	t.Run("json", func(t *testing.T) {
		b := wantOK(t, e.get(t, proQuotaKey, "/reports/usage"), "application/json")
		r := decode[usageReport](t, b)
		if r.KeyID != "key_quota" || r.From != "2026-05-01T00:00:00Z" || r.To != "2026-05-14T10:30:15Z" || r.NextCursor != "" {
			t.Errorf("report head %+v", r)
		}
		if len(r.Rows) != len(want) {
			t.Fatalf("rows %+v", r.Rows)
		}
		for i, w := range want {
			g := r.Rows[i]
			got := []string{g.Minute, g.Protocol, g.Endpoint, g.Asset, g.Outcome, strconv.FormatInt(g.Count, 10)}
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("row %d = %q, want %q", i, got, w)
			}
		}
		// The raw JSON uses the documented field names.
		for _, f := range []string{`"key_id":`, `"rows":[{"minute":"2026-05-01T00:05:00Z","protocol":"http","endpoint":"price","asset":"BTC","outcome":"ok","count":10}`, `"next_cursor":""`} {
			if !strings.Contains(string(b), f) {
				t.Errorf("JSON lacks %s: %s", f, b)
			}
		}
	})
	t.Run("csv", func(t *testing.T) {
		b := wantOK(t, e.get(t, proQuotaKey, "/reports/usage?format=csv"), "text/csv; charset=utf-8; header=present")
		wantRecords(t, readTable(t, b, false), append([][]string{header}, want...))
		if !strings.Contains(string(b), `"we""ird,asset"`) {
			t.Errorf("CSV does not quote as RFC 4180 says: %s", b)
		}
	})
	t.Run("tsv", func(t *testing.T) {
		b := wantOK(t, e.get(t, proQuotaKey, "/reports/usage?format=TSV"), "text/tab-separated-values; charset=utf-8")
		wantRecords(t, readTable(t, b, true), append([][]string{header}, want...))
	})
	t.Run("text", func(t *testing.T) {
		b := string(wantOK(t, e.get(t, proQuotaKey, "/reports/usage?format=text"), "text/plain; charset=utf-8"))
		for _, s := range append(header, "key_quota", "2026-05-01T00:05:00Z", "rate_limited", "prices", `we"ird,asset`, "not_found") {
			if !strings.Contains(b, s) {
				t.Errorf("text lacks %q:\n%s", s, b)
			}
		}
		// Columns are aligned: "count" starts at the same offset in the header and the rows.
		lines := strings.Split(b, "\n")
		col := strings.Index(lines[2], "count")
		if col < 0 || !strings.HasPrefix(lines[3][col:], "10") {
			t.Errorf("columns not aligned:\n%s", b)
		}
	})
	t.Run("other key sees nothing", func(t *testing.T) {
		r := decode[usageReport](t, wantOK(t, e.get(t, unlimitedKey, "/reports/usage"), "application/json"))
		if len(r.Rows) != 0 || r.Rows == nil {
			t.Errorf("rows %#v, want an empty list", r.Rows)
		}
	})
}

func TestSummaryReport(t *testing.T) {
	e := newEnv(t)
	e.seedQuotaKey()

	t.Run("json", func(t *testing.T) {
		b := wantOK(t, e.get(t, proQuotaKey, "/reports/summary?from=2026-04-01"), "application/json")
		r := decode[summaryReport](t, b)
		if r.KeyID != "key_quota" || r.Tier != "pro" || r.From != "2026-04-01T00:00:00Z" {
			t.Errorf("head %+v", r)
		}
		wantDays := []dayTotal{{"2026-04-30", 7, 7}, {"2026-05-01", 13, 10}, {"2026-05-02", 5, 5}, {"2026-05-14", 2, 2}}
		if fmt.Sprint(r.Days) != fmt.Sprint(wantDays) {
			t.Errorf("days %+v, want %+v", r.Days, wantDays)
		}
		wantMonths := []monthTotal{{"2026-04", 7, 7}, {"2026-05", 20, 17}}
		if fmt.Sprint(r.Months) != fmt.Sprint(wantMonths) {
			t.Errorf("months %+v, want %+v", r.Months, wantMonths)
		}
		q := r.Quota
		if q.Month != "2026-05" || q.Requests != 20 || q.Used != 17 || q.Limit == nil || *q.Limit != 500 ||
			q.Remaining == nil || *q.Remaining != 483 || q.Unlimited || q.ResetsAt != "2026-06-01T00:00:00Z" {
			t.Errorf("quota %+v (key quota 500 overrides the pro tier's)", q)
		}
	})
	t.Run("quota of the current month outside the range", func(t *testing.T) {
		calls := e.st.dailyCalls
		r := decode[summaryReport](t, wantOK(t, e.get(t, proQuotaKey, "/reports/summary?from=2026-04-01&to=2026-04-30"), "application/json"))
		if len(r.Days) != 1 || len(r.Months) != 1 || r.Quota.Used != 17 || *r.Quota.Remaining != 483 {
			t.Errorf("summary %+v", r)
		}
		if e.st.dailyCalls-calls != 2 {
			t.Errorf("%d DailyUsage calls, want 2", e.st.dailyCalls-calls)
		}
	})
	t.Run("tier quota and csv", func(t *testing.T) {
		e.st.addUsage(e.keyID[freeKey], row(may(3, 1, 0), "udp", "price", "ETH", "ok", 1200), row(may(3, 1, 0), "udp", "price", "ETH", "quota_exceeded", 4))
		b := wantOK(t, e.get(t, freeKey, "/reports/summary?format=csv"), "text/csv; charset=utf-8; header=present")
		wantRecords(t, readTable(t, b, false), [][]string{
			{"kind", "period", "requests", "quota_requests", "quota_limit", "quota_remaining"},
			{"day", "2026-05-03", "1204", "1200", "", ""},
			{"month", "2026-05", "1204", "1200", "", ""},
			{"quota", "2026-05", "1204", "1200", "1000", "0"},
		})
	})
	t.Run("unlimited tsv text json", func(t *testing.T) {
		e.st.addUsage(e.keyID[unlimitedKey], row(may(4, 1, 0), "http", "prices", "*", "ok", 42))
		b := wantOK(t, e.get(t, unlimitedKey, "/reports/summary?format=tsv"), "text/tab-separated-values; charset=utf-8")
		wantRecords(t, readTable(t, b, true), [][]string{
			{"kind", "period", "requests", "quota_requests", "quota_limit", "quota_remaining"},
			{"day", "2026-05-04", "42", "42", "", ""},
			{"month", "2026-05", "42", "42", "", ""},
			{"quota", "2026-05", "42", "42", "unlimited", "unlimited"},
		})
		txt := string(wantOK(t, e.get(t, unlimitedKey, "/reports/summary?format=text"), "text/plain; charset=utf-8"))
		for _, s := range []string{"key_unlim", "unlimited", "2026-05-04", "42", "quota_remaining"} {
			if !strings.Contains(txt, s) {
				t.Errorf("text lacks %q:\n%s", s, txt)
			}
		}
		raw := string(wantOK(t, e.get(t, unlimitedKey, "/reports/summary"), "application/json"))
		if !strings.Contains(raw, `"limit":null`) || !strings.Contains(raw, `"remaining":null`) || !strings.Contains(raw, `"unlimited":true`) {
			t.Errorf("unlimited quota JSON: %s", raw)
		}
	})
}

// A month of per-minute data: the summary reads day totals only, and usage one page.
func TestReportsDoNotLoadEverything(t *testing.T) {
	e := newEnv(t)
	id := e.keyID[unlimitedKey]
	var rows []store.UsageRow
	for m := time.Date(2026, 4, 14, 0, 0, 0, 0, time.UTC); m.Before(testNow); m = m.Add(time.Minute) {
		rows = append(rows, row(m, "http", "price", "BTC", "ok", 3), row(m, "udp", "price", "ETH", "ok", 1))
	}
	e.st.addUsage(id, rows...)

	r := decode[summaryReport](t, wantOK(t, e.get(t, unlimitedKey, "/reports/summary?from=2026-04-14"), "application/json"))
	if e.st.usageCalls != 0 || e.st.dailyCalls != 1 {
		t.Errorf("summary made %d Usage and %d DailyUsage calls, want 0 and 1", e.st.usageCalls, e.st.dailyCalls)
	}
	wantMay := int64((13*1440 + 631) * 4) // May 1 00:00 to the 10:30 minute of May 14
	if len(r.Days) != 31 || r.Days[0].Requests != 1440*4 || r.Quota.Requests != wantMay {
		t.Errorf("days %d, first %+v, quota %+v", len(r.Days), r.Days[0], r.Quota)
	}
	u := decode[usageReport](t, wantOK(t, e.get(t, unlimitedKey, "/reports/usage"), "application/json"))
	if e.st.usageCalls != 1 || len(u.Rows) != DefaultLimit || u.NextCursor == "" {
		t.Errorf("usage: %d calls, %d rows, cursor %q", e.st.usageCalls, len(u.Rows), u.NextCursor)
	}
}

func TestReportUsageAndSummary(t *testing.T) {
	e := newEnv(t)
	id := e.keyID[freeKey]
	// Earlier deliveries: two in April, one in March.
	for _, at := range []time.Time{
		time.Date(2026, 3, 20, 8, 0, 0, 0, time.UTC),
		time.Date(2026, 4, 2, 8, 0, 0, 0, time.UTC),
		time.Date(2026, 4, 3, 8, 0, 0, 0, time.UTC),
	} {
		e.st.logs = append(e.st.logs, store.ReportLog{At: at, KeyID: id, Report: "usage", Format: "csv", Protocol: "http", Status: 200})
	}
	// Each call below is one second after the previous one, from 10:30:15.
	tick := func() { e.clk.Set(e.clk.Now().Add(time.Second)) }
	wantOK(t, e.get(t, freeKey, "/reports/usage?format=csv"), "text/csv; charset=utf-8; header=present")
	tick()
	wantOK(t, e.get(t, freeKey, "/reports/summary?format=text"), "text/plain; charset=utf-8")
	tick()
	r := decode[reportUsageReport](t, wantOK(t, e.get(t, freeKey, "/reports/report-usage?from=2026-03-01"), "application/json"))
	want := []reportLogRow{
		{"2026-05-14T10:30:16Z", "summary", "text", "http", 200},
		{"2026-05-14T10:30:15Z", "usage", "csv", "http", 200},
		{"2026-04-03T08:00:00Z", "usage", "csv", "http", 200},
		{"2026-04-02T08:00:00Z", "usage", "csv", "http", 200},
		{"2026-03-20T08:00:00Z", "usage", "csv", "http", 200},
	}
	if fmt.Sprint(r.Rows) != fmt.Sprint(want) || r.NextCursor != "" {
		t.Errorf("report-usage rows\n got %+v\nwant %+v", r.Rows, want)
	}
	tick()
	b := wantOK(t, e.get(t, freeKey, "/reports/report-usage?format=csv&from=2026-04-01&to=2026-04-30"), "text/csv; charset=utf-8; header=present")
	wantRecords(t, readTable(t, b, false), [][]string{
		{"at", "report", "format", "protocol", "status"},
		{"2026-04-03T08:00:00Z", "usage", "csv", "http", "200"},
		{"2026-04-02T08:00:00Z", "usage", "csv", "http", "200"},
	})

	// Four reports delivered in May so far; this is the fifth, and counts in both places.
	tick()
	s := decode[reportSummaryReport](t, wantOK(t, e.get(t, freeKey, "/reports/report-summary?from=2026-03-01"), "application/json"))
	if fmt.Sprint(s.Months) != fmt.Sprint([]monthReports{{"2026-03", 1}, {"2026-04", 2}, {"2026-05", 5}}) {
		t.Errorf("months %+v", s.Months)
	}
	a := s.Allowance
	if a.Month != "2026-05" || a.Used != 5 || a.Limit == nil || *a.Limit != 10 || a.Remaining == nil || *a.Remaining != 5 ||
		a.Unlimited || a.ResetsAt != "2026-06-01T00:00:00Z" || s.Truncated || s.Tier != "free" {
		t.Errorf("report-summary %+v allowance %+v", s, a)
	}
	tick()
	b = wantOK(t, e.get(t, freeKey, "/reports/report-summary?format=tsv"), "text/tab-separated-values; charset=utf-8")
	wantRecords(t, readTable(t, b, true), [][]string{
		{"kind", "month", "reports", "limit", "remaining"},
		{"month", "2026-05", "6", "", ""},
		{"allowance", "2026-05", "6", "10", "4"},
	})
	tick()
	txt := string(wantOK(t, e.get(t, freeKey, "/reports/report-summary?format=text"), "text/plain; charset=utf-8"))
	for _, s := range []string{"key_free", "allowance", "2026-05", "  7  ", "10", "3"} {
		if !strings.Contains(txt, s) {
			t.Errorf("text lacks %q:\n%s", s, txt)
		}
	}

	u := decode[reportSummaryReport](t, wantOK(t, e.get(t, unlimitedKey, "/reports/report-summary"), "application/json"))
	if !u.Allowance.Unlimited || u.Allowance.Limit != nil || u.Allowance.Remaining != nil || u.Allowance.Used != 1 {
		t.Errorf("unlimited allowance %+v", u.Allowance)
	}
}

func TestParams(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		query    string
		from, to string
	}{
		{"", "2026-05-01T00:00:00Z", "2026-05-14T10:30:15Z"},
		{"from=2026-05-03", "2026-05-03T00:00:00Z", "2026-05-14T10:30:15Z"},
		{"to=2026-05-03", "2026-05-01T00:00:00Z", "2026-05-04T00:00:00Z"},
		{"to=2026-03-10", "2026-03-01T00:00:00Z", "2026-03-11T00:00:00Z"},
		{"to=2026-06-01T00:00:00Z", "2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z"},
		{"from=2026-05-03&to=2026-05-03", "2026-05-03T00:00:00Z", "2026-05-04T00:00:00Z"},
		{"from=2026-05-03T04:05:06%2B02:00", "2026-05-03T02:05:06Z", "2026-05-14T10:30:15Z"},
		{"from=2026-05-03T04:05:06.5Z&to=2026-05-03T04:05:06.5Z", "2026-05-03T04:05:06.5Z", "2026-05-03T04:05:06.5Z"},
		{"from=2025-01-01&to=2026-12-31&limit=10000", "2025-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"limit=1&format=json", "2026-05-01T00:00:00Z", "2026-05-14T10:30:15Z"},
	} {
		r := decode[usageReport](t, wantOK(t, e.get(t, unlimitedKey, "/reports/usage?"+tc.query), "application/json"))
		if r.From != tc.from || r.To != tc.to {
			t.Errorf("%q: from %s to %s, want %s to %s", tc.query, r.From, r.To, tc.from, tc.to)
		}
	}
	for _, q := range []string{
		"from=2026-13-01", "from=yesterday", "to=2026-05-1", "from=2026-05-01T25:00:00Z", "to=" + strings.Repeat("9", 100),
		"from=2026-05-03&to=2026-05-01", "from=2026-05-03T00:00:01Z&to=2026-05-03T00:00:00Z",
		"limit=0", "limit=10001", "limit=abc", "limit=-1", "limit=1.5",
		"format=xml", "cursor=zzz", "cursor=" + encodeCursor(cursorReports, reportsCursor{at: testNow}.payload()),
	} {
		wantError(t, e.get(t, unlimitedKey, "/reports/usage?"+q), 400, CodeBadRequest)
	}
	// Summaries ignore limit and cursor.
	wantOK(t, e.get(t, unlimitedKey, "/reports/summary?limit=0&cursor=zzz"), "application/json")
	// A tampered cursor is refused before the store sees it.
	good := encodeCursor(cursorUsage, []byte("o:1"))
	bad := []byte(good)
	bad[3] ^= 1
	wantError(t, e.get(t, unlimitedKey, "/reports/usage?cursor="+string(bad)), 400, CodeBadRequest)
	// A well-formed cursor the store rejects is a bad request too (the store wraps ErrInvalid).
	wantError(t, e.get(t, unlimitedKey, "/reports/usage?cursor="+encodeCursor(cursorUsage, []byte("x"))), 400, CodeBadRequest)
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	id := e.keyID[unlimitedKey]
	var all []store.UsageRow
	for i := range 2500 {
		all = append(all, row(may(2, 0, 0).Add(time.Duration(i)*time.Minute), "http", "price", "BTC", "ok", int64(i+1)))
	}
	e.st.addUsage(id, all...)

	for _, format := range []string{"json", "csv"} {
		var got []string
		target := "/reports/usage?limit=1000&format=" + format
		pages := 0
		for {
			w := e.get(t, unlimitedKey, target)
			if w.Code != 200 {
				t.Fatalf("%s: %d %s", target, w.Code, w.Body)
			}
			pages++
			next := w.Header().Get("X-Next-Cursor")
			if format == "json" {
				r := decode[usageReport](t, w.Body.Bytes())
				if r.NextCursor != next {
					t.Fatalf("body cursor %q, header %q", r.NextCursor, next)
				}
				for _, u := range r.Rows {
					got = append(got, strconv.FormatInt(u.Count, 10))
				}
			} else {
				for _, rec := range readTable(t, w.Body.Bytes(), false)[1:] {
					got = append(got, rec[5])
				}
			}
			if next == "" {
				if w.Header().Get("Link") != "" {
					t.Errorf("Link on the last page")
				}
				break
			}
			link := w.Header().Get("Link")
			if !strings.HasPrefix(link, "</reports/usage?") || !strings.HasSuffix(link, `>; rel="next"`) {
				t.Fatalf("Link %q", link)
			}
			u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`))
			if err != nil || u.Query().Get("cursor") != next || u.Query().Get("format") != format || u.Query().Get("limit") != "1000" {
				t.Fatalf("Link %q does not carry the parameters and cursor %q", link, next)
			}
			target = u.String()
		}
		if pages != 3 || len(got) != 2500 {
			t.Fatalf("%s: %d pages, %d rows", format, pages, len(got))
		}
		for i, c := range got {
			if c != strconv.Itoa(i+1) {
				t.Fatalf("%s: row %d has count %s", format, i, c)
			}
		}
	}
	if e.st.logCount(id) != 6 {
		t.Errorf("%d reports logged, want 6 (one per page)", e.st.logCount(id))
	}
}

// Report-usage pages end at a time; logs of the same instant across a page boundary are
// neither lost nor repeated.
func TestReportUsagePaginationTies(t *testing.T) {
	e := newEnv(t)
	id := e.keyID[unlimitedKey]
	var want []string
	for i := range 25 {
		at := may(10, 0, 0).Add(time.Duration(i/6) * time.Second) // runs of 6 equal times
		e.st.logs = append(e.st.logs, store.ReportLog{At: at, KeyID: id, Report: "usage", Format: "f" + strconv.Itoa(i), Protocol: "http", Status: 200})
	}
	for i := 24; i >= 0; i-- {
		want = append(want, "f"+strconv.Itoa(i))
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("no end")
		}
		r := decode[reportUsageReport](t, wantOK(t, e.get(t, unlimitedKey, "/reports/report-usage?limit=4&to=2026-05-11&cursor="+cursor), "application/json"))
		for _, l := range r.Rows {
			got = append(got, l.Format)
		}
		if cursor = r.NextCursor; cursor == "" {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("walk\n got %v\nwant %v", got, want)
	}
	// A usage cursor is not a report-usage cursor.
	wantError(t, e.get(t, unlimitedKey, "/reports/report-usage?cursor="+encodeCursor(cursorUsage, []byte("o:1"))), 400, CodeBadRequest)
}

func TestAllowance(t *testing.T) {
	e := newEnv(t)
	id := e.keyID[freeKey]
	next := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	wantRetry := int64(next.Sub(testNow) / time.Second)

	// Refused and failed calls do not count.
	wantError(t, e.get(t, freeKey, "/reports/usage?from=bad"), 400, CodeBadRequest)
	e.st.setFail(errors.New("disk on fire"))
	wantError(t, e.get(t, freeKey, "/reports/summary"), 503, CodeStoreUnavailable)
	e.st.setFail(nil)

	paths := []string{"/reports/usage", "/reports/summary?format=csv", "/reports/report-usage?format=tsv", "/reports/report-summary?format=text"}
	for i := range 10 {
		w := e.get(t, freeKey, paths[i%len(paths)])
		if w.Code != 200 {
			t.Fatalf("report %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	for _, p := range paths {
		w := e.get(t, freeKey, p)
		a := wantError(t, w, 429, CodeReportQuotaExceeded)
		if ra := w.Header().Get("Retry-After"); ra != strconv.FormatInt(wantRetry, 10) || a.RetryAfter != wantRetry {
			t.Errorf("Retry-After %q, retry_after %d, want %d", ra, a.RetryAfter, wantRetry)
		}
	}
	if n := e.st.logCount(id); n != 10 {
		t.Errorf("%d reports logged, want the 10 delivered", n)
	}
	// Other keys are unaffected.
	wantOK(t, e.get(t, proQuotaKey, "/reports/usage"), "application/json")

	// The last second of the month: Retry-After 1. Then the allowance renews.
	e.clk.Set(next.Add(-time.Second))
	if w := e.get(t, freeKey, "/reports/usage"); w.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q at the end of the month", w.Header().Get("Retry-After"))
	}
	e.clk.Set(next.Add(time.Second))
	s := decode[reportSummaryReport](t, wantOK(t, e.get(t, freeKey, "/reports/report-summary"), "application/json"))
	if s.Allowance.Month != "2026-06" || s.Allowance.Used != 1 || *s.Allowance.Remaining != 9 {
		t.Errorf("June allowance %+v", s.Allowance)
	}

	// Unlimited tier: never refused.
	for i := range 60 {
		if w := e.get(t, unlimitedKey, paths[i%len(paths)]); w.Code != 200 {
			t.Fatalf("unlimited report %d: %d %s", i+1, w.Code, w.Body)
		}
	}
}

// Concurrent calls of one key cannot take more than the allowance.
func TestAllowanceConcurrent(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 25 {
		wg.Go(func() {
			w := e.get(t, freeKey, "/reports/summary")
			mu.Lock()
			codes[w.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[200] != 10 || codes[429] != 15 {
		t.Errorf("status counts %v, want 10×200 and 15×429", codes)
	}
	if len(e.svc.locks.m) != 0 {
		t.Errorf("%d key locks left behind", len(e.svc.locks.m))
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	wantError(t, e.get(t, "", "/reports/usage"), 401, CodeMissingKey)
	w := e.get(t, "tb_nope", "/reports/usage")
	wantError(t, w, 401, CodeUnknownKey)
	if w.Header().Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	wantError(t, e.get(t, revokedKey, "/reports/summary"), 403, CodeKeyRevoked)

	// The scheme is case-insensitive; a non-Bearer scheme is no key.
	for _, h := range []string{"bearer " + freeKey, "BEARER  " + freeKey + " "} {
		r := httptest.NewRequest("GET", "/reports/usage", nil)
		r.Header.Set("Authorization", h)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, r)
		wantOK(t, rec, "application/json")
	}
	r := httptest.NewRequest("GET", "/reports/usage", nil)
	r.Header.Set("Authorization", "Basic "+freeKey)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	wantError(t, rec, 401, CodeMissingKey)

	// api_key parameter; the header wins over it.
	wantOK(t, e.get(t, "", "/reports/usage?api_key="+freeKey), "application/json")
	wantError(t, e.get(t, "", "/reports/usage?api_key=tb_nope"), 401, CodeUnknownKey)
	b := wantOK(t, e.get(t, unlimitedKey, "/reports/usage?api_key="+freeKey), "application/json")
	if decode[usageReport](t, b).KeyID != "key_unlim" {
		t.Error("api_key won over the Authorization header")
	}
	// api_key_id must name the presented key.
	wantOK(t, e.get(t, freeKey, "/reports/usage?api_key_id=key_free"), "application/json")
	wantError(t, e.get(t, freeKey, "/reports/usage?api_key_id=key_unlim"), 400, CodeBadRequest)

	// Paths and methods.
	wantError(t, e.get(t, freeKey, "/reports/nope"), 404, CodeNotFound)
	wantError(t, e.get(t, freeKey, "/"), 404, CodeNotFound)
	rec = httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest("POST", "/reports/usage", nil))
	wantError(t, rec, 405, CodeMethodNotAllowed)
	if rec.Header().Get("Allow") != "GET" {
		t.Errorf("Allow %q", rec.Header().Get("Allow"))
	}
	if n := e.st.logCount(e.keyID[freeKey]); n != 4 {
		t.Errorf("%d reports logged for the free key, want 4", n)
	}
}

func TestStoreUnavailable(t *testing.T) {
	e := newEnv(t)
	e.st.setFail(errors.New("connection refused"))
	for _, p := range []string{"/reports/usage", "/reports/summary", "/reports/report-usage", "/reports/report-summary"} {
		wantError(t, e.get(t, unlimitedKey, p), 503, CodeStoreUnavailable)
		wantError(t, e.get(t, freeKey, p+"?format=csv"), 503, CodeStoreUnavailable)
	}
	// The store answers reads but cannot log: the report is not delivered.
	e.st.setFail(nil)
	e.st.logs = nil
	f := &failLog{fakeStore: e.st}
	svc := New(Config{Store: f, Keys: fakeKeys{freeKey: {ID: "key_free", Tier: "free"}}, Now: e.clk.Now})
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/reports/usage", nil)
	r.Header.Set("Authorization", "Bearer "+freeKey)
	NewHTTP("", svc, nil).Handler().ServeHTTP(rec, r)
	wantError(t, rec, 503, CodeStoreUnavailable)
}

type failLog struct{ *fakeStore }

func (failLog) LogReport(context.Context, store.ReportLog) (int, error) {
	return 0, errors.New("read-only")
}

func TestUnknownTier(t *testing.T) {
	e := newEnv(t)
	svc := New(Config{Store: e.st, Keys: fakeKeys{"k": {ID: "key_x", Tier: "gold"}}, Now: e.clk.Now})
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/reports/usage", nil)
	r.Header.Set("Authorization", "Bearer k")
	NewHTTP("", svc, nil).Handler().ServeHTTP(rec, r)
	wantError(t, rec, 500, CodeInternal)
}

// The server end to end on a loopback port: Listen, Serve, a report, shutdown.
func TestHTTPServerServe(t *testing.T) {
	e := newEnv(t)
	e.seedQuotaKey()
	s := NewHTTP("127.0.0.1:0", e.svc, nil)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()

	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+s.Addr().String()+"/reports/usage?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+proQuotaKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(readTable(t, b, false)) != 5 {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// report-summary reads at most maxReportScan logs and says so when it stopped there.
func TestReportSummaryTruncated(t *testing.T) {
	e := newEnv(t)
	id := e.keyID[unlimitedKey]
	logs := make([]store.ReportLog, maxReportScan+5)
	for i := range logs {
		logs[i] = store.ReportLog{At: may(1, 0, 0).Add(time.Duration(i) * time.Second), KeyID: id, Report: "usage", Format: "json", Protocol: "udp", Status: 200}
	}
	e.st.logs = logs
	s := decode[reportSummaryReport](t, wantOK(t, e.get(t, unlimitedKey, "/reports/report-summary"), "application/json"))
	if !s.Truncated || len(s.Months) != 1 || s.Months[0].Reports != maxReportScan+1 || s.Allowance.Used != maxReportScan+1 {
		t.Errorf("truncated %v months %+v allowance %+v", s.Truncated, s.Months, s.Allowance)
	}
	txt := string(wantOK(t, e.get(t, unlimitedKey, "/reports/report-summary?format=text"), "text/plain; charset=utf-8"))
	if !strings.Contains(txt, "truncated") {
		t.Errorf("the text answer does not say it is truncated:\n%s", txt)
	}
}
