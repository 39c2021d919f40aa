// Package cli implements the trinity command line: it parses flags (with TRINITY_* environment
// overlay), wires the components together and runs them. Every subcommand is a function of
// (ctx, args, getenv, stdout, stderr) so tests run the real commands in process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Version is the build's version, set with -ldflags "-X …/internal/cli.Version=v1.2.3".
var Version = "dev"

// errUsage marks a command-line mistake (exit code 2).
var errUsage = errors.New("usage")

// ExitCode maps an error returned by Run to a process exit code.
func ExitCode(err error) int {
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `trinity — real-time crypto price service

usage:
  trinity serve [flags]            run the service (trinity serve -h for flags)
  trinity keys create --tier T     create an API key (prints it once)
  trinity keys list                list keys
  trinity keys revoke ID|PREFIX    revoke a key
  trinity sim [--addr A]           run the simulated exchanges standalone
  trinity stress [flags]           load-test a running service (trinity stress -h)
  trinity stress worker --listen A run a load worker for a distributed stress run
  trinity version                  print the version

Every flag can also be set from the environment as TRINITY_<FLAG>, dashes as underscores
(e.g. TRINITY_HTTP_ADDR); a flag on the command line beats the environment.
`

// Run runs the command named by args[0].
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "keys":
		return runKeys(ctx, args[1:], getenv, stdout, stderr)
	case "sim":
		return runSim(ctx, args[1:], getenv, stdout, stderr)
	case "stress":
		return runStress(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "trinity", Version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

// parseInterspersed is parseFlags for commands whose flags may follow their positional
// arguments ("keys revoke ID --db …"); it returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, error) {
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	return pos, parseFlags(fs, nil, getenv)
}

// parseFlags parses args into fs, then fills every flag not given on the command line from
// the environment variable TRINITY_<NAME> (upper case, dashes as underscores).
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "TRINITY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%w: %s=%q: %v", errUsage, env, v, e)
			}
		}
	})
	return err
}
