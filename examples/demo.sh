#!/usr/bin/env bash
# `make demo`: a throwaway warehouse with the "bank" data set (users, accounts, transfers),
# loaded through frazil and queried, then changed (delete, schema evolution) and read back
# as of an earlier snapshot. Grows with every capability (CDC from PostgreSQL is next).
set -euo pipefail
cd "$(dirname "$0")/.."
FRAZIL=${FRAZIL:-$PWD/build/frazil}
DEMO=${DEMO_DIR:-$PWD/demo-warehouse}
USERS=${DEMO_USERS:-100000}
rm -rf "$DEMO" && mkdir -p "$DEMO/input"
export FRAZIL_WAREHOUSE="$DEMO/warehouse"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ frazil %s\n' "$(printf '%q ' "$@")"; "$FRAZIL" "$@"; }

step "Generate the bank data set ($USERS users, 2 accounts each, 10 transfers per user) with DuckDB"
"$FRAZIL" sql "COPY (SELECT uuid() AS id, 'user' || i || '@bank.example' AS email, 'User ' || i AS name,
    DATE '2015-01-01' + CAST(i % 3000 AS INTEGER) AS created_at FROM range($USERS) t(i))
  TO '$DEMO/input/users.parquet'" >/dev/null
"$FRAZIL" sql "COPY (SELECT uuid() AS id, u.id AS user_id, ['EUR','USD','GBP'][1 + (hash(u.id, k) % 3)::INT] AS currency,
    CAST((hash(u.id, k) % 10000000) / 100.0 AS DECIMAL(15,2)) AS balance, u.created_at
    FROM read_parquet('$DEMO/input/users.parquet') u, range(2) r(k)) TO '$DEMO/input/accounts.parquet'" >/dev/null
"$FRAZIL" sql "COPY (SELECT i AS transfer_id, CAST(hash(i) % 1000000 AS DECIMAL(15,2)) / 100 AS amount,
    TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(CAST(i * 317 % 31536000 AS BIGINT)) AS booked_at,
    ['card','wire','sepa','cash'][1 + (i % 4)::INT] AS channel FROM range($USERS * 10) t(i))
  TO '$DEMO/input/transfers.csv' (HEADER)" >/dev/null
ls -la "$DEMO/input"

step "Load them into Iceberg tables (transfers partitioned by month and channel)"
run load bank.users "$DEMO/input/users.parquet"
run load bank.accounts "$DEMO/input/accounts.parquet"
run load bank.transfers "$DEMO/input/transfers.csv" --partition-by 'month(booked_at)' --partition-by channel
run table list
run table show bank.transfers

step "Query across tables"
run sql "SELECT currency, count(*) AS accounts, sum(balance) AS total_balance FROM bank.accounts GROUP BY currency ORDER BY currency"
run sql "SELECT date_trunc('month', booked_at) AS month, channel, count(*) AS n, sum(amount) AS volume
         FROM bank.transfers WHERE booked_at < TIMESTAMPTZ '2026-03-01 00:00:00+00' GROUP BY ALL ORDER BY ALL"

step "Delete rows (position deletes), evolve the schema, and read the past"
FIRST=$("$FRAZIL" table snapshots bank.accounts --format csv | tail -n 1 | cut -d, -f1)
run table tag bank.accounts as-loaded
run table delete bank.accounts --where "balance < 1000"
run table alter bank.accounts add-column closed boolean
run table alter bank.accounts rename-column balance balance_eur
run sql "SELECT count(*) AS accounts_now, min(balance_eur) AS min_balance FROM bank.accounts"
run sql "SELECT count(*) AS accounts_then FROM bank.accounts AT (VERSION => $FIRST)"
run sql "SELECT count(*) AS accounts_as_loaded FROM bank.accounts AT (VERSION => 'as-loaded')"
run table snapshots bank.accounts
run table files bank.transfers --format csv > "$DEMO/files.csv"; head -4 "$DEMO/files.csv"; echo "... ($(($(wc -l < "$DEMO/files.csv") - 1)) files)"

step "The same tables, read by DuckDB's own Iceberg reader (an independent implementation)"
META=$(sqlite3 "$FRAZIL_WAREHOUSE/catalog.db" "SELECT metadata_location FROM iceberg_tables WHERE table_name='accounts'")
.venv/bin/python - "$META" <<'PY'
import sys, duckdb, duckdb_extension_avro, duckdb_extension_iceberg
from pathlib import Path
con = duckdb.connect()
for mod in (duckdb_extension_avro, duckdb_extension_iceberg):
    con.execute(f"LOAD '{next(Path(mod.__file__).parent.rglob('*.duckdb_extension'))}'")
print("duckdb iceberg_scan:", con.execute(f"SELECT count(*), min(balance_eur) FROM iceberg_scan('{sys.argv[1]}')").fetchall())
PY
echo
echo "Warehouse: $FRAZIL_WAREHOUSE  (try: FRAZIL_WAREHOUSE=$FRAZIL_WAREHOUSE $FRAZIL sql \"SELECT * FROM bank.users LIMIT 5\")"
