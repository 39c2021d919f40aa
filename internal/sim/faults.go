package sim

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/trinityprice/trinity/internal/price"
)

// Faults on demand. Each fault is a method of Server (Disconnect, Stall and SendMalformed in
// sim.go; Refuse and Spike here), and every one of them can also be injected by name: with
// Inject, by admin call on the simulator's own listener
//
//	POST /faults/{exchange}/{disconnect|stall|malformed|refuse|spike}?for=5s&asset=BTC&factor=1.5
//
// (loopback clients only), and with `trinity sim --fault SPEC` (ParseFault).
//
// Which parts of a venue each fault touches:
//
//	disconnect  WebSocket: every connection dropped without a close handshake
//	stall       WebSocket: nothing sent on any connection (old or new) for the duration
//	malformed   WebSocket: one truncated JSON frame on every connection
//	refuse      WebSocket: new connections refused with HTTP 429 for the duration
//	spike       market data: the exchange quotes the asset at factor × the common price for the
//	            duration, on its WebSocket feed and its REST ticker alike
//
// The REST tickers keep answering through disconnects, stalls and refusals, as an exchange's
// REST API usually does when its streaming gateway has trouble; that is what the REST
// fallback relies on.

// The fault names of Fault.Kind, the admin endpoint and --fault.
const (
	FaultDisconnect = "disconnect"
	FaultStall      = "stall"
	FaultMalformed  = "malformed"
	FaultRefuse     = "refuse"
	FaultSpike      = "spike"
)

// DefaultFaultDuration is how long a stall, refusal or spike lasts when no duration is given.
const DefaultFaultDuration = 10 * time.Second

// maxFaultDuration bounds a named fault's duration, so a typo cannot stall a venue for days.
const maxFaultDuration = time.Hour

// Fault is one fault to inject by name.
type Fault struct {
	Exchange price.Exchange
	// Kind is one of the Fault* names.
	Kind string
	// For is how long a stall, refusal or spike lasts; 0 means DefaultFaultDuration.
	For time.Duration
	// Asset and Factor are the spike's asset (e.g. "BTC") and price multiplier (e.g. 1.5).
	Asset  string
	Factor float64
}

// String returns f in the --fault syntax (without a delay).
func (f Fault) String() string {
	s := f.Exchange.String() + ":" + f.Kind
	if f.Kind == FaultSpike {
		s += ":" + f.Asset + ":" + strconv.FormatFloat(f.Factor, 'g', -1, 64)
	}
	if f.Kind == FaultStall || f.Kind == FaultRefuse || f.Kind == FaultSpike {
		s += ":" + f.duration().String()
	}
	return s
}

func (f Fault) duration() time.Duration {
	if f.For <= 0 {
		return DefaultFaultDuration
	}
	return f.For
}

// validate checks f without applying it.
func (f Fault) validate() error {
	if int(f.Exchange) == 0 || int(f.Exchange) >= price.NumExchanges {
		return errors.New("unknown exchange")
	}
	switch f.Kind {
	case FaultDisconnect, FaultStall, FaultMalformed, FaultRefuse:
	case FaultSpike:
		if f.Asset == "" {
			return errors.New("spike: the asset is missing")
		}
		if !(f.Factor > 0) || math.IsInf(f.Factor, 0) {
			return fmt.Errorf("spike: factor %v: want a positive number such as 1.5", f.Factor)
		}
	default:
		return fmt.Errorf("unknown fault %q (want disconnect, stall, malformed, refuse or spike)", f.Kind)
	}
	if f.For < 0 || f.For > maxFaultDuration {
		return fmt.Errorf("duration %v: want between 0 (default %v) and %v", f.For, DefaultFaultDuration, maxFaultDuration)
	}
	return nil
}

// Inject applies f now and returns how many connections (disconnect, malformed) or markets
// (spike) it touched; stall and refuse return 1. It returns an error for an invalid fault, or
// a spike on an asset the exchange does not list.
func (s *Server) Inject(f Fault) (int, error) {
	if err := f.validate(); err != nil {
		return 0, err
	}
	if s.venues[f.Exchange] == nil {
		return 0, fmt.Errorf("the simulator does not serve %s", f.Exchange)
	}
	switch f.Kind {
	case FaultDisconnect:
		return s.Disconnect(f.Exchange), nil
	case FaultMalformed:
		return s.SendMalformed(f.Exchange), nil
	case FaultStall:
		s.Stall(f.Exchange, f.duration())
		return 1, nil
	case FaultRefuse:
		s.Refuse(f.Exchange, f.duration())
		return 1, nil
	}
	n := s.Spike(f.Exchange, f.Asset, f.Factor, f.duration())
	if n == 0 {
		return 0, fmt.Errorf("spike: %s does not list %s", f.Exchange, strings.ToUpper(f.Asset))
	}
	return n, nil
}

