package stress

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Protocol names one of the four request kinds the client generates.
type Protocol string

// The protocols.
const (
	TCPLPO Protocol = "tcp-lpo" // HTTP GET /price
	UDPLPO Protocol = "udp-lpo" // UDP price datagram
	TCPLRS Protocol = "tcp-lrs" // HTTP GET /reports/<report>?format=json
	UDPLRS Protocol = "udp-lrs" // UDP report datagram
)

// Protocols lists every protocol in table order.
var Protocols = []Protocol{TCPLPO, UDPLPO, TCPLRS, UDPLRS}

// Valid reports whether p is one of Protocols.
func (p Protocol) Valid() bool {
	for _, q := range Protocols {
		if p == q {
			return true
		}
	}
	return false
}

// UDP reports whether p runs over UDP.
func (p Protocol) UDP() bool { return p == UDPLPO || p == UDPLRS }

// DefaultPort is the service's default port for p (DESIGN §4).
func (p Protocol) DefaultPort() int {
	switch p {
	case UDPLPO:
		return 2679
	case TCPLRS:
		return 9090
	case UDPLRS:
		return 2680
	}
	return 8080
}

// LadderLevels are the report's 13 concurrency levels.
var LadderLevels = []int{30, 90, 300, 600, 900, 1500, 3000, 6000, 9000, 12000, 15000, 18000, 21000}

// Share is one protocol's weight in a mix.
type Share struct {
	Protocol Protocol `json:"protocol"`
	Weight   int      `json:"weight"`
}

// Phase is one stretch of constant load: a ladder level, a sustained run, or an open-loop
// rate run.
type Phase struct {
	// Name labels the phase in output ("1".."13" for ladder levels, "sustain", "rate").
	Name string `json:"name"`
	// Concurrency is the number of requests in flight (closed loop: TCP connections, each
	// with one request outstanding, plus UDP requests in flight), split over the mix. In an
	// open-loop phase it bounds the TCP connection pool and each UDP socket's in-flight table.
	Concurrency int `json:"concurrency"`
	// Rate, when > 0, makes the phase open loop: requests per second over the whole mix, sent
	// at evenly spaced intended times, latency measured from the intended time.
	Rate float64 `json:"rate,omitempty"`
	// Duration of the phase.
	Duration time.Duration `json:"duration_ns"`
}

// Plan is everything a run needs. It travels as JSON from a coordinator to its workers.
type Plan struct {
	// Mix is the protocols and their weights (concurrency or rate shares).
	Mix []Share `json:"mix"`
	// Targets lists host:port addresses per protocol; requests go round-robin over them.
	Targets map[Protocol][]string `json:"targets"`
	// Keys are the API keys, used in rotation. Empty: no key is sent.
	Keys []string `json:"keys,omitempty"`
	// Assets are the assets asked for by LPO requests, in rotation.
	Assets []string `json:"assets"`
	// HTTPPath is the LPO request path; "{asset}" is replaced by the asset.
	HTTPPath string `json:"http_path"`
	// LRSReport is the report LRS requests ask for ("summary" or "usage").
	LRSReport string `json:"lrs_report"`
	// Phases run one after the other.
	Phases []Phase `json:"phases"`
	// Timeout bounds each request (and each TCP connect).
	Timeout time.Duration `json:"timeout_ns"`
	// UDPSockets is the number of persistent UDP sockets per target.
	UDPSockets int `json:"udp_sockets"`
	// UDPPad pads UDP requests with a "pad" field to this many bytes (0: no padding), so the
	// server's 3× anti-amplification bound lets the full answer through.
	UDPPad map[Protocol]int `json:"udp_pad,omitempty"`
}

// Limits on plan values, so that a typo cannot ask for absurd resources.
const (
	maxConcurrency = 1_000_000
	maxRate        = 10_000_000
	maxUDPSockets  = 1024
	maxUDPPad      = 60000
	// DefaultLRSPad is the size udp-lrs requests are padded to unless --udp-pad says
	// otherwise: enough for a summary report under the 3x answer rule.
	DefaultLRSPad = 1200
	maxPhases     = 1000
)

