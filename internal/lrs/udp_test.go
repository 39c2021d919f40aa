package lrs

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/store"
)

// udpReq builds a request datagram from fields, padded with a "pad" field to at least size
// bytes.
func udpReq(t *testing.T, fields map[string]any, size int) []byte {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	if extra := size - len(b) - len(`,"pad":""`); extra > 0 {
		b = append(b[:len(b)-1], `,"pad":"`+strings.Repeat("x", extra)+`"}`...)
	}
	return b
}

// startUDP runs a UDP server on a loopback port and returns a connected client socket.
func startUDP(t *testing.T, e *env) *net.UDPConn {
	t.Helper()
	u := NewUDP("127.0.0.1:0", e.svc, nil)
	if err := u.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Serve(ctx) }()
	c, err := net.DialUDP("udp", nil, u.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return c
}

// exchange sends req and returns the answer, or nil if none came within wait.
func exchange(t *testing.T, c *net.UDPConn, req []byte, wait time.Duration) []byte {
	t.Helper()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 70000)
	c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if n > Amplification*len(req) {
		t.Fatalf("answer of %d bytes to a %d-byte request: more than 3×", n, len(req))
	}
	return buf[:n]
}

func TestUDPReports(t *testing.T) {
	e := newEnv(t)
	e.seedQuotaKey()
	c := startUDP(t, e)

	// Each report, with a number id, answered with the HTTP JSON plus the id.
	for i, report := range []string{ReportUsage, ReportSummary, ReportReportUsage, ReportReportSummary} {
		e.clk.Set(testNow.Add(time.Duration(i) * time.Second))
		ans := exchange(t, c, udpReq(t, map[string]any{"key": proQuotaKey, "report": report, "id": 7}, 2000), 5*time.Second)
		if !strings.HasPrefix(string(ans), `{"id":7,"key_id":"key_quota",`) {
			t.Fatalf("%s: answer %s", report, ans)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(ans, &m); err != nil {
			t.Fatalf("%s: %v: %s", report, err, ans)
		}
		delete(m, "id")
		// The same report over HTTP, at a later instant so that the UDP call is in the logs
		// the report-* reports read; compare what does not depend on the instant.
		e.clk.Set(testNow.Add(time.Duration(i)*time.Second + time.Millisecond))
		var h map[string]json.RawMessage
		if err := json.Unmarshal(wantOK(t, e.get(t, proQuotaKey, "/reports/"+report), "application/json"), &h); err != nil {
			t.Fatal(err)
		}
		for k := range h {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: UDP answer lacks %q", report, k)
			}
		}
		if report == ReportUsage || report == ReportSummary {
			if string(m["rows"]) != string(h["rows"]) || string(m["days"]) != string(h["days"]) || string(m["quota"]) != string(h["quota"]) {
				t.Errorf("%s: UDP %s\nHTTP %s", report, m, h)
			}
		}
	}
	// report-usage lists the UDP deliveries with protocol udp and format json.
	e.clk.Set(testNow.Add(time.Minute))
	ans := exchange(t, c, udpReq(t, map[string]any{"key": proQuotaKey, "report": ReportReportUsage, "id": "a1", "limit": 1}, 1000), 5*time.Second)
	var ru struct {
		ID   string         `json:"id"`
		Rows []reportLogRow `json:"rows"`
	}
	if err := json.Unmarshal(ans, &ru); err != nil || ru.ID != "a1" || len(ru.Rows) != 1 {
		t.Fatalf("%v: %s", err, ans)
	}
	if r := ru.Rows[0]; r.Report != ReportReportSummary || r.Protocol != "http" {
		t.Errorf("newest log %+v", r)
	}
	e.st.mu.Lock()
	udpLogs := 0
	for _, l := range e.st.logs {
		if l.Protocol == "udp" {
			udpLogs++
			if l.Format != "json" || l.Status != 200 {
				t.Errorf("UDP log %+v", l)
			}
		}
	}
	e.st.mu.Unlock()
	if udpLogs != 5 {
		t.Errorf("%d UDP reports logged, want 5", udpLogs)
	}

	// Errors carry the id.
	ans = exchange(t, c, udpReq(t, map[string]any{"key": "tb_nope", "report": "usage", "id": 9}, 300), 5*time.Second)
	if !strings.HasPrefix(string(ans), `{"id":9,"error":{"code":"unknown_key"`) {
		t.Errorf("unknown key: %s", ans)
	}
	// A request too small even for an error gets no answer.
	if ans := exchange(t, c, []byte(`{}`), 200*time.Millisecond); ans != nil {
		t.Errorf("answer to a 2-byte request: %s", ans)
	}
}

