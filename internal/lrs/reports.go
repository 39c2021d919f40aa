package lrs

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/store"
)

// report is one built report. Its JSON form is the struct itself (encoding/json); its table
// (csv, tsv, text) is header plus rows.
type report interface {
	// header returns the table's column names.
	header() []string
	// rows calls emit once per table row; emit must not retain cells.
	rows(emit func(cells []string) error) error
	// title is the line above the table in a text answer.
	title() string
	// nextCursor is the cursor of the next page, "" on the last page and for unpaged reports.
	nextCursor() string
}

// pagedReport is a report with a page of rows (usage, report-usage).
type pagedReport interface {
	report
	// rowCount is the number of rows on the page.
	rowCount() int
	// withoutRows returns a copy with no rows, to measure the answer's fixed part.
	withoutRows() report
}

// maxReportScan bounds the report logs report-summary reads; beyond it the counts are lower
// bounds and the answer says "truncated":true. Only keys with an unlimited allowance and
// more than this many reports in the range can reach it.
const maxReportScan = 100_000

// fmtTime formats an instant for answers: RFC 3339 in UTC, with a fraction only when needed.
func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// build builds report p for key k at time now. before is the number of reports delivered to
// k this month before this one when the allowance check counted them, else -1.
func (s *Service) build(ctx context.Context, k *keys.Key, t limits.Tier, p params, now time.Time, before int) (report, *Error) {
	switch p.report {
	case ReportUsage:
		return s.buildUsage(ctx, k, p)
	case ReportSummary:
		return s.buildSummary(ctx, k, t, p, now)
	case ReportReportUsage:
		return s.buildReportUsage(ctx, k, p)
	default:
		return s.buildReportSummary(ctx, k, t, p, now, before)
	}
}

// ---- usage ----

// usageReport is the answer of /reports/usage: one page of per-minute usage rows.
type usageReport struct {
	KeyID      string     `json:"key_id"`
	From       string     `json:"from"`
	To         string     `json:"to"`
	Rows       []usageRow `json:"rows"`
	NextCursor string     `json:"next_cursor"`
}

type usageRow struct {
	Minute   string `json:"minute"`
	Protocol string `json:"protocol"`
	Endpoint string `json:"endpoint"`
	Asset    string `json:"asset"`
	Outcome  string `json:"outcome"`
	Count    int64  `json:"count"`
}

func (s *Service) buildUsage(ctx context.Context, k *keys.Key, p params) (report, *Error) {
	rows, next, err := s.store.Usage(ctx, store.UsageQuery{
		KeyID: k.ID, From: p.from, To: p.to, Limit: p.limit, Cursor: string(p.cursor),
	})
	if err != nil {
		if p.cursor != nil && errors.Is(err, store.ErrInvalid) {
			return nil, errBadCursor
		}
		return nil, s.storeErr(ctx, "read usage", err)
	}
	r := &usageReport{KeyID: k.ID, From: fmtTime(p.from), To: fmtTime(p.to),
		Rows: make([]usageRow, len(rows))}
	for i, u := range rows {
		r.Rows[i] = usageRow{Minute: fmtTime(u.Minute), Protocol: u.Protocol, Endpoint: u.Endpoint,
			Asset: u.Asset, Outcome: u.Outcome, Count: u.Count}
	}
	if next != "" {
		r.NextCursor = encodeCursor(cursorUsage, []byte(next))
	}
	return r, nil
}

func (r *usageReport) header() []string {
	return []string{"minute", "protocol", "endpoint", "asset", "outcome", "count"}
}

func (r *usageReport) rows(emit func([]string) error) error {
	cells := make([]string, 6)
	for _, u := range r.Rows {
		cells[0], cells[1], cells[2], cells[3], cells[4] = u.Minute, u.Protocol, u.Endpoint, u.Asset, u.Outcome
		cells[5] = strconv.FormatInt(u.Count, 10)
		if err := emit(cells); err != nil {
			return err
		}
	}
	return nil
}

func (r *usageReport) title() string {
	return "Usage of " + r.KeyID + " per minute, from " + r.From + " to " + r.To + " (exclusive)"
}
func (r *usageReport) nextCursor() string  { return r.NextCursor }
func (r *usageReport) rowCount() int       { return len(r.Rows) }
func (r *usageReport) withoutRows() report { c := *r; c.Rows = []usageRow{}; return &c }

// ---- summary ----

