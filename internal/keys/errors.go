package keys

import "errors"

// ErrNotFound is returned (wrapped) when no key matches an ID, prefix or plaintext.
var ErrNotFound = errors.New("key not found")

// ErrAmbiguous is returned (wrapped) when a prefix matches more than one key; the caller
// should use the key's ID or a longer prefix.
var ErrAmbiguous = errors.New("key prefix matches more than one key")

// ErrInvalid is returned (wrapped, with the reason) for a Key that cannot be stored.
var ErrInvalid = errors.New("invalid key")

// ErrDuplicate is returned (wrapped) when a new key's ID or hash is already stored.
var ErrDuplicate = errors.New("key already exists")
