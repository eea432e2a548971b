#!/usr/bin/env bash
# Statements per order: serves the demo shop on a fresh PostgreSQL database whose sessions log
# every statement (log_statement = all), places one guest order through the four requests of
# the checkout benchmark, and counts the statements each request ran from the server's log.
# Needs a local PostgreSQL whose log file this user can read (PG_LOG), and a built binary (BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-${CARGO_TARGET_DIR:-target}/release/emporium}"
PG_LOG="${PG_LOG:-$(ls /var/log/postgresql/postgresql-*-main.log | head -1)}"
DB=emporium_count_$$
PORT="${COUNT_PORT:-18377}"
work="$(mktemp -d)"
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $DB"
URL=postgres://postgres@127.0.0.1:5432/$DB
EMPORIUM_DATABASE_URL=$URL EMPORIUM_ADDR=127.0.0.1:$PORT EMPORIUM_ACCESS_LOG=false $BIN serve --demo >"$work/server.log" 2>&1 &
pid=$!
for i in $(seq 1 100); do curl -sf localhost:$PORT/readyz >/dev/null 2>&1 && break; sleep 0.3; done
sleep 2
psql -q -h 127.0.0.1 -U postgres -c "ALTER DATABASE $DB SET log_statement='all'"
# new connections pick up the setting: restart server
kill $pid; wait $pid 2>/dev/null || true
EMPORIUM_DATABASE_URL=$URL EMPORIUM_ADDR=127.0.0.1:$PORT EMPORIUM_ACCESS_LOG=false $BIN serve >"$work/server.log" 2>&1 &
pid=$!
for i in $(seq 1 100); do curl -sf localhost:$PORT/readyz >/dev/null 2>&1 && break; sleep 0.3; done
sleep 3
LOG="$PG_LOG"
start=$(wc -l < $LOG)
cart=$(curl -s -XPOST localhost:$PORT/v1/carts -H 'content-type: application/json' -d '{"currency":"EUR"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
m1=$(wc -l < $LOG)
curl -s -o /dev/null -w '%{http_code} ' -XPOST localhost:$PORT/v1/carts/$cart/items -H 'content-type: application/json' -d '{"sku":"TEE-ORG-M-WHT","quantity":1}'
m2=$(wc -l < $LOG)
curl -s -o /dev/null -w '%{http_code} ' -XPUT localhost:$PORT/v1/carts/$cart -H 'content-type: application/json' -d '{"email":"buyer@example.com","shipping_address":{"first_name":"Ada","last_name":"Lovelace","line1":"1 rue de la Paix","city":"Paris","postal_code":"75002","country":"FR"}}'
m3=$(wc -l < $LOG)
curl -s -o /dev/null -w '%{http_code}\n' -XPOST localhost:$PORT/v1/carts/$cart/checkout -H 'content-type: application/json' -d '{"payment":{"provider":"test","token":"tok_ok"}}'
sleep 0.5
end=$(wc -l < $LOG)
kill $pid; wait $pid 2>/dev/null || true
sed -n "$((start+1)),${end}p" $LOG | grep -E 'LOG:  (statement|execute)' | sed -E 's/^.*LOG:  //' >"$work/statements.log" || true
echo "statements per request:"
echo "create: $(sed -n "$((start+1)),${m1}p" $LOG | grep -cE 'LOG:  (statement|execute)')"
echo "add:    $(sed -n "$((m1+1)),${m2}p" $LOG | grep -cE 'LOG:  (statement|execute)')"
echo "put:    $(sed -n "$((m2+1)),${m3}p" $LOG | grep -cE 'LOG:  (statement|execute)')"
echo "checkout: $(sed -n "$((m3+1)),${end}p" $LOG | grep -cE 'LOG:  (statement|execute)')"
echo "(each count includes the change-log pollers' reads that fell in its window)"
echo "all four, the pollers' reads left out: $(grep -vc 'FROM changes' "$work/statements.log")"
grep -v 'FROM changes' "$work/statements.log" | cut -c1-140
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE $DB WITH (FORCE)"
rm -rf "$work"
