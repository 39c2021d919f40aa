package lrs

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"strconv"
	"strings"
	"time"

	"github.com/trinityprice/trinity/internal/limits"
)

// The reports, as named in paths (/reports/<name>) and in UDP requests ("report").
const (
	ReportUsage         = "usage"
	ReportSummary       = "summary"
	ReportReportUsage   = "report-usage"
	ReportReportSummary = "report-summary"
)

// The answer formats. UDP answers are always FormatJSON.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
	FormatTSV  = "tsv"
	FormatText = "text"
)

// Page sizes of the paged reports (usage, report-usage).
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// The protocols a report request arrives by, as logged in store.ReportLog.Protocol.
const (
	protoHTTP = "http"
	protoUDP  = "udp"
)

// query is one report request as received, before validation; every field is the raw
// client-supplied text ("" when absent).
type query struct {
	report, format          string
	from, to, limit, cursor string
	keyID                   string // api_key_id: if set, must be the presented key's ID
	protocol                string // protoHTTP or protoUDP
}

// params is a validated query.
type params struct {
	report, format string
	from, to       time.Time // UTC, from inclusive, to exclusive, from <= to
	limit          int       // paged reports only
	cursor         []byte    // decoded cursor payload (paged reports), nil for the first page
}

// paged reports whether report takes limit and cursor.
func paged(report string) bool { return report == ReportUsage || report == ReportReportUsage }

// parseQuery validates q at time now. limit and cursor are only read for paged reports and
// ignored otherwise.
func parseQuery(q query, now time.Time) (params, *Error) {
	p := params{report: q.report, format: strings.ToLower(q.format)}
	switch p.report {
	case ReportUsage, ReportSummary, ReportReportUsage, ReportReportSummary:
	case "":
		return params{}, errMissingReport
	default:
		return params{}, errUnknownReport
	}
	switch p.format {
	case "":
		p.format = FormatJSON
	case FormatJSON, FormatCSV, FormatTSV, FormatText:
	default:
		return params{}, errBadFormat
	}
	var e *Error
	p.to = now.UTC()
	if q.to != "" {
		if p.to, e = parseTime("to", q.to, true); e != nil {
			return params{}, e
		}
	}
	p.from = limits.MonthOf(p.to.Add(-1)).Start() // the month "to" falls in (to is exclusive)
	if q.to == "" {
		p.from = limits.MonthOf(p.to).Start()
	}
	if q.from != "" {
		if p.from, e = parseTime("from", q.from, false); e != nil {
			return params{}, e
		}
	}
	if p.from.After(p.to) {
		return params{}, errRangeReversed
	}
	if !paged(p.report) {
		return p, nil
	}
	p.limit = DefaultLimit
	if q.limit != "" {
		n, err := strconv.Atoi(q.limit)
		if err != nil || n < 1 || n > MaxLimit {
			return params{}, errBadLimit
		}
		p.limit = n
	}
	if q.cursor != "" {
		kind := byte(cursorUsage)
		if p.report == ReportReportUsage {
			kind = cursorReports
		}
		if p.cursor, e = decodeCursor(kind, q.cursor); e != nil {
			return params{}, e
		}
	}
	return p, nil
}

// parseTime parses a from or to value: a UTC date (YYYY-MM-DD), which as the end of a range
// includes the whole day, or an RFC 3339 instant.
func parseTime(param, s string, end bool) (time.Time, *Error) {
	if len(s) == len("2006-01-02") {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return time.Time{}, errBadDate(param, s)
		}
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	if len(s) > 64 { // longer than any RFC 3339 time; do not make the parser look
		return time.Time{}, errBadDate(param, s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errBadDate(param, s)
	}
	return t.UTC(), nil
}

// Cursors are opaque to clients: base64url(kind, payload, CRC-32 of kind and payload). The
// kind byte ties a cursor to its report and the checksum catches truncated or mistyped
// cursors before they reach the store. A cursor is not a secret and not signed: a forged one
// only selects a position among the presenting key's own rows.
const (
	cursorUsage   = 'u' // payload: the store's next-page cursor
	cursorReports = 'r' // payload: reportsCursor
	maxCursorLen  = 1024
)

// encodeCursor returns the client cursor for a payload, "" for none.
func encodeCursor(kind byte, payload []byte) string {
	if payload == nil {
		return ""
	}
	b := make([]byte, 0, 1+len(payload)+4)
	b = append(b, kind)
	b = append(b, payload...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the payload of a client cursor of the given kind.
func decodeCursor(kind byte, s string) ([]byte, *Error) {
	if len(s) > maxCursorLen {
		return nil, errBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 5 || b[0] != kind {
		return nil, errBadCursor
	}
	body, sum := b[:len(b)-4], b[len(b)-4:]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(sum) {
		return nil, errBadCursor
	}
	return body[1:], nil
}

// reportsCursor is where the next page of report logs starts: before at, skipping the skip
// newest logs made exactly at at (they were on earlier pages).
type reportsCursor struct {
	at   time.Time
	skip int
}

func (c reportsCursor) payload() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(c.at.UnixNano()))
	return binary.BigEndian.AppendUint32(b, uint32(c.skip))
}

func parseReportsCursor(b []byte) (reportsCursor, *Error) {
	if len(b) != 12 {
		return reportsCursor{}, errBadCursor
	}
	skip := binary.BigEndian.Uint32(b[8:])
	if skip > MaxLimit*100 { // more same-instant logs than any store holds for one key
		return reportsCursor{}, errBadCursor
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
	return reportsCursor{at: at, skip: int(skip)}, nil
}
