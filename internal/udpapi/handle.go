package udpapi

import (
	"strconv"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/lpo"
)

// Amplification is the most an answer may be larger than its request, as a factor.
const Amplification = 3

// UDP wordings of two lpo errors whose messages describe the HTTP request; same codes.
var (
	errMissingKey   = lpo.NewError(401, "missing_key", `an API key is required: send "key":"<key>" in the request`, lpo.OutcomeUnauthorized)
	errMissingAsset = lpo.NewError(400, "missing_asset", `the request names no asset: send "asset":"btc" or "assets":["btc","eth"]`, lpo.OutcomeBadRequest)
)

// handler turns request datagrams into answers. Each reader goroutine owns one; it is not
// safe for concurrent use. Its scratch buffers grow to the largest answer once and are then
// reused, so handling allocates nothing in steady state.
type handler struct {
	svc      *lpo.Service
	tooLarge *lpo.Error
	// start is when the current batch was read; every datagram of the batch reports it to
	// Service.Done, so time.Now runs once per recvmmsg.
	start   time.Time
	req     lpo.Request
	batch   lpo.Batch
	scratch []byte
	// ampDrops counts answers dropped because even the smallest one would exceed
	// Amplification × the request; the reader adds it to the metrics once per batch.
	ampDrops int
	// keyCache lets a key presented again skip its SHA-256 (see keys.Cache).
	keyCache *keys.Cache
}

func newHandler(svc *lpo.Service, tooLarge *lpo.Error) *handler {
	return &handler{svc: svc, tooLarge: tooLarge, scratch: make([]byte, 0, 4096), keyCache: keys.NewCache()}
}

// handle answers one request datagram: it appends the answer to out and returns it, or
// returns out unchanged when no answer may be sent. It does not retain req or out.
//
// The answer is the asset's pre-built answer object (or the batch answer
// {"count":…,"prices":[…]}) with "id":<id as sent>, spliced in after the opening brace when
// the request had an id; errors are {"id":…,"error":{"code":…,"message":…}}.
//
// Anti-amplification: the answer is at most Amplification × len(req) bytes. The full answer is
// sent if it fits, else the brief one (no per-source list), else a request_too_small error
// whose need_bytes field says how large the request must be for the full answer (a client
// pads it, e.g. with a "pad" field); if even that error does not fit, nothing is sent.
// A request with both "asset" and "assets" is a batch request. Every request is reported to
// Service.Done, answered or not.
func (h *handler) handle(req, out []byte) []byte {
	limit := Amplification * len(req)
	r := &h.req
	if e := lpo.ParseRequest(req, r); e != nil {
		h.svc.Done(nil, lpo.UDP, lpo.EndpointOther, e.Outcome, h.start)
		return h.appendError(out, limit, nil, e)
	}
	ep := lpo.EndpointPrice
	if r.Assets != nil {
		ep = lpo.EndpointPrices
	}
	k, e := h.svc.AuthorizeCached(r.Key, h.keyCache)
	if e != nil {
		return h.fail(out, limit, k, ep, e)
	}
	if d, e := h.svc.Admit(k, h.start.UnixNano()); e != nil {
		h.svc.Done(k, lpo.UDP, ep, e.Outcome, h.start)
		return h.appendLimited(out, limit, h.req.ID, e, d)
	}
	if ep == lpo.EndpointPrices {
		return h.handleBatch(out, limit, k)
	}
	asset, ans, e := h.svc.Price(r.Asset)
	if e != nil {
		h.svc.DoneAsset(k, lpo.UDP, ep, e.Outcome, asset, h.start)
		return h.appendError(out, limit, h.req.ID, udpError(e))
	}
	idLen := splicedLen(r.ID)
	o := lpo.OutcomeOf(ans)
	switch full := idLen + len(ans.JSON); {
	case full <= limit:
		out = appendWithID(out, r.ID, ans.JSON)
	case idLen+len(ans.Brief) <= limit:
		out = appendWithID(out, r.ID, ans.Brief)
	default:
		out = h.appendTooSmall(out, limit, r.ID, full)
		o = lpo.OutcomeBadRequest
	}
	h.svc.DoneAsset(k, lpo.UDP, ep, o, asset, h.start)
	return out
}

