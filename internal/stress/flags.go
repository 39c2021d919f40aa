package stress

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Usage is the text `trinity stress -h` prints before the flag list.
const Usage = `usage:
  trinity stress [flags]                         run load against Trinity and report
  trinity stress worker --listen HOST:PORT       serve as a load worker for a coordinator

Modes (pick one; the ladder is the default):
  ladder     --levels 30,90,…,21000 --level-duration 20s   closed loop, concurrency per level
  sustain    --sustain 30m --concurrency N                   closed loop, one level
  open loop  --rate R [--sustain D] [--concurrency N]        R req/s at fixed intended times;
             latency counts from the intended time (coordinated omission corrected)

Protocols: tcp-lpo (HTTP GET /price), udp-lpo, tcp-lrs (HTTP /reports/…), udp-lrs, or a mix:
  --mix tcp-lpo=40,udp-lpo=40,tcp-lrs=10,udp-lrs=10 (weights split concurrency or rate)

Targets: --target [PROTO=]HOST[:PORT], repeatable or comma separated; round-robin per
protocol. Without a port each protocol uses its default (tcp-lpo 8080, udp-lpo 2679,
tcp-lrs 9090, udp-lrs 2680). In a mix, give hosts without ports or prefix each target.
Distributed: run "trinity stress worker --listen HOST:PORT" on each load machine, then the
same flags as a single run plus --workers HOST:PORT,HOST:PORT on the coordinator.

Flags:
`

// Flag defaults.
const (
	DefaultConcurrency   = 100
	DefaultTimeout       = 10 * time.Second
	DefaultUDPSockets    = 8
	DefaultLevelDuration = 20 * time.Second
)

// ListFlag is a repeatable flag; each value may also be a comma-separated list.
type ListFlag []string

// String implements flag.Value.
func (l *ListFlag) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *ListFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// Flags are the command-line settings of `trinity stress` (the coordinator or a single run).
// Register them on a flag set, parse, then call Plan.
type Flags struct {
	Protocol, Mix                         string
	Targets, Keys, Assets, Workers        ListFlag
	KeysFile, HTTPPath, LRSReport, Levels string
	LevelDuration, Sustain, Timeout       time.Duration
	Concurrency, UDPSockets, UDPPad       int
	Rate                                  float64
	WorkerToken                           string
	StartDelay                            time.Duration
	SplitTargets                          bool
	JSON, CSV, ChartDir                   string
	Quiet                                 bool
}

// Register defines the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Protocol, "protocol", "tcp-lpo", "tcp-lpo, udp-lpo, tcp-lrs, udp-lrs or mix")
	fs.StringVar(&f.Mix, "mix", "", "protocol weights, e.g. tcp-lpo=40,udp-lpo=40,tcp-lrs=10,udp-lrs=10 (implies --protocol mix)")
	fs.Var(&f.Targets, "target", "[PROTO=]HOST[:PORT] to load, repeatable (default 127.0.0.1)")
	fs.Var(&f.Keys, "key", "API key, repeatable; keys are used in rotation")
	fs.StringVar(&f.KeysFile, "keys-file", "", "file with one API key per line (# comments)")
	fs.Var(&f.Assets, "asset", "assets to ask for, in rotation (default btc)")
	fs.StringVar(&f.HTTPPath, "http-path", "/price?asset={asset}", "tcp-lpo request path; {asset} is replaced")
	fs.StringVar(&f.LRSReport, "lrs-report", "summary", "report asked for by tcp-lrs and udp-lrs (summary, usage)")
	fs.StringVar(&f.Levels, "levels", "", "ladder levels: comma-separated concurrencies (default the 13 levels 30…21000)")
	fs.DurationVar(&f.LevelDuration, "level-duration", DefaultLevelDuration, "length of each ladder level")
	fs.DurationVar(&f.Sustain, "sustain", 0, "run one level for this long (with --concurrency), or the --rate run's length")
	fs.IntVar(&f.Concurrency, "concurrency", DefaultConcurrency, "requests in flight for --sustain; the connection pool and in-flight cap for --rate")
	fs.Float64Var(&f.Rate, "rate", 0, "open loop: requests per second over the whole mix")
	fs.DurationVar(&f.Timeout, "timeout", DefaultTimeout, "per-request (and TCP connect) timeout")
	fs.IntVar(&f.UDPSockets, "udp-sockets", DefaultUDPSockets, "persistent UDP sockets per target")
	fs.IntVar(&f.UDPPad, "udp-pad", 0, `pad UDP requests with a "pad" field to this many bytes (answers are at most 3x the request); 0: no padding for udp-lpo, DefaultLRSPad bytes for udp-lrs`)
	fs.Var(&f.Workers, "workers", "distributed: HOST:PORT of each 'trinity stress worker', comma separated; each runs an equal share")
	fs.StringVar(&f.WorkerToken, "worker-token", "", "distributed: shared secret the workers expect")
	fs.DurationVar(&f.StartDelay, "start-delay", 2*time.Second, "distributed: the common start is this far in the future")
	fs.BoolVar(&f.SplitTargets, "split-targets", false, "distributed: give each worker every n-th target instead of all")
	fs.StringVar(&f.JSON, "json", "", "write the result as JSON to this file")
	fs.StringVar(&f.CSV, "csv", "", "write one CSV row per level (and protocol) to this file")
	fs.StringVar(&f.ChartDir, "chart-dir", "", "write PNG charts into this directory")
	fs.BoolVar(&f.Quiet, "quiet", false, "no live progress lines on stderr")
}

