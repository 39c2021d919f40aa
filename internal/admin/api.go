package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
)

// KeyStore is what the admin API changes: keys and tiers. The stores implement it.
type KeyStore interface {
	CreateKey(ctx context.Context, k keys.Key) error
	ListKeys(ctx context.Context) ([]keys.Key, error)
	RevokeKey(ctx context.Context, idOrPrefix string) (keys.Key, error)
	SetKeyTier(ctx context.Context, idOrPrefix, tier string) (keys.Key, error)
	SetKeyQuota(ctx context.Context, idOrPrefix string, quota int64) (keys.Key, error)
	Tiers(ctx context.Context) ([]limits.Tier, error)
	PutTier(ctx context.Context, t limits.Tier) error
}

// API serves the admin API under /admin/ on the admin listener. Every call needs the admin
// key, as "X-Admin-Key: <key>" or "Authorization: Bearer <key>"; only its SHA-256 is held
// and compared in constant time.
//
//	GET    /admin/keys                      list keys
//	POST   /admin/keys                      {"tier":"pro","name":"…","quota":0} → the new key, shown once
//	POST   /admin/keys/{id}/revoke          revoke (id or unique prefix)
//	PATCH  /admin/keys/{id}                 {"tier":"enterprise"} and/or {"quota":123}
//	GET    /admin/tiers                     list tiers
//	PUT    /admin/tiers/{name}              {"monthly_quota":…,"qps":…,"burst":…,"min_wait_ms":…,"reports_per_month":…}
//
// Changes reach every instance through the store's keys version within a second.
type API struct {
	store   KeyStore
	keyHash [32]byte
	log     *slog.Logger
	now     func() time.Time
}

// NewAPI returns the admin API guarded by the admin key whose SHA-256 is adminKeyHash.
func NewAPI(store KeyStore, adminKeyHash [32]byte, log *slog.Logger) *API {
	return &API{store: store, keyHash: adminKeyHash, log: log, now: time.Now}
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/keys", a.guard(a.listKeys))
	mux.HandleFunc("POST /admin/keys", a.guard(a.createKey))
	mux.HandleFunc("POST /admin/keys/{id}/revoke", a.guard(a.revokeKey))
	mux.HandleFunc("PATCH /admin/keys/{id}", a.guard(a.patchKey))
	mux.HandleFunc("GET /admin/tiers", a.guard(a.listTiers))
	mux.HandleFunc("PUT /admin/tiers/{name}", a.guard(a.putTier))
}

func (a *API) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		presented := r.Header.Get("X-Admin-Key")
		if presented == "" {
			if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
				presented = strings.TrimSpace(auth[7:])
			}
		}
		if presented == "" {
			writeErr(w, http.StatusUnauthorized, "missing_admin_key", "send the admin key as X-Admin-Key or Authorization: Bearer")
			return
		}
		h2 := sha256.Sum256([]byte(presented))
		if subtle.ConstantTimeCompare(h2[:], a.keyHash[:]) != 1 {
			writeErr(w, http.StatusUnauthorized, "bad_admin_key", "the admin key is not valid")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		h(w, r)
	}
}

// KeyJSON is a key as the admin API and `trinity keys --json` show it (never the secret).
type KeyJSON struct {
	ID        string    `json:"id"`
	Prefix    string    `json:"prefix"`
	Name      string    `json:"name"`
	Tier      string    `json:"tier"`
	Quota     int64     `json:"quota"`
	Revoked   bool      `json:"revoked"`
	CreatedAt time.Time `json:"created_at"`
}

// KeyToJSON converts a key for display.
func KeyToJSON(k keys.Key) KeyJSON {
	return KeyJSON{ID: k.ID, Prefix: k.Prefix, Name: k.Name, Tier: k.Tier, Quota: k.Quota, Revoked: k.Revoked, CreatedAt: k.CreatedAt}
}

