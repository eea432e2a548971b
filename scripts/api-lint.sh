#!/usr/bin/env bash
# API contract checks against a built server binary:
#   1. Redocly CLI lint of the served /openapi.json with the `recommended` ruleset (fails on errors;
#      warnings are printed but do not fail),
#   2. a bounded schemathesis run with its default checks, once anonymously and once with a staff
#      token (fails on any failure).
# Usage: scripts/api-lint.sh [path/to/emporium]   (default: ${CARGO_TARGET_DIR:-target}/debug/emporium)
# It does not build: build the binary first. Tools are installed once, pinned, under
# $HOME/.cache/emporium/{venv,npm}. Tunables: API_LINT_MAX_EXAMPLES (50), API_LINT_SEED (1),
# API_LINT_RUN_TIMEOUT (seconds per schemathesis run, 480), API_LINT_REPORT_DIR (keep JUnit and
# JSON reports there; by default they are thrown away with the temp dir).
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
REDOCLY_CLI_VERSION=2.77.0

MAX_EXAMPLES="${API_LINT_MAX_EXAMPLES:-50}"
SEED="${API_LINT_SEED:-1}"
RUN_TIMEOUT="${API_LINT_RUN_TIMEOUT:-480}"
CACHE="$HOME/.cache/emporium"
VENV="$CACHE/venv"
NPM_PREFIX="$CACHE/npm"

BIN="${1:-${CARGO_TARGET_DIR:-target}/debug/emporium}"
CONFIG="$(cd "$(dirname "$0")" && pwd)/schemathesis.toml"
if [ ! -x "$BIN" ]; then
  echo "api-lint: no server binary at $BIN (build it first, or pass its path)" >&2
  exit 2
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

# ---- tools (pinned; installed only when missing or at another version) ----
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION"; then
  echo "api-lint: installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
REDOCLY="$NPM_PREFIX/node_modules/.bin/redocly"
if [ "$(node -p "require('$NPM_PREFIX/node_modules/@redocly/cli/package.json').version" 2>/dev/null)" != "$REDOCLY_CLI_VERSION" ]; then
  echo "api-lint: installing @redocly/cli $REDOCLY_CLI_VERSION into $NPM_PREFIX"
  mkdir -p "$NPM_PREFIX"
  npm install -s --no-audit --no-fund --prefix "$NPM_PREFIX" "@redocly/cli@$REDOCLY_CLI_VERSION" >/dev/null
fi
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
echo "api-lint: $("$VENV/bin/schemathesis" --version), @redocly/cli $("$REDOCLY" --version 2>/dev/null)"

# ---- server: temp SQLite db, demo shop, one staff account, a free loopback port ----
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
EMAIL=api-lint@shop.test
PASSWORD=api-lint-password-1
# General rate limits off (a load of generated requests from one address); failed-login
# throttling stays on, and its 429 is documented.
export EMPORIUM_DATABASE_URL="sqlite://$work/api-lint.db" EMPORIUM_LOG=warn
export EMPORIUM_RATE_LIMIT_ANONYMOUS=0 EMPORIUM_RATE_LIMIT_CUSTOMER=0 EMPORIUM_RATE_LIMIT_API_KEY=0
"$BIN" admin create --email "$EMAIL" --password "$PASSWORD" >/dev/null
EMPORIUM_ADDR="127.0.0.1:$PORT" "$BIN" serve --demo >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "api-lint: the server exited during start-up:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! curl -fs "$BASE/readyz" >/dev/null; then
  echo "api-lint: the server did not become ready in 30 s:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
echo "api-lint: server $BIN on $BASE (pid $server_pid)"

curl -fsS "$BASE/openapi.json" -o "$work/openapi.json"
failed=()

# ---- 1. Redocly lint, recommended ruleset ----
echo "== redocly lint --extends recommended"
rc=0
"$REDOCLY" lint --extends recommended --max-problems 1000 --format stylish "$work/openapi.json" \
  >"$work/redocly.txt" 2>&1 || rc=$?
# Drop the CLI's boxed Node.js deprecation banner; keep everything else.
grep -v -e '^ *[║╔╚]' "$work/redocly.txt" || true
if [ "$rc" -ne 0 ]; then failed+=("redocly lint"); fi

# ---- 2. schemathesis, default checks ----
report_args=()
if [ -n "${API_LINT_REPORT_DIR:-}" ]; then mkdir -p "$API_LINT_REPORT_DIR"; fi
st_run() { # $1: label; rest: extra schemathesis arguments
  local label="$1"; shift
  if [ -n "${API_LINT_REPORT_DIR:-}" ]; then
    report_args=(--report junit,json --report-dir "$API_LINT_REPORT_DIR"
      --report-junit-path "$API_LINT_REPORT_DIR/schemathesis-$label.xml"
      --report-json-path "$API_LINT_REPORT_DIR/schemathesis-$label.json")
  fi
  echo "== schemathesis ($label): max $MAX_EXAMPLES examples per operation, seed $SEED"
  local rc=0
  (cd "$work" && timeout --foreground --kill-after=10 "$RUN_TIMEOUT" "$VENV/bin/schemathesis" \
    --config-file "$CONFIG" run "$work/openapi.json" \
    --url "$BASE" --max-examples "$MAX_EXAMPLES" --seed "$SEED" --continue-on-failure \
    --generation-database none --no-color --request-timeout 10 "${report_args[@]}" "$@") || rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "api-lint: schemathesis ($label) did not finish in ${RUN_TIMEOUT}s" >&2
  fi
  if [ "$rc" -ne 0 ]; then failed+=("schemathesis ($label)"); fi
}
# The staff token first: the anonymous run's generated sign-ins fail often enough to lock this
# address out of signing in (the failed-login throttle, as designed).
TOKEN="$(curl -fsS -X POST "$BASE/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" \
  | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
# Anonymous first, while the demo shop is intact; the staff run creates, edits and deletes.
st_run anonymous
st_run staff -H "Authorization: Bearer $TOKEN"

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "api-lint: the server died during the run:" >&2
  tail -n 50 "$work/server.log" >&2
  failed+=("server crashed")
fi

if [ "${#failed[@]}" -ne 0 ]; then
  echo "api-lint: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "api-lint: all checks passed"
