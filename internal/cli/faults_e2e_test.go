package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
)

// faultAssets: BTC and ETH on all seven exchanges, KRO only on Kraken and CBO only on
// Coinbase, so that a stalled Kraken or a stopped Coinbase leaves an asset with no WebSocket
// source at all.
const faultAssets = `{"assets":{
	"BTC": {"coinbase":"BTC-USD","kraken":"BTC/USD","gemini":"btcusd","gateio":"BTC_USDT","okx":"BTC-USDT","cryptocom":"BTC_USD","bybit":"BTCUSDT"},
	"ETH": {"coinbase":"ETH-USD","kraken":"ETH/USD","gemini":"ethusd","gateio":"ETH_USDT","okx":"ETH-USDT","cryptocom":"ETH_USD","bybit":"ETHUSDT"},
	"KRO": {"kraken":"KRO/USD"},
	"CBO": {"coinbase":"CBO-USD"}
}}`

type exchangeState struct {
	Exchange       string  `json:"exchange"`
	Connected      bool    `json:"connected"`
	LastMessageAge float64 `json:"last_message_age_seconds"`
	Reconnects     uint64  `json:"reconnects"`
	Messages       uint64  `json:"messages"`
	DecodeErrors   uint64  `json:"decode_errors"`
	RESTFallbacks  uint64  `json:"rest_fallbacks"`
	RESTErrors     uint64  `json:"rest_errors"`
}

type fullAnswer struct {
	Asset   string  `json:"asset"`
	Price   float64 `json:"price"`
	Stale   bool    `json:"stale"`
	Source  string  `json:"source"`
	Sources []struct {
		Exchange string  `json:"exchange"`
		Price    float64 `json:"price"`
		Fresh    bool    `json:"fresh"`
		Used     bool    `json:"used"`
	} `json:"sources"`
}

