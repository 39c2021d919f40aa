#!/usr/bin/env bash
# bench/udp.sh — the UDP performance goal of DESIGN §8, measured as a ratio in one run:
#
#   (a) Trinity's UDP price path (auth + lookup + metering) answering {"asset":"btc"} with a
#       real key, the request padded so the full answer fits the 3x amplification bound;
#   (b) bench/udpecho, a minimal batched (recvmmsg/sendmmsg) Go UDP answerer, answering the
#       same request with a fixed body of the same size as Trinity's answer.
#
# Each server runs on CPU 0 with GOMAXPROCS=1; bench/udpload runs on CPU 1 (GOMAXPROCS=1).
# Both servers stay up; while one is measured the other is frozen (SIGSTOP), so CPU 0 is its
# alone. The two are measured alternately for ROUNDS rounds of D seconds each, because on a
# shared VM single runs vary by ±20%; the ratio is taken of the medians. Goal: ≥ 0.9.
#
# Usage: bench/udp.sh [seconds]        (default 10 per run; env D works too)
# Env:   ROUNDS=3                      alternating rounds (each runs both servers D seconds)
#        TRINITY=/path/to/trinity      use this binary instead of building ./cmd/trinity
#        PORT=27679 ECHO_PORT=27690    loopback ports to use
#        SOCKETS=4 WINDOW=32           udpload sockets and requests in flight per socket
set -euo pipefail

D=${1:-${D:-10}}
PORT=${PORT:-27679}
ECHO_PORT=${ECHO_PORT:-27690}
SOCKETS=${SOCKETS:-4}
WINDOW=${WINDOW:-32}
ROUNDS=${ROUNDS:-3}

die() { echo "udp.sh: $*" >&2; exit 1; }

cd "$(dirname "$0")/.."
command -v go >/dev/null || die "go is not on PATH (needed to build trinity and the bench tools)"
command -v taskset >/dev/null || die "taskset is missing (package util-linux); it pins server and load to separate CPUs"
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (server on CPU 0, load on CPU 1); this machine has $(nproc)"
[[ "$D" =~ ^[0-9]+$ ]] && [ "$D" -gt 0 ] || die "duration must be a positive number of seconds, got '$D'"
[[ "$ROUNDS" =~ ^[0-9]+$ ]] && [ "$ROUNDS" -gt 0 ] || die "ROUNDS must be a positive number, got '$ROUNDS'"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trinity-udp.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		kill -CONT "$p" 2>/dev/null || true # a frozen process handles SIGTERM only when resumed
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building into $tmp ..."
if [ -z "${TRINITY:-}" ]; then
	go build -o "$tmp/trinity" ./cmd/trinity || die "cannot build ./cmd/trinity"
	TRINITY=$tmp/trinity
fi
go build -o "$tmp/udpecho" ./bench/udpecho || die "cannot build bench/udpecho"
go build -o "$tmp/udpload" ./bench/udpload || die "cannot build bench/udpload"

# port_free PORT: fails if something on PORT answers a probe (a leftover server would
# otherwise be measured instead of ours).
port_free() {
	! "$tmp/udpload" -addr "127.0.0.1:$1" -probe -timeout 300ms -request '{}' -pad-to 120 >/dev/null 2>&1
}

# wait_answer PORT REQUEST WANT PID: polls until the server on PORT answers REQUEST with an
# answer containing WANT (up to 30 s) and prints the answer; fails early if PID exits.
wait_answer() {
	local port=$1 req=$2 want=$3 pid=$4 ans=""
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || { echo "udp.sh: the server (pid $pid) exited" >&2; return 1; }
		if ans=$("$tmp/udpload" -addr "127.0.0.1:$port" -probe -timeout 100ms -request "$req" 2>/dev/null) &&
			[[ "$ans" == *"$want"* ]]; then
			printf '%s' "$ans"
			return 0
		fi
		sleep 0.1
	done
	echo "udp.sh: no answer containing '$want' from 127.0.0.1:$port within 30 s; last answer: ${ans:-none}" >&2
	return 1
}

# cpu0: prints CPU 0's busy and total jiffies from /proc/stat.
cpu0() {
	awk '/^cpu0 / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat
}