func TestUDPErrors(t *testing.T) {
	e := newEnv(t)
	u := NewUDP("", e.svc, nil)
	ctx := t.Context()
	for _, tc := range []struct {
		req  string
		want string // answer prefix
	}{
		{`{"key":"` + freeKey + `","id":1}`, `{"id":1,"error":{"code":"bad_request"`},
		{`{"key":"` + freeKey + `","report":"nope","id":"x"}`, `{"id":"x","error":{"code":"bad_request"`},
		{`{"report":"usage","id":2,"pad":"` + strings.Repeat("x", 40) + `"}`, `{"id":2,"error":{"code":"missing_key","message":"an API key is required: send \"key\"`},
		{`{"key":"` + revokedKey + `","report":"usage","id":3,"pad":"xxxxxxxxxxxxxxx"}`, `{"id":3,"error":{"code":"key_revoked"`},
		{`{"key":"` + freeKey + `","report":"usage","id":4,"from":"2026-02-30"}`, `{"id":4,"error":{"code":"bad_request","message":"from \"2026-02-30\" is neither`},
		{`{"key":"` + freeKey + `","report":"usage","id":5,"limit":0}`, `{"id":5,"error":{"code":"bad_request"`},
		{`{"key":"` + freeKey + `","report":"usage","id":5,"limit":"12x"}`, `{"id":5,"error":{"code":"bad_request"`},
		{`{"key":"` + freeKey + `","report":"usage","id":6,"format":"csv"}`, `{"id":6,"error":{"code":"bad_request","message":"UDP answers are always JSON`},
		{`{"key":"` + freeKey + `","report":"usage","id":{"a":1}}`, `{"error":{"code":"bad_request","message":"id must be`},
		{`{"key":"` + freeKey + `","report":"usage","id":"` + strings.Repeat("y", 65) + `"}`, `{"error":{"code":"bad_request","message":"id must be`},
		{`{"key":"` + freeKey + `","report":"usage" "id":7} this is not JSON at all, padding padding`, `{"error":{"code":"bad_request"`},
		{`[1,2,3,"an array, not an object; padded to be answerable at all............"]`, `{"error":{"code":"bad_request"`},
	} {
		// Pad each request so that its error answer passes the 3× rule.
		req := tc.req + strings.Repeat(" ", 100)
		if strings.HasPrefix(req, "{") {
			req = `{"pad":"` + strings.Repeat("x", 100) + `",` + tc.req[1:]
		}
		ans := u.handle(ctx, []byte(req))
		if !strings.HasPrefix(string(ans), tc.want) {
			t.Errorf("%s\n got %s\nwant %s…", tc.req, ans, tc.want)
		}
		if len(ans) > 3*len(req) || !json.Valid(ans) {
			t.Errorf("%s: answer %d bytes, valid %v", tc.req, len(ans), json.Valid(ans))
		}
	}
	if n := e.st.logCount(e.keyID[freeKey]); n != 0 {
		t.Errorf("%d errors logged as reports", n)
	}

	// Allowance over UDP: the 429 carries retry_after.
	for range 10 {
		if ans := u.handle(ctx, udpReq(t, map[string]any{"key": freeKey, "report": "summary"}, 1000)); !strings.HasPrefix(string(ans), `{"key_id"`) {
			t.Fatalf("summary: %s", ans)
		}
	}
	var a errAnswer
	ans := u.handle(ctx, udpReq(t, map[string]any{"key": freeKey, "report": "usage", "id": 8}, 300))
	if err := json.Unmarshal(ans, &a); err != nil || a.Error.Code != CodeReportQuotaExceeded || string(a.ID) != "8" ||
		a.RetryAfter != int64(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).Sub(testNow)/time.Second) {
		t.Errorf("over the allowance: %v %s", err, ans)
	}
}

