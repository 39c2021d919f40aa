#!/usr/bin/env bash
# bench/http.sh — GET /price on Trinity (auth on) against nginx answering a fixed body of the
# same size (and a minimal net/http server answering them, for the engine choice), each server pinned to one core (CPU 0, GOMAXPROCS=1 / worker_processes 1) and wrk
# pinned to the other (CPU 1). Prints both rates and the ratio Trinity/nginx.
#
#   bench/http.sh [-d SECONDS] [-c CONNECTIONS] [-a ASSET]
#
# Needs: go, wrk, nginx, taskset, curl (Debian: apt-get install wrk nginx-light util-linux curl).
# Loopback only. The machine is noted in the output; compare ratios, not absolute numbers.
set -euo pipefail

dur=10 conns=100 asset=btc
while getopts "d:c:a:" o; do
  case $o in
    d) dur=$OPTARG ;; c) conns=$OPTARG ;; a) asset=$OPTARG ;;
    *) echo "usage: $0 [-d seconds] [-c connections] [-a asset]" >&2; exit 2 ;;
  esac
done
for tool in go wrk nginx taskset curl; do
  command -v "$tool" >/dev/null || { echo "bench/http.sh: $tool is missing (Debian: apt-get install wrk nginx-light util-linux curl)" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "bench/http.sh: needs 2 CPUs (server on CPU 0, wrk on CPU 1)" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pids=()
# Stop in reverse order of start (servers before the simulator feeding them).
cleanup() { for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "bench/http.sh: $1 did not come up" >&2; return 1; }
rate() { awk '/Requests\/sec/ {print $2}' "$1"; }

echo "building trinity…"
(cd "$root" && go build -o "$tmp/trinity" ./cmd/trinity)

db="sqlite:$tmp/t.db"
key=$("$tmp/trinity" keys create --tier partner --name bench --db "$db")
# The simulated exchanges run in their own process on the load core (CPU 1), as real exchanges
# are elsewhere: Trinity on CPU 0 pays for consuming the feeds, not for producing them.
taskset -c 1 "$tmp/trinity" sim --addr 127.0.0.1:0 > "$tmp/sim.out" 2> "$tmp/sim.log" &
pids+=($!)
for _ in $(seq 1 100); do grep -q '^serve flags:' "$tmp/sim.out" 2>/dev/null && break; sleep 0.1; done
simflags=$(sed -n 's/^serve flags: //p' "$tmp/sim.out")
[ -n "$simflags" ] || { echo "bench/http.sh: trinity sim did not start: $(cat "$tmp/sim.log")" >&2; exit 1; }
tport=$(free_port) aport=$(free_port)
# shellcheck disable=SC2086 # simflags is a list of flags
GOMAXPROCS=1 taskset -c 0 "$tmp/trinity" serve --feeds live $simflags --db "$db" --http-addr "127.0.0.1:$tport" \
  --udp-addr off --lrs-addr off --lrs-udp-addr off --admin-addr "127.0.0.1:$aport" --log-level warn &
pids+=($!)
url="http://127.0.0.1:$tport/price?asset=$asset"
# A second Trinity with limits and metering switched off, to show their cost.
oport=$(free_port) oaport=$(free_port)
# shellcheck disable=SC2086
GOMAXPROCS=1 taskset -c 0 "$tmp/trinity" serve --feeds live $simflags --db "$db" --http-addr "127.0.0.1:$oport" \
  --udp-addr off --lrs-addr off --lrs-udp-addr off --admin-addr "127.0.0.1:$oaport" --log-level error \
  --limits=false --metering=false &
pids+=($!)
ourl="http://127.0.0.1:$oport/price?asset=$asset"
for _ in $(seq 1 100); do curl -fsS -o /dev/null -H "Authorization: Bearer $key" "$url" 2>/dev/null && break; sleep 0.1; done
# Wait until every exchange has reported the asset (the answer stops growing), so nginx
# answers the same full-size bytes Trinity sends during the run.
prev=0 same=0
for _ in $(seq 1 60); do
  curl -fsS -H "Authorization: Bearer $key" "$url" > "$tmp/body.json" || true
  n=$(wc -c < "$tmp/body.json")
  if [ "$n" -le "$prev" ]; then same=$((same + 1)); else same=0; fi
  prev=$n
  [ "$same" -ge 4 ] && break
  sleep 0.5
done
size=$(wc -c < "$tmp/body.json")

nport=$(free_port)
mkdir -p "$tmp/nginx"
# nginx answers the same bytes Trinity sent, from memory (return), keep-alive unlimited.
body=$(cat "$tmp/body.json")
cat > "$tmp/nginx.conf" <<CONF
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
    listen 127.0.0.1:$nport;
    location / { default_type application/json; return 200 '$body'; }
  }
}
CONF
taskset -c 0 nginx -c "$tmp/nginx.conf" -p "$tmp/nginx" &
pids+=($!)
wait_http "http://127.0.0.1:$nport/"
nsize=$(curl -fsS "http://127.0.0.1:$nport/" | wc -c)

