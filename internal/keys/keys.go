// Package keys owns Trinity's API keys: the Key type, generating and hashing keys, and Table,
// the in-memory lookup table the request paths consult. Plaintext keys are shown once, when
// generated; only their SHA-256 hash is stored.
//
// Package keys is the domain package for keys: it must not import the stores
// (internal/store/...) or any server package. Stores implement Source.
package keys

import (
	"fmt"
	"time"
)

// The tiers Trinity knows (DESIGN §6). A Key's Tier is one of these.
const (
	TierFree       = "free"
	TierPro        = "pro"
	TierEnterprise = "enterprise"
	TierUnlimited  = "unlimited"
	TierLifetime   = "lifetime"
	TierPartner    = "partner"
)

// Tiers returns every known tier, cheapest first. The caller owns the slice.
func Tiers() []string {
	return []string{TierFree, TierPro, TierEnterprise, TierUnlimited, TierLifetime, TierPartner}
}

// ValidTier reports whether tier is one of the known tiers (case-sensitive).
func ValidTier(tier string) bool {
	switch tier {
	case TierFree, TierPro, TierEnterprise, TierUnlimited, TierLifetime, TierPartner:
		return true
	}
	return false
}

// Key is one API key as stored: everything but the plaintext secret. Keys handed out by a
// Table are shared and must not be modified.
type Key struct {
	// ID is the key's short random identifier, "key_" followed by 12 characters (see NewID).
	ID string
	// Prefix is the first PrefixLen characters of the plaintext key (e.g. "tb_live_AbCd"), so
	// operators can recognise a key without its secret. Prefixes are not unique.
	Prefix string
	// Name is a free-form label chosen by the operator; may be empty.
	Name string
	// Tier is one of the known tiers (see ValidTier).
	Tier string
	// Quota overrides the tier's monthly request quota; 0 means the tier default.
	Quota int64
	// Revoked keys stay in the store and in a Table so callers can tell "revoked" (403) from
	// "unknown" (401).
	Revoked bool
	// CreatedAt is when the key was created. Stores keep it to the microsecond.
	CreatedAt time.Time
	// Hash is the SHA-256 of the full plaintext key (see HashOf).
	Hash [32]byte
}

// Validate reports whether k may be stored as a new key: it needs an ID, a Prefix, a known
// Tier, a non-negative Quota, a CreatedAt time and a non-zero Hash, and must not be revoked.
// The error wraps ErrInvalid.
func (k *Key) Validate() error {
	switch {
	case k.ID == "":
		return fmt.Errorf("%w: missing id", ErrInvalid)
	case k.Prefix == "":
		return fmt.Errorf("%w: missing prefix", ErrInvalid)
	case !ValidTier(k.Tier):
		return fmt.Errorf("%w: unknown tier %q", ErrInvalid, k.Tier)
	case k.Quota < 0:
		return fmt.Errorf("%w: negative quota %d", ErrInvalid, k.Quota)
	case k.CreatedAt.IsZero():
		return fmt.Errorf("%w: missing creation time", ErrInvalid)
	case k.Hash == [32]byte{}:
		return fmt.Errorf("%w: missing hash", ErrInvalid)
	case k.Revoked:
		return fmt.Errorf("%w: a new key cannot be revoked", ErrInvalid)
	}
	return nil
}

// New makes a new key of the given tier, name and quota (0 = tier default), created at now
// (kept to the microsecond). It returns the plaintext, to be shown once, and the Key to store.
// An unknown tier or a negative quota returns an error wrapping ErrInvalid.
func New(tier, name string, quota int64, now time.Time) (plaintext string, k Key, err error) {
	id, err := NewID()
	if err != nil {
		return "", Key{}, err
	}
	plaintext, hash, err := Generate()
	if err != nil {
		return "", Key{}, err
	}
	k = Key{
		ID:        id,
		Prefix:    plaintext[:PrefixLen],
		Name:      name,
		Tier:      tier,
		Quota:     quota,
		CreatedAt: now.UTC().Truncate(time.Microsecond),
		Hash:      hash,
	}
	if err := k.Validate(); err != nil {
		return "", Key{}, fmt.Errorf("new key: %w", err)
	}
	return plaintext, k, nil
}
