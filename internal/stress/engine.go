package stress

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Options control a run's side channels; the load itself is all in the Plan.
type Options struct {
	// Live receives one progress line per second (RPS, success, p50, p99). Nil: none.
	Live io.Writer
	// Warn receives warnings as they happen (e.g. a level capped for lack of file
	// descriptors). Nil: Live, if set.
	Warn io.Writer
	// StartAt delays the start until this time (distributed workers start together).
	StartAt time.Time
	// OnTick, if set, receives every second's statistics (a worker streams them to its
	// coordinator). It must not retain t after returning.
	OnTick func(t *Tick)
}

// Tick is one second of a run.
type Tick struct {
	// Second counts from 1: the tick covers (Second−1, Second] seconds after the start.
	Second int `json:"second"`
	// Phase is the name of the phase running at the end of the second.
	Phase string `json:"phase"`
	// Protocols are the second's statistics per protocol.
	Protocols map[Protocol]*Stats `json:"protocols"`
}

// Total merges the protocols' statistics.
func (t *Tick) Total() *Stats {
	var s Stats
	for _, p := range sortedProtocols(t.Protocols) {
		s.Merge(t.Protocols[p])
	}
	return &s
}

// driver is one protocol's load generator.
type driver struct {
	proto  Protocol
	weight int
	rec    *recorder
	tcp    *tcpDriver
	udp    *udpDriver
	scheds []*schedule // open-loop schedules of the current phase
}

// Run executes the plan and returns its result. When ctx is cancelled the run stops early:
// the result then covers what ran (Interrupted is set) and the error is nil. An error is
// returned only when the run cannot start (an invalid plan, sockets that cannot be opened).
func Run(ctx context.Context, p *Plan, o Options) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if o.Warn == nil {
		o.Warn = o.Live
	}
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()

	// The most any UDP socket has in flight sizes its id table.
	udpSocks := map[Protocol]int{}
	for _, s := range p.Mix {
		if s.Protocol.UDP() {
			udpSocks[s.Protocol] = len(p.Targets[s.Protocol]) * p.UDPSockets
		}
	}
	weights := make([]int, len(p.Mix))
	for i, s := range p.Mix {
		weights[i] = s.Weight
	}
	maxWin := map[Protocol]int{}
	for _, ph := range p.Phases {
		for i, c := range split(ph.Concurrency, weights) {
			pr := p.Mix[i].Protocol
			if n := udpSocks[pr]; n > 0 {
				maxWin[pr] = max(maxWin[pr], (c+n-1)/n)
			}
		}
	}
	var drivers []*driver
	for _, s := range p.Mix {
		d := &driver{proto: s.Protocol, weight: s.Weight, rec: newRecorder()}
		if s.Protocol.UDP() {
			u, err := newUDPDriver(runCtx, p, s.Protocol, d.rec, max(maxWin[s.Protocol], 1))
			if err != nil {
				stop()
				for _, d := range drivers {
					d.wait()
				}
				return nil, err
			}
			d.udp = u
		} else {
			d.tcp = newTCPDriver(runCtx, p, s.Protocol, d.rec)
		}
		drivers = append(drivers, d)
	}
	defer func() {
		stop()
		for _, d := range drivers {
			d.wait()
		}
	}()

	res := &Result{Plan: p}
	if !o.StartAt.IsZero() {
		t := time.NewTimer(time.Until(o.StartAt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			res.Started = time.Now()
			res.Interrupted = true
			return res, nil
		}
	}
	e := &engine{plan: p, opts: o, drivers: drivers, res: res}
	e.run(ctx)
	return res, nil
}

func (d *driver) wait() {
	if d.tcp != nil {
		d.tcp.wait()
	}
	if d.udp != nil {
		d.udp.wait()
	}
}

type engine struct {
	plan    *Plan
	opts    Options
	drivers []*driver
	res     *Result

	start    time.Time
	second   int
	prevTick map[Protocol]*Stats // snapshots at the last tick
}

func (e *engine) snapshot() map[Protocol]*Stats {
	m := make(map[Protocol]*Stats, len(e.drivers))
	for _, d := range e.drivers {
		s := &Stats{}
		d.rec.snapshot(s)
		m[d.proto] = s
	}
	return m
}

