package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url, key string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, b.Bytes()
}

// TestTiersAndReportsEndToEnd: a free, a pro and a partner key behave as the tier table says
// over HTTP and UDP (one limit shared by both), and the report service shows every answered
// request exactly, in all four formats.
func TestTiersAndReportsEndToEnd(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testTiersAndReports(t, "") })
	t.Run("postgres", func(t *testing.T) {
		dsn := os.Getenv("TRINITY_TEST_POSTGRES")
		if dsn == "" {
			t.Skip("TRINITY_TEST_POSTGRES not set")
		}
		testTiersAndReports(t, freshSchema(t, dsn))
	})
}

func testTiersAndReports(t *testing.T, db string) {
	r := startServeDB(t, db, "--feeds", "sim")
	free := mustCreateKey(t, r.db, "free")
	pro := mustCreateKey(t, r.db, "pro")
	partner := mustCreateKey(t, r.db, "partner")
	waitKey(t, r, partner)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := httpGet(t, "http://"+r.addrs.HTTP+"/price?asset=btc", partner); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no BTC price")
		}
	}
	priceURL := "http://" + r.addrs.HTTP + "/price?asset=btc"
	udpReq := func(key string) []byte {
		return []byte(fmt.Sprintf(`{"key":%q,"asset":"btc","id":9}`, key))
	}

	// free: burst 5 shared by HTTP and UDP, then 429 with Retry-After; UDP says retry_after_ms.
	for i := 0; i < 3; i++ {
		if code, _, body := get(t, priceURL, free); code != 200 {
			t.Fatalf("free HTTP %d: %d %s", i, code, body)
		}
	}
	for i := 0; i < 2; i++ {
		if ans := udpAsk(t, r.addrs.UDP, udpReq(free)); !bytes.Contains(ans, []byte(`"price"`)) {
			t.Fatalf("free UDP %d: %s", i, ans)
		}
	}
	code, h, body := get(t, priceURL, free)
	if code != 429 || !bytes.Contains(body, []byte("rate_limited")) || h.Get("Retry-After") == "" || h.Get("RateLimit-Policy") == "" {
		t.Fatalf("free 6th: %d %v %s", code, h, body)
	}
	if ans := udpAsk(t, r.addrs.UDP, udpReq(free)); !bytes.Contains(ans, []byte("rate_limited")) || !bytes.Contains(ans, []byte("retry_after_ms")) {
		t.Fatalf("free UDP after burst: %s", ans)
	}
	// pro: burst 20.
	proOK := 0
	for i := 0; i < 25; i++ {
		if code, _, _ := get(t, priceURL, pro); code == 200 {
			proOK++
		}
	}
	if proOK < 20 || proOK > 22 { // 20 burst plus at most ~2 refilled at 10/s during the loop
		t.Errorf("pro answered %d of 25, want the burst of 20 (+ refill)", proOK)
	}
	// partner: never limited.
	for i := 0; i < 300; i++ {
		if code, _, body := get(t, priceURL, partner); code != 200 {
			t.Fatalf("partner %d: %d %s", i, code, body)
		}
	}
	time.Sleep(1500 * time.Millisecond) // one metering flush

	lrs := "http://" + r.addrs.LRS
	// Summary over HTTP, JSON: the free key made 7 metered price requests: 5 answered, 2 refused.
	code, _, body = get(t, lrs+"/reports/summary?format=json", free)
	if code != 200 {
		t.Fatalf("summary: %d %s", code, body)
	}
	var sum struct {
		Days []struct {
			Requests      int64 `json:"requests"`
			QuotaRequests int64 `json:"quota_requests"`
		} `json:"days"`
		Quota struct {
			Used      int64 `json:"used"`
			Limit     int64 `json:"limit"`
			Remaining int64 `json:"remaining"`
		} `json:"quota"`
	}
	if err := json.Unmarshal(body, &sum); err != nil || len(sum.Days) != 1 {
		t.Fatalf("summary JSON: %v %s", err, body)
	}
	if sum.Days[0].Requests != 7 || sum.Days[0].QuotaRequests != 5 || sum.Quota.Used != 5 || sum.Quota.Limit != 1000 || sum.Quota.Remaining != 995 {
		t.Errorf("free summary %+v, want 7 requests, 5 counted against a quota of 1000", sum)
	}
	// Usage rows: per protocol and outcome, summing to exactly what was answered.
	code, _, body = get(t, lrs+"/reports/usage?format=csv", free)
	if code != 200 {
		t.Fatalf("usage csv: %d %s", code, body)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("usage csv: %v %s", err, body)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	got := map[string]string{}
	for _, row := range rows[1:] {
		got[row[col["protocol"]]+"/"+row[col["outcome"]]] = row[col["count"]]
	}
	want := map[string]string{"http/ok": "3", "udp/ok": "2", "http/rate_limited": "1", "udp/rate_limited": "1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("usage %s = %q, want %s (all: %v)", k, got[k], v, got)
		}
	}
	// The partner's usage, TSV and text formats.
	code, _, body = get(t, lrs+"/reports/usage?format=tsv", partner)
	if code != 200 || !strings.Contains(string(body), "\t") {
		t.Fatalf("usage tsv: %d %s", code, body)
	}
	var partnerOK int
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n")[1:] {
		f := strings.Split(line, "\t")
		if strings.Contains(line, "\tok\t") {
			var n int
			fmt.Sscan(f[len(f)-1], &n)
			partnerOK += n
		}
	}
	if partnerOK != 301 { // 300 + the price-wait probe that succeeded
		t.Errorf("partner usage: %d answered requests stored, want 301", partnerOK)
	}
	if code, _, body = get(t, lrs+"/reports/report-summary?format=text", partner); code != 200 || len(body) == 0 {
		t.Errorf("report-summary text: %d %s", code, body)
	}
	if code, _, body = get(t, lrs+"/reports/report-usage?format=json", partner); code != 200 || !bytes.Contains(body, []byte("report-summary")) {
		t.Errorf("report-usage: %d %s", code, body)
	}
	// The report allowance: free has 10 reports a month and has used 2.
	for i := 0; i < 8; i++ {
		if code, _, body := get(t, lrs+"/reports/summary", free); code != 200 {
			t.Fatalf("free report %d: %d %s", i+3, code, body)
		}
	}
	if code, h, body := get(t, lrs+"/reports/summary", free); code != 429 || !bytes.Contains(body, []byte("report_quota_exceeded")) || h.Get("Retry-After") == "" {
		t.Errorf("11th report: %d %s", code, body)
	}
	// LRS over UDP.
	ans := udpAsk(t, r.addrs.LRSUDP, []byte(fmt.Sprintf(`{"key":%q,"report":"summary","id":5,"pad":"%s"}`, partner, strings.Repeat("x", 400))))
	if !bytes.HasPrefix(ans, []byte(`{"id":5`)) || !bytes.Contains(ans, []byte(`"days"`)) {
		t.Errorf("LRS over UDP: %s", ans)
	}
}