// handleBatch answers an "assets" request whose key was accepted.
func (h *handler) handleBatch(out []byte, limit int, k *keys.Key) []byte {
	r := &h.req
	b := &h.batch
	b.Reset()
	if e := b.AddJSONArray(h.svc, r.Assets); e != nil {
		return h.fail(out, limit, k, lpo.EndpointPrices, e)
	}
	if b.Len() == 0 {
		return h.fail(out, limit, k, lpo.EndpointPrices, lpo.ErrEmptyBatch)
	}
	idLen := splicedLen(r.ID)
	var o lpo.Outcome
	h.scratch, o = b.AppendAnswers(h.scratch[:0], h.svc, true)
	if full := idLen + len(h.scratch); full > limit {
		h.scratch, o = b.AppendAnswers(h.scratch[:0], h.svc, false)
		if idLen+len(h.scratch) > limit {
			h.svc.Done(k, lpo.UDP, lpo.EndpointPrices, lpo.OutcomeBadRequest, h.start)
			return h.appendTooSmall(out, limit, r.ID, full)
		}
	}
	h.svc.DoneAsset(k, lpo.UDP, lpo.EndpointPrices, o, lpo.AssetBatch, h.start)
	return appendWithID(out, r.ID, h.scratch)
}

// handleTooLarge answers a datagram that did not fit the receive buffer (n bytes were read).
func (h *handler) handleTooLarge(out []byte, n int) []byte {
	h.svc.Done(nil, lpo.UDP, lpo.EndpointOther, lpo.OutcomeBadRequest, h.start)
	return h.appendError(out, Amplification*n, nil, h.tooLarge)
}

// fail reports and answers an error.
func (h *handler) fail(out []byte, limit int, k *keys.Key, ep lpo.Endpoint, e *lpo.Error) []byte {
	h.svc.Done(k, lpo.UDP, ep, e.Outcome, h.start)
	return h.appendError(out, limit, h.req.ID, udpError(e))
}

// udpError swaps the lpo errors whose messages describe HTTP for their UDP wording.
func udpError(e *lpo.Error) *lpo.Error {
	switch e {
	case lpo.ErrMissingKey:
		return errMissingKey
	case lpo.ErrMissingAsset:
		return errMissingAsset
	}
	return e
}

// appendLimited appends a rate_limited or quota_exceeded error with "retry_after_ms", the
// exact wait before this key's next request can be admitted, if it fits in limit bytes.
func (h *handler) appendLimited(out []byte, limit int, id []byte, e *lpo.Error, d limits.Decision) []byte {
	s := appendIDOpen(h.scratch[:0], id)
	s = append(s, `"error":`...)
	s = e.AppendObject(s)
	s = append(s, `,"retry_after_ms":`...)
	s = strconv.AppendInt(s, (d.RetryAfter + time.Millisecond - 1).Milliseconds(), 10)
	s = append(s, '}')
	h.scratch = s
	return h.appendIfFits(out, limit, s)
}

// appendError appends {"id":…,"error":{…}} if it fits in limit bytes.
func (h *handler) appendError(out []byte, limit int, id []byte, e *lpo.Error) []byte {
	s := appendIDOpen(h.scratch[:0], id)
	s = append(s, `"error":`...)
	s = e.AppendObject(s)
	s = append(s, '}')
	h.scratch = s
	return h.appendIfFits(out, limit, s)
}

// appendTooSmall appends the request_too_small error for a full answer of full bytes, if it
// fits in limit bytes.
func (h *handler) appendTooSmall(out []byte, limit int, id []byte, full int) []byte {
	need := (full + Amplification - 1) / Amplification
	s := appendIDOpen(h.scratch[:0], id)
	s = append(s, `"error":{"code":"request_too_small","message":"answers are at most 3x the request size: pad the request to at least `...)
	s = strconv.AppendInt(s, int64(need), 10)
	s = append(s, ` bytes"},"need_bytes":`...)
	s = strconv.AppendInt(s, int64(need), 10)
	s = append(s, '}')
	h.scratch = s
	return h.appendIfFits(out, limit, s)
}

func (h *handler) appendIfFits(out []byte, limit int, s []byte) []byte {
	if len(s) > limit {
		h.ampDrops++
		return out
	}
	return append(out, s...)
}

// splicedLen is the length `"id":<id>,` adds to an answer object.
func splicedLen(id []byte) int {
	if id == nil {
		return 0
	}
	return len(`"id":,`) + len(id)
}

// appendIDOpen appends `{` and, for a non-nil id, `"id":<id>,`.
func appendIDOpen(dst, id []byte) []byte {
	dst = append(dst, '{')
	if id != nil {
		dst = append(dst, `"id":`...)
		dst = append(dst, id...)
		dst = append(dst, ',')
	}
	return dst
}

// appendWithID appends the JSON object obj with "id" spliced in as its first member. obj is
// one of the service's answer objects and never empty ("{}").
func appendWithID(dst, id, obj []byte) []byte {
	if id == nil {
		return append(dst, obj...)
	}
	return append(appendIDOpen(dst, id), obj[1:]...)
}
