package lpo

import (
	"github.com/trinityprice/trinity/internal/price"
)

// MaxBatch is the most distinct assets one batch request may name.
const MaxBatch = 30

// Batch collects the distinct asset names of a batch request. The zero value is empty and
// ready; Reset makes it reusable. Names are borrowed from the request buffer: a Batch must
// not outlive the request it was filled from.
type Batch struct {
	n     int
	names [MaxBatch][]byte
	index [MaxBatch]int // book index of each name, -1 unknown, -2 malformed
}

// Reset empties the batch.
func (b *Batch) Reset() { b.n = 0 }

// Len returns the number of distinct names.
func (b *Batch) Len() int { return b.n }

// Add adds an asset name, ignoring duplicates (case-insensitive). It returns
// ErrTooManyAssets past MaxBatch distinct names.
func (b *Batch) Add(s *Service, name []byte) *Error {
	idx := -2
	if validAssetName(name) {
		idx = s.book.Index(name)
	}
	for i := 0; i < b.n; i++ {
		if idx >= 0 && b.index[i] == idx || idx < 0 && equalFold(b.names[i], name) {
			return nil
		}
	}
	if b.n == MaxBatch {
		return ErrTooManyAssets
	}
	b.names[b.n], b.index[b.n] = name, idx
	b.n++
	return nil
}

// AppendAnswers appends the batch answer {"count":N,"prices":[…]}: one item per distinct
// asset in request order, either the asset's answer object (full or brief) or
// {"asset":"X","error":{…}} for an unknown, malformed or unpriced asset. It returns the
// outcome to record: OK when at least one asset was answered.
func (b *Batch) AppendAnswers(dst []byte, s *Service, full bool) ([]byte, Outcome) {
	dst = append(dst, `{"count":`...)
	dst = appendInt(dst, b.n)
	dst = append(dst, `,"prices":[`...)
	o := OutcomeNotFound
	for i := 0; i < b.n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		var ans *price.Answer
		var e *Error
		switch idx := b.index[i]; {
		case idx == -2:
			e = ErrBadAsset
		case idx < 0:
			e = ErrUnknownAsset
		default:
			if ans = s.book.Answer(idx); ans == nil {
				e = ErrNoPrice
			}
		}
		if e != nil {
			dst = append(dst, `{"asset":"`...)
			if e == ErrBadAsset {
				dst = append(dst, '?')
			} else {
				dst = appendUpper(dst, b.names[i])
			}
			dst = append(dst, `","error":`...)
			dst = e.AppendObject(dst)
			dst = append(dst, '}')
			continue
		}
		if full {
			dst = append(dst, ans.JSON...)
		} else {
			dst = append(dst, ans.Brief...)
		}
		o = OutcomeOK
	}
	return append(dst, "]}"...), o
}

func equalFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if upper(a[i]) != upper(b[i]) {
			return false
		}
	}
	return true
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

func appendUpper(dst, s []byte) []byte {
	for _, c := range s {
		dst = append(dst, upper(c))
	}
	return dst
}

func appendInt(dst []byte, n int) []byte {
	if n >= 10 {
		dst = appendInt(dst, n/10)
	}
	return append(dst, byte('0'+n%10))
}