// summaryReport is the answer of /reports/summary: requests per UTC day and month in the range,
// and the quota of the current month.
type summaryReport struct {
	KeyID  string       `json:"key_id"`
	Tier   string       `json:"tier"`
	From   string       `json:"from"`
	To     string       `json:"to"`
	Days   []dayTotal   `json:"days"`
	Months []monthTotal `json:"months"`
	Quota  quotaStatus  `json:"quota"`
}

// dayTotal is one UTC day's requests: all metered requests, and those that count against the
// quota (store.QuotaOutcomes).
type dayTotal struct {
	Day           string `json:"day"`
	Requests      int64  `json:"requests"`
	QuotaRequests int64  `json:"quota_requests"`
}

type monthTotal struct {
	Month         string `json:"month"`
	Requests      int64  `json:"requests"`
	QuotaRequests int64  `json:"quota_requests"`
}

// quotaStatus is the current month's quota. Limit and Remaining are null when unlimited.
type quotaStatus struct {
	Month     string `json:"month"`
	Requests  int64  `json:"requests"` // every metered request this month
	Used      int64  `json:"used"`     // requests counting against the quota
	Limit     *int64 `json:"limit"`
	Remaining *int64 `json:"remaining"`
	Unlimited bool   `json:"unlimited"`
	ResetsAt  string `json:"resets_at"`
}

func (s *Service) buildSummary(ctx context.Context, k *keys.Key, t limits.Tier, p params, now time.Time) (report, *Error) {
	days, err := s.store.DailyUsage(ctx, k.ID, p.from, p.to)
	if err != nil {
		return nil, s.storeErr(ctx, "read daily usage", err)
	}
	r := &summaryReport{KeyID: k.ID, Tier: k.Tier, From: fmtTime(p.from), To: fmtTime(p.to),
		Days: make([]dayTotal, 0, len(days)), Months: []monthTotal{}}
	for _, d := range days {
		r.Days = append(r.Days, dayTotal{Day: d.Day.UTC().Format(time.DateOnly), Requests: d.Requests, QuotaRequests: d.Quota})
		m := limits.MonthOf(d.Day).String()
		if n := len(r.Months); n == 0 || r.Months[n-1].Month != m {
			r.Months = append(r.Months, monthTotal{Month: m})
		}
		mt := &r.Months[len(r.Months)-1]
		mt.Requests += d.Requests
		mt.QuotaRequests += d.Quota
	}

	// The current month's quota: from the days above when the range covers the month so
	// far, else from one more (small: at most 31 rows) query.
	m := limits.MonthOf(now)
	start, end := m.Start(), m.Next().Start()
	cur := days
	if p.from.After(start) || p.to.Before(now) {
		if cur, err = s.store.DailyUsage(ctx, k.ID, start, end); err != nil {
			return nil, s.storeErr(ctx, "read daily usage", err)
		}
	}
	q := quotaStatus{Month: m.String(), ResetsAt: fmtTime(end)}
	for _, d := range cur {
		if !d.Day.Before(start) && d.Day.Before(end) {
			q.Requests += d.Requests
			q.Used += d.Quota
		}
	}
	limit := k.Quota
	if limit <= 0 {
		limit = t.MonthlyQuota
	}
	if limit > 0 {
		rem := max(limit-q.Used, 0)
		q.Limit, q.Remaining = &limit, &rem
	} else {
		q.Unlimited = true
	}
	r.Quota = q
	return r, nil
}

func (r *summaryReport) header() []string {
	return []string{"kind", "period", "requests", "quota_requests", "quota_limit", "quota_remaining"}
}

// rows gives one row per day (kind "day"), per month ("month") and a last "quota" row for the
// current month.
func (r *summaryReport) rows(emit func([]string) error) error {
	for _, d := range r.Days {
		if err := emit([]string{"day", d.Day, itoa(d.Requests), itoa(d.QuotaRequests), "", ""}); err != nil {
			return err
		}
	}
	for _, m := range r.Months {
		if err := emit([]string{"month", m.Month, itoa(m.Requests), itoa(m.QuotaRequests), "", ""}); err != nil {
			return err
		}
	}
	q := r.Quota
	return emit([]string{"quota", q.Month, itoa(q.Requests), itoa(q.Used), limitText(q.Limit), limitText(q.Remaining)})
}

func (r *summaryReport) title() string {
	return "Usage summary of " + r.KeyID + " (" + r.Tier + "), from " + r.From + " to " + r.To + " (exclusive)"
}
func (r *summaryReport) nextCursor() string { return "" }