// ParseFault parses a --fault spec:
//
//	EXCHANGE:disconnect[@AFTER]
//	EXCHANGE:malformed[@AFTER]
//	EXCHANGE:stall[:FOR][@AFTER]
//	EXCHANGE:refuse[:FOR][@AFTER]
//	EXCHANGE:spike:ASSET:FACTOR[:FOR][@AFTER]
//
// FOR and AFTER are Go durations ("10s", "1m30s"); FOR defaults to DefaultFaultDuration and
// AFTER (how long after start to inject) to 0. Example: "kraken:stall:10s@5s" stalls Kraken
// for 10 s, 5 s after the simulator starts; "okx:spike:BTC:1.5:20s" quotes BTC on OKX at 1.5×
// for 20 s from the start.
func ParseFault(spec string) (f Fault, after time.Duration, err error) {
	body, delay, hasDelay := strings.Cut(strings.TrimSpace(spec), "@")
	if hasDelay {
		if after, err = time.ParseDuration(delay); err != nil || after < 0 {
			return Fault{}, 0, fmt.Errorf("fault %q: delay %q: want a duration such as 5s", spec, delay)
		}
	}
	parts := strings.Split(body, ":")
	if len(parts) < 2 {
		return Fault{}, 0, fmt.Errorf("fault %q: want EXCHANGE:KIND[:...][@AFTER]", spec)
	}
	ex, ok := price.ExchangeByName(strings.ToLower(parts[0]))
	if !ok {
		return Fault{}, 0, fmt.Errorf("fault %q: unknown exchange %q", spec, parts[0])
	}
	f = Fault{Exchange: ex, Kind: strings.ToLower(parts[1])}
	rest := parts[2:]
	maxRest := 0
	switch f.Kind {
	case FaultStall, FaultRefuse:
		maxRest = 1
	case FaultSpike:
		if len(rest) < 2 {
			return Fault{}, 0, fmt.Errorf("fault %q: want EXCHANGE:spike:ASSET:FACTOR[:FOR]", spec)
		}
		f.Asset = strings.ToUpper(rest[0])
		if f.Factor, err = strconv.ParseFloat(rest[1], 64); err != nil {
			return Fault{}, 0, fmt.Errorf("fault %q: factor %q is not a number", spec, rest[1])
		}
		rest = rest[2:]
		maxRest = 1
	}
	if len(rest) > maxRest {
		return Fault{}, 0, fmt.Errorf("fault %q: unexpected %q", spec, strings.Join(rest, ":"))
	}
	if len(rest) == 1 {
		if f.For, err = time.ParseDuration(rest[0]); err != nil || f.For <= 0 {
			return Fault{}, 0, fmt.Errorf("fault %q: duration %q: want a positive duration such as 10s", spec, rest[0])
		}
	}
	if err := f.validate(); err != nil {
		return Fault{}, 0, fmt.Errorf("fault %q: %w", spec, err)
	}
	return f, after, nil
}

// Refuse makes ex's feed refuse every new WebSocket connection for d, with HTTP 429 Too Many
// Requests and a Retry-After header on the upgrade request, as an exchange answers a client
// that connects too often. Connections already open are left alone (combine with Disconnect
// to send the clients into the refusal); the REST ticker keeps answering.
func (s *Server) Refuse(ex price.Exchange, d time.Duration) {
	if int(ex) >= len(s.refuseUntil) {
		return
	}
	s.refuseUntil[ex].Store(time.Now().Add(d).UnixNano())
	s.log.Info("sim fault: refuse connections", "exchange", ex.String(), "for", d)
}

// refused answers a WebSocket upgrade request with 429 and reports true while ex refuses
// connections.
func (s *Server) refused(ex price.Exchange, w http.ResponseWriter) bool {
	until := s.refuseUntil[ex].Load()
	left := time.Duration(until - time.Now().UnixNano())
	if left <= 0 {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(left.Seconds()))))
	http.Error(w, "429 Too Many Requests: connection rate limit exceeded", http.StatusTooManyRequests)
	return true
}