// The 3× rule: a report larger than 3× the request is refused with need_bytes (and, for a
// paged report, suggested_limit); a request padded to need_bytes gets it; neither the refusal
// counts against the allowance.
func TestUDPAmplification(t *testing.T) {
	e := newEnv(t)
	id := e.keyID[freeKey]
	var rows []store.UsageRow
	for i := range 300 {
		rows = append(rows, row(may(2, 0, 0).Add(time.Duration(i)*time.Minute), "udp", "price", "BTC", "ok", 1))
	}
	e.st.addUsage(id, rows...)
	c := startUDP(t, e)

	req := udpReq(t, map[string]any{"key": freeKey, "report": "usage", "id": 1, "limit": 100}, 400)
	ans := exchange(t, c, req, 5*time.Second)
	var a errAnswer
	if err := json.Unmarshal(ans, &a); err != nil || a.Error.Code != CodeRequestTooSmall || string(a.ID) != "1" {
		t.Fatalf("%v: %s", err, ans)
	}
	if a.NeedBytes <= len(req) || !strings.Contains(a.Error.Message, strconv.Itoa(a.NeedBytes)) {
		t.Errorf("need_bytes %d for a %d-byte request: %s", a.NeedBytes, len(req), ans)
	}
	if a.SuggestedLimit < 1 || a.SuggestedLimit >= 100 {
		t.Fatalf("suggested_limit %d", a.SuggestedLimit)
	}
	if n := e.st.logCount(id); n != 0 {
		t.Errorf("a refused answer counted: %d logs", n)
	}

	// The suggested limit fits as the request stands.
	ans = exchange(t, c, udpReq(t, map[string]any{"key": freeKey, "report": "usage", "id": 1, "limit": a.SuggestedLimit}, len(req)), 5*time.Second)
	var page struct {
		ID   int        `json:"id"`
		Rows []usageRow `json:"rows"`
	}
	if err := json.Unmarshal(ans, &page); err != nil || page.ID != 1 || len(page.Rows) != a.SuggestedLimit {
		t.Fatalf("with the suggested limit: %v %s", err, ans)
	}

	// Padded to need_bytes exactly, the full page comes back.
	padded := udpReq(t, map[string]any{"key": freeKey, "report": "usage", "id": 1, "limit": 100}, a.NeedBytes)
	if len(padded) != a.NeedBytes {
		t.Fatalf("padding: %d bytes, want %d", len(padded), a.NeedBytes)
	}
	ans = exchange(t, c, padded, 5*time.Second)
	if err := json.Unmarshal(ans, &page); err != nil || len(page.Rows) != 100 {
		t.Fatalf("padded: %v %s", err, ans)
	}
	if n := e.st.logCount(id); n != 2 {
		t.Errorf("%d reports logged, want 2", n)
	}
}

// A page larger than one datagram: answer_too_large with a limit that fits one.
func TestUDPAnswerTooLarge(t *testing.T) {
	e := newEnv(t)
	id := e.keyID[unlimitedKey]
	var rows []store.UsageRow
	for i := range 2000 {
		rows = append(rows, row(may(2, 0, 0).Add(time.Duration(i)*time.Minute), "http", "prices", "*", "rate_limited", 1))
	}
	e.st.addUsage(id, rows...)
	u := NewUDP("", e.svc, nil)
	big := (MaxAnswer + 2) / 3
	ans := u.handle(t.Context(), udpReq(t, map[string]any{"key": unlimitedKey, "report": "usage", "limit": 2000}, big))
	var a errAnswer
	if err := json.Unmarshal(ans, &a); err != nil || a.Error.Code != CodeAnswerTooLarge || a.SuggestedLimit < 100 || a.SuggestedLimit >= 2000 {
		t.Fatalf("%v: %s", err, ans)
	}
	ans = u.handle(t.Context(), udpReq(t, map[string]any{"key": unlimitedKey, "report": "usage", "limit": a.SuggestedLimit}, big))
	if len(ans) > MaxAnswer || !strings.HasPrefix(string(ans), `{"key_id"`) {
		t.Fatalf("suggested limit %d: %d bytes: %.200s", a.SuggestedLimit, len(ans), ans)
	}
	// The rows fill most of the datagram: the suggestion is not needlessly small.
	if len(ans) < MaxAnswer*3/4 {
		t.Errorf("suggested limit %d gives only %d bytes", a.SuggestedLimit, len(ans))
	}
}

