//go:build linux

package stress

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A level that needs more connections than file descriptors allow is capped, and says so,
// instead of failing with EMFILE all over.
func TestLevelCappedByFDLimit(t *testing.T) {
	f := newFakeHTTP(t, nil)
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	open := openFDs()
	if open < 0 {
		t.Skip("no /proc/self/fd")
	}
	// Room for the fake server's side of each connection too: it lives in this process.
	lim := unix.Rlimit{Cur: uint64(open + fdReserve + 200), Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip("cannot lower RLIMIT_NOFILE:", err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	var warn strings.Builder
	p := testPlan(TCPLPO, []string{f.addr()}, Ladder([]int{10, 400}, 300*time.Millisecond)...)
	res, err := Run(context.Background(), p, Options{Warn: &warn})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(res.Phases[1].Notes, "|")
	if !strings.Contains(notes, "fd limit: level needs 400 TCP connections") || !strings.Contains(warn.String(), "fd limit") {
		t.Fatalf("no fd-limit note: notes %q, warnings %q", notes, warn.String())
	}
	if len(res.Phases[0].Notes) != 0 {
		t.Fatalf("level 1 fits but has notes %q", res.Phases[0].Notes)
	}
}
