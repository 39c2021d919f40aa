package stress

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestMixAllProtocols(t *testing.T) {
	lpo := newFakeHTTP(t, nil)
	lrs := newFakeHTTP(t, func(int64) (int, string) {
		return 200, `{"key":"tb_x","days":[{"day":"2025-05-01","requests":12}],"month":{"used":12,"remaining":988}}`
	})
	lrs.chunked = true
	ulpo := newFakeUDP(t, nil)
	ulrs := newFakeUDP(t, func(_ int64, id []byte) []byte {
		return []byte(`{"id":` + string(id) + `,"report":"summary","month":{"used":12}}`)
	})
	p := &Plan{
		Mix: []Share{{TCPLPO, 40}, {UDPLPO, 40}, {TCPLRS, 10}, {UDPLRS, 10}},
		Targets: map[Protocol][]string{TCPLPO: {lpo.addr()}, UDPLPO: {ulpo.addr()}, TCPLRS: {lrs.addr()},
			UDPLRS: {ulrs.addr()}},
		Keys: []string{"tb_k1"}, Assets: []string{"btc", "eth"}, HTTPPath: "/price?asset={asset}", LRSReport: "summary",
		Phases:  []Phase{{Name: "sustain", Concurrency: 10, Duration: 700 * time.Millisecond}},
		Timeout: 2 * time.Second, UDPSockets: 2, UDPPad: map[Protocol]int{UDPLRS: 300},
	}
	res, err := Run(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ph := res.Phases[0]
	for _, proto := range Protocols {
		s := ph.Protocols[proto]
		if s == nil || s.Requests() == 0 || s.Success() != 100 {
			t.Fatalf("%s: %+v", proto, s)
		}
	}
	if got := strings.Replace(*lpo.first.Load(), "=eth", "=btc", 1); !strings.HasPrefix(got, "GET /price?asset=btc HTTP/1.1\r\nHost: "+lpo.addr()+"\r\nAuthorization: Bearer tb_k1\r\n") {
		t.Errorf("LPO request %q", got)
	}
	if got := *lrs.first.Load(); !strings.HasPrefix(got, "GET /reports/summary?format=json HTTP/1.1\r\n") {
		t.Errorf("LRS request %q", got)
	}
	var ureq map[string]any
	if err := json.Unmarshal([]byte(*ulrs.first.Load()), &ureq); err != nil || ureq["report"] != "summary" || ureq["key"] != "tb_k1" || len(*ulrs.first.Load()) != 300 {
		t.Errorf("UDP LRS request %q (%v)", *ulrs.first.Load(), err)
	}
	if err := json.Unmarshal([]byte(*ulpo.first.Load()), &ureq); err != nil || (ureq["asset"] != "btc" && ureq["asset"] != "eth") {
		t.Errorf("UDP LPO request %q (%v)", *ulpo.first.Load(), err)
	}
	if ulpo.maxSize.Load() > 100 {
		t.Errorf("udp-lpo requests padded to %d bytes without --udp-pad", ulpo.maxSize.Load())
	}
	var tot Stats
	for _, s := range ph.Protocols {
		tot.Merge(s)
	}
	if tot.Requests() != ph.Total.Requests() || tot.Hist.Count() != ph.Total.Hist.Count() {
		t.Fatal("total is not the merge of the protocols")
	}
	var sb strings.Builder
	if err := res.WriteTable(&sb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "udp-lrs") || !strings.Contains(sb.String(), "TOTAL") {
		t.Fatalf("table lacks the protocol breakdown:\n%s", sb.String())
	}
	t.Log("\n" + sb.String())
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		n    int
		w    []int
		want []int
	}{
		{10, []int{40, 40, 10, 10}, []int{4, 4, 1, 1}},
		{30, []int{1, 1, 1, 1}, []int{8, 8, 7, 7}},
		{1, []int{3, 1}, []int{1, 0}},
		{7, []int{1}, []int{7}},
	} {
		got := split(c.n, c.w)
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("split(%d, %v) = %v, want %v", c.n, c.w, got, c.want)
				break
			}
		}
	}
}

func TestUDPTooSmallNote(t *testing.T) {
	f := newFakeUDP(t, func(_ int64, id []byte) []byte {
		return []byte(`{"id":` + string(id) + `,"error":{"code":"request_too_small","message":"pad"},"need_bytes":420}`)
	})
	p := testPlan(UDPLPO, []string{f.addr()}, Phase{Name: "1", Concurrency: 2, Duration: 200 * time.Millisecond})
	res, err := Run(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ph := res.Phases[0]
	if ph.Total.Kinds[ClientError] == 0 || ph.Total.Kinds[OK] != 0 {
		t.Fatalf("kinds %v", ph.Total.Kinds)
	}
	if !strings.Contains(strings.Join(ph.Notes, "|"), "--udp-pad 420") {
		t.Fatalf("notes %q lack the padding advice", ph.Notes)
	}
}
