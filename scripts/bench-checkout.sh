#!/usr/bin/env bash
# The checkout scenario of make bench: BUYERS concurrent buyers (one wrk thread and connection
# each) each loop through a whole purchase: open a guest cart, add a demo SKU, set email and
# address, check out with the test provider. Run on PostgreSQL (a fresh database on the local
# server, or BENCH_PG_URL's) and on SQLite; prints placed orders per second and checks that the
# stock sold equals the orders placed (none oversold). Expects a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-wrk.sh
source scripts/bench-wrk.sh

DURATION="${BENCH_DURATION:-10s}"
BUYERS="${BENCH_BUYERS:-32}"
PORT="${BENCH_CHECKOUT_PORT:-18191}"
PG_SERVER="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
BIN="${BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/emporium}"
# Buyers spread over the demo shop's SKUs priced in EUR (a shop's day), or all on one
# (BENCH_HOT_SKU=1: a flash sale, where every checkout waits on one stock row).
SKUS="$(python3 -c "
import json
shop = json.load(open('crates/gateway/src/demo/shop.json'))
print(' '.join(v['sku'] for p in shop['products'] if p['status'] == 'published' for v in p['variants']
               if any(pr['currency'] == 'EUR' for pr in v.get('prices', []))))")"
[ -n "${BENCH_HOT_SKU:-}" ] && SKUS="TEE-ORG-M-WHT"
STOCK=10000000

