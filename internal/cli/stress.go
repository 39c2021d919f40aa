package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/trinityprice/trinity/internal/stress"
)

// runStress implements `trinity stress` (see stress.Usage).
func runStress(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "worker" {
		return runStressWorker(ctx, args[1:], getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("stress", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, stress.Usage)
		fs.PrintDefaults()
	}
	var f stress.Flags
	f.Register(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: stress: unexpected argument %q", errUsage, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	plan, err := f.Plan(set)
	if err != nil {
		return fmt.Errorf("%w: stress: %v", errUsage, err)
	}

	var live io.Writer = stderr
	if f.Quiet {
		live = nil
	}
	var notes []string
	if len(f.Workers) == 0 {
		notes = checkFDs(plan, stderr)
	}
	fmt.Fprintln(stderr, describePlan(plan, f.Workers))
	var res *stress.Result
	if len(f.Workers) > 0 {
		res, err = stress.RunDistributed(ctx, plan, f.Workers, stress.DistOptions{Token: f.WorkerToken,
			StartDelay: f.StartDelay, SplitTargets: f.SplitTargets, Live: live, Warn: stderr})
	} else {
		res, err = stress.Run(ctx, plan, stress.Options{Live: live, Warn: stderr})
	}
	if err != nil {
		return fmt.Errorf("stress: %w", err)
	}
	res.Notes = append(notes, res.Notes...)
	fmt.Fprintln(stdout)
	if err := res.WriteTable(stdout); err != nil {
		return err
	}
	return writeOutputs(res, f.JSON, f.CSV, f.ChartDir, stderr)
}

// checkFDs raises RLIMIT_NOFILE to its hard limit and warns when the plan's largest level
// needs more TCP connections than that allows (the engine then caps the level and notes it).
func checkFDs(p *stress.Plan, stderr io.Writer) []string {
	soft, hard, err := stress.RaiseFDLimit()
	if err != nil {
		fmt.Fprintf(stderr, "stress: warning: could not raise RLIMIT_NOFILE (now %d, hard %d): %v\n", soft, hard, err)
	}
	if soft == 0 {
		return nil
	}
	tcpShare, total := 0, 0
	for _, s := range p.Mix {
		total += s.Weight
		if !s.Protocol.UDP() {
			tcpShare += s.Weight
		}
	}
	most := 0
	for _, ph := range p.Phases {
		most = max(most, ph.Concurrency*tcpShare/total)
	}
	if uint64(most)+64 > soft {
		msg := fmt.Sprintf("the largest level needs %d TCP connections but RLIMIT_NOFILE is %d (hard limit %d): levels above ~%d connections will be capped (see notes); raise the hard limit (ulimit -Hn) or use --workers",
			most, soft, hard, soft-64)
		fmt.Fprintln(stderr, "stress: warning:", msg)
		return []string{msg}
	}
	return nil
}

// describePlan is the one-line summary printed before a run.
func describePlan(p *stress.Plan, workers []string) string {
	var b strings.Builder
	b.WriteString("trinity stress:")
	for _, s := range p.Mix {
		fmt.Fprintf(&b, " %s", s.Protocol)
		if len(p.Mix) > 1 {
			fmt.Fprintf(&b, "(%d)", s.Weight)
		}
		fmt.Fprintf(&b, " → %s;", strings.Join(p.Targets[s.Protocol], ","))
	}
	ph := p.Phases[0]
	switch {
	case ph.Rate > 0:
		fmt.Fprintf(&b, " open loop %.0f req/s for %s (pool %d)", ph.Rate, ph.Duration, ph.Concurrency)
	case len(p.Phases) == 1:
		fmt.Fprintf(&b, " sustained %d in flight for %s", ph.Concurrency, ph.Duration)
	default:
		fmt.Fprintf(&b, " ladder of %d levels × %s", len(p.Phases), ph.Duration)
	}
	fmt.Fprintf(&b, "; %d keys; timeout %s", len(p.Keys), p.Timeout)
	if len(workers) > 0 {
		fmt.Fprintf(&b, "; %d workers: %s", len(workers), strings.Join(workers, ","))
	}
	if len(p.Keys) == 0 {
		b.WriteString("\nstress: warning: no --key given: requests carry no API key")
	}
	return b.String()
}

func writeOutputs(res *stress.Result, jsonPath, csvPath, chartDir string, stderr io.Writer) error {
	writeFile := func(path string, write func(io.Writer) error) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if jsonPath != "" {
		if err := writeFile(jsonPath, res.WriteJSON); err != nil {
			return fmt.Errorf("stress: write --json: %w", err)
		}
		fmt.Fprintln(stderr, "stress: wrote", jsonPath)
	}
	if csvPath != "" {
		if err := writeFile(csvPath, res.WriteCSV); err != nil {
			return fmt.Errorf("stress: write --csv: %w", err)
		}
		fmt.Fprintln(stderr, "stress: wrote", csvPath)
	}
	if chartDir != "" {
		files, err := stress.WriteCharts(chartDir, res)
		if err != nil {
			return fmt.Errorf("stress: write charts: %w", err)
		}
		for _, f := range files {
			fmt.Fprintln(stderr, "stress: wrote", f)
		}
	}
	return nil
}

// runStressWorker implements `trinity stress worker`.
func runStressWorker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("stress worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "HOST:PORT to accept a coordinator on (required), e.g. 127.0.0.1:7070")
	token := fs.String("worker-token", "", "shared secret a coordinator must send (--worker-token on the coordinator)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *listen == "" {
		return fmt.Errorf("%w: stress worker: --listen HOST:PORT is required", errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: stress worker: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if _, _, err := stress.RaiseFDLimit(); err != nil {
		fmt.Fprintln(stderr, "stress worker: warning: could not raise RLIMIT_NOFILE:", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("stress worker: listen: %w", err)
	}
	fmt.Fprintln(stdout, "stress worker listening on", ln.Addr())
	return stress.ServeWorker(ctx, ln, stress.WorkerOptions{Token: *token, Log: stderr})
}