func TestUDPOverloadedAndServeErrors(t *testing.T) {
	e := newEnv(t)
	u := NewUDP("127.0.0.1:0", e.svc, nil)
	if err := u.Serve(t.Context()); err == nil {
		t.Error("Serve before Listen succeeded")
	}
	if u.LocalAddr() != nil {
		t.Error("LocalAddr before Listen")
	}
	if err := u.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := u.Listen(); err == nil {
		t.Error("second Listen succeeded")
	}
	u.Close()
	ans := errorAnswer(requestID([]byte(`{"id":"q","key":"k","report":"usage","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)), errOverloaded, 300)
	if !strings.HasPrefix(string(ans), `{"id":"q","error":{"code":"overloaded"`) {
		t.Errorf("overloaded answer %s", ans)
	}
}

func FuzzUDPHandle(f *testing.F) {
	for _, s := range []string{
		`{"key":"tb_test_unlimited","report":"usage","id":1,"limit":5,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`,
		`{"key":"tb_test_free","report":"summary","id":"abc","from":"2026-05-01","to":"2026-05-02"}`,
		`{"key":"tb_test_unlimited","report":"report-summary","from":"2026-01-01T00:00:00Z"}`,
		`{"key":"tb_test_unlimited","report":"report-usage","cursor":"cgAAAAAAAAAAAAAAAAAA","limit":"3"}`,
		`{"id":-1.5e3}`, `[]`, `null`, `{"id":null,"key":null}`, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	e.seedQuotaKey()
	u := NewUDP("", e.svc, nil)
	f.Fuzz(func(t *testing.T, req []byte) {
		ans := u.handle(context.Background(), req)
		if len(ans) > Amplification*len(req) || len(ans) > MaxAnswer {
			t.Fatalf("%d-byte answer to a %d-byte request", len(ans), len(req))
		}
		if len(ans) > 0 && !json.Valid(ans) {
			t.Fatalf("invalid JSON answer %q", ans)
		}
	})
}

func FuzzParseQuery(f *testing.F) {
	f.Add("usage", "json", "2026-05-01", "2026-05-31", "100", "")
	f.Add("report-usage", "csv", "2026-05-01T00:00:00+02:00", "", "", encodeCursor(cursorReports, reportsCursor{at: testNow, skip: 2}.payload()))
	f.Add("summary", "", "", "2026-02-29", "0", "x")
	f.Fuzz(func(t *testing.T, report, format, from, to, limit, cursor string) {
		p, e := parseQuery(query{report: report, format: format, from: from, to: to, limit: limit, cursor: cursor}, testNow)
		if e != nil {
			if e.Status != 400 || e.Code != CodeBadRequest {
				t.Fatalf("error %+v", e)
			}
			return
		}
		if p.from.After(p.to) || p.format == "" {
			t.Fatalf("params %+v", p)
		}
		if paged(p.report) && (p.limit < 1 || p.limit > MaxLimit) {
			t.Fatalf("limit %d", p.limit)
		}
		if p.report == ReportReportUsage && p.cursor != nil {
			if _, e := parseReportsCursor(p.cursor); e != nil && e != errBadCursor {
				t.Fatalf("cursor error %+v", e)
			}
		}
	})
}
