package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStressAgainstServe runs `trinity stress` against the real server in process: a short
// TCP ladder and a UDP sustained run, both fully successful, with the table and JSON written.
func TestStressAgainstServe(t *testing.T) {
	r := startServe(t, "--feeds", "sim", "--exchanges", "kraken,coinbase")
	key := mustCreateKey(t, r.db, "partner")
	waitKey(t, r, key)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := httpGet(t, "http://"+r.addrs.HTTP+"/price?asset=btc", key); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no price")
		}
	}
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := Run(t.Context(), append([]string{"stress"}, args...), func(string) string { return "" }, &out, &errOut); err != nil {
			t.Fatalf("stress %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	table := run("--target", r.addrs.HTTP, "--key", key, "--protocol", "tcp-lpo", "--levels", "5,20", "--level-duration", "400ms", "--json", filepath.Join(dir, "r.json"), "--quiet")
	if !strings.Contains(table, "concurrency") || strings.Count(table, "100.00%") < 2 {
		t.Errorf("ladder table:\n%s", table)
	}
	var res map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("JSON result: %v %s", err, b)
	}
	table = run("--target", r.addrs.UDP, "--key", key, "--protocol", "udp-lpo", "--sustain", "500ms", "--concurrency", "16", "--quiet")
	if !strings.Contains(table, "100.00%") {
		t.Errorf("UDP table:\n%s", table)
	}
}