func (e *engine) run(ctx context.Context) {
	e.start = time.Now()
	e.res.Started = e.start
	e.prevTick = e.snapshot()
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	for _, ph := range e.plan.Phases {
		phStart := time.Now()
		before := e.snapshot()
		for _, d := range e.drivers {
			d.rec.flags.Store(0)
			d.rec.need.Store(0)
		}
		notes := e.apply(ph, phStart)
		end := phStart.Add(ph.Duration)
		interrupted := false
		for {
			next := e.start.Add(time.Duration(e.second+1) * time.Second)
			wake := next
			if end.Before(wake) {
				wake = end
			}
			if wait := time.Until(wake); wait > 0 {
				tm.Reset(wait)
				select {
				case <-tm.C:
				case <-ctx.Done():
					tm.Stop()
					interrupted = true
				}
			}
			if interrupted {
				break
			}
			if !time.Now().Before(next) {
				e.tick(ph)
			}
			if !time.Now().Before(end) {
				break
			}
		}
		for _, d := range e.drivers {
			for _, s := range d.scheds {
				d.rec.unsent.Add(uint64(s.close()))
			}
			d.scheds = nil
		}
		after := e.snapshot()
		pr := PhaseResult{Phase: ph, Elapsed: time.Since(phStart), Protocols: map[Protocol]*Stats{}}
		for _, d := range e.drivers {
			s := &Stats{}
			s.sub(after[d.proto], before[d.proto])
			pr.Protocols[d.proto] = s
			pr.Total.Merge(s)
		}
		pr.Notes = append(notes, e.phaseNotes(&pr)...)
		e.res.Phases = append(e.res.Phases, pr)
		if interrupted {
			e.res.Interrupted = true
			return
		}
	}
}

// apply starts phase ph and returns notes about it (e.g. a level capped for lack of fds).
func (e *engine) apply(ph Phase, start time.Time) []string {
	weights := make([]int, len(e.drivers))
	for j, d := range e.drivers {
		weights[j] = d.weight
	}
	conc := split(ph.Concurrency, weights)
	totalW := 0
	for _, w := range weights {
		totalW += w
	}
	var notes []string
	// TCP connections need one file descriptor each, and one ephemeral port per target.
	need, have := 0, 0
	for j, d := range e.drivers {
		if d.tcp != nil {
			have += d.tcp.count()
			need += conc[j]
		}
	}
	if extra := need - have; extra > 0 {
		if lim, open := fdLimit(), openFDs(); lim > 0 && open >= 0 {
			avail := int(lim) - open - fdReserve
			if extra > avail {
				allowed := have + max(avail, 0)
				for j, d := range e.drivers {
					if d.tcp != nil {
						conc[j] = conc[j] * allowed / need
					}
				}
				notes = append(notes, e.warn(fmt.Sprintf(
					"fd limit: level needs %d TCP connections but only %d fit under RLIMIT_NOFILE %d (%d fds in use); ran %d — raise the hard limit (ulimit -Hn) or add workers",
					need, allowed, lim, open, allowed)))
			}
		}
	}
	if ports := ephemeralPorts(); ports > 0 {
		usable := ports - min(portReserve, ports/10)
		for j, d := range e.drivers {
			if d.tcp == nil {
				continue
			}
			nt := len(d.tcp.targets)
			if perTarget := (conc[j] + nt - 1) / nt; perTarget > usable {
				capped := usable * nt
				notes = append(notes, e.warn(fmt.Sprintf(
					"ephemeral ports: %s needs %d connections per target but the local port range has %d ports; ran %d — widen net.ipv4.ip_local_port_range or add targets/workers",
					d.proto, perTarget, ports, capped)))
				conc[j] = capped
			}
		}
	}
	for j, d := range e.drivers {
		var rate float64
		if ph.Rate > 0 {
			rate = ph.Rate * float64(d.weight) / float64(totalW)
		}
		if d.tcp != nil {
			var s *schedule
			if rate > 0 {
				s = newSchedule(start, rate, ph.Duration)
				d.scheds = []*schedule{s}
			}
			d.tcp.setLoad(conc[j], s)
		} else {
			d.scheds = d.udp.setLoad(conc[j], rate, start, ph.Duration)
		}
	}
	return notes
}

