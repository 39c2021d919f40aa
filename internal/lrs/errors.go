package lrs

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The error codes of the report service. They are part of the public contract, like the price
// API's codes (internal/lpo/errors.go), and use the same body shape.
const (
	CodeMissingKey          = "missing_key"           // 401: no key presented
	CodeUnknownKey          = "unknown_key"           // 401: the key is not known
	CodeKeyRevoked          = "key_revoked"           // 403
	CodeBadRequest          = "bad_request"           // 400: bad report, date, limit, cursor or format
	CodeReportQuotaExceeded = "report_quota_exceeded" // 429: the month's report allowance is used up
	CodeStoreUnavailable    = "store_unavailable"     // 503: the store failed or timed out
	CodeInternal            = "internal_error"        // 500: e.g. a key whose tier is not configured
	CodeNotFound            = "not_found"             // 404: HTTP only, no such path
	CodeMethodNotAllowed    = "method_not_allowed"    // 405: HTTP only, not GET
	CodeOverloaded          = "overloaded"            // 503: UDP only, too many reports in flight
	CodeRequestTooSmall     = "request_too_small"     // UDP only: the answer exceeds 3× the request
	CodeAnswerTooLarge      = "answer_too_large"      // UDP only: the answer exceeds one datagram
)

// Error is a client-facing error: an HTTP-equivalent status, a stable code and a message safe
// to show the client. The optional fields are top-level members of the error answer, next to
// "error" (as udpapi does with need_bytes), and are omitted when zero.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is the number of seconds after which a report_quota_exceeded call may
	// succeed (the start of the next UTC month); also sent as the Retry-After header.
	RetryAfter int64
	// NeedBytes is, for request_too_small, the request size in bytes that would let the
	// answer through the 3× rule.
	NeedBytes int
	// SuggestedLimit is, for request_too_small and answer_too_large of a paged report, an
	// estimate of the largest limit whose answer would fit as the request stands.
	SuggestedLimit int
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errorBody is the JSON shape of an error answer.
type errorBody struct {
	ID    json.RawMessage `json:"id,omitempty"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	RetryAfter     int64 `json:"retry_after,omitempty"`
	NeedBytes      int   `json:"need_bytes,omitempty"`
	SuggestedLimit int   `json:"suggested_limit,omitempty"`
}

// appendJSON appends the error answer {"id":…,"error":{"code":…,"message":…},…} to dst; id
// (the request's raw id token, or nil) is echoed verbatim. There is no trailing newline.
func (e *Error) appendJSON(dst, id []byte) []byte {
	var b errorBody
	b.ID = id
	b.Error.Code = e.Code
	b.Error.Message = e.Message
	b.RetryAfter, b.NeedBytes, b.SuggestedLimit = e.RetryAfter, e.NeedBytes, e.SuggestedLimit
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)               // messages show "<key>"
	if err := enc.Encode(&b); err != nil { // strings, integers and validated id tokens only
		panic("BUG: marshal lrs error: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}

func newError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Shared errors; never modify one.
var (
	errMissingKey    = newError(401, CodeMissingKey, "an API key is required: send Authorization: Bearer <key>")
	errMissingKeyUDP = newError(401, CodeMissingKey, `an API key is required: send "key":"<key>" in the request`)
	errUnknownKey    = newError(401, CodeUnknownKey, "the API key is not known")
	errKeyRevoked    = newError(403, CodeKeyRevoked, "the API key has been revoked")
	errStore         = newError(503, CodeStoreUnavailable, "the report store is unavailable; retry shortly")
	errNotFound      = newError(404, CodeNotFound, "no such report; see /reports/usage, /reports/summary, /reports/report-usage, /reports/report-summary")
	errMethod        = newError(405, CodeMethodNotAllowed, "reports accept only GET")
	errOverloaded    = newError(503, CodeOverloaded, "too many reports in flight; retry shortly")
	errBadJSON       = newError(400, CodeBadRequest, "the request is not a valid JSON object of the documented shape")
	errBadID         = newError(400, CodeBadRequest, "id must be a JSON number or a string of at most 64 bytes")
	errKeyMismatch   = newError(400, CodeBadRequest, "api_key_id does not name the key presented; a key reads only its own reports")
	errTierUnknown   = newError(500, CodeInternal, "the key's tier is not configured")
	errUDPFormat     = newError(400, CodeBadRequest, "UDP answers are always JSON: omit format or send \"json\"")
	errBadFormat     = newError(400, CodeBadRequest, "format must be json, csv, tsv or text")
	errBadLimit      = newError(400, CodeBadRequest, "limit must be an integer from 1 to 10000")
	errBadCursor     = newError(400, CodeBadRequest, "cursor is not a next_cursor of this report")
	errRangeReversed = newError(400, CodeBadRequest, "from must not be after to")
	errMissingReport = newError(400, CodeBadRequest, `the request names no report: send "report":"usage", "summary", "report-usage" or "report-summary"`)
	errUnknownReport = newError(400, CodeBadRequest, "report must be usage, summary, report-usage or report-summary")
)

// errBadDate returns the bad_request error for an unparsable from or to value.
func errBadDate(param, value string) *Error {
	return newError(400, CodeBadRequest, param+" "+quoteShort(value)+
		" is neither a date (YYYY-MM-DD) nor an RFC 3339 time")
}

// errQuota returns the report_quota_exceeded error for an allowance of allowance reports,
// retryable after retryAfter seconds.
func errQuota(allowance int, month string, retryAfter int64) *Error {
	return &Error{
		Status: 429, Code: CodeReportQuotaExceeded, RetryAfter: retryAfter,
		Message: "the key's " + strconv.Itoa(allowance) + " reports for " + month +
			" are used up; the allowance renews at the start of the next UTC month",
	}
}

// quoteShort quotes a client-supplied value for an error message, cut to 40 bytes so that
// errors stay small (they too are bound by the UDP 3× rule).
func quoteShort(s string) string {
	const max = 40
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strconv.Quote(s)
}
