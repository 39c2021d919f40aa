package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

const (
	// LivePrefix starts every plaintext key.
	LivePrefix = "tb_live_"
	// SecretBytes is the size of a key's random secret: 256 bits.
	SecretBytes = 32
	// PlaintextLen is the length of a plaintext key: LivePrefix and 43 base64url characters.
	PlaintextLen = len(LivePrefix) + (SecretBytes*8+5)/6
	// PrefixLen is the length of Key.Prefix: LivePrefix and the first 4 secret characters.
	PrefixLen = 12
	// IDPrefix starts every key ID.
	IDPrefix = "key_"
	// IDLen is the length of a key ID: IDPrefix and 12 characters (60 random bits).
	IDLen = len(IDPrefix) + 12
)

// idAlphabet is Crockford's base32 alphabet in lower case: no i, l, o or u.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// Generate returns a new plaintext key, LivePrefix followed by the unpadded base64url encoding
// of 32 bytes from crypto/rand (PlaintextLen characters in all), and its hash (HashOf).
func Generate() (plaintext string, hash [32]byte, err error) {
	var secret [SecretBytes]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", [32]byte{}, fmt.Errorf("generate key: %w", err)
	}
	buf := make([]byte, 0, PlaintextLen)
	buf = append(buf, LivePrefix...)
	buf = base64.RawURLEncoding.AppendEncode(buf, secret[:])
	return string(buf), HashOf(buf), nil
}

// HashOf returns the SHA-256 of a presented plaintext key, the form in which keys are stored
// and looked up. It does not allocate or retain presented.
func HashOf(presented []byte) [32]byte {
	return sha256.Sum256(presented)
}

// NewID returns a new random key ID: IDPrefix followed by 12 lower-case Crockford base32
// characters (60 bits from crypto/rand), e.g. "key_5g2q8rz0xkcm".
func NewID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate key id: %w", err)
	}
	v := binary.LittleEndian.Uint64(b[:])
	id := make([]byte, 0, IDLen)
	id = append(id, IDPrefix...)
	for range IDLen - len(IDPrefix) {
		id = append(id, idAlphabet[v&31])
		v >>= 5
	}
	return string(id), nil
}
