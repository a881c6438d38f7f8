#!/usr/bin/env bash
# One load measurement of a release binary, as the README's Load section reports them:
#   benches/sitting.sh sqlite|postgres BIN CLIENTS [extra loadgen arguments, e.g. --router 2]
# sqlite: one service on a fresh SQLite file at :18080. postgres: two replicas at :18081 and
# :18082 on a fresh database `sr_sitting` of the local PostgreSQL (trust auth), dropped at
# the end. The rate limits are raised so that they are not what is measured. Prints the load
# generator's figures and the CPU (1/100 s) each process name used in the 10 measured seconds.
set -euo pipefail
backend=$1 bin=$(realpath "$2") clients=$3; shift 3
cd "$(dirname "$0")/.."
data=../shared/eval/dev.jsonl
[ -f "$data" ] || { echo "missing $data"; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"
  if [ "$backend" = postgres ]; then psql -q -h 127.0.0.1 -U postgres -d postgres -c 'DROP DATABASE IF EXISTS sr_sitting WITH (FORCE)' || true; fi
}
trap cleanup EXIT
export SMARTREPLY_LIMITS__SHOP_PER_MINUTE=100000000 SMARTREPLY_LIMITS__CUSTOMER_PER_MINUTE=100000000 RUST_LOG=warn
case $backend in
  sqlite) ports=(18080); db="sqlite://$tmp/s.db" names="$(basename "$bin")" ;;
  postgres)
    ports=(18081 18082); db=postgres://postgres@127.0.0.1:5432/sr_sitting names="postgres $(basename "$bin")"
    psql -q -h 127.0.0.1 -U postgres -d postgres -c 'DROP DATABASE IF EXISTS sr_sitting WITH (FORCE)' -c 'CREATE DATABASE sr_sitting' ;;
  *) echo "backend: sqlite or postgres"; exit 2 ;;
esac
urls=()
for port in "${ports[@]}"; do
  SMARTREPLY_LISTEN=127.0.0.1:$port SMARTREPLY_DATABASE_URL=$db "$bin" serve >"$tmp/log-$port" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 240); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
  urls+=(--url "http://127.0.0.1:$port")
done
ticks() { # utime+stime summed over the processes of each name
  for n in $names; do t=0; for p in $(pgrep -x "$n"); do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; printf '%s=%s ' "$n" "$t"; done
}
( sleep 3.5; a=$(ticks); sleep 10; b=$(ticks); echo "cpu before: $a"; echo "cpu after:  $b" ) &
sampler=$!
"$bin" loadgen "${urls[@]}" --secret dev-secret-change-me --shop demo --concurrency "$clients" --duration 10 --data "$data" --quiet "$@"
wait "$sampler"
for port in "${ports[@]}"; do curl -s "http://127.0.0.1:$port/metrics" | grep -E '^smartreply_store_group_size_(sum|count)' || true; done
