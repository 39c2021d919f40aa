package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func adminCall(t *testing.T, r *running, method, path, adminKey, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+r.addrs.Admin+path, strings.NewReader(body))
	req.Header.Set("X-Admin-Key", adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// TestAdminAPIEndToEnd: keys created, re-tiered and revoked through the admin API take effect
// on the price API within a second.
func TestAdminAPIEndToEnd(t *testing.T) {
	r := startServe(t, "--feeds", "sim", "--admin-key", "op-secret")
	code, m := adminCall(t, r, "POST", "/admin/keys", "op-secret", `{"tier":"free","name":"e2e"}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, m)
	}
	key, id := m["key"].(string), m["id"].(string)
	waitKey(t, r, key)
	url := "http://" + r.addrs.HTTP + "/price?asset=btc"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code, _ := httpGet(t, url, key); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no price for the new key")
		}
	}
	// Free tier: the burst runs out quickly.
	limited := false
	for i := 0; i < 10 && !limited; i++ {
		code, _ := httpGet(t, url, key)
		limited = code == 429
	}
	if !limited {
		t.Fatal("free key was never rate limited")
	}
	// Move it to partner: unlimited within a second.
	if code, m := adminCall(t, r, "PATCH", "/admin/keys/"+id, "op-secret", `{"tier":"partner"}`); code != 200 || m["tier"] != "partner" {
		t.Fatalf("patch: %d %v", code, m)
	}
	time.Sleep(time.Second)
	for i := 0; i < 50; i++ {
		if code, body := httpGet(t, url, key); code != 200 {
			t.Fatalf("after the tier change request %d: %d %s", i, code, body)
		}
	}
	if code, _ := adminCall(t, r, "POST", "/admin/keys/"+id+"/revoke", "op-secret", ""); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	time.Sleep(time.Second)
	if code, body := httpGet(t, url, key); code != 403 {
		t.Fatalf("after revoke: %d %s", code, body)
	}
	if code, _ := adminCall(t, r, "GET", "/admin/keys", "wrong", ""); code != 401 {
		t.Errorf("wrong admin key accepted: %d", code)
	}
}

// TestAdminKeyGeneratedOnce: with no --admin-key, the first start prints a generated key once;
// a restart on the same store prints nothing and the key still works.
func TestAdminKeyGeneratedOnce(t *testing.T) {
	r := startServe(t, "--feeds", "sim", "--exchanges", "kraken")
	re := regexp.MustCompile(`Admin key \(shown once[^)]*\): (tb_admin_\S+)`)
	mm := re.FindStringSubmatch(r.logs.String())
	if mm == nil {
		t.Fatalf("no admin key printed:\n%s", r.logs)
	}
	adminKey := mm[1]
	r.stop()
	r2 := startServeDB(t, r.db, "--feeds", "sim", "--exchanges", "kraken")
	if bytes.Contains([]byte(r2.logs.String()), []byte("Admin key")) {
		t.Errorf("the admin key was printed again on restart")
	}
	if code, m := adminCall(t, r2, "GET", "/admin/tiers", adminKey, ""); code != 200 || len(m["tiers"].([]any)) != 6 {
		t.Errorf("generated admin key: %d %v", code, m)
	}
}

// TestKeysCLIBothWays: `trinity keys` works on the store and through the admin API.
func TestKeysCLIBothWays(t *testing.T) {
	r := startServe(t, "--feeds", "sim", "--exchanges", "kraken", "--admin-key", "op-secret")
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := Run(t.Context(), append([]string{"keys"}, args...), func(string) string { return "" }, &out, &errOut); err != nil {
			t.Fatalf("keys %v: %v %s", args, err, errOut.String())
		}
		return out.String()
	}
	api := []string{"--admin-url", "http://" + r.addrs.Admin, "--admin-key", "op-secret"}
	viaAPI := strings.TrimSpace(run(append([]string{"create", "--tier", "pro", "--name", "api"}, api...)...))
	viaStore := strings.TrimSpace(run("create", "--tier", "free", "--db", r.db))
	if !strings.HasPrefix(viaAPI, "tb_live_") || !strings.HasPrefix(viaStore, "tb_live_") {
		t.Fatalf("keys: %q %q", viaAPI, viaStore)
	}
	var listed []map[string]any
	json.Unmarshal([]byte(run(append([]string{"list", "--json"}, api...)...)), &listed)
	if len(listed) != 2 {
		t.Fatalf("list via API: %v", listed)
	}
	prefix := viaStore[:12]
	if out := run(append([]string{"tier", prefix, "enterprise"}, api...)...); !strings.Contains(out, "tier enterprise") {
		t.Errorf("tier: %s", out)
	}
	if out := run("quota", "--db", r.db, prefix, "77"); !strings.Contains(out, "quota 77") {
		t.Errorf("quota: %s", out)
	}
	if out := run(append([]string{"revoke", prefix}, api...)...); !strings.Contains(out, "revoked") {
		t.Errorf("revoke: %s", out)
	}
}
