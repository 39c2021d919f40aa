package keys

import (
	"crypto/subtle"
	"hash/maphash"
)

// cacheSize is the number of entries of a Cache (a power of two).
const cacheSize = 256

// Cache remembers recent successful lookups by their plaintext, so that a key presented again
// costs one constant-time comparison instead of a SHA-256. It is direct-mapped (a newer key
// may evict an older one) and holds only keys that exist. An entry is valid only for the table
// snapshot it was found in, so any reload — a new key, a revocation, a tier change — empties
// it at once. The plaintexts it holds never leave process memory.
//
// A Cache is not safe for concurrent use: give each reader goroutine its own.
type Cache struct {
	seed    maphash.Seed
	entries [cacheSize]cacheEntry
}

type cacheEntry struct {
	snap  *snapshot
	plain [PlaintextLen]byte
	key   *Key
}

// NewCache returns an empty Cache.
func NewCache() *Cache { return &Cache{seed: maphash.MakeSeed()} }

// LookupCached is Lookup through c. It does not allocate.
func (t *Table) LookupCached(c *Cache, presented []byte) (*Key, bool) {
	s := t.snap.Load()
	if s == nil {
		return nil, false
	}
	if len(presented) != PlaintextLen {
		k, ok := s.byHash[HashOf(presented)]
		return k, ok
	}
	e := &c.entries[maphash.Bytes(c.seed, presented)&(cacheSize-1)]
	if e.snap == s && subtle.ConstantTimeCompare(e.plain[:], presented) == 1 {
		return e.key, true
	}
	k, ok := s.byHash[HashOf(presented)]
	if ok {
		e.snap, e.key = s, k
		copy(e.plain[:], presented)
	}
	return k, ok
}
