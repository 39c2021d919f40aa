package stress

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// The distributed protocol is JSON lines over one TCP connection per worker:
//
//	coordinator → worker  {"type":"run","token":…,"plan":{…},"start_at":"…"}
//	worker → coordinator  {"type":"accepted"} or {"type":"error","error":"…"}
//	worker → coordinator  {"type":"tick","tick":{…}}      once per second
//	coordinator → worker  {"type":"stop"}                  optional: end the run early
//	worker → coordinator  {"type":"result","result":{…}}  then the worker closes
//
// Ticks and results carry sparse histograms, so the coordinator merges them exactly. A
// worker whose coordinator disconnects stops its run.
type message struct {
	Type    string    `json:"type"`
	Token   string    `json:"token,omitempty"`
	Plan    *Plan     `json:"plan,omitempty"`
	StartAt time.Time `json:"start_at,omitzero"`
	Tick    *Tick     `json:"tick,omitempty"`
	Result  *Result   `json:"result,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// maxMessage bounds one protocol line (a result with many phases and histograms).
const maxMessage = 64 << 20

// WorkerOptions configure ServeWorker.
type WorkerOptions struct {
	// Token, if set, must match the coordinator's.
	Token string
	// Log receives one line per job and each job's live progress. Nil: discarded.
	Log io.Writer
}

// ServeWorker accepts coordinators on ln and runs their plans, one at a time, until ctx is
// cancelled. It closes ln when it returns.
func ServeWorker(ctx context.Context, ln net.Listener, o WorkerOptions) error {
	if o.Log == nil {
		o.Log = io.Discard
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	var busy sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept coordinator: %w", err)
		}
		wg.Go(func() {
			defer c.Close()
			if !busy.TryLock() {
				_ = json.NewEncoder(c).Encode(message{Type: "error", Error: "worker busy with another run"})
				return
			}
			defer busy.Unlock()
			if err := serveJob(ctx, c, o); err != nil {
				fmt.Fprintf(o.Log, "stress worker: job from %s: %v\n", c.RemoteAddr(), err)
			}
		})
	}
}

func serveJob(ctx context.Context, c net.Conn, o WorkerOptions) error {
	r := bufio.NewReaderSize(c, 64<<10)
	enc := json.NewEncoder(c)
	var mu sync.Mutex // enc is shared by the tick callback and this goroutine
	send := func(m message) error {
		mu.Lock()
		defer mu.Unlock()
		_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		return enc.Encode(m)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var m message
	if err := readMessage(r, &m); err != nil {
		return fmt.Errorf("read plan: %w", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	if m.Type != "run" || m.Plan == nil {
		_ = send(message{Type: "error", Error: "expected a run message with a plan"})
		return errors.New("no plan")
	}
	if subtle.ConstantTimeCompare([]byte(m.Token), []byte(o.Token)) != 1 {
		_ = send(message{Type: "error", Error: "bad token"})
		return errors.New("bad token")
	}
	if err := m.Plan.Validate(); err != nil {
		_ = send(message{Type: "error", Error: "invalid plan: " + err.Error()})
		return err
	}
	if err := send(message{Type: "accepted"}); err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "stress worker: running a plan of %d phases from %s, start at %s\n", len(m.Plan.Phases), c.RemoteAddr(), m.StartAt.Format(time.RFC3339Nano))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // a stop message or a lost coordinator ends the run
		var m message
		for {
			if err := readMessage(r, &m); err != nil || m.Type == "stop" {
				cancel()
				return
			}
		}
	}()
	res, err := Run(runCtx, m.Plan, Options{Live: o.Log, StartAt: m.StartAt, OnTick: func(t *Tick) {
		_ = send(message{Type: "tick", Tick: t})
	}})
	if err != nil {
		_ = send(message{Type: "error", Error: err.Error()})
		return err
	}
	return send(message{Type: "result", Result: res})
}

func readMessage(r *bufio.Reader, m *message) error {
	var line []byte
	for {
		part, isPrefix, err := r.ReadLine()
		if err != nil {
			return err
		}
		line = append(line, part...)
		if len(line) > maxMessage {
			return errors.New("message too large")
		}
		if !isPrefix {
			break
		}
	}
	*m = message{}
	return json.Unmarshal(line, m)
}

// DistOptions configure RunDistributed.
type DistOptions struct {
	// Token is sent to the workers.
	Token string
	// StartDelay is how far in the future the common start time is set (default 2 s).
	StartDelay time.Duration
	// SplitTargets gives each worker every n-th target instead of all of them.
	SplitTargets bool
	// Live receives the merged per-second progress lines; Warn the workers' warnings.
	Live, Warn io.Writer
}

type workerMsg struct {
	worker int
	m      message
	err    error
}

// RunDistributed runs p on the workers (host:port of `trinity stress worker`), each taking an
// equal share of every phase's concurrency and rate, all starting at the same moment, and
// merges their ticks and results. Cancelling ctx stops the workers; their partial results are
// still merged.
func RunDistributed(ctx context.Context, p *Plan, workers []string, o DistOptions) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(workers) == 0 {
		return nil, errors.New("no workers")
	}
	if o.StartDelay <= 0 {
		o.StartDelay = 2 * time.Second
	}
	conns := make([]net.Conn, len(workers))
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i, w := range workers {
		c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", w)
		if err != nil {
			return nil, fmt.Errorf("connect to worker %s: %w", w, err)
		}
		conns[i] = c
	}
	startAt := time.Now().Add(o.StartDelay)
	readers := make([]*bufio.Reader, len(workers))
	for i, c := range conns {
		readers[i] = bufio.NewReaderSize(c, 64<<10)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		m := message{Type: "run", Token: o.Token, Plan: p.ForWorker(i, len(workers), o.SplitTargets), StartAt: startAt}
		if err := json.NewEncoder(c).Encode(m); err != nil {
			return nil, fmt.Errorf("send the plan to worker %s: %w", workers[i], err)
		}
	}
	for i, c := range conns {
		var m message
		if err := readMessage(readers[i], &m); err != nil {
			return nil, fmt.Errorf("worker %s: %w", workers[i], err)
		}
		if m.Type != "accepted" {
			return nil, fmt.Errorf("worker %s refused the run: %s", workers[i], m.Error)
		}
		_ = c.SetDeadline(time.Time{})
	}
	msgs := make(chan workerMsg)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range conns {
		wg.Go(func() {
			for {
				var m message
				err := readMessage(readers[i], &m)
				msgs <- workerMsg{worker: i, m: m, err: err}
				if err != nil || m.Type == "result" || m.Type == "error" {
					return
				}
			}
		})
	}
	stop := func() {
		for _, c := range conns {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_ = json.NewEncoder(c).Encode(message{Type: "stop"})
		}
	}
	results := make([]*Result, len(workers))
	var errs []error
	pending := len(workers)
	ticks := map[int]*tickMerge{}
	var timeline []TickSummary
	done := ctx.Done()
	var grace <-chan time.Time
	for pending > 0 {
		select {
		case <-done:
			stop()
			done = nil
			grace = time.After(30 * time.Second)
			continue
		case <-grace: // workers that did not answer the stop are given up on
			for _, c := range conns {
				c.Close()
			}
			grace = nil
			continue
		case wm := <-msgs:
			switch {
			case wm.err != nil:
				errs = append(errs, fmt.Errorf("worker %s: %w", workers[wm.worker], wm.err))
				pending--
			case wm.m.Type == "error":
				errs = append(errs, fmt.Errorf("worker %s: %s", workers[wm.worker], wm.m.Error))
				pending--
			case wm.m.Type == "result" && wm.m.Result != nil:
				results[wm.worker] = wm.m.Result
				pending--
			case wm.m.Type == "tick" && wm.m.Tick != nil:
				t := wm.m.Tick
				tm := ticks[t.Second]
				if tm == nil {
					tm = &tickMerge{tick: Tick{Second: t.Second, Phase: t.Phase, Protocols: map[Protocol]*Stats{}}}
					ticks[t.Second] = tm
				}
				for proto, s := range t.Protocols {
					if tm.tick.Protocols[proto] == nil {
						tm.tick.Protocols[proto] = &Stats{}
					}
					tm.tick.Protocols[proto].Merge(s)
				}
				if tm.n++; tm.n == len(workers) {
					timeline = append(timeline, summarize(&tm.tick, time.Second))
					if o.Live != nil {
						fmt.Fprintln(o.Live, LiveLine(&tm.tick, p.phaseNamed(tm.tick.Phase), len(p.Phases)))
					}
					delete(ticks, t.Second)
				}
			}
		}
	}
	var got []*Result
	var names []string
	for i, r := range results {
		if r != nil {
			got = append(got, r)
			names = append(names, workers[i])
		}
	}
	if len(got) == 0 {
		return nil, errors.Join(errs...)
	}
	res := MergeResults(p, got, names)
	res.Timeline = timeline
	for _, e := range errs {
		res.Notes = append(res.Notes, e.Error())
		res.Interrupted = true
	}
	if o.Warn != nil {
		for _, e := range errs {
			fmt.Fprintln(o.Warn, "stress: warning:", e)
		}
	}
	return res, nil
}

type tickMerge struct {
	tick Tick
	n    int
}

func (p *Plan) phaseNamed(name string) Phase {
	for _, ph := range p.Phases {
		if ph.Name == name {
			return ph
		}
	}
	return Phase{Name: name}
}

// MergeResults merges the results of workers that ran shares of plan at the same time:
// per phase, counts add up, histograms merge, and the elapsed time is the longest worker's.
// The timelines are not merged (RunDistributed builds the timeline from the ticks).
func MergeResults(plan *Plan, rs []*Result, names []string) *Result {
	out := &Result{Plan: plan, Workers: names}
	for wi, r := range rs {
		if out.Started.IsZero() || r.Started.Before(out.Started) {
			out.Started = r.Started
		}
		out.Interrupted = out.Interrupted || r.Interrupted
		for _, n := range r.Notes {
			out.Notes = append(out.Notes, names[wi]+": "+n)
		}
		for i, ph := range r.Phases {
			if i >= len(out.Phases) {
				np := PhaseResult{Phase: ph.Phase, Protocols: map[Protocol]*Stats{}}
				if i < len(plan.Phases) {
					np.Phase = plan.Phases[i]
				}
				out.Phases = append(out.Phases, np)
			}
			m := &out.Phases[i]
			m.Elapsed = max(m.Elapsed, ph.Elapsed)
			m.Total.Merge(&ph.Total)
			for proto, s := range ph.Protocols {
				if m.Protocols[proto] == nil {
					m.Protocols[proto] = &Stats{}
				}
				m.Protocols[proto].Merge(s)
			}
			for _, n := range ph.Notes {
				if !strings.HasPrefix(n, "errors: ") { // recomputed from the merged counts below
					m.Notes = append(m.Notes, names[wi]+": "+n)
				}
			}
		}
	}
	for i := range out.Phases {
		if errs := errorSummary(&out.Phases[i].Total); errs != "" {
			out.Phases[i].Notes = append(out.Phases[i].Notes, "errors: "+errs)
		}
	}
	return out
}
