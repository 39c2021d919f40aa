//go:build linux

package stress

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RaiseFDLimit raises the soft RLIMIT_NOFILE to the hard limit and returns the new soft limit
// and the hard limit.
func RaiseFDLimit() (soft, hard uint64, err error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
			return rl.Cur, rl.Max, err
		}
		rl = want
	}
	return rl.Cur, rl.Max, nil
}

// fdLimit returns the soft RLIMIT_NOFILE (0 when unknown).
func fdLimit() uint64 {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	return rl.Cur
}

// openFDs returns the number of open file descriptors of this process (-1 when unknown).
func openFDs() int {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return -1
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return -1
	}
	return len(names) - 1 // the directory itself is open while we count
}

// ephemeralPorts returns the size of the local port range for outgoing connections (0 when
// unknown).
func ephemeralPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 0
	}
	return hi - lo + 1
}