# load PORT REQUEST EXPECT: runs udpload on CPU 1 and prints its result line plus how busy
# CPU 0 (the server's) was while it measured. Sets RPS and BUSY (percent).
# udpload warms up for 1 s, then measures for D s; CPU 0 is sampled over the same window.
load() {
	taskset -c 1 env GOMAXPROCS=1 "$tmp/udpload" -addr "127.0.0.1:$1" -request "$2" \
		-sockets "$SOCKETS" -window "$WINDOW" -warmup 1s -duration "${D}s" -expect "$3" >"$tmp/load.out" 2>&1 &
	local lp=$! s0 s1
	sleep 1
	s0=$(cpu0)
	sleep "$D"
	s1=$(cpu0)
	wait "$lp" || { cat "$tmp/load.out" >&2; die "udpload failed"; }
	sed 's/^/    /' "$tmp/load.out"
	RPS=$(sed -n 's/^rps=\([0-9]*\) .*/\1/p' "$tmp/load.out")
	[ -n "$RPS" ] || die "no rps in udpload output"
	BUSY=$(echo "$s0 $s1" | awk '{ d = $4 - $2; if (d > 0) printf "%.0f", 100 * ($3 - $1) / d; else print "n/a" }')
	echo "    CPU 0 (server) busy: ${BUSY}%"
	local mism
	mism=$(sed -n 's/.* mismatched=\([0-9]*\) .*/\1/p' "$tmp/load.out")
	[ "${mism:-0}" = 0 ] || echo "    WARNING: $mism answers did not contain $3"
}

# --- (a) Trinity -------------------------------------------------------------------------
port_free "$PORT" || die "something already answers on udp 127.0.0.1:$PORT; set PORT"
port_free "$ECHO_PORT" || die "something already answers on udp 127.0.0.1:$ECHO_PORT; set ECHO_PORT"
db="sqlite:$tmp/t.db"
key=$("$TRINITY" keys create --tier partner --db "$db") || die "trinity keys create failed"
key=$(echo "$key" | tail -n 1 | tr -d '[:space:]')
[ -n "$key" ] || die "trinity keys create printed no key"

# The simulated exchanges run in their own process on the load core (CPU 1), as real exchanges
# are elsewhere: Trinity on CPU 0 pays for consuming the feeds, not for producing them.
taskset -c 1 "$TRINITY" sim --addr 127.0.0.1:0 >"$tmp/sim.out" 2>"$tmp/sim.log" &
pids+=($!)
for _ in $(seq 1 100); do grep -q '^serve flags:' "$tmp/sim.out" 2>/dev/null && break; sleep 0.1; done
simflags=$(sed -n 's/^serve flags: //p' "$tmp/sim.out")
[ -n "$simflags" ] || die "trinity sim did not start: $(cat "$tmp/sim.log")"
# shellcheck disable=SC2086 # simflags is a list of flags
taskset -c 0 env GOMAXPROCS=1 "$TRINITY" serve --feeds live $simflags --http-addr= --lrs-addr= --lrs-udp-addr= \
	--admin-addr=127.0.0.1:0 --udp-addr="127.0.0.1:$PORT" --db "$db" >"$tmp/trinity.log" 2>&1 &
tpid=$!
pids+=("$tpid")

base="{\"key\":\"$key\",\"asset\":\"btc\",\"id\":1}"
echo "waiting for Trinity on udp 127.0.0.1:$PORT and a BTC price ..."
if ! wait_answer "$PORT" "$base" '"price"' "$tpid" >/dev/null; then
	echo "--- trinity log ---" >&2
	tail -n 30 "$tmp/trinity.log" >&2
	die "Trinity did not answer"
