package stress

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is the outcome of a run (or of several workers' runs, merged).
type Result struct {
	// Started is when the first phase began.
	Started time.Time `json:"started"`
	// Plan is what was run (for a merged result, the coordinator's plan).
	Plan *Plan `json:"plan"`
	// Workers lists the workers whose results were merged (distributed runs only).
	Workers []string `json:"workers,omitempty"`
	// Interrupted is set when the run was stopped before its last phase ended.
	Interrupted bool `json:"interrupted,omitempty"`
	// Phases holds one entry per phase that ran (the last one may be cut short).
	Phases []PhaseResult `json:"phases"`
	// Timeline has one entry per whole second of the run.
	Timeline []TickSummary `json:"timeline"`
	// Notes are run-wide remarks (e.g. the file descriptor limit).
	Notes []string `json:"notes,omitempty"`
}

// PhaseResult is the outcome of one phase.
type PhaseResult struct {
	Phase
	// Elapsed is how long the phase ran.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Total merges the protocols.
	Total Stats `json:"total"`
	// Protocols holds each protocol's statistics.
	Protocols map[Protocol]*Stats `json:"protocols"`
	// Notes explain capped levels, resource exhaustion and errors.
	Notes []string `json:"notes,omitempty"`
}

// RPS is the phase's rate of finished requests (successful or not) per second.
func (p *PhaseResult) RPS() float64 { return rate(p.Total.Requests(), p.Elapsed) }

func rate(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// TickSummary is one second of the timeline.
type TickSummary struct {
	Second    int                      `json:"second"`
	Phase     string                   `json:"phase"`
	RPS       float64                  `json:"rps"`
	Success   float64                  `json:"success_pct"`
	P50MS     float64                  `json:"p50_ms"`
	P99MS     float64                  `json:"p99_ms"`
	Protocols map[Protocol]ProtoSecond `json:"protocols,omitempty"`
}

// ProtoSecond is one protocol's share of a TickSummary.
type ProtoSecond struct {
	RPS     float64 `json:"rps"`
	Success float64 `json:"success_pct"`
	P50MS   float64 `json:"p50_ms"`
	P99MS   float64 `json:"p99_ms"`
}

func summarize(t *Tick, d time.Duration) TickSummary {
	tot := t.Total()
	ts := TickSummary{Second: t.Second, Phase: t.Phase, RPS: rate(tot.Requests(), d), Success: tot.Success(),
		P50MS: ms(tot.Hist.Quantile(0.5)), P99MS: ms(tot.Hist.Quantile(0.99))}
	if len(t.Protocols) > 1 {
		ts.Protocols = map[Protocol]ProtoSecond{}
		for p, s := range t.Protocols {
			ts.Protocols[p] = ProtoSecond{RPS: rate(s.Requests(), d), Success: s.Success(),
				P50MS: ms(s.Hist.Quantile(0.5)), P99MS: ms(s.Hist.Quantile(0.99))}
		}
	}
	return ts
}

// Totals merges every phase, per protocol and overall, and returns the run's duration.
func (r *Result) Totals() (total Stats, per map[Protocol]*Stats, d time.Duration) {
	per = map[Protocol]*Stats{}
	for _, ph := range r.Phases {
		d += ph.Elapsed
		total.Merge(&ph.Total)
		for p, s := range ph.Protocols {
			if per[p] == nil {
				per[p] = &Stats{}
			}
			per[p].Merge(s)
		}
	}
	return total, per, d
}

// WriteTable writes the human report: one row per phase (like the Run 17 report's tables),
// then, for a mix, one row per protocol over the whole run.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	hasRate := false
	for _, ph := range r.Phases {
		hasRate = hasRate || ph.Rate > 0
	}
	head := "level\tconcurrency\t"
	if hasRate {
		head += "target rps\t"
	}
	fmt.Fprintln(tw, head+"rps\tp50\tp90\tp99\tp99.9\tmax\tsuccess\t  notes")
	var notes []string
	for _, ph := range r.Phases {
		row := ph.Name + "\t" + thousands(float64(ph.Concurrency)) + "\t"
		if hasRate {
			row += thousands(ph.Rate) + "\t"
		}
		h := &ph.Total.Hist
		row += fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t", thousands(ph.RPS()), fmtDur(h.Quantile(0.5)),
			fmtDur(h.Quantile(0.9)), fmtDur(h.Quantile(0.99)), fmtDur(h.Quantile(0.999)), fmtDur(h.Max()),
			fmtPct(ph.Total.Success()))
		short := errorSummary(&ph.Total)
		long := false
		for _, n := range ph.Notes {
			if strings.HasPrefix(n, "errors: ") {
				continue // shown in the column
			}
			notes = append(notes, "level "+ph.Name+": "+n)
			long = true
		}
		if long {
			short = strings.TrimSpace(short + " (see notes)")
		}
		fmt.Fprintln(tw, row+"  "+short)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "notes:")
		for _, n := range notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
	total, per, d := r.Totals()
	if len(per) > 1 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "protocol\trequests\trps\tavg\tp50\tp99\tsuccess\t")
		for _, p := range sortedProtocols(per) {
			s := per[p]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p, thousands(float64(s.Requests())), thousands(rate(s.Requests(), d)),
				fmtDur(s.Hist.Mean()), fmtDur(s.Hist.Quantile(0.5)), fmtDur(s.Hist.Quantile(0.99)), fmtPct(s.Success()))
		}
		fmt.Fprintf(tw, "TOTAL\t%s\t%s\t%s\t%s\t%s\t%s\t\n", thousands(float64(total.Requests())), thousands(rate(total.Requests(), d)),
			fmtDur(total.Hist.Mean()), fmtDur(total.Hist.Quantile(0.5)), fmtDur(total.Hist.Quantile(0.99)), fmtPct(total.Success()))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	if r.Interrupted {
		fmt.Fprintln(w, "note: the run was interrupted; the last level is partial")
	}
	return nil
}