// Spike makes ex quote asset (case-insensitive) at factor × the common price for d: an
// outlier on one exchange, on its WebSocket feed and its REST ticker. The market moves at once
// (subscribers get the spiked quote) and back to the common price when d ends, also while
// the walk is paused. Spike does not draw from the walk's random source, so the seeded price
// sequence stays the same. It returns how many of ex's markets it spiked: 0 when ex does not
// list asset.
func (s *Server) Spike(ex price.Exchange, asset string, factor float64, d time.Duration) int {
	if int(ex) >= price.NumExchanges || !(factor > 0) {
		return 0
	}
	name := strings.ToUpper(asset)
	now := time.Now().UnixNano()
	until := now + int64(d)
	var spiked []*market
	s.mu.Lock()
	for _, m := range s.world.byEx[ex] {
		if m.asset.name == name {
			m.spike, m.spikeUntil = factor, until
			s.world.repriceMarket(m, now, 0.5)
			spiked = append(spiked, m)
		}
	}
	s.mu.Unlock()
	if len(spiked) == 0 {
		return 0
	}
	s.pokeConns(ex)
	s.log.Info("sim fault: spike", "exchange", ex.String(), "asset", name, "factor", factor, "for", d)
	time.AfterFunc(d, func() {
		if s.ctx.Err() != nil {
			return
		}
		now := time.Now().UnixNano()
		ended := false
		s.mu.Lock()
		for _, m := range spiked {
			if m.spike > 0 && now >= m.spikeUntil { // a later spike on m is left alone
				m.spike, m.spikeUntil = 0, 0
				s.world.repriceMarket(m, now, 0.5)
				ended = true
			}
		}
		s.mu.Unlock()
		if ended {
			s.pokeConns(ex)
			s.log.Info("sim fault: spike over", "exchange", ex.String(), "asset", name)
		}
	})
	return len(spiked)
}

// pokeConns tells every connection to ex's feed that markets moved.
func (s *Server) pokeConns(ex price.Exchange) {
	for _, c := range s.connsOf(ex) {
		c.poke(c.notify)
	}
}

// faultAnswer is the JSON answer of POST /faults/{exchange}/{fault}.
type faultAnswer struct {
	Exchange string `json:"exchange"`
	Fault    string `json:"fault"`
	// For is the duration of a stall, refusal or spike, absent for the others.
	For    string  `json:"for,omitempty"`
	Asset  string  `json:"asset,omitempty"`
	Factor float64 `json:"factor,omitempty"`
	// Affected is how many connections (disconnect, malformed) or markets (spike) the fault
	// touched; 1 for stall and refuse.
	Affected int `json:"affected"`
}

// serveFault handles POST /faults/{exchange}/{fault}?for=5s&asset=BTC&factor=1.5 for loopback
// clients: it injects the fault and answers 200 with a faultAnswer, or an error object
// {"error":"..."} with 400 (bad parameters), 403 (not a loopback client) or 404 (unknown
// exchange or fault).
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request) {
	if !loopback(r.RemoteAddr) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "faults can only be injected from the loopback interface"})
		return
	}
	ex, ok := price.ExchangeByName(strings.ToLower(r.PathValue("exchange")))
	if !ok || s.venues[ex] == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown exchange " + strconv.Quote(r.PathValue("exchange"))})
		return
	}
	f := Fault{Exchange: ex, Kind: strings.ToLower(r.PathValue("fault"))}
	switch f.Kind {
	case FaultDisconnect, FaultStall, FaultMalformed, FaultRefuse, FaultSpike:
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown fault " + strconv.Quote(f.Kind) + " (want disconnect, stall, malformed, refuse or spike)"})
		return
	}
	q := r.URL.Query()
	if v := q.Get("for"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "for=" + strconv.Quote(v) + ": want a positive duration such as 5s"})
			return
		}
		f.For = d
	}
	if f.Kind == FaultSpike {
		f.Asset = strings.ToUpper(q.Get("asset"))
		v := q.Get("factor")
		factor, err := strconv.ParseFloat(v, 64)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "factor=" + strconv.Quote(v) + ": want a positive number such as 1.5"})
			return
		}
		f.Factor = factor
	}
	n, err := s.Inject(f)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	ans := faultAnswer{Exchange: ex.String(), Fault: f.Kind, Asset: f.Asset, Factor: f.Factor, Affected: n}
	if f.Kind == FaultStall || f.Kind == FaultRefuse || f.Kind == FaultSpike {
		ans.For = f.duration().String()
	}
	writeJSON(w, http.StatusOK, ans)
}

// loopback reports whether a remote address (host:port) is on the loopback interface.
func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