// Plan builds and validates the run's plan from the flags; set holds the names of the flags
// that were given (on the command line or from the environment). Its errors describe the
// mistake in flag terms.
func (f *Flags) Plan(set map[string]bool) (*Plan, error) {
	if f.StartDelay <= 0 {
		return nil, fmt.Errorf("--start-delay must be > 0")
	}
	if len(f.Workers) == 0 && (set["worker-token"] || set["split-targets"] || set["start-delay"]) {
		return nil, fmt.Errorf("--worker-token, --split-targets and --start-delay need --workers")
	}
	for _, w := range f.Workers {
		if _, _, err := net.SplitHostPort(w); err != nil {
			return nil, fmt.Errorf("--workers %q: want HOST:PORT", w)
		}
	}
	p := &Plan{Targets: map[Protocol][]string{}, HTTPPath: f.HTTPPath, LRSReport: f.LRSReport,
		Timeout: f.Timeout, UDPSockets: f.UDPSockets}
	// Protocols.
	switch {
	case f.Mix != "":
		if set["protocol"] && f.Protocol != "mix" {
			return nil, fmt.Errorf("--mix needs --protocol mix (or no --protocol), got --protocol %s", f.Protocol)
		}
		for _, part := range strings.Split(f.Mix, ",") {
			name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
			weight, err := strconv.Atoi(strings.TrimSpace(w))
			if !ok || err != nil || weight < 0 {
				return nil, fmt.Errorf("--mix %q: want PROTO=WEIGHT,… e.g. tcp-lpo=40,udp-lpo=40,tcp-lrs=10,udp-lrs=10", f.Mix)
			}
			proto := Protocol(strings.TrimSpace(name))
			if !proto.Valid() {
				return nil, fmt.Errorf("--mix: unknown protocol %q (want tcp-lpo, udp-lpo, tcp-lrs or udp-lrs)", name)
			}
			for _, s := range p.Mix {
				if s.Protocol == proto {
					return nil, fmt.Errorf("--mix: %s given twice", proto)
				}
			}
			if weight > 0 {
				p.Mix = append(p.Mix, Share{Protocol: proto, Weight: weight})
			}
		}
		if len(p.Mix) == 0 {
			return nil, fmt.Errorf("--mix: every weight is 0")
		}
	case f.Protocol == "mix":
		p.Mix = []Share{{Protocol: TCPLPO, Weight: 40}, {Protocol: UDPLPO, Weight: 40},
			{Protocol: TCPLRS, Weight: 10}, {Protocol: UDPLRS, Weight: 10}}
	default:
		proto := Protocol(f.Protocol)
		if !proto.Valid() {
			return nil, fmt.Errorf("--protocol %q: want tcp-lpo, udp-lpo, tcp-lrs, udp-lrs or mix", f.Protocol)
		}
		p.Mix = []Share{{Protocol: proto, Weight: 1}}
	}
	inMix := map[Protocol]bool{}
	for _, s := range p.Mix {
		inMix[s.Protocol] = true
	}

	// Targets.
	var common []string // unprefixed
	specific := map[Protocol][]string{}
	targets := f.Targets
	if len(targets) == 0 {
		targets = []string{"127.0.0.1"}
	}
	for _, t := range targets {
		proto := Protocol("")
		if name, addr, ok := strings.Cut(t, "="); ok {
			proto = Protocol(name)
			if !proto.Valid() {
				return nil, fmt.Errorf("--target %q: unknown protocol %q", t, name)
			}
			if !inMix[proto] {
				return nil, fmt.Errorf("--target %q: %s is not part of this run", t, proto)
			}
			t = addr
		}
		if t == "" {
			return nil, fmt.Errorf("--target: empty address")
		}
		if proto != "" {
			addr, err := targetAddr(t, proto)
			if err != nil {
				return nil, fmt.Errorf("--target %q: %v", t, err)
			}
			specific[proto] = append(specific[proto], addr)
			continue
		}
		if _, _, err := net.SplitHostPort(t); err == nil && len(p.Mix) > 1 {
			return nil, fmt.Errorf("--target %q has a port but the run mixes protocols on different ports: write PROTO=HOST:PORT or give the host only", t)
		}
		common = append(common, t)
	}
	for _, s := range p.Mix {
		if ts := specific[s.Protocol]; len(ts) > 0 {
			p.Targets[s.Protocol] = ts
			continue
		}
		if len(common) == 0 {
			return nil, fmt.Errorf("no --target for %s", s.Protocol)
		}
		for _, t := range common {
			addr, err := targetAddr(t, s.Protocol)
			if err != nil {
				return nil, fmt.Errorf("--target %q: %v", t, err)
			}
			p.Targets[s.Protocol] = append(p.Targets[s.Protocol], addr)
		}
	}

	// Keys and assets.
	p.Keys = append(p.Keys, f.Keys...)
	if f.KeysFile != "" {
		ks, err := readKeysFile(f.KeysFile)
		if err != nil {
			return nil, fmt.Errorf("--keys-file: %v", err)
		}
		p.Keys = append(p.Keys, ks...)
	}
	p.Assets = f.Assets
	if len(p.Assets) == 0 {
		p.Assets = []string{"btc"}
	}
	// Report answers are several hundred bytes, more than 3x a bare request: pad udp-lrs
	// requests by default so the server may send them.
	p.UDPPad = map[Protocol]int{UDPLRS: DefaultLRSPad}
	if f.UDPPad != 0 {
		p.UDPPad = map[Protocol]int{UDPLPO: f.UDPPad, UDPLRS: f.UDPPad}
	}

	// Phases.
	if f.Sustain < 0 || f.LevelDuration <= 0 || f.Rate < 0 || f.Concurrency < 1 {
		return nil, fmt.Errorf("--sustain, --level-duration, --rate and --concurrency must be positive")
	}
	switch {
	case set["levels"] && (set["sustain"] || set["rate"]):
		return nil, fmt.Errorf("--levels is the ladder mode: do not combine it with --sustain or --rate")
	case set["rate"]:
		if f.Rate <= 0 {
			return nil, fmt.Errorf("--rate must be > 0")
		}
		d := f.Sustain
		if d == 0 {
			d = f.LevelDuration
		}
		p.Phases = []Phase{{Name: "rate", Concurrency: f.Concurrency, Rate: f.Rate, Duration: d}}
	case set["sustain"]:
		if f.Sustain <= 0 {
			return nil, fmt.Errorf("--sustain must be > 0")
		}
		p.Phases = []Phase{{Name: "sustain", Concurrency: f.Concurrency, Duration: f.Sustain}}
	default:
		if set["concurrency"] {
			return nil, fmt.Errorf("--concurrency applies to --sustain and --rate; a ladder takes --levels")
		}
		lv := LadderLevels
		if set["levels"] {
			lv = nil
			for _, s := range strings.Split(f.Levels, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || n < 1 {
					return nil, fmt.Errorf("--levels %q: want positive integers separated by commas", f.Levels)
				}
				lv = append(lv, n)
			}
		}
		p.Phases = Ladder(lv, f.LevelDuration)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%v", err)
	}
	return p, nil
}

// targetAddr returns HOST:PORT for t, adding proto's default port when t has none.
func targetAddr(t string, proto Protocol) (string, error) {
	if h, port, err := net.SplitHostPort(t); err == nil {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || h == "" {
			return "", errors.New("want HOST:PORT with a port 1..65535")
		}
		return t, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(t, "["), "]")
	if host == "" || strings.ContainsAny(host, "/ ") {
		return "", errors.New("want HOST or HOST:PORT")
	}
	return net.JoinHostPort(host, strconv.Itoa(proto.DefaultPort())), nil
}

func readKeysFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		keys = append(keys, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no keys", path)
	}
	return keys, nil
}
