#!/usr/bin/env bash
# The webhook scenario of make bench: a release server on a fresh PostgreSQL database (or
# BENCH_PG_URL's server) and a local receiver (`emporium bench-receiver`). Throughput:
# BENCH_WEBHOOK_EVENTS (10,000) inventory.changed events made first, then queued at once by a
# replay and delivered flat out (events/s from first to last receipt; goal 1,000). Lag:
# BENCH_WEBHOOK_LIVE (2,000) events made by 8 clients while subscribed, each timed from the
# event's `created_at` to its receipt (p50, p99).
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS="${BENCH_WEBHOOK_EVENTS:-10000}"
PORT="${BENCH_WEBHOOK_PORT:-18195}"
RECEIVER_PORT="${BENCH_RECEIVER_PORT:-18196}"
PG_SERVER="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
BIN="${BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/emporium}"

work="$(mktemp -d)"
db_name="emporium_hooks_$$"
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "${receiver_pid:-}" ] && kill "$receiver_pid" 2>/dev/null || true
  psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql -q "$PG_SERVER/postgres" -c "CREATE DATABASE $db_name" >/dev/null
url="$PG_SERVER/$db_name"
EMPORIUM_DATABASE_URL="$url" EMPORIUM_LOG=warn "$BIN" admin create --email bench@shop.test --password bench-password-1 >/dev/null
EMPORIUM_RATE_LIMIT_ANONYMOUS=0 EMPORIUM_RATE_LIMIT_CUSTOMER=0 EMPORIUM_RATE_LIMIT_API_KEY=0 \
EMPORIUM_WEBHOOK_ALLOW_PRIVATE=true EMPORIUM_SECRET_KEY="bench-secret-key-that-is-long-enough-0123" \
EMPORIUM_DATABASE_URL="$url" EMPORIUM_ADDR="127.0.0.1:$PORT" EMPORIUM_LOG=warn EMPORIUM_ACCESS_LOG=false \
  "$BIN" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -fs "127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
# Prints the token of the bench's staff account.
token="$(curl -fs -X POST "127.0.0.1:$PORT/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@shop.test","password":"bench-password-1"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"
api() { curl -fs -X "$1" "127.0.0.1:$PORT$2" -H "authorization: Bearer $token" -H 'content-type: application/json' ${3:+-d "$3"}; }
api POST /v1/locations '{"code":"main","name":"Main"}' >/dev/null
api POST /v1/products '{"name":"Hooked","status":"published","variants":[{"sku":"HOOK-1","prices":[{"amount":100,"currency":"EUR"}]}]}' >/dev/null

# Makes $1 stock adjustments (one inventory.changed each) with 8 clients.
adjust() {
  python3 - "$PORT" "$token" "$1" <<'PY'
import http.client, json, sys, threading
port, token, events = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def run(n):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(n):
        c.request("POST", "/v1/inventory/adjustments",
                  json.dumps({"sku": "HOOK-1", "location": "main", "delta": 1, "reason": "restock"}),
                  {"content-type": "application/json", "authorization": "Bearer " + token})
        r = c.getresponse(); r.read()
        assert r.status == 201, r.status
threads = [threading.Thread(target=run, args=(events // 8 + (1 if i < events % 8 else 0),)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
PY
}

# Waits for the receiver (2 minutes at most) and prints its figures.
receive() {
  for _ in $(seq 1 1200); do kill -0 "$receiver_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$receiver_pid" 2>/dev/null; then
    echo "error: the receiver did not get every event within 2 minutes" >&2
    exit 1
  fi
  cat "$work/receiver.json"
}

# Throughput: EVENTS events made first, then queued at once by a replay, delivered flat out.
adjust "$EVENTS"
"$BIN" bench-receiver --addr "127.0.0.1:$RECEIVER_PORT" --expect "$EVENTS" >"$work/receiver.json" &
receiver_pid=$!
hook="$(api POST /v1/webhooks "{\"url\":\"http://127.0.0.1:$RECEIVER_PORT/hook\",\"events\":[\"inventory.changed\"]}" | sed 's/.*"id":"\(whk_[0-9a-f]*\)".*/\1/')"
since="$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)"
api POST "/v1/webhooks/$hook/replay" "{\"since\":\"$since\"}" >/dev/null
flat="$(receive)"
api DELETE "/v1/webhooks/$hook" >/dev/null

# Lag: LIVE events made while subscribed, each timed from the event to its receipt.
LIVE="${BENCH_WEBHOOK_LIVE:-2000}"
"$BIN" bench-receiver --addr "127.0.0.1:$RECEIVER_PORT" --expect "$LIVE" >"$work/receiver.json" &
receiver_pid=$!
api POST /v1/webhooks "{\"url\":\"http://127.0.0.1:$RECEIVER_PORT/hook\",\"events\":[\"inventory.changed\"]}" >/dev/null
adjust "$LIVE"
live="$(receive)"

python3 - "$flat" "$live" <<'PY'
import json, sys
flat, live = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"\nwebhooks: {flat['events']} queued events delivered in {flat['seconds']:.2f} s: "
      f"{flat['events_per_second']:.0f} events/s (goal 1,000); {live['events']} live events at "
      f"{live['events_per_second']:.0f}/s, lag from the event to its receipt p50 {live['lag_p50_ms']:.1f} ms, "
      f"p99 {live['lag_p99_ms']:.1f} ms")
PY
