package admin

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
)

// memStore is an in-memory KeyStore.
type memStore struct {
	mu    sync.Mutex
	keys  []keys.Key
	tiers map[string]limits.Tier
}

func (m *memStore) find(id string) (int, error) {
	for i, k := range m.keys {
		if k.ID == id || strings.HasPrefix(k.Prefix, id) {
			return i, nil
		}
	}
	return -1, keys.ErrNotFound
}
func (m *memStore) CreateKey(_ context.Context, k keys.Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys, k)
	return nil
}
func (m *memStore) ListKeys(context.Context) ([]keys.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]keys.Key(nil), m.keys...), nil
}
func (m *memStore) RevokeKey(_ context.Context, id string) (keys.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, err := m.find(id)
	if err != nil {
		return keys.Key{}, err
	}
	m.keys[i].Revoked = true
	return m.keys[i], nil
}
func (m *memStore) SetKeyTier(_ context.Context, id, tier string) (keys.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, err := m.find(id)
	if err != nil {
		return keys.Key{}, err
	}
	if !keys.ValidTier(tier) {
		return keys.Key{}, keys.ErrInvalid
	}
	m.keys[i].Tier = tier
	return m.keys[i], nil
}
func (m *memStore) SetKeyQuota(_ context.Context, id string, q int64) (keys.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, err := m.find(id)
	if err != nil {
		return keys.Key{}, err
	}
	m.keys[i].Quota = q
	return m.keys[i], nil
}
func (m *memStore) Tiers(context.Context) ([]limits.Tier, error) {
	var out []limits.Tier
	for _, t := range m.tiers {
		out = append(out, t)
	}
	return out, nil
}
func (m *memStore) PutTier(_ context.Context, t limits.Tier) error { m.tiers[t.Name] = t; return nil }

func TestAdminAPI(t *testing.T) {
	st := &memStore{tiers: limits.DefaultTiers()}
	api := NewAPI(st, sha256.Sum256([]byte("admin-secret")), slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	call := func(method, path, auth, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("X-Admin-Key", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, _ := call("GET", "/admin/keys", "", ""); code != 401 {
		t.Errorf("no admin key: %d", code)
	}
	if code, _ := call("GET", "/admin/keys", "wrong", ""); code != 401 {
		t.Errorf("wrong admin key: %d", code)
	}
	code, m := call("POST", "/admin/keys", "admin-secret", `{"tier":"pro","name":"acme"}`)
	if code != 201 || !strings.HasPrefix(m["key"].(string), "tb_live_") || m["tier"] != "pro" {
		t.Fatalf("create: %d %v", code, m)
	}
	id := m["id"].(string)
	if code, m := call("PATCH", "/admin/keys/"+id, "admin-secret", `{"tier":"enterprise","quota":42}`); code != 200 || m["tier"] != "enterprise" || m["quota"] != float64(42) {
		t.Errorf("patch: %d %v", code, m)
	}
	if code, _ := call("PATCH", "/admin/keys/"+id, "admin-secret", `{"tier":"gold"}`); code != 400 {
		t.Errorf("bad tier: %d", code)
	}
	if code, m := call("POST", "/admin/keys/"+id+"/revoke", "admin-secret", ""); code != 200 || m["revoked"] != true {
		t.Errorf("revoke: %d %v", code, m)
	}
	if code, _ := call("POST", "/admin/keys/nope/revoke", "admin-secret", ""); code != 404 {
		t.Errorf("revoke unknown: %d", code)
	}
	if code, m := call("PUT", "/admin/tiers/free", "admin-secret", `{"monthly_quota":2000,"qps":2,"burst":10,"min_wait_ms":500,"reports_per_month":20}`); code != 200 || m["monthly_quota"] != float64(2000) {
		t.Errorf("put tier: %d %v", code, m)
	}
	if st.tiers["free"].MonthlyQuota != 2000 || st.tiers["free"].MinWait.Milliseconds() != 500 {
		t.Errorf("tier not stored: %+v", st.tiers["free"])
	}
	if code, m := call("GET", "/admin/keys", "admin-secret", ""); code != 200 || len(m["keys"].([]any)) != 1 {
		t.Errorf("list: %d %v", code, m)
	}
}
