package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/trinityprice/trinity/internal/price"
	"github.com/trinityprice/trinity/internal/sim"
)

// faultHelp documents --fault and the admin endpoint in `trinity sim -h`.
const faultHelp = "inject a fault `SPEC`; repeatable. SPEC is one of" + `
  EXCHANGE:disconnect[@AFTER]               drop every WebSocket connection
  EXCHANGE:malformed[@AFTER]                send one truncated JSON frame on every connection
  EXCHANGE:stall[:FOR][@AFTER]              send nothing at all on the WebSocket feed for FOR
  EXCHANGE:refuse[:FOR][@AFTER]             refuse new WebSocket connections with HTTP 429 for FOR
  EXCHANGE:spike:ASSET:FACTOR[:FOR][@AFTER] quote ASSET at FACTOR x the common price for FOR
FOR defaults to 10s; AFTER (delay after start) to 0. Examples: kraken:stall:10s@5s,
okx:spike:BTC:1.5:20s@30s. The same faults can be injected at any time from this machine with
  curl -X POST 'http://ADDR/faults/EXCHANGE/FAULT?for=5s&asset=BTC&factor=1.5'`

func runSim(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7000", "listen address of the simulated exchanges")
	assets := fs.String("assets", "", "asset map file (JSON) replacing the built-in one")
	seed := fs.Int64("seed", 0, "random seed (0: random)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	type timedFault struct {
		f     sim.Fault
		after time.Duration
	}
	var faults []timedFault
	fs.Func("fault", faultHelp, func(spec string) error {
		f, after, err := sim.ParseFault(spec)
		if err != nil {
			return err
		}
		faults = append(faults, timedFault{f, after})
		return nil
	})
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
	var flags []string
	for _, ex := range price.Exchanges() {
		if u := s.URL(ex); u != "" {
			fmt.Fprintf(stdout, "  %-10s %s\n", ex, u)
			flags = append(flags, "--"+ex.String()+"-ws-url", u, "--"+ex.String()+"-rest-url", s.RESTURL(ex))
		}
	}
	fmt.Fprintln(stdout, "serve flags:", strings.Join(flags, " "))
	fmt.Fprintf(stdout, "faults: POST http://%s/faults/EXCHANGE/{disconnect|stall|malformed|refuse|spike}?for=5s&asset=BTC&factor=1.5\n", s.Addr())
	for _, tf := range faults {
		go func() {
			t := time.NewTimer(tf.after)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if n, err := s.Inject(tf.f); err != nil {
				log.Error("fault not injected", "fault", tf.f.String(), "err", err)
			} else {
				log.Info("fault injected", "fault", tf.f.String(), "affected", n)
			}
		}()
	}
	return s.Run(ctx)
}
