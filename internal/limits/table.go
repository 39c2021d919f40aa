package limits

import "sync/atomic"

// TierTable is the current set of tiers by name, replaced as a whole when the store's tiers
// change. Get is lock-free and allocation-free; it is safe for concurrent use.
type TierTable struct {
	m atomic.Pointer[map[string]Tier]
}

// NewTierTable returns a table holding tiers (nil: DefaultTiers).
func NewTierTable(tiers map[string]Tier) *TierTable {
	t := &TierTable{}
	if tiers == nil {
		tiers = DefaultTiers()
	}
	t.Set(tiers)
	return t
}

// Get returns the tier called name.
func (t *TierTable) Get(name string) (Tier, bool) {
	tier, ok := (*t.m.Load())[name]
	return tier, ok
}

// Set replaces every tier.
func (t *TierTable) Set(tiers map[string]Tier) {
	cp := make(map[string]Tier, len(tiers))
	for k, v := range tiers {
		cp[k] = v
	}
	t.m.Store(&cp)
}

// All returns a copy of every tier.
func (t *TierTable) All() map[string]Tier {
	src := *t.m.Load()
	cp := make(map[string]Tier, len(src))
	for k, v := range src {
		cp[k] = v
	}
	return cp
}