fi
# Size the request: ask with a large request (the full answer surely fits) until the answer
# stops growing (the simulated exchanges connect one by one, each adds a source), then pad
# to what the full answer needs plus 15% (prices and ages change its length a little).
echo "waiting for the BTC answer to stop growing (sources connecting) ..."
full=0 stable=0
for _ in $(seq 1 60); do
	big=$("$tmp/udpload" -probe -addr "127.0.0.1:$PORT" -request "$base" -pad-to 2000) ||
		die "no answer to a 2000-byte request"
	[[ "$big" == *'"sources"'* ]] || die "no full answer to a 2000-byte request: $big"
	if [ "${#big}" -gt $((full * 102 / 100)) ]; then
		full=${#big} stable=0
	else
		stable=$((stable + 1))
		[ "$stable" -ge 6 ] && break
	fi
	sleep 0.5
done
padto=$(((full * 115 / 100 + 2) / 3))
req=$("$tmp/udpload" -print-request -request "$base" -pad-to "$padto")
[ "${#req}" -eq "$padto" ] || die "padding the request went wrong (${#req} bytes, wanted $padto)"
ans=$("$tmp/udpload" -probe -addr "127.0.0.1:$PORT" -request "$req")
[[ "$ans" == *'"sources"'* ]] || die "the padded request ($padto bytes) did not get the full answer: $ans"
size=${#ans}
echo "request $padto bytes, full answer $size bytes"

taskset -c 0 env GOMAXPROCS=1 "$tmp/udpecho" -addr "127.0.0.1:$ECHO_PORT" -size "$size" -sockets 1 \
	>"$tmp/udpecho.log" 2>&1 &
epid=$!
pids+=("$epid")
wait_answer "$ECHO_PORT" "$req" '"price"' "$epid" >/dev/null || { cat "$tmp/udpecho.log" >&2; die "udpecho did not answer"; }

# median: prints the median of its arguments (the lower middle one for an even count).
median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

t_rps=() e_rps=() t_busy=() e_busy=()
for round in $(seq 1 "$ROUNDS"); do
	kill -STOP "$epid"
	echo "round $round/$ROUNDS (a) Trinity UDP price path, ${D}s:"
	load "$PORT" "$req" '"sources"'
	t_rps+=("$RPS") t_busy+=("$BUSY")
	kill -CONT "$epid"

	kill -STOP "$tpid"
	echo "round $round/$ROUNDS (b) udpecho, fixed $size-byte answer, ${D}s:"
	load "$ECHO_PORT" "$req" '"price"'
	e_rps+=("$RPS") e_busy+=("$BUSY")
	kill -CONT "$tpid"
	sleep 1 # let Trinity's feeds catch up before it is measured again
done

# --- result ------------------------------------------------------------------------------
trinity_rps=$(median "${t_rps[@]}") echo_rps=$(median "${e_rps[@]}")
trinity_busy=$(median "${t_busy[@]}") echo_busy=$(median "${e_busy[@]}")
ratio=$(awk -v a="$trinity_rps" -v b="$echo_rps" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')
rounds=""
for i in "${!t_rps[@]}"; do
	rounds+=$(awk -v a="${t_rps[$i]}" -v b="${e_rps[$i]}" 'BEGIN { printf " %.3f", (b > 0 ? a / b : 0) }')
done
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//')
echo
echo "machine:  $(nproc) CPUs, ${cpu:-unknown CPU}, Linux $(uname -r), $(go version | cut -d' ' -f3), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "setup:    server CPU 0 GOMAXPROCS=1, udpload CPU 1 GOMAXPROCS=1, $SOCKETS sockets x $WINDOW in flight, request $padto B, answer $size B, $ROUNDS rounds x ${D}s"
echo "trinity:  median $trinity_rps req/s (runs: ${t_rps[*]}; CPU 0 busy ${trinity_busy}%)"
echo "udpecho:  median $echo_rps req/s (runs: ${e_rps[*]}; CPU 0 busy ${echo_busy}%)"
echo "ratio:    $ratio (goal >= 0.9; per round:$rounds)"
if [ "${trinity_busy%%.*}" != n/a ] && [ "$trinity_busy" -lt 95 ] 2>/dev/null && [ "$echo_busy" -lt 95 ] 2>/dev/null; then
	echo "note:     neither server saturated CPU 0, so the load generator (or the VM) was the limit;"
	echo "          compare req/s per busy CPU 0 second: trinity $(awk -v r="$trinity_rps" -v b="$trinity_busy" 'BEGIN{printf "%.0f", (b > 0 ? r * 100 / b : 0)}')," \
		"udpecho $(awk -v r="$echo_rps" -v b="$echo_busy" 'BEGIN{printf "%.0f", (b > 0 ? r * 100 / b : 0)}')"
fi
printf '{"bench":"udp","rounds":%s,"duration_s":%s,"request_bytes":%s,"answer_bytes":%s,"trinity_rps":%s,"udpecho_rps":%s,"ratio":%s,"trinity_cpu0_busy_pct":"%s","udpecho_cpu0_busy_pct":"%s"}\n' \
	"$ROUNDS" "$D" "$padto" "$size" "$trinity_rps" "$echo_rps" "$ratio" "$trinity_busy" "$echo_busy"
