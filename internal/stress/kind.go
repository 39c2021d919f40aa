package stress

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Kind classifies the outcome of one request.
type Kind uint8

// Outcomes. Everything but OK is an error.
const (
	OK          Kind = iota
	Timeout          // no (complete) answer within the timeout
	Refused          // connection refused (TCP RST on connect, ICMP port unreachable for UDP)
	Reset            // connection reset or closed with a request outstanding
	RateLimited      // HTTP 429, or a UDP rate_limited / quota_exceeded answer
	ServerError      // HTTP 5xx, or a UDP no_price / overloaded / internal answer
	ClientError      // HTTP 4xx other than 429, or another UDP error answer
	BadBody          // an answer that does not validate (status 200 without the expected JSON, wrong id, malformed HTTP)
	Other            // anything else: dial failures other than refused, fd or port exhaustion, odd statuses
	NumKinds
)

var kindNames = [NumKinds]string{"ok", "timeout", "refused", "reset", "429", "5xx", "4xx", "bad_body", "other"}

// String returns the kind's short name as used in tables, CSV and JSON.
func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "unknown"
}

// kindByName is the inverse of String.
func kindByName(s string) (Kind, bool) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), true
		}
	}
	return 0, false
}

// statusKind classifies an HTTP status other than the expected 200.
func statusKind(status int) Kind {
	switch {
	case status == 429:
		return RateLimited
	case status >= 500 && status <= 599:
		return ServerError
	case status >= 400 && status <= 499:
		return ClientError
	}
	return Other
}

// errKind classifies a transport error.
func errKind(err error) Kind {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return Timeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNABORTED):
		return Reset
	case errors.Is(err, errBadResponse):
		return BadBody
	}
	return Other
}

// Resource problems worth a note in the report, kept as bits in recorder.flags.
const (
	flagNoFDs     uint32 = 1 << iota // EMFILE/ENFILE: out of file descriptors
	flagNoPorts                      // EADDRNOTAVAIL: out of ephemeral ports
	flagTooSmall                     // the UDP server asked for larger (padded) requests
	flagUnmatched                    // UDP answers whose id matched no request in flight
)

// resourceFlag returns the flag bit for a dial/socket error that deserves a note, or 0.
func resourceFlag(err error) uint32 {
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return flagNoFDs
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return flagNoPorts
	}
	return 0
}
