package lpo

import (
	"strconv"
)

// Outcome classifies a finished request for metrics and metering.
type Outcome uint8

// Outcomes, in metric label order.
const (
	OutcomeOK Outcome = iota
	OutcomeStale
	OutcomeBadRequest
	OutcomeUnauthorized
	OutcomeForbidden
	OutcomeNotFound
	OutcomeRateLimited
	OutcomeQuotaExceeded
	OutcomeUnavailable
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "stale", "bad_request", "unauthorized", "forbidden", "not_found", "rate_limited", "quota_exceeded", "unavailable"}

// String returns the outcome's metric label.
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// Error is a client-facing error: an HTTP status, a stable machine code, a message, and its
// JSON body built once. Errors are values shared by all requests; never modify one.
type Error struct {
	Status  int
	Code    string
	Message string
	Outcome Outcome
	// Body is {"error":{"code":…,"message":…}}.
	Body []byte
	// object is the inner {"code":…,"message":…}, built once.
	object []byte
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// AppendObject appends the inner {"code":…,"message":…} object. It does not allocate.
func (e *Error) AppendObject(dst []byte) []byte {
	if e.object != nil {
		return append(dst, e.object...)
	}
	return e.appendObject(dst)
}

func (e *Error) appendObject(dst []byte) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendQuote(dst, e.Code)
	dst = append(dst, `,"message":`...)
	dst = strconv.AppendQuote(dst, e.Message)
	return append(dst, '}')
}

// NewError builds an Error and its body.
func NewError(status int, code, message string, o Outcome) *Error {
	e := &Error{Status: status, Code: code, Message: message, Outcome: o}
	e.object = e.appendObject(nil)
	e.Body = append(append([]byte(`{"error":`), e.object...), "}\n"...)
	return e
}

// The errors of the price API. Their codes are part of the public contract (see
// api/openapi.yaml).
var (
	ErrMissingKey    = NewError(401, "missing_key", "an API key is required: send Authorization: Bearer <key>", OutcomeUnauthorized)
	ErrUnknownKey    = NewError(401, "unknown_key", "the API key is not known", OutcomeUnauthorized)
	ErrRevokedKey    = NewError(403, "key_revoked", "the API key has been revoked", OutcomeForbidden)
	ErrMissingAsset  = NewError(400, "missing_asset", "the asset parameter is required, e.g. asset=btc", OutcomeBadRequest)
	ErrBadAsset      = NewError(400, "bad_asset", "asset names are 1 to 24 letters, digits, '.', '_' or '-'", OutcomeBadRequest)
	ErrUnknownAsset  = NewError(404, "unknown_asset", "the asset is not priced by this service; see GET /assets", OutcomeNotFound)
	ErrNoPrice       = NewError(503, "no_price", "no fresh price is available for this asset right now", OutcomeUnavailable)
	ErrTooManyAssets = NewError(400, "too_many_assets", "a batch asks for at most 30 distinct assets", OutcomeBadRequest)
	ErrEmptyBatch    = NewError(400, "missing_assets", "the batch names no assets: send {\"assets\":[\"btc\",…]} or assets=btc,eth", OutcomeBadRequest)
	ErrBadJSON       = NewError(400, "bad_json", "the request is not a valid JSON object of the documented shape", OutcomeBadRequest)
	ErrBodyTooLarge  = NewError(413, "body_too_large", "the request body is larger than 16 KiB", OutcomeBadRequest)
	ErrNotFound      = NewError(404, "not_found", "no such endpoint; see the API description", OutcomeNotFound)
	ErrMethod        = NewError(405, "method_not_allowed", "this endpoint does not accept that method", OutcomeBadRequest)
	ErrOverloaded    = NewError(503, "overloaded", "the server is over capacity; retry shortly", OutcomeUnavailable)
)