const (
	fdReserve   = 64   // file descriptors left for everything but load connections
	portReserve = 1000 // ephemeral ports left for other uses (and TIME_WAIT churn), at most 10 %
)

func (e *engine) warn(msg string) string {
	if e.opts.Warn != nil {
		fmt.Fprintln(e.opts.Warn, "stress: warning:", msg)
	}
	return msg
}

// tick closes one second: per-second statistics, the live line, OnTick.
func (e *engine) tick(ph Phase) {
	e.second++
	now := e.snapshot()
	t := &Tick{Second: e.second, Phase: ph.Name, Protocols: map[Protocol]*Stats{}}
	for p, s := range now {
		d := &Stats{}
		d.sub(s, e.prevTick[p])
		t.Protocols[p] = d
	}
	e.prevTick = now
	if e.opts.OnTick != nil {
		e.opts.OnTick(t)
	}
	e.res.Timeline = append(e.res.Timeline, summarize(t, time.Second))
	if e.opts.Live != nil {
		fmt.Fprintln(e.opts.Live, LiveLine(t, ph, len(e.plan.Phases)))
	}
}

// LiveLine formats a tick of phase ph (of phases) as the one-line progress report.
func LiveLine(t *Tick, ph Phase, phases int) string {
	tot := t.Total()
	var b strings.Builder
	fmt.Fprintf(&b, "%5ds  phase %-7s c=%-6d", t.Second, ph.Name+"/"+strconv.Itoa(phases), ph.Concurrency)
	if ph.Rate > 0 {
		fmt.Fprintf(&b, " rate=%-8.0f", ph.Rate)
	}
	fmt.Fprintf(&b, " rps %9s  ok %6.2f%%  p50 %8s  p99 %8s", thousands(float64(tot.Requests())), tot.Success(),
		fmtDur(tot.Hist.Quantile(0.5)), fmtDur(tot.Hist.Quantile(0.99)))
	if errs := errorSummary(tot); errs != "" {
		b.WriteString("  errors: " + errs)
	}
	return b.String()
}

// phaseNotes explains what went wrong in a phase, if anything.
func (e *engine) phaseNotes(pr *PhaseResult) []string {
	var notes []string
	multi := len(e.drivers) > 1
	for _, d := range e.drivers {
		prefix := ""
		if multi {
			prefix = string(d.proto) + ": "
		}
		s := pr.Protocols[d.proto]
		f := d.rec.flags.Load()
		if f&flagNoFDs != 0 {
			notes = append(notes, e.warn(prefix+"ran out of file descriptors (EMFILE) while connecting"))
		}
		if f&flagNoPorts != 0 {
			notes = append(notes, e.warn(prefix+"ran out of ephemeral ports (EADDRNOTAVAIL) while connecting"))
		}
		if f&flagTooSmall != 0 {
			notes = append(notes, prefix+fmt.Sprintf("server wants requests of at least %d bytes for the full answer: use --udp-pad %d", d.rec.need.Load(), d.rec.need.Load()))
		}
		if f&flagUnmatched != 0 {
			notes = append(notes, prefix+"some answers matched no request in flight (late after a timeout)")
		}
		// A few slots due in the last instant of a phase are always left; more than 0.1 %
		// means the pool could not keep up.
		if s.Unsent > 0 && s.Unsent*1000 > s.Requests()+s.Unsent {
			notes = append(notes, prefix+fmt.Sprintf("open loop fell behind: %d scheduled requests never sent (all connections busy); latencies include the wait", s.Unsent))
		}
	}
	if errs := errorSummary(&pr.Total); errs != "" {
		notes = append(notes, "errors: "+errs)
	}
	return notes
}

// errorSummary lists the non-zero error counts, e.g. "timeout=3 429=10".
func errorSummary(s *Stats) string {
	var parts []string
	for k := Kind(1); k < NumKinds; k++ {
		if s.Kinds[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, s.Kinds[k]))
		}
	}
	return strings.Join(parts, " ")
}

func sortedProtocols[V any](m map[Protocol]V) []Protocol {
	var ps []Protocol
	for _, p := range Protocols {
		if _, ok := m[p]; ok {
			ps = append(ps, p)
		}
	}
	return ps
}
