#!/usr/bin/env bash
# Search under load (part of `make bench`): two-word queries with facets and suggestions, on
# the demo shop and on a generated catalog of BENCH_SEARCH_PRODUCTS products (100,000 by
# default), at BENCH_SEARCH_CONNECTIONS connections (16). Also times seeding and building the
# index from scratch. Goal: p99 under 20 ms for search with facets.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-wrk.sh
source scripts/bench-wrk.sh

DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_SEARCH_CONNECTIONS:-16}"
THREADS="${BENCH_THREADS:-2}"
PORT="${BENCH_SEARCH_PORT:-18191}"
PRODUCTS="${BENCH_SEARCH_PRODUCTS:-100000}"

command -v wrk >/dev/null 2>&1 || { echo "wrk is needed (make bench installs it)"; exit 1; }
cargo build --release -q -p emporium-gateway --bin emporium
BIN="${BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/emporium}"

work="$(mktemp -d)"
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT



# Starts the server on database $1 (extra arguments to `serve`), waits until it answers.
start() {
  local db="$1"
  shift
  EMPORIUM_RATE_LIMIT_ANONYMOUS=0 EMPORIUM_RATE_LIMIT_CUSTOMER=0 EMPORIUM_RATE_LIMIT_API_KEY=0 \
  EMPORIUM_DATABASE_URL="sqlite://$db" EMPORIUM_ADDR="127.0.0.1:$PORT" EMPORIUM_LOG=info EMPORIUM_LOG_FORMAT=json \
    "$BIN" serve "$@" >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do curl -fs "127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "the server did not start"; cat "$work/server.log"; exit 1
}

stop() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

row() { printf "| %-58s | %8.0f | %7s | %7s |\n" "$1" "$2" "$3" "$4"; }

FACETS="facets=category,option.Size,option.Color,price&currency=EUR"
rows=()

# The demo shop.
start "$work/demo.db?mode=rwc" --demo
for target in "/v1/products?q=camp+mug&$FACETS" "/v1/products?q=waterproof+jacket&$FACETS" "/v1/search/suggest?q=ca"; do
  curl -fs "127.0.0.1:$PORT$target" >/dev/null
  read -r rps p50 p99 < <(run "http://127.0.0.1:$PORT$target")
  rows+=("$(row "demo shop: ${target//&$FACETS/ + facets}" "$rps" "$p50" "$p99")")
done
stop

# The generated catalog, seeded once per machine (it takes minutes) and kept under
# BENCH_SEARCH_CACHE; then the index built from scratch, and queries.
cache_dir="${BENCH_SEARCH_CACHE:-$HOME/.cache/emporium}/bench-search-$PRODUCTS"
if [ ! -s "$cache_dir/shop.db" ]; then
  # Seeded in a folder of its own (the database and its WAL), moved into place when done:
  # an interrupted seed is never reused.
  rm -rf "$cache_dir.partial"
  mkdir -p "$cache_dir.partial"
  seed_out="$(EMPORIUM_DATABASE_URL="sqlite://$cache_dir.partial/shop.db?mode=rwc" EMPORIUM_LOG=warn \
    "$BIN" seed --products "$PRODUCTS" 2>/dev/null)"
  rm -rf "$cache_dir"
  mv "$cache_dir.partial" "$cache_dir"
else
  seed_out="generated catalog: reused $cache_dir (delete it to seed again)"
fi
cp "$cache_dir"/shop.db* "$work/"
for f in "$work"/shop.db*; do mv "$f" "$work/big.db${f#"$work"/shop.db}"; done
reindex_out="$(EMPORIUM_DATABASE_URL="sqlite://$work/big.db" EMPORIUM_LOG=warn "$BIN" search reindex 2>/dev/null)"
start "$work/big.db"
# The server's log is buffered (flushed every 200 ms): wait for the line.
for _ in $(seq 1 50); do grep -q 'search index built' "$work/server.log" && break; sleep 0.1; done
built="$(grep 'search index built' "$work/server.log" | grep -o '"elapsed_ms":[0-9]*' | head -1 | tr -dc '0-9' || true)"
for target in "/v1/products?q=vintage+mug&$FACETS" "/v1/products?q=mug+waxed&$FACETS" \
  "/v1/products?q=classic+hodie&$FACETS" "/v1/products?q=lantern&$FACETS" "/v1/search/suggest?q=vin"; do
  curl -fs "127.0.0.1:$PORT$target" >/dev/null
  read -r rps p50 p99 < <(run "http://127.0.0.1:$PORT$target")
  rows+=("$(row "$PRODUCTS products: ${target//&$FACETS/ + facets}" "$rps" "$p50" "$p99")")
done
rss_kib="$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")"
stop

printf "\nsearch: wrk -t%s -c%s -d%s on loopback, %s cores (goal: p99 under 20 ms with facets)\n\n" \
  "$THREADS" "$CONNECTIONS" "$DURATION" "$(nproc)"
printf "| %-58s | %8s | %7s | %7s |\n" "target" "req/s" "p50 ms" "p99 ms"
printf "|%s|%s|%s|%s|\n" "------------------------------------------------------------" "----------" "---------" "---------"
printf "%s\n" "${rows[@]}"
printf "\n%s\n%s\n" "$seed_out" "$reindex_out"
printf "the server built its index of %s products on start in %s ms; peak resident memory %.0f MiB\n" \
  "$PRODUCTS" "${built:-?}" "$(awk -v k="$rss_kib" 'BEGIN {print k / 1024}')"
