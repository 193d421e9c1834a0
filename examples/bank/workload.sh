#!/usr/bin/env bash
# Runs the bank workload (workload/*.sql, pgbench custom scripts) against a database that
# holds schema.sql + seed.sql, at a fixed rate, and prints pgbench's summary.
#
#   examples/bank/workload.sh <conninfo> [--rate TPS] [--duration S] [--clients N]
#                             [--progress S] [-- <more pgbench options>]
#
#   examples/bank/workload.sh "host=/tmp/frazil-pg-1 port=25432 user=postgres dbname=postgres" --rate 200 --duration 10
#   examples/bank/workload.sh postgresql://app@db.example:5432/bank --rate 50 --duration 600 --clients 8
#
# <conninfo> is any libpq connection string or URI (pgbench takes it as its database name).
# Defaults: --rate 100 transactions/s (Poisson arrivals), --duration 60 s, --clients 4.
# The mix (pgbench weights; a "transaction" is one script run):
#   transfer 70 | rename 10 | new_user 8 | cancel_transfer 7 | close_account 5
# Environment: PG_BIN (directory of pgbench; default: pgbench on PATH, else the newest
# /usr/lib/postgresql/*/bin). The scripts need pgbench's simple query mode (-M simple,
# set here): uuids pass between their statements as quoted text.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

usage() {
  sed -n '5,6p' "$0" | sed 's/^# \{0,3\}//' >&2
  exit 2
}

(($# >= 1)) || usage
[[ $1 != -* ]] || usage
CONNINFO=$1
shift
RATE=100 DURATION=60 CLIENTS=4 PROGRESS=""
EXTRA=()
while (($#)); do
  case $1 in
    --rate) RATE=${2:?--rate needs a value}; shift 2 ;;
    --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
    --clients) CLIENTS=${2:?--clients needs a value}; shift 2 ;;
    --progress) PROGRESS=${2:?--progress needs a value}; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h | --help) usage ;;
    *) echo "workload.sh: unknown option $1" >&2; usage ;;
  esac
done
for v in RATE DURATION CLIENTS ${PROGRESS:+PROGRESS}; do
  [[ ${!v} =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "workload.sh: bad value for --${v,,}: ${!v}" >&2; exit 2; }
done

if [[ -n ${PG_BIN:-} ]]; then
  PGBENCH=$PG_BIN/pgbench
elif command -v pgbench >/dev/null 2>&1; then
  PGBENCH=$(command -v pgbench)
else
  PGBENCH=$(ls -d /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1)
fi
[[ -n $PGBENCH && -x $PGBENCH ]] || { echo "workload.sh: pgbench not found (install postgresql-client or set PG_BIN)" >&2; exit 1; }
PSQL=$(dirname "$PGBENCH")/psql

# Fail early and clearly on a database without the bank tables.
if [[ -x $PSQL ]]; then
  accounts=$("$PSQL" -X -A -t -q -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM accounts" "$CONNINFO" 2>&1) || {
    echo "workload.sh: cannot read the bank tables: $accounts" >&2
    echo "workload.sh: load examples/bank/schema.sql and seed.sql first (see examples/bank/README.md)" >&2
    exit 1
  }
  ((accounts >= 2)) || { echo "workload.sh: the database holds $accounts accounts; run examples/bank/seed.sql first" >&2; exit 1; }
fi

jobs=$(nproc 2>/dev/null || echo 1)
((jobs > CLIENTS)) && jobs=$CLIENTS
opts=(-n -M simple -c "$CLIENTS" -j "$jobs" -T "$DURATION" -R "$RATE")
[[ -n $PROGRESS ]] && opts+=(-P "$PROGRESS")
# PostgreSQL >= 15: retry a transaction that hit a deadlock or serialization failure (the
# scripts lock in a fixed order, so none is expected) instead of counting it as failed.
if "$PGBENCH" --help 2>/dev/null | grep -q -- --max-tries; then
  opts+=(--max-tries=5)
fi
W=$HERE/workload
exec "$PGBENCH" "${opts[@]}" \
  -f "$W/transfer.sql@70" -f "$W/rename.sql@10" -f "$W/new_user.sql@8" \
  -f "$W/cancel_transfer.sql@7" -f "$W/close_account.sql@5" \
  "${EXTRA[@]}" "$CONNINFO"
