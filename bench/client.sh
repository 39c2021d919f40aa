#!/usr/bin/env bash
# bench/client.sh — is `trinity stress` ever the bottleneck? DESIGN §9 asks that on the same
# core budget it generates at least as many HTTP requests per second as wrk against the same
# server. This script measures that as a ratio, in one run:
#
#   nginx (worker_processes 1) answers a fixed ~150-byte JSON with keep-alive, pinned to CPU 0;
#   wrk -t1 -c100 and `trinity stress --sustain --concurrency 100` (GOMAXPROCS=1) take turns
#   on CPU 1 for D seconds each, ROUNDS times. It prints both rates (medians), the ratio
#   stress/wrk (goal >= 1.0), and each client's CPU time, from which it estimates each
#   client's own ceiling: requests per CPU-second of the client, i.e. what it could drive on
#   one core if the server were never the limit (an estimate: loopback TCP work done in
#   softirq context is charged to whichever process the kernel was running).
#
# Usage: bench/client.sh [seconds]        (default 10; env D works too)
# Env:   ROUNDS=3            rounds; each runs both clients, alternating which goes first
#        CONNS=100           connections for both clients
#        TRINITY=/path       use this binary instead of building ./cmd/trinity
# Needs: go, wrk, nginx, taskset, curl, jq (Debian: apt-get install wrk nginx-light util-linux
# curl jq). Loopback only. Compare ratios, not absolute numbers: the machine is printed.
set -euo pipefail

D=${1:-${D:-10}}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-100}

die() { echo "client.sh: $*" >&2; exit 1; }
cd "$(dirname "$0")/.."
for tool in wrk nginx taskset curl jq; do
	command -v "$tool" >/dev/null || die "$tool is missing (Debian: apt-get install wrk nginx-light util-linux curl jq)"
done
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (nginx on CPU 0, the clients on CPU 1); this machine has $(nproc)"
[[ "$D" =~ ^[0-9]+$ ]] && [ "$D" -gt 0 ] || die "duration must be a positive number of seconds, got '$D'"
[[ "$ROUNDS" =~ ^[0-9]+$ ]] && [ "$ROUNDS" -gt 0 ] || die "ROUNDS must be a positive number, got '$ROUNDS'"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trinity-client.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${TRINITY:-}" ]; then
	command -v go >/dev/null || die "go is not on PATH (needed to build ./cmd/trinity); or set TRINITY"
	echo "building trinity ..."
	go build -o "$tmp/trinity" ./cmd/trinity || die "cannot build ./cmd/trinity"
	TRINITY=$tmp/trinity
fi
"$TRINITY" stress -h >"$tmp/help.txt" 2>&1 || true # -h exits with status 2
grep -q 'sustain duration' "$tmp/help.txt" || die "$TRINITY has no 'stress' command: $(head -n 3 "$tmp/help.txt")"

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null || echo 28080)
body='{"asset":"BTC","price":67012.34,"timestamp":"2025-05-01T12:00:00.123456Z","source":"aggregate","stale":false,"bid":67011.9,"ask":67012.8}'
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  server {
    listen 127.0.0.1:$port;
    location / { default_type application/json; return 200 '$body'; }
  }
}
CONF
taskset -c 0 nginx -c "$tmp/nginx.conf" -p "$tmp/nginx" &
pids+=($!)
url="http://127.0.0.1:$port/price?asset=btc"
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$url" 2>/dev/null && break; sleep 0.1; done
size=$(curl -fsS "$url" | wc -c) || die "nginx did not come up on 127.0.0.1:$port"

# cpu_of CMD…: runs CMD, sets CPU to the user+system seconds it used.
cpu_of() {
	local TIMEFORMAT='%U %S'
	{ time "$@" ; } 2>"$tmp/time.txt"
	CPU=$(tail -n 1 "$tmp/time.txt" | awk '{printf "%.3f", $1 + $2}')
}

run_wrk() {
	cpu_of taskset -c 1 wrk -t1 -c"$CONNS" -d"${D}s" "$url" >"$tmp/wrk.txt"
	WRK_RPS=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$tmp/wrk.txt")
	WRK_REQ=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
	[ -n "$WRK_RPS" ] || die "no rate in wrk's output: $(cat "$tmp/wrk.txt")"
	grep -q 'Non-2xx\|Socket errors' "$tmp/wrk.txt" && echo "    wrk: $(grep 'Non-2xx\|Socket errors' "$tmp/wrk.txt")"
	WRK_CPU=$CPU
}