// ---- report-usage ----

// reportUsageReport is the answer of /reports/report-usage: one page of the key's delivered
// reports, newest first.
type reportUsageReport struct {
	KeyID      string         `json:"key_id"`
	From       string         `json:"from"`
	To         string         `json:"to"`
	Rows       []reportLogRow `json:"rows"`
	NextCursor string         `json:"next_cursor"`
}

type reportLogRow struct {
	At       string `json:"at"`
	Report   string `json:"report"`
	Format   string `json:"format"`
	Protocol string `json:"protocol"`
	Status   int    `json:"status"`
}

func (s *Service) buildReportUsage(ctx context.Context, k *keys.Key, p params) (report, *Error) {
	var c reportsCursor
	if p.cursor != nil {
		var e *Error
		if c, e = parseReportsCursor(p.cursor); e != nil {
			return nil, e
		}
	}
	logs, next, more, err := s.reportPage(ctx, k.ID, p.from, p.to, c, p.limit)
	if err != nil {
		return nil, s.storeErr(ctx, "read report logs", err)
	}
	r := &reportUsageReport{KeyID: k.ID, From: fmtTime(p.from), To: fmtTime(p.to),
		Rows: make([]reportLogRow, len(logs))}
	for i, l := range logs {
		r.Rows[i] = reportLogRow{At: fmtTime(l.At), Report: l.Report, Format: l.Format, Protocol: l.Protocol, Status: l.Status}
	}
	if more {
		r.NextCursor = encodeCursor(cursorReports, next.payload())
	}
	return r, nil
}

// reportPage reads up to limit report logs of key in [from, to), newest first, starting at
// cursor c (zero: the newest). ReportLogs has no cursor of its own, so a page ends at a time
// and the next one reads up to that time again, skipping the logs of that exact time it
// already returned. It returns the logs, the cursor of the rest and whether there is a rest.
func (s *Service) reportPage(ctx context.Context, keyID string, from, to time.Time, c reportsCursor, limit int) ([]store.ReportLog, reportsCursor, bool, error) {
	end, skip := to, 0
	if !c.at.IsZero() {
		if e := c.at.Add(1); !e.After(to) {
			end, skip = e, c.skip
		}
		// else the cursor lies beyond the range: its logs are not in it, nothing to skip.
	}
	// The store returns at most store.MaxLimit logs per call: shrink the page to fit the
	// look-ahead row and the rows to skip (a short page only means more pages).
	if limit+skip+1 > store.MaxLimit {
		limit = max(store.MaxLimit-skip-1, 1)
	}
	logs, err := s.store.ReportLogs(ctx, keyID, from, end, min(limit+skip+1, store.MaxLimit))
	if err != nil {
		return nil, reportsCursor{}, false, err
	}
	drop := 0
	for drop < skip && drop < len(logs) && logs[drop].At.Equal(c.at) {
		drop++
	}
	logs = logs[drop:]
	if len(logs) <= limit {
		return logs, reportsCursor{}, false, nil
	}
	logs = logs[:limit]
	last := logs[limit-1].At
	n := 0
	for i := limit - 1; i >= 0 && logs[i].At.Equal(last); i-- {
		n++
	}
	if last.Equal(c.at) {
		n += drop
	}
	return logs, reportsCursor{at: last, skip: n}, true, nil
}

func (r *reportUsageReport) header() []string {
	return []string{"at", "report", "format", "protocol", "status"}
}

func (r *reportUsageReport) rows(emit func([]string) error) error {
	cells := make([]string, 5)
	for _, l := range r.Rows {
		cells[0], cells[1], cells[2], cells[3] = l.At, l.Report, l.Format, l.Protocol
		cells[4] = strconv.Itoa(l.Status)
		if err := emit(cells); err != nil {
			return err
		}
	}
	return nil
}

func (r *reportUsageReport) title() string {
	return "Reports delivered to " + r.KeyID + ", newest first, from " + r.From + " to " + r.To + " (exclusive)"
}
func (r *reportUsageReport) nextCursor() string  { return r.NextCursor }
func (r *reportUsageReport) rowCount() int       { return len(r.Rows) }
func (r *reportUsageReport) withoutRows() report { c := *r; c.Rows = []reportLogRow{}; return &c }

// ---- report-summary ----

