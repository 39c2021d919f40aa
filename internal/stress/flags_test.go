package stress

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// parse registers the stress flags, parses args and builds the plan, as the CLI does.
func parse(t *testing.T, args ...string) (*Flags, *Plan, error) {
	t.Helper()
	fs := flag.NewFlagSet("stress", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f Flags
	f.Register(fs)
	if err := fs.Parse(args); err != nil {
		return &f, nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	p, err := f.Plan(set)
	return &f, p, err
}

func TestFlagsDefaultsToLadder(t *testing.T) {
	_, p, err := parse(t, "--key", "k1")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Phases) != 13 || p.Phases[12].Concurrency != 21000 || p.Phases[0].Duration != 20*time.Second {
		t.Fatalf("phases %+v", p.Phases)
	}
	if !reflect.DeepEqual(p.Targets, map[Protocol][]string{TCPLPO: {"127.0.0.1:8080"}}) || p.Timeout != DefaultTimeout {
		t.Fatalf("targets %v timeout %v", p.Targets, p.Timeout)
	}
}

func TestFlagsModes(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("# partner keys\nkA\n\nkB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, p, err := parse(t, "--mix", "tcp-lpo=40,udp-lpo=40,tcp-lrs=10,udp-lrs=10", "--target", "10.0.0.1,10.0.0.2",
		"--target", "udp-lrs=10.0.0.9:3000", "--keys-file", keys, "--key", "kC", "--sustain", "30m", "--concurrency", "500",
		"--udp-pad", "300", "--asset", "btc,eth")
	if err != nil {
		t.Fatal(err)
	}
	want := map[Protocol][]string{TCPLPO: {"10.0.0.1:8080", "10.0.0.2:8080"}, UDPLPO: {"10.0.0.1:2679", "10.0.0.2:2679"},
		TCPLRS: {"10.0.0.1:9090", "10.0.0.2:9090"}, UDPLRS: {"10.0.0.9:3000"}}
	if !reflect.DeepEqual(p.Targets, want) {
		t.Fatalf("targets %v", p.Targets)
	}
	if !reflect.DeepEqual(p.Keys, []string{"kC", "kA", "kB"}) || len(p.Mix) != 4 || p.Mix[2].Weight != 10 {
		t.Fatalf("keys %v mix %v", p.Keys, p.Mix)
	}
	if len(p.Phases) != 1 || p.Phases[0].Concurrency != 500 || p.Phases[0].Duration != 30*time.Minute || p.Phases[0].Rate != 0 {
		t.Fatalf("phases %+v", p.Phases)
	}
	_, p, err = parse(t, "--rate", "5000", "--sustain", "10s", "--protocol", "udp-lpo", "--target", "[::1]")
	if err != nil {
		t.Fatal(err)
	}
	if p.Phases[0].Rate != 5000 || p.Phases[0].Duration != 10*time.Second || p.Targets[UDPLPO][0] != "[::1]:2679" {
		t.Fatalf("rate plan %+v %v", p.Phases, p.Targets)
	}
	_, p, err = parse(t, "--levels", "1,2,3", "--level-duration", "200ms", "--workers", "127.0.0.1:7070,127.0.0.1:7071")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Phases) != 3 || p.Phases[2].Concurrency != 3 || p.Phases[0].Duration != 200*time.Millisecond {
		t.Fatalf("levels %+v", p.Phases)
	}
}

func TestFlagsBad(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--protocol", "smtp"}, `--protocol "smtp"`},
		{[]string{"--mix", "tcp-lpo=40,ftp=1"}, `unknown protocol "ftp"`},
		{[]string{"--mix", "tcp-lpo"}, "want PROTO=WEIGHT"},
		{[]string{"--mix", "tcp-lpo=0"}, "every weight is 0"},
		{[]string{"--mix", "tcp-lpo=1,tcp-lpo=2"}, "given twice"},
		{[]string{"--protocol", "udp-lpo", "--mix", "tcp-lpo=1"}, "--mix needs --protocol mix"},
		{[]string{"--mix", "tcp-lpo=1,udp-lpo=1", "--target", "127.0.0.1:8080"}, "has a port but the run mixes"},
		{[]string{"--target", "udp-lpo=127.0.0.1:1"}, "udp-lpo is not part of this run"},
		{[]string{"--target", "127.0.0.1:99999"}, "port 1..65535"},
		{[]string{"--levels", "30,x"}, "--levels"},
		{[]string{"--levels", "30", "--sustain", "1m"}, "do not combine"},
		{[]string{"--concurrency", "10"}, "--concurrency applies to --sustain and --rate"},
		{[]string{"--sustain", "1m", "--concurrency", "0"}, "must be positive"},
		{[]string{"--rate", "-5"}, "must be positive"},
		{[]string{"--sustain", "1m", "--timeout", "0s"}, "timeout must be > 0"},
		{[]string{"--sustain", "1m", "--udp-sockets", "0"}, "udp sockets"},
		{[]string{"--sustain", "1m", "--udp-pad", "70000"}, "udp pad"},
		{[]string{"--sustain", "1m", "--key", "bad key"}, "key"},
		{[]string{"--sustain", "1m", "--asset", "b/c"}, `asset "b/c"`},
		{[]string{"--keys-file", "/nonexistent/keys"}, "--keys-file"},
		{[]string{"--workers", "nohostport"}, "--workers"},
		{[]string{"--worker-token", "x"}, "need --workers"},
		{[]string{"--http-path", "price"}, "http path"},
		{[]string{"--level-duration", "banana"}, "invalid value"},
	} {
		_, _, err := parse(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want it to mention %q", c.args, err, c.want)
		}
	}
}
