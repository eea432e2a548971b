#!/usr/bin/env bash
# The physical ceiling of the checkout scenario on this machine (a copy of the shop's reference
# benchmark): pgbench runs the least SQL a whole guest purchase must write (order.sql) at 32
# clients, 10 s, against the local PostgreSQL.
# Each pgbench "transaction" is one whole order, so its tps is orders/s.
set -eu
cd "$(dirname "$0")"
db=ceiling_$$
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
trap 'psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null' EXIT
psql -q -h 127.0.0.1 -U postgres -d $db -f schema.sql >/dev/null
pgbench -h 127.0.0.1 -U postgres -n -c ${CLIENTS:-32} -j 2 -T ${SECONDS_:-10} -f order.sql $db 2>&1 | grep -E "tps|latency average|failed"