// reportSummaryReport is the answer of /reports/report-summary: delivered reports per month in
// the range, and the current month's allowance. This call counts in both.
type reportSummaryReport struct {
	KeyID     string          `json:"key_id"`
	Tier      string          `json:"tier"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	Months    []monthReports  `json:"months"`
	Allowance allowanceStatus `json:"allowance"`
	// Truncated is true when more than maxReportScan logs were in the range: the oldest
	// months' counts are then lower bounds.
	Truncated bool `json:"truncated"`
}

type monthReports struct {
	Month   string `json:"month"`
	Reports int    `json:"reports"`
}

// allowanceStatus is the current month's report allowance. Limit and Remaining are null when
// unlimited.
type allowanceStatus struct {
	Month     string `json:"month"`
	Used      int    `json:"used"`
	Limit     *int   `json:"limit"`
	Remaining *int   `json:"remaining"`
	Unlimited bool   `json:"unlimited"`
	ResetsAt  string `json:"resets_at"`
}

func (s *Service) buildReportSummary(ctx context.Context, k *keys.Key, t limits.Tier, p params, now time.Time, before int) (report, *Error) {
	counts, truncated, err := s.countReports(ctx, k.ID, p.from, p.to)
	if err != nil {
		return nil, s.storeErr(ctx, "read report logs", err)
	}
	m := limits.MonthOf(now)
	start, end := m.Start(), m.Next().Start()
	if before < 0 { // not counted by the allowance check (unlimited allowance)
		if !p.from.After(start) && !p.to.Before(now) && !truncated { // the range covers the month so far
			before = counts[m]
		} else {
			cur, tr, err := s.countReports(ctx, k.ID, start, end)
			if err != nil {
				return nil, s.storeErr(ctx, "read report logs", err)
			}
			before, truncated = cur[m], truncated || tr
		}
	}
	if !now.Before(p.from) && !now.After(p.to) { // this call, logged once delivered
		counts[m]++
	}

	r := &reportSummaryReport{KeyID: k.ID, Tier: k.Tier, From: fmtTime(p.from), To: fmtTime(p.to),
		Months: make([]monthReports, 0, len(counts)), Truncated: truncated}
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		r.Months = append(r.Months, monthReports{Month: id.String(), Reports: counts[id]})
	}
	a := allowanceStatus{Month: m.String(), Used: before + 1, ResetsAt: fmtTime(end)}
	if lim := t.ReportsPerMonth; lim > 0 {
		rem := max(lim-a.Used, 0)
		a.Limit, a.Remaining = &lim, &rem
	} else {
		a.Unlimited = true
	}
	r.Allowance = a
	return r, nil
}

// countReports counts key's report logs in [from, to) per month, reading at most
// maxReportScan of them; truncated reports whether it stopped there.
func (s *Service) countReports(ctx context.Context, keyID string, from, to time.Time) (counts map[limits.MonthID]int, truncated bool, err error) {
	counts = make(map[limits.MonthID]int)
	var c reportsCursor
	for read := 0; read < maxReportScan; {
		logs, next, more, err := s.reportPage(ctx, keyID, from, to, c, min(MaxLimit, maxReportScan-read))
		if err != nil {
			return nil, false, err
		}
		for _, l := range logs {
			counts[limits.MonthOf(l.At)]++
		}
		read += len(logs)
		if !more {
			return counts, false, nil
		}
		c = next
	}
	return counts, true, nil
}

func (r *reportSummaryReport) header() []string {
	return []string{"kind", "month", "reports", "limit", "remaining"}
}

// rows gives one row per month (kind "month") and a last "allowance" row for the current
// month, whose reports column is the allowance used.
func (r *reportSummaryReport) rows(emit func([]string) error) error {
	for _, m := range r.Months {
		if err := emit([]string{"month", m.Month, strconv.Itoa(m.Reports), "", ""}); err != nil {
			return err
		}
	}
	a := r.Allowance
	return emit([]string{"allowance", a.Month, strconv.Itoa(a.Used), limitText(a.Limit), limitText(a.Remaining)})
}

func (r *reportSummaryReport) title() string {
	t := "Reports delivered to " + r.KeyID + " (" + r.Tier + ") per month, from " + r.From + " to " + r.To + " (exclusive)"
	if r.Truncated {
		t += "; truncated: the oldest months' counts are lower bounds"
	}
	return t
}
func (r *reportSummaryReport) nextCursor() string { return "" }

// ---- helpers ----

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// limitText renders a limit or remaining count for tables: "unlimited" for nil.
func limitText[T int | int64](v *T) string {
	if v == nil {
		return "unlimited"
	}
	return strconv.FormatInt(int64(*v), 10)
}
