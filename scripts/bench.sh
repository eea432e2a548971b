#!/usr/bin/env bash
# make bench: load-test a release build of the demo shop on loopback and compare each route
# with a minimal axum handler serving the same bytes from memory (the ceiling).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-wrk.sh
source scripts/bench-wrk.sh

DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
THREADS="${BENCH_THREADS:-2}"
PORT="${BENCH_PORT:-18181}"
CEILING_PORT="${BENCH_CEILING_PORT:-18182}"
LIST_CEILING_PORT="${BENCH_LIST_CEILING_PORT:-18183}"
SLUG="organic-cotton-tee"

# BENCH_BIN: a binary built before (to compare two builds), instead of building this tree.
if [ -z "${BENCH_BIN:-}" ]; then cargo build --release -q -p emporium-gateway --bin emporium; fi
BIN="${BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/emporium}"

work="$(mktemp -d)"
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "${ceiling_pid:-}" ] && kill "$ceiling_pid" 2>/dev/null || true
  [ -n "${list_ceiling_pid:-}" ] && kill "$list_ceiling_pid" 2>/dev/null || true
  [ -n "${seller_pid:-}" ] && kill "$seller_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

EMPORIUM_DATABASE_URL="sqlite://$work/bench.db" EMPORIUM_LOG=warn \
  "$BIN" admin create --email bench@shop.test --password bench-password-1 >/dev/null
# Rate limits off: a load generator is one address sending far past any sane allowance.
EMPORIUM_RATE_LIMIT_ANONYMOUS=0 EMPORIUM_RATE_LIMIT_CUSTOMER=0 EMPORIUM_RATE_LIMIT_API_KEY=0 \
EMPORIUM_DATABASE_URL="sqlite://$work/bench.db" EMPORIUM_ADDR="127.0.0.1:$PORT" EMPORIUM_LOG=warn \
  "$BIN" serve --demo >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -fs "127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "127.0.0.1:$PORT/v1/products/$SLUG" >"$work/product.json"
"$BIN" bench-ceiling --addr "127.0.0.1:$CEILING_PORT" --file "$work/product.json" &
ceiling_pid=$!
# The listing's own ceiling: the same page's bytes (about 48 KB) from memory.
curl -fs "127.0.0.1:$PORT/v1/products?limit=20" >"$work/list.json"
"$BIN" bench-ceiling --addr "127.0.0.1:$LIST_CEILING_PORT" --file "$work/list.json" &
list_ceiling_pid=$!
sleep 0.5

cat >"$work/graphql.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"{ product(idOrSlug: \\"organic-cotton-tee\\") { id slug name variants { sku title available prices { amount currency } } } }"}'
LUA
# The same query as staff: answers that depend on the caller are never shared, so this one
# runs the whole GraphQL execution every time.
token="$(curl -fs -X POST "127.0.0.1:$PORT/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@shop.test","password":"bench-password-1"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"
sed "s/^wrk.method = \"POST\"$/wrk.method = \"POST\"\nwrk.headers[\"Authorization\"] = \"Bearer $token\"/" \
  "$work/graphql.lua" >"$work/graphql-staff.lua"



# Warm the caches.
wrk -t1 -c4 -d1s "http://127.0.0.1:$PORT/v1/products/$SLUG" >/dev/null
wrk -t1 -c4 -d1s "http://127.0.0.1:$PORT/v1/products?limit=20" >/dev/null

# The machine is shared (steal time moves throughput by tens of percent within a minute), so
# the ceiling is measured right before each target and each ratio uses that measurement.
ceiling() { run "http://127.0.0.1:$CEILING_PORT/"; }
read -r c1_rps c1_p50 c1_p99 < <(ceiling)
read -r p_rps p_p50 p_p99 < <(run "http://127.0.0.1:$PORT/v1/products/$SLUG")
read -r c2_rps c2_p50 c2_p99 < <(run "http://127.0.0.1:$LIST_CEILING_PORT/")
read -r l_rps l_p50 l_p99 < <(run "http://127.0.0.1:$PORT/v1/products?limit=20")
read -r c3_rps _ _ < <(ceiling)
read -r g_rps g_p50 g_p99 < <(run -s "$work/graphql.lua" "http://127.0.0.1:$PORT/graphql")
read -r c4_rps _ _ < <(ceiling)
read -r s_rps s_p50 s_p99 < <(run -s "$work/graphql-staff.lua" "http://127.0.0.1:$PORT/graphql")