// TestServeSurvivesFaults runs `serve --feeds live` against its own simulator with a 1 s
// freshness and injects faults through the simulator's admin endpoint:
//   - Kraken stalls for 4 s: every asset keeps answering 200, KRO (Kraken only) from Kraken's
//     REST ticker, and Kraken's feed flows again afterwards on its own;
//   - every exchange sends a malformed frame: each is counted, no feed drops or stops;
//   - Coinbase drops every connection and refuses new ones for 2 s: every asset keeps
//     answering, CBO from REST, and the runner reconnects on its own once the refusal ends;
//   - OKX quotes BTC at 1.5×: the aggregate stays within 1 % of the honest median.
func TestServeSurvivesFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("about 15 s of faults")
	}
	testStart := time.Now()
	u, err := price.ParseUniverse([]byte(faultAssets))
	if err != nil {
		t.Fatal(err)
	}
	assetsFile := filepath.Join(t.TempDir(), "assets.json")
	if err := os.WriteFile(assetsFile, []byte(faultAssets), 0o600); err != nil {
		t.Fatal(err)
	}
	sm := sim.New(u, sim.Options{Seed: 11, TickInterval: 100 * time.Millisecond})
	if err := sm.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	simCtx, simStop := context.WithCancel(context.Background())
	go sm.Run(simCtx)
	t.Cleanup(func() { simStop(); sm.Close() })

	args := []string{"--feeds", "live", "--freshness", "1s", "--assets", assetsFile}
	for _, ex := range price.Exchanges() {
		args = append(args, "--"+ex.String()+"-ws-url", sm.URL(ex), "--"+ex.String()+"-rest-url", sm.RESTURL(ex))
	}
	r := startServe(t, args...)
	key := mustCreateKey(t, r.db, "partner")
	waitKey(t, r, key)
	base := "http://" + r.addrs.HTTP

	get := func(asset string) (int, fullAnswer) {
		t.Helper()
		code, body := httpGet(t, base+"/price?asset="+asset, key)
		var a fullAnswer
		if code == 200 {
			if err := json.Unmarshal(body, &a); err != nil {
				t.Fatalf("%s: %s: %v", asset, body, err)
			}
		}
		return code, a
	}
	exchanges := func() map[string]exchangeState {
		t.Helper()
		code, body := httpGet(t, base+"/exchanges", key)
		var v struct {
			Exchanges []exchangeState `json:"exchanges"`
		}
		if code != 200 || json.Unmarshal(body, &v) != nil {
			t.Fatalf("/exchanges: %d %s", code, body)
		}
		out := map[string]exchangeState{}
		for _, e := range v.Exchanges {
			out[e.Exchange] = e
		}
		return out
	}
	until := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s\n/exchanges: %+v\nlogs:\n%s", d, what, exchanges(), r.logs)
			}
		}
	}
	// fresh reports whether the answer has a fresh source from ex.
	fresh := func(a fullAnswer, ex string) bool {
		for _, s := range a.Sources {
			if s.Exchange == ex && s.Fresh {
				return true
			}
		}
		return false
	}
	// watch polls every asset for d: every one must answer 200, and every one but the
	// exchange-only asset must be fresh. It returns how many polls found the exchange-only
	// asset fresh from ex after the first second (when only REST can have priced it), and how
	// many found it stale.
	watch := func(d time.Duration, only, ex string) (viaREST, stale int) {
		t.Helper()
		start := time.Now()
		for time.Since(start) < d {
			for _, asset := range []string{"BTC", "ETH", "KRO", "CBO"} {
				code, a := get(asset)
				if code != 200 {
					t.Fatalf("%v into the fault: %s answered %d", time.Since(start), asset, code)
				}
				switch {
				case asset != only && a.Stale:
					t.Errorf("%v into the fault: %s is stale: %+v", time.Since(start), asset, a)
				case asset == only && a.Stale:
					stale++
				case asset == only && time.Since(start) > 1500*time.Millisecond && fresh(a, ex):
					viaREST++
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		return viaREST, stale
	}

	// Everything priced and every exchange connected.
	until(10*time.Second, "every exchange connected and every asset fresh", func() bool {
		for _, e := range exchanges() {
			if !e.Connected {
				return false
			}
		}
		for _, asset := range []string{"BTC", "ETH", "KRO", "CBO"} {
			if code, a := get(asset); code != 200 || a.Stale {
				return false
			}
		}
		return true
	})
	if n := exchanges()["kraken"].RESTFallbacks; n > 2 {
		t.Logf("kraken REST requests before any fault: %d (startup before the feeds delivered)", n)
	}

	// 1. Kraken stalls for 4 s.
	restBefore := exchanges()["kraken"].RESTFallbacks
	postFault(t, sm, "/faults/kraken/stall?for=4s")
	viaREST, stale := watch(4*time.Second, "KRO", "kraken")
	if viaREST == 0 {
		t.Errorf("KRO was never fresh from kraken while kraken's feed was stalled (stale in %d polls)", stale)
	}
	t.Logf("stall: KRO fresh via REST in %d polls, stale in %d", viaREST, stale)
	if st := exchanges()["kraken"]; st.RESTFallbacks <= restBefore {
		t.Errorf("no kraken REST fallback requests during the stall: %+v", st)
	}
	until(3*time.Second, "kraken's feed flowing again", func() bool {
		st := exchanges()["kraken"]
		return st.Connected && st.LastMessageAge >= 0 && st.LastMessageAge < 0.5
	})
	until(3*time.Second, "KRO fresh from kraken again", func() bool {
		code, a := get("KRO")
		return code == 200 && !a.Stale
	})

	// 2. A malformed frame on every exchange: counted, and the feeds keep flowing.
	before := exchanges()
	for _, ex := range price.Exchanges() {
		postFault(t, sm, "/faults/"+ex.String()+"/malformed")
	}
	until(2*time.Second, "every malformed frame counted, every feed still flowing", func() bool {
		for name, st := range exchanges() {
			b := before[name]
			if st.DecodeErrors <= b.DecodeErrors || !st.Connected || st.Reconnects != b.Reconnects || st.Messages < b.Messages+5 || st.LastMessageAge > 0.5 {
				return false
			}
		}
		return true
	})

	// 3. Coinbase goes away: every connection dropped, new ones refused for 2 s.
	cbBefore := exchanges()["coinbase"]
	postFault(t, sm, "/faults/coinbase/refuse?for=2s")
	postFault(t, sm, "/faults/coinbase/disconnect")
	viaREST, stale = watch(2*time.Second, "CBO", "coinbase")
	if viaREST == 0 {
		t.Errorf("CBO was never fresh from coinbase while coinbase's feed was down (stale in %d polls)", stale)
	}
	t.Logf("stop: CBO fresh via REST in %d polls, stale in %d", viaREST, stale)
	until(5*time.Second, "coinbase reconnected", func() bool {
		st := exchanges()["coinbase"]
		return st.Connected && st.Reconnects > cbBefore.Reconnects && st.LastMessageAge >= 0 && st.LastMessageAge < 0.5
	})
	if st := exchanges()["coinbase"]; st.RESTFallbacks <= cbBefore.RESTFallbacks {
		t.Errorf("no coinbase REST fallback requests while it was down: %+v", st)
	}

	// 4. OKX quotes BTC at 1.5× for 3 s.
	postFault(t, sm, "/faults/okx/spike?asset=BTC&factor=1.5&for=3s")
	var btc fullAnswer
	until(2*time.Second, "the spike in BTC's sources", func() bool {
		_, btc = get("BTC")
		for _, s := range btc.Sources {
			if s.Exchange == "okx" && s.Fresh && s.Price > 1.4*btc.Price {
				return true
			}
		}
		return false
	})
	var honest []float64
	for _, s := range btc.Sources {
		if s.Exchange == "okx" {
			if s.Used {
				t.Errorf("the spiking OKX source is used: %+v", btc)
			}
			continue
		}
		if s.Fresh {
			honest = append(honest, s.Price)
		}
	}
	if len(honest) < 3 {
		t.Fatalf("only %d honest fresh BTC sources: %+v", len(honest), btc)
	}
	sort.Float64s(honest)
	median := honest[len(honest)/2]
	if len(honest)%2 == 0 {
		median = (honest[len(honest)/2-1] + honest[len(honest)/2]) / 2
	}
	if dev := btc.Price/median - 1; btc.Stale || dev > 0.01 || dev < -0.01 {
		t.Errorf("BTC aggregate %v (stale %v) is %.3f%% off the honest median %v", btc.Price, btc.Stale, 100*dev, median)
	}

	_, metrics := httpGet(t, "http://"+r.addrs.Admin+"/metrics", "")
	for _, want := range []string{
		`trinity_rest_fallback_requests_total{exchange="kraken",outcome="ok"} `,
		`trinity_rest_fallback_requests_total{exchange="coinbase",outcome="ok"} `,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if d := time.Since(testStart); d > 25*time.Second {
		t.Errorf("the fault test took %v, want about 15 s", d)
	}
}

// postFault injects a fault through the simulator's admin endpoint.
func postFault(t *testing.T, sm *sim.Server, path string) {
	t.Helper()
	resp, err := http.Post("http://"+sm.Addr()+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
}
