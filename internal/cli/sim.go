package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
)

func runSim(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7000", "listen address of the simulated exchanges")
	assets := fs.String("assets", "", "asset map file (JSON) replacing the built-in one")
	seed := fs.Int64("seed", 0, "random seed (0: random)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		return err
	}
	u, err := price.DefaultUniverse()
	if *assets != "" {
		u, err = price.LoadUniverse(*assets)
	}
	if err != nil {
		return err
	}
	if *seed == 0 {
		*seed = rand.Int64()
	}
	s := sim.New(u, sim.Options{Seed: *seed, Logger: log})
	if err := s.Start(*addr); err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	defer s.Close()
	fmt.Fprintln(stdout, "simulated exchanges (point trinity serve at them with --<exchange>-ws-url):")
	for _, ex := range price.Exchanges() {
		if u := s.URL(ex); u != "" {
			fmt.Fprintf(stdout, "  %-10s %s\n", ex, u)
		}
	}
	return s.Run(ctx)
}