work="$(mktemp -d)"
db_name="emporium_bench_$$"
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/checkout.lua" <<'LUA'
-- One buyer per thread: its own cart, four requests per order, in turn.
local threads = {}
local counter = 0
function setup(thread)
  table.insert(threads, thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  step, cart, placed, failed, n = 0, nil, 0, 0, 0
  skus = args
end
local json = {["Content-Type"] = "application/json"}
local address = '{"email":"buyer@example.com","shipping_address":{"first_name":"Ada","last_name":"Lovelace",'
  .. '"line1":"1 rue de la Paix","city":"Paris","postal_code":"75002","country":"FR"}}'
function request()
  if step == 0 or cart == nil then
    step = 0
    return wrk.format("POST", "/v1/carts", json, '{"currency":"EUR"}')
  elseif step == 1 then
    n = n + 1
    local sku = skus[((id * 7919 + n) % #skus) + 1]
    return wrk.format("POST", "/v1/carts/" .. cart .. "/items", json, '{"sku":"' .. sku .. '","quantity":1}')
  elseif step == 2 then
    return wrk.format("PUT", "/v1/carts/" .. cart, json, address)
  else
    return wrk.format("POST", "/v1/carts/" .. cart .. "/checkout", json, '{"payment":{"provider":"test","token":"tok_ok"}}')
  end
end
function response(status, headers, body)
  if step == 0 then
    cart = body:match('"id":"(cart_[0-9a-f]+)"')
    step = cart and 1 or 0
  elseif step == 3 then
    if status == 201 then placed = placed + 1 else failed = failed + 1 end
    step, cart = 0, nil
  elseif status == 200 then
    step = step + 1
  else
    failed = failed + 1
    step, cart = 0, nil
  end
end
function done(summary, latency, requests)
  local p, f = 0, 0
  for _, t in ipairs(threads) do p = p + t:get("placed"); f = f + t:get("failed") end
  io.write(string.format("placed %d failed %d seconds %.3f p50 %.2f p99 %.2f\n", p, f,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

# Units in placed orders and units sold out of stock, from the database: "ordered sold".
sold() {
  local sql="SELECT (SELECT COALESCE(SUM(quantity), 0) FROM order_lines), (SELECT COALESCE(-SUM(delta), 0) FROM stock_movements WHERE reason = 'sale')"
  case "$1" in
    postgres*) psql -qtA -F' ' "$1" -c "$sql" ;;
    sqlite://*) python3 -c "import sqlite3,sys; print(*sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone())" "${1#sqlite://}" "$sql" ;;
  esac
}

# Runs the scenario against the server at $PORT on database $1; prints "orders/s p50 p99
# placed failed", after checking that every unit that left stock is in an order.
scenario() {
  local token out placed failed seconds p50 p99 ordered units
  token="$(curl -fs -X POST "127.0.0.1:$PORT/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"bench@shop.test","password":"bench-password-1"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"
  for sku in $SKUS; do
    curl -fs -X POST "127.0.0.1:$PORT/v1/inventory/adjustments" -H "authorization: Bearer $token" \
      -H 'content-type: application/json' \
      -d "{\"sku\":\"$sku\",\"location\":\"main\",\"delta\":$STOCK,\"reason\":\"restock\"}" >/dev/null
  done
  # Warm up: a few orders on a few connections.
  wrk -t2 -c2 -d1s -s "$work/checkout.lua" "http://127.0.0.1:$PORT" -- $SKUS >/dev/null
  out="$(wrk -t"$BUYERS" -c"$BUYERS" -d"$DURATION" -s "$work/checkout.lua" "http://127.0.0.1:$PORT" -- $SKUS | grep '^placed')"
  read -r _ placed _ failed _ seconds _ p50 _ p99 <<<"$out"
  # Checkouts in flight when the load stopped finish first.
  sleep 2
  read -r ordered units < <(sold "$1")
  if [ "$ordered" != "$units" ]; then
    echo "error: orders hold $ordered units but $units left stock" >&2
    exit 1
  fi
  echo "$(awk -v p="$placed" -v s="$seconds" 'BEGIN {printf "%.0f", p / s}') $p50 $p99 $placed $failed"
}

start() {
  local url="$1"
  EMPORIUM_DATABASE_URL="$url" EMPORIUM_LOG=warn \
    "$BIN" admin create --email bench@shop.test --password bench-password-1 >/dev/null
  EMPORIUM_RATE_LIMIT_ANONYMOUS=0 EMPORIUM_RATE_LIMIT_CUSTOMER=0 EMPORIUM_RATE_LIMIT_API_KEY=0 \
  EMPORIUM_DATABASE_URL="$url" EMPORIUM_ADDR="127.0.0.1:$PORT" EMPORIUM_LOG=warn \
  EMPORIUM_DB_MAX_CONNECTIONS="${BENCH_DB_CONNECTIONS:-32}" \
    "$BIN" serve --demo >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do curl -fs "127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
}

stop() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

printf "\ncheckout: %s buyers over %s SKUs, each looping cart → item → address → checkout, %s, %s cores\n\n" \
  "$BUYERS" "$(wc -w <<<"$SKUS")" "$DURATION" "$(nproc)"
printf "| %-28s | %10s | %12s | %12s | %8s | %8s |\n" "database" "orders/s" "req p50 ms" "req p99 ms" "placed" "failed"
printf "|%s|%s|%s|%s|%s|%s|\n" "------------------------------" "------------" "--------------" "--------------" "----------" "----------"
# The ceiling: pgbench running the least SQL a whole guest purchase writes (scripts/
# checkout-ceiling, a copy of the shop's reference), right before and after the scenario, so
# the ratio compares figures of the same minutes.
ceiling() {
  (cd scripts/checkout-ceiling && SECONDS_="${DURATION%s}" CLIENTS="$BUYERS" bash run.sh) 2>/dev/null |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1
}
if psql -q "$PG_SERVER/postgres" -c "CREATE DATABASE $db_name" >/dev/null 2>&1; then
  before="$(ceiling || true)"
  start "$PG_SERVER/$db_name"
  read -r rate p50 p99 placed failed < <(scenario "$PG_SERVER/$db_name")
  stop
  after="$(ceiling || true)"
  printf "| %-28s | %10s | %12s | %12s | %8s | %8s |\n" "PostgreSQL" "$rate" "$p50" "$p99" "$placed" "$failed"
  if [ -n "$before" ] && [ -n "$after" ]; then
    printf "| %-28s | %10.0f | %12s | %12s | %8s | %8s |\n" "pgbench ceiling (mean of 2)" \
      "$(awk -v a="$before" -v b="$after" 'BEGIN {print (a + b) / 2}')" "" "" "" ""
    ratio_line="$(awk -v r="$rate" -v a="$before" -v b="$after" \
      'BEGIN {printf "checkout vs ceiling: %.2f (ceiling %.0f before, %.0f after)", 2 * r / (a + b), a, b}')"
  else
    ratio_line="checkout vs ceiling: not measured (pgbench unavailable)"
  fi
else
  echo "warning: no PostgreSQL at $PG_SERVER: the PostgreSQL checkout run is skipped" >&2
fi
start "sqlite://$work/bench.db"
read -r rate p50 p99 placed failed < <(scenario "sqlite://$work/bench.db")
stop
printf "| %-28s | %10s | %12s | %12s | %8s | %8s |\n" "SQLite (synchronous=FULL)" "$rate" "$p50" "$p99" "$placed" "$failed"
[ -n "${ratio_line:-}" ] && printf "\n%s\n" "$ratio_line"
exit 0