// TierJSON is a tier as the admin API shows and accepts it.
type TierJSON struct {
	Name            string  `json:"name"`
	MonthlyQuota    int64   `json:"monthly_quota"`
	QPS             float64 `json:"qps"`
	Burst           int     `json:"burst"`
	MinWaitMS       float64 `json:"min_wait_ms"`
	ReportsPerMonth int     `json:"reports_per_month"`
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := a.store.ListKeys(r.Context())
	if err != nil {
		a.storeErr(w, err)
		return
	}
	out := make([]KeyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, KeyToJSON(k))
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Tier  string `json:"tier"`
		Name  string `json:"name"`
		Quota int64  `json:"quota"`
	}
	if !decode(w, r.Body, &req) {
		return
	}
	plain, k, err := keys.New(req.Tier, req.Name, req.Quota, a.now())
	if err != nil {
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err := a.store.CreateKey(r.Context(), k); err != nil {
		a.storeErr(w, err)
		return
	}
	a.log.Info("admin: key created", "id", k.ID, "tier", k.Tier)
	writeJSON(w, http.StatusCreated, struct {
		Key string `json:"key"`
		KeyJSON
	}{plain, KeyToJSON(k)})
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) {
	k, err := a.store.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		a.storeErr(w, err)
		return
	}
	a.log.Info("admin: key revoked", "id", k.ID)
	writeJSON(w, http.StatusOK, KeyToJSON(k))
}

func (a *API) patchKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Tier  *string `json:"tier"`
		Quota *int64  `json:"quota"`
	}
	if !decode(w, r.Body, &req) {
		return
	}
	if req.Tier == nil && req.Quota == nil {
		writeErr(w, http.StatusBadRequest, "bad_request", `send "tier" and/or "quota"`)
		return
	}
	id := r.PathValue("id")
	var k keys.Key
	var err error
	if req.Tier != nil {
		if k, err = a.store.SetKeyTier(r.Context(), id, *req.Tier); err != nil {
			a.storeErr(w, err)
			return
		}
	}
	if req.Quota != nil {
		if k, err = a.store.SetKeyQuota(r.Context(), id, *req.Quota); err != nil {
			a.storeErr(w, err)
			return
		}
	}
	a.log.Info("admin: key changed", "id", k.ID, "tier", k.Tier, "quota", k.Quota)
	writeJSON(w, http.StatusOK, KeyToJSON(k))
}

func (a *API) listTiers(w http.ResponseWriter, r *http.Request) {
	ts, err := a.store.Tiers(r.Context())
	if err != nil {
		a.storeErr(w, err)
		return
	}
	out := make([]TierJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, tierJSON(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tiers": out})
}

func tierJSON(t limits.Tier) TierJSON {
	return TierJSON{Name: t.Name, MonthlyQuota: t.MonthlyQuota, QPS: t.QPS, Burst: t.Burst,
		MinWaitMS: float64(t.MinWait) / float64(time.Millisecond), ReportsPerMonth: t.ReportsPerMonth}
}

func (a *API) putTier(w http.ResponseWriter, r *http.Request) {
	var req TierJSON
	if !decode(w, r.Body, &req) {
		return
	}
	if req.MonthlyQuota < 0 || req.QPS < 0 || req.Burst < 0 || req.MinWaitMS < 0 || req.ReportsPerMonth < 0 {
		writeErr(w, http.StatusBadRequest, "bad_request", "tier values must not be negative")
		return
	}
	t := limits.Tier{Name: r.PathValue("name"), MonthlyQuota: req.MonthlyQuota, QPS: req.QPS, Burst: req.Burst,
		MinWait: time.Duration(req.MinWaitMS * float64(time.Millisecond)), ReportsPerMonth: req.ReportsPerMonth}
	if !keys.ValidTier(t.Name) {
		writeErr(w, http.StatusBadRequest, "bad_request", "tiers are free, pro, enterprise, unlimited, lifetime and partner")
		return
	}
	if err := a.store.PutTier(r.Context(), t); err != nil {
		a.storeErr(w, err)
		return
	}
	a.log.Info("admin: tier changed", "tier", t.Name)
	writeJSON(w, http.StatusOK, tierJSON(t))
}

func (a *API) storeErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, keys.ErrNotFound):
		writeErr(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, keys.ErrAmbiguous):
		writeErr(w, http.StatusConflict, "ambiguous", err.Error())
	case errors.Is(err, keys.ErrInvalid):
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, keys.ErrDuplicate):
		writeErr(w, http.StatusConflict, "duplicate", err.Error())
	default:
		a.log.Error("admin: store", "err", err)
		writeErr(w, http.StatusServiceUnavailable, "store_unavailable", "the store did not answer")
	}
}

func decode(w http.ResponseWriter, body io.Reader, v any) bool {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, "bad_json", err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