run_stress() {
	cpu_of env GOMAXPROCS=1 taskset -c 1 "$TRINITY" stress --protocol tcp-lpo --target "127.0.0.1:$port" \
		--sustain "${D}s" --concurrency "$CONNS" --quiet --json "$tmp/stress.json" >"$tmp/stress.txt" 2>"$tmp/stress.err" ||
		{ cat "$tmp/stress.err" >&2; die "trinity stress failed"; }
	STRESS_REQ=$(jq '.phases[0].total.requests' "$tmp/stress.json")
	STRESS_OK=$(jq '.phases[0].total.success_pct' "$tmp/stress.json")
	STRESS_RPS=$(jq '.phases[0].total.requests / (.phases[0].elapsed_ns / 1e9) | floor' "$tmp/stress.json")
	STRESS_P99=$(jq '.phases[0].total.p99_ms' "$tmp/stress.json")
	STRESS_CPU=$CPU
}

# Warm up nginx and both clients.
taskset -c 1 wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null
GOMAXPROCS=1 taskset -c 1 "$TRINITY" stress --target "127.0.0.1:$port" --sustain 2s --concurrency "$CONNS" --quiet >/dev/null 2>&1 || true

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
w_rps=() s_rps=() w_cpu=() s_cpu=() w_ceil=() s_ceil=()
for round in $(seq 1 "$ROUNDS"); do
	# Alternate which client goes first, so a drift in the machine's load favours neither.
	if [ $((round % 2)) -eq 1 ]; then run_wrk; run_stress; else run_stress; run_wrk; fi
	echo "round $round/$ROUNDS wrk:    $WRK_RPS req/s, CPU ${WRK_CPU}s for ${D}s"
	echo "round $round/$ROUNDS stress: $STRESS_RPS req/s, CPU ${STRESS_CPU}s for ${D}s, success ${STRESS_OK}%, p99 ${STRESS_P99} ms"
	w_rps+=("$WRK_RPS") s_rps+=("$STRESS_RPS") w_cpu+=("$WRK_CPU") s_cpu+=("$STRESS_CPU")
	w_ceil+=("$(awk -v n="$WRK_REQ" -v c="$WRK_CPU" 'BEGIN { printf "%.0f", (c > 0 ? n / c : 0) }')")
	s_ceil+=("$(awk -v n="$STRESS_REQ" -v c="$STRESS_CPU" 'BEGIN { printf "%.0f", (c > 0 ? n / c : 0) }')")
done

wr=$(median "${w_rps[@]}") sr=$(median "${s_rps[@]}")
wc=$(median "${w_ceil[@]}") sc=$(median "${s_ceil[@]}")
ratio=$(awk -v a="$sr" -v b="$wr" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//')
echo
echo "machine:  $(nproc) CPUs, ${cpu:-unknown CPU}, Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "setup:    nginx (1 worker) on CPU 0 answering $size bytes; each client on CPU 1 with $CONNS connections, ${D}s x $ROUNDS rounds"
echo "wrk:      median $wr req/s (runs: ${w_rps[*]}); CPU s per run: ${w_cpu[*]}"
echo "stress:   median $sr req/s (runs: ${s_rps[*]}); CPU s per run: ${s_cpu[*]} (GOMAXPROCS=1)"
rounds="" per=()
for i in "${!w_rps[@]}"; do
	r=$(awk -v a="${s_rps[$i]}" -v b="${w_rps[$i]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
	rounds+=" $r" per+=("$r")
done
echo "ratio:    $ratio stress/wrk of the medians (goal >= 1.0); per round:$rounds, median $(median "${per[@]}")"
echo "ceiling:  requests per client CPU-second (what one core could drive if nginx were not the limit):"
echo "          wrk $wc, trinity stress $sc"
printf '{"bench":"client","duration_s":%s,"rounds":%s,"connections":%s,"body_bytes":%s,"wrk_rps":%s,"stress_rps":%s,"ratio":%s,"ratio_round_median":%s,"wrk_req_per_cpu_s":%s,"stress_req_per_cpu_s":%s}\n' \
	"$D" "$ROUNDS" "$CONNS" "$size" "$wr" "$sr" "$ratio" "$(median "${per[@]}")" "$wc" "$sc"