// Validate checks p and returns a descriptive error for the first problem.
func (p *Plan) Validate() error {
	if len(p.Mix) == 0 {
		return errors.New("no protocol to run")
	}
	seen := map[Protocol]bool{}
	for _, s := range p.Mix {
		if !s.Protocol.Valid() {
			return fmt.Errorf("unknown protocol %q (want tcp-lpo, udp-lpo, tcp-lrs or udp-lrs)", s.Protocol)
		}
		if seen[s.Protocol] {
			return fmt.Errorf("protocol %s appears twice in the mix", s.Protocol)
		}
		seen[s.Protocol] = true
		if s.Weight <= 0 {
			return fmt.Errorf("protocol %s: weight must be > 0, got %d", s.Protocol, s.Weight)
		}
		ts := p.Targets[s.Protocol]
		if len(ts) == 0 {
			return fmt.Errorf("protocol %s has no target", s.Protocol)
		}
		for _, t := range ts {
			if _, _, err := splitHostPort(t); err != nil {
				return fmt.Errorf("target %q: %w", t, err)
			}
		}
	}
	if len(p.Phases) == 0 || len(p.Phases) > maxPhases {
		return fmt.Errorf("need 1 to %d phases, got %d", maxPhases, len(p.Phases))
	}
	for _, ph := range p.Phases {
		if ph.Concurrency < 1 || ph.Concurrency > maxConcurrency {
			return fmt.Errorf("phase %s: concurrency must be 1..%d, got %d", ph.Name, maxConcurrency, ph.Concurrency)
		}
		if ph.Rate < 0 || ph.Rate > maxRate {
			return fmt.Errorf("phase %s: rate must be 0..%d, got %g", ph.Name, maxRate, ph.Rate)
		}
		if ph.Duration <= 0 {
			return fmt.Errorf("phase %s: duration must be > 0", ph.Name)
		}
	}
	if p.Timeout <= 0 {
		return errors.New("timeout must be > 0")
	}
	if p.UDPSockets < 1 || p.UDPSockets > maxUDPSockets {
		return fmt.Errorf("udp sockets per target must be 1..%d, got %d", maxUDPSockets, p.UDPSockets)
	}
	for proto, n := range p.UDPPad {
		if n < 0 || n > maxUDPPad {
			return fmt.Errorf("%s: udp pad must be 0..%d bytes, got %d", proto, maxUDPPad, n)
		}
	}
	if len(p.Assets) == 0 {
		return errors.New("no asset to ask for")
	}
	for _, a := range p.Assets {
		if !tokenOK(a) {
			return fmt.Errorf("asset %q: use letters, digits, '.', '_' or '-'", a)
		}
	}
	for _, k := range p.Keys {
		if k == "" || !tokenOK(k) {
			return fmt.Errorf("key %q: keys are non-empty and use letters, digits, '.', '_' or '-'", abbrev(k))
		}
	}
	if !strings.HasPrefix(p.HTTPPath, "/") || strings.ContainsAny(p.HTTPPath, " \r\n\t") {
		return fmt.Errorf("http path %q must start with / and contain no spaces", p.HTTPPath)
	}
	if !tokenOK(p.LRSReport) {
		return fmt.Errorf("lrs report %q: use letters, digits, '.', '_' or '-'", p.LRSReport)
	}
	return nil
}

// tokenOK reports whether s is safe to put in an HTTP header, a URL and a JSON string
// without escaping.
func tokenOK(s string) bool {
	if s == "" || len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// abbrev shortens a secret for messages and result files: its first 8 characters (the
// readable prefix of a Trinity key) and an ellipsis.
func abbrev(k string) string {
	if len(k) > 8 {
		return k[:8] + "…"
	}
	return k
}

// splitHostPort splits host:port and checks the port.
func splitHostPort(t string) (host string, port int, err error) {
	h, ps, err := net.SplitHostPort(t)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	if h == "" {
		return "", 0, errors.New("missing host")
	}
	return h, port, nil
}

// Ladder returns the phases of a closed-loop ladder over levels, each lasting d.
func Ladder(levels []int, d time.Duration) []Phase {
	ps := make([]Phase, len(levels))
	for i, c := range levels {
		ps[i] = Phase{Name: strconv.Itoa(i + 1), Concurrency: c, Duration: d}
	}
	return ps
}

// split divides n into parts proportional to weights (largest remainder, ties to the first),
// so the parts add up to n exactly.
func split(n int, weights []int) []int {
	total := 0
	for _, w := range weights {
		total += w
	}
	out := make([]int, len(weights))
	if total == 0 {
		return out
	}
	given := 0
	rem := make([]int, len(weights))
	for i, w := range weights {
		out[i] = n * w / total
		rem[i] = n * w % total
		given += out[i]
	}
	for given < n {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		out[best]++
		rem[best] = -1
		given++
	}
	return out
}

// ForWorker returns the share of p that worker i of n runs: concurrency and rate divided
// evenly (largest remainder), and, when splitTargets is set and a protocol has at least n
// targets, every n-th target of each protocol.
func (p *Plan) ForWorker(i, n int, splitTargets bool) *Plan {
	q := *p
	ones := make([]int, n)
	for j := range ones {
		ones[j] = 1
	}
	q.Phases = make([]Phase, len(p.Phases))
	for j, ph := range p.Phases {
		ph.Concurrency = max(split(ph.Concurrency, ones)[i], 1)
		ph.Rate = ph.Rate / float64(n)
		q.Phases[j] = ph
	}
	if splitTargets {
		q.Targets = map[Protocol][]string{}
		for proto, ts := range p.Targets {
			if len(ts) < n {
				q.Targets[proto] = ts
				continue
			}
			for j := i; j < len(ts); j += n {
				q.Targets[proto] = append(q.Targets[proto], ts[j])
			}
		}
	}
	return &q
}
