#!/usr/bin/env bash
# Reports under a year of trade (part of `make bench`): seeds BENCH_REPORT_ORDERS orders
# (1,000,000 by default) into a PostgreSQL database kept between runs (emporium_bench_reports,
# seeded again only when it holds fewer orders), then times every report over the last 90 and
# 365 days and frequently-bought-together, each at BENCH_REPORT_CONNECTIONS connections (4).
# Goal (issue 25): p99 at most 200 ms per report, 5 ms for frequently bought together.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-wrk.sh
source scripts/bench-wrk.sh

DURATION="${BENCH_REPORT_DURATION:-10s}"
CONNECTIONS="${BENCH_REPORT_CONNECTIONS:-4}"
THREADS="${BENCH_THREADS:-2}"
PORT="${BENCH_REPORT_PORT:-18195}"
ORDERS="${BENCH_REPORT_ORDERS:-1000000}"
PG="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
DB="emporium_bench_reports"

if ! psql "$PG/postgres" -Atqc 'SELECT 1' >/dev/null 2>&1; then
  echo "reports bench: PostgreSQL is not reachable at $PG; skipped"
  exit 0
fi
if [ -z "${BENCH_BIN:-}" ]; then cargo build --release -q -p emporium-gateway --bin emporium; fi
BIN="${BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/emporium}"

work="$(mktemp -d)"
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

psql "$PG/postgres" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
  psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null
URL="$PG/$DB"
EMPORIUM_DATABASE_URL="$URL" EMPORIUM_LOG=warn "$BIN" migrate >/dev/null
have="$(psql "$URL" -Atqc 'SELECT COUNT(*) FROM orders')"
if [ "$have" -lt "$ORDERS" ]; then
  echo "seeding $((ORDERS - have)) orders into $DB (kept for later runs)"
  started=$(date +%s)
  EMPORIUM_DATABASE_URL="$URL" EMPORIUM_LOG=warn "$BIN" seed --orders "$((ORDERS - have))"
  echo "seeded in $(($(date +%s) - started)) s"
  psql "$URL" -qc 'VACUUM ANALYZE' >/dev/null
fi
EMPORIUM_DATABASE_URL="$URL" EMPORIUM_LOG=warn \
  "$BIN" admin create --email bench@shop.test --password bench-password-1 >/dev/null
EMPORIUM_RATE_LIMIT_ANONYMOUS=0 EMPORIUM_RATE_LIMIT_CUSTOMER=0 EMPORIUM_RATE_LIMIT_API_KEY=0 \
EMPORIUM_DB_STATEMENT_TIMEOUT_MS=60000 EMPORIUM_REQUEST_TIMEOUT_MS=60000 \
EMPORIUM_DATABASE_URL="$URL" EMPORIUM_ADDR="127.0.0.1:$PORT" EMPORIUM_LOG=warn \
  "$BIN" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do curl -fs "127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
token="$(curl -fs -X POST "127.0.0.1:$PORT/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@shop.test","password":"bench-password-1"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"
cat >"$work/staff.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA

stamp() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
to="$(stamp 'now')"
printf "\n%s orders; wrk -t%s -c%s -d%s on loopback, %s cores\n\n" \
  "$(psql "$URL" -Atqc 'SELECT COUNT(*) FROM orders')" "$THREADS" "$CONNECTIONS" "$DURATION" "$(nproc)"
printf "| %-52s | %8s | %8s | %8s |\n" "report" "req/s" "p50 ms" "p99 ms"
printf "|%s|%s|%s|%s|\n" "------------------------------------------------------" "----------" "----------" "----------"
for days in 90 365; do
  from="$(stamp "$days days ago")"
  window="from=$from&to=$to"
  for report in "sales?$window&currency=EUR&interval=day" "sales?$window&currency=EUR&interval=week" \
    "conversion?$window" "customers?$window&currency=EUR" "products?$window&currency=EUR" "inventory?$window"; do
    curl -fs -o /dev/null -H "Authorization: Bearer $token" "127.0.0.1:$PORT/v1/reports/$report" ||
      echo "warning: /v1/reports/$report failed" >&2
    # A report may take seconds: wrk's 2 s default would drop its latencies from the figures.
    read -r rps p50 p99 < <(run --timeout 60s -s "$work/staff.lua" "http://127.0.0.1:$PORT/v1/reports/$report")
    label="${report%%\?*}"
    case "$report" in *interval=*) label="$label by ${report##*interval=}" ;; esac
    printf "| %-52s | %8.1f | %8s | %8s |\n" "$label ($days days)" "$rps" "$p50" "$p99"
  done
done
product="$(psql "$URL" -Atqc "SELECT product_id FROM product_sales ORDER BY orders DESC LIMIT 1")"
read -r rps p50 p99 < <(run "http://127.0.0.1:$PORT/v1/products/$product/frequently-bought-together")
printf "| %-52s | %8.1f | %8s | %8s |\n" "frequently bought together (best seller)" "$rps" "$p50" "$p99"