hport=$(free_port)
(cd "$root" && go build -o "$tmp/nethttp" ./bench/nethttp)
GOMAXPROCS=1 taskset -c 0 "$tmp/nethttp" -addr "127.0.0.1:$hport" -body "$tmp/body.json" &
pids+=($!)
wait_http "http://127.0.0.1:$hport/"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "body: trinity $size bytes, nginx $nsize bytes; wrk -t1 -c$conns -d${dur}s on CPU 1; servers on CPU 0"
# Warm up both, then measure: Trinity, nginx, Trinity again (the average damps drift).
taskset -c 1 wrk -t1 -c"$conns" -d2s -H "Authorization: Bearer $key" "$url" > /dev/null
taskset -c 1 wrk -t1 -c"$conns" -d2s "http://127.0.0.1:$nport/" > /dev/null
taskset -c 1 wrk -t1 -c"$conns" -d"${dur}s" -H "Authorization: Bearer $key" "$url" > "$tmp/t1.txt"
taskset -c 1 wrk -t1 -c"$conns" -d"${dur}s" "http://127.0.0.1:$nport/" > "$tmp/n.txt"
taskset -c 1 wrk -t1 -c"$conns" -d"${dur}s" "http://127.0.0.1:$hport/" > "$tmp/h.txt"
for _ in $(seq 1 100); do curl -fsS -o /dev/null -H "Authorization: Bearer $key" "$ourl" 2>/dev/null && break; sleep 0.1; done
taskset -c 1 wrk -t1 -c"$conns" -d"${dur}s" -H "Authorization: Bearer $key" "$ourl" > "$tmp/o.txt"
taskset -c 1 wrk -t1 -c"$conns" -d"${dur}s" -H "Authorization: Bearer $key" "$url" > "$tmp/t2.txt"
t1=$(rate "$tmp/t1.txt") t2=$(rate "$tmp/t2.txt") n=$(rate "$tmp/n.txt") h=$(rate "$tmp/h.txt") o=$(rate "$tmp/o.txt")
non2xx=$(grep -h 'Non-2xx' "$tmp/t1.txt" "$tmp/t2.txt" || true)
[ -z "$non2xx" ] || echo "warning: trinity answered non-2xx: $non2xx"
awk -v t1="$t1" -v t2="$t2" -v n="$n" -v h="$h" -v o="$o" 'BEGIN {
  t = (t1 + t2) / 2
  printf "trinity GET /price (auth on): %.0f req/s (runs %.0f, %.0f)\n", t, t1, t2
  printf "nginx fixed body:             %.0f req/s\n", n
  printf "minimal net/http fixed body:  %.0f req/s\n", h
  printf "ratio net/http/nginx:         %.2f\n", h / n
  printf "trinity, limits+metering off: %.0f req/s\n", o
  printf "ratio with/without limits+metering: %.2f\n", t / o
  printf "ratio trinity/nginx:          %.2f\n", t / n
}'