# Reads while the shop sells: product and list reads (one of each in turn) without sales, then
# the same reads while a second load generator changes the stock of the product being read at
# a steady rate (about SELL_RATE adjustments per second, -1 then +1, so it never runs out).
# A sale invalidates that variant's availability entry only: no document or page is rebuilt.
SELL_RATE="${BENCH_SELL_RATE:-200}"
SELL_CONNECTIONS=4
skus="$(grep -o '"sku":"[^"]*"' "$work/product.json" | sed 's/"sku":"\([^"]*\)"/"\1"/' | paste -sd, -)"
cat >"$work/reads.lua" <<LUA
local paths = {"/v1/products/$SLUG", "/v1/products?limit=20"}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % 2) + 1])
end
LUA
cat >"$work/sell.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
local skus = {$skus}
local i = 0
request = function()
  i = i + 1
  local sku = skus[(math.floor(i / 2) % #skus) + 1]
  local body
  if i % 2 == 1 then
    body = '{"sku":"' .. sku .. '","location":"main","delta":-1,"reason":"correction"}'
  else
    body = '{"sku":"' .. sku .. '","location":"main","delta":1,"reason":"restock"}'
  end
  return wrk.format(nil, "/v1/inventory/adjustments", nil, body)
end
delay = function() return math.floor(1000 * $SELL_CONNECTIONS / $SELL_RATE) end
LUA
read -r r0_rps r0_p50 r0_p99 < <(run -s "$work/reads.lua" "http://127.0.0.1:$PORT")
seller_out="$work/sell.out"
wrk -t1 -c"$SELL_CONNECTIONS" -d"$DURATION" -s "$work/sell.lua" "http://127.0.0.1:$PORT" >"$seller_out" &
seller_pid=$!
read -r r1_rps r1_p50 r1_p99 < <(run -s "$work/reads.lua" "http://127.0.0.1:$PORT")
wait "$seller_pid"
sell_rps="$(awk '/^Requests\/sec/ {print $2}' "$seller_out")"
sell_errors="$(awk '/Non-2xx/ {print $NF}' "$seller_out")"
[ -n "$sell_errors" ] && echo "warning: $sell_errors adjustments failed" >&2
rss_kib="$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")"

# The access log's cost: the cached product read on two more servers of the same database at
# the default log level, one with EMPORIUM_ACCESS_LOG=false, one writing its JSON lines to a
# file, each right after the ceiling.
LOG_PORT=$((PORT + 10))
QUIET_PORT=$((PORT + 11))
for mode in quiet logged; do
  if [ "$mode" = quiet ]; then port=$QUIET_PORT; access=false; else port=$LOG_PORT; access=true; fi
  EMPORIUM_RATE_LIMIT_ANONYMOUS=0 EMPORIUM_RATE_LIMIT_CUSTOMER=0 EMPORIUM_RATE_LIMIT_API_KEY=0 \
  EMPORIUM_DATABASE_URL="sqlite://$work/bench.db" EMPORIUM_ADDR="127.0.0.1:$port" EMPORIUM_LOG=info \
  EMPORIUM_LOG_FORMAT=json EMPORIUM_ACCESS_LOG=$access \
    "$BIN" serve >"$work/$mode.log" 2>&1 &
  echo $! >"$work/$mode.pid"
done
for port in $LOG_PORT $QUIET_PORT; do
  for _ in $(seq 1 100); do curl -fs "127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  wrk -t1 -c4 -d1s "http://127.0.0.1:$port/v1/products/$SLUG" >/dev/null
done
read -r c5_rps _ _ < <(ceiling)
read -r q_rps q_p50 q_p99 < <(run "http://127.0.0.1:$QUIET_PORT/v1/products/$SLUG")
read -r c6_rps _ _ < <(ceiling)
read -r a_rps a_p50 a_p99 < <(run "http://127.0.0.1:$LOG_PORT/v1/products/$SLUG")
access_lines="$(wc -l <"$work/logged.log")"
kill "$(cat "$work/quiet.pid")" "$(cat "$work/logged.pid")" 2>/dev/null || true

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }
printf "\nwrk -t%s -c%s -d%s on loopback, %s cores\n\n" "$THREADS" "$CONNECTIONS" "$DURATION" "$(nproc)"
printf "| %-34s | %10s | %8s | %8s | %14s |\n" "target" "req/s" "p50 ms" "p99 ms" "vs ceiling"
printf "|%s|%s|%s|%s|%s|\n" "------------------------------------" "------------" "----------" "----------" "----------------"
printf "| %-34s | %10.0f | %8s | %8s | %14s |\n" "ceiling (axum, bytes from memory)" "$c1_rps" "$c1_p50" "$c1_p99" "100%"
printf "| %-34s | %10.0f | %8s | %8s | %14s |\n" "GET /v1/products/{slug} (cached)" "$p_rps" "$p_p50" "$p_p99" "$(ratio "$p_rps" "$c1_rps") of $(printf %.0f "$c1_rps")"
printf "| %-34s | %10.0f | %8s | %8s | %14s |\n" "ceiling, the list page's bytes" "$c2_rps" "$c2_p50" "$c2_p99" "100%"
printf "| %-34s | %10.0f | %8s | %8s | %14s |\n" "GET /v1/products?limit=20" "$l_rps" "$l_p50" "$l_p99" "$(ratio "$l_rps" "$c2_rps") of $(printf %.0f "$c2_rps")"
printf "| %-34s | %10.0f | %8s | %8s | %14s |\n" "POST /graphql (product, anonymous)" "$g_rps" "$g_p50" "$g_p99" "$(ratio "$g_rps" "$c3_rps") of $(printf %.0f "$c3_rps")"
printf "| %-34s | %10.0f | %8s | %8s | %14s |\n" "POST /graphql (product, staff)" "$s_rps" "$s_p50" "$s_p99" "$(ratio "$s_rps" "$c4_rps") of $(printf %.0f "$c4_rps")"
printf "| %-34s | %10.0f | %8s | %8s | %14s |\n" "reads (product + list), no sales" "$r0_rps" "$r0_p50" "$r0_p99" "100%"
printf "| %-34s | %10.0f | %8s | %8s | %14s |\n" "same reads, $(printf %.0f "$sell_rps") sales/s" "$r1_rps" "$r1_p50" "$r1_p99" "$(ratio "$r1_rps" "$r0_rps") (goal 90%)"
printf "| %-34s | %10.0f | %8s | %8s | %14s |\n" "product, access log off (info)" "$q_rps" "$q_p50" "$q_p99" "$(ratio "$q_rps" "$c5_rps") of $(printf %.0f "$c5_rps")"
printf "| %-34s | %10.0f | %8s | %8s | %14s |\n" "product, access log on (JSON file)" "$a_rps" "$a_p50" "$a_p99" "$(ratio "$a_rps" "$c6_rps") of $(printf %.0f "$c6_rps")"
printf "\naccess log: %s lines written; on/off throughput %s\n" "$access_lines" "$(ratio "$a_rps" "$q_rps")"
printf "\nserver peak resident memory: %.1f MiB\n" "$(awk -v k="$rss_kib" 'BEGIN {print k / 1024}')"

# BENCH_READS_ONLY=1: the reads above and nothing more.
[ -n "${BENCH_READS_ONLY:-}" ] && exit 0

# The checkout scenario, on PostgreSQL (when reachable) and SQLite.
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""
bash scripts/bench-checkout.sh
bash scripts/bench-search.sh
bash scripts/bench-webhooks.sh
bash scripts/bench-reports.sh
