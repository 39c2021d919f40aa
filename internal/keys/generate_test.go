package keys_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
)

func TestGenerateFormat(t *testing.T) {
	plain, hash, err := keys.Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if len(plain) != keys.PlaintextLen || keys.PlaintextLen != 51 {
		t.Fatalf("len(%q) = %d, PlaintextLen = %d, want 51", plain, len(plain), keys.PlaintextLen)
	}
	if !strings.HasPrefix(plain, "tb_live_") {
		t.Fatalf("Generate() = %q, want prefix tb_live_", plain)
	}
	secret, err := base64.RawURLEncoding.DecodeString(plain[len(keys.LivePrefix):])
	if err != nil || len(secret) != 32 {
		t.Fatalf("secret of %q: %d bytes, err %v; want 32 bytes of base64url", plain, len(secret), err)
	}
	if hash != sha256.Sum256([]byte(plain)) {
		t.Fatalf("hash is not sha256 of the plaintext")
	}
	if keys.HashOf([]byte(plain)) != hash {
		t.Fatalf("HashOf(plaintext) differs from Generate's hash")
	}
}

func TestGenerateUnique(t *testing.T) {
	const n = 2000
	plains := make(map[string]bool, n)
	hashes := make(map[[32]byte]bool, n)
	for range n {
		plain, hash, err := keys.Generate()
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		if plains[plain] || hashes[hash] {
			t.Fatalf("Generate repeated %q", plain)
		}
		plains[plain], hashes[hash] = true, true
	}
}

func TestNewIDFormat(t *testing.T) {
	const n = 2000
	seen := make(map[string]bool, n)
	for range n {
		id, err := keys.NewID()
		if err != nil {
			t.Fatalf("NewID: %v", err)
		}
		if len(id) != keys.IDLen || keys.IDLen != 16 || !strings.HasPrefix(id, "key_") {
			t.Fatalf("NewID() = %q, want key_ and 12 characters", id)
		}
		for _, c := range id[len(keys.IDPrefix):] {
			if !strings.ContainsRune("0123456789abcdefghjkmnpqrstvwxyz", c) {
				t.Fatalf("NewID() = %q: character %q is not lower-case Crockford base32", id, c)
			}
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

func TestNew(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.FixedZone("X", 3600))
	plain, k, err := keys.New(keys.TierPro, "acme", 123, now)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if k.Prefix != plain[:12] || !strings.HasPrefix(k.Prefix, "tb_live_") {
		t.Errorf("Prefix = %q, want first 12 characters of %q", k.Prefix, plain)
	}
	if k.Hash != keys.HashOf([]byte(plain)) {
		t.Errorf("Hash is not HashOf(plaintext)")
	}
	if !strings.HasPrefix(k.ID, "key_") || len(k.ID) != keys.IDLen {
		t.Errorf("ID = %q", k.ID)
	}
	if k.Name != "acme" || k.Tier != "pro" || k.Quota != 123 || k.Revoked {
		t.Errorf("New = %+v", k)
	}
	want := time.Date(2025, 3, 4, 4, 6, 7, 891234000, time.UTC)
	if !k.CreatedAt.Equal(want) || k.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v (UTC, microseconds)", k.CreatedAt, want)
	}

	if _, _, err := keys.New("gold", "", 0, now); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("New with unknown tier: err = %v, want ErrInvalid", err)
	}
	if _, _, err := keys.New(keys.TierFree, "", -1, now); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("New with negative quota: err = %v, want ErrInvalid", err)
	}
}

func TestValidTier(t *testing.T) {
	for _, tier := range []string{"free", "pro", "enterprise", "unlimited", "lifetime", "partner"} {
		if !keys.ValidTier(tier) {
			t.Errorf("ValidTier(%q) = false", tier)
		}
	}
	if got := len(keys.Tiers()); got != 6 {
		t.Errorf("len(Tiers()) = %d, want 6", got)
	}
	for _, tier := range keys.Tiers() {
		if !keys.ValidTier(tier) {
			t.Errorf("Tiers() lists %q, which ValidTier rejects", tier)
		}
	}
	for _, tier := range []string{"", "Free", "gold", " pro"} {
		if keys.ValidTier(tier) {
			t.Errorf("ValidTier(%q) = true", tier)
		}
	}
}

func TestValidate(t *testing.T) {
	_, good, err := keys.New(keys.TierFree, "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(New()) = %v", err)
	}
	f := func(name string, mutate func(k *keys.Key)) {
		t.Helper()
		k := good
		mutate(&k)
		if err := k.Validate(); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
	f("no id", func(k *keys.Key) { k.ID = "" })
	f("no prefix", func(k *keys.Key) { k.Prefix = "" })
	f("bad tier", func(k *keys.Key) { k.Tier = "gold" })
	f("negative quota", func(k *keys.Key) { k.Quota = -5 })
	f("no time", func(k *keys.Key) { k.CreatedAt = time.Time{} })
	f("no hash", func(k *keys.Key) { k.Hash = [32]byte{} })
	f("revoked", func(k *keys.Key) { k.Revoked = true })
}