// WriteJSON writes the result as indented JSON. API keys in the plan are shortened to their
// first characters, so result files can be shared.
func (r *Result) WriteJSON(w io.Writer) error {
	out := *r
	if r.Plan != nil && len(r.Plan.Keys) > 0 {
		p := *r.Plan
		p.Keys = make([]string, len(r.Plan.Keys))
		for i, k := range r.Plan.Keys {
			p.Keys[i] = abbrev(k)
		}
		out.Plan = &p
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

// CSVHeader is the header row of WriteCSV.
var CSVHeader = []string{"level", "concurrency", "target_rps", "protocol", "duration_s", "requests", "ok", "rps",
	"success_pct", "p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms", "timeout", "refused", "reset", "http_429",
	"http_5xx", "http_4xx", "bad_body", "other", "unsent", "notes"}

// WriteCSV writes one row per phase and protocol, plus a row "all" per phase when the run
// mixes protocols.
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	row := func(ph *PhaseResult, proto string, s *Stats, notes string) []string {
		h := &s.Hist
		rec := []string{ph.Name, strconv.Itoa(ph.Concurrency), f(ph.Rate), proto, f(ph.Elapsed.Seconds()),
			strconv.FormatUint(s.Requests(), 10), strconv.FormatUint(s.Kinds[OK], 10), f(rate(s.Requests(), ph.Elapsed)),
			f(s.Success()), f(ms(h.Quantile(0.5))), f(ms(h.Quantile(0.9))), f(ms(h.Quantile(0.99))),
			f(ms(h.Quantile(0.999))), f(ms(h.Max()))}
		for k := Timeout; k < NumKinds; k++ {
			rec = append(rec, strconv.FormatUint(s.Kinds[k], 10))
		}
		return append(rec, strconv.FormatUint(s.Unsent, 10), notes)
	}
	for i := range r.Phases {
		ph := &r.Phases[i]
		notes := strings.Join(ph.Notes, "; ")
		ps := sortedProtocols(ph.Protocols)
		for _, p := range ps {
			if err := cw.Write(row(ph, string(p), ph.Protocols[p], notes)); err != nil {
				return err
			}
		}
		if len(ps) > 1 {
			if err := cw.Write(row(ph, "all", &ph.Total, notes)); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// fmtDur formats a latency compactly: 0.35ms, 12.1ms, 1.33s.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + "ms"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
}

func fmtPct(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" }

// thousands formats a number rounded to an integer with thousands separators.
func thousands(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
