#!/usr/bin/env bash
# `make demo`: the main job on embedded defaults. Part 1: a throwaway PostgreSQL 15 with the
# bank (examples/bank) and a live workload, streamed by `frazil run` into a local Iceberg
# warehouse and queried while it runs; its orchestrator keeps the bank's SQL models fresh and
# runs the maintenance jobs. Part 2: files loaded into Iceberg tables, changed
# (deletes, schema evolution) and read back as of an earlier snapshot. Between them, the
# bank's SQL models (examples/bank/models: parsed layer and Data Vault) run incrementally. Grows with every
# capability. DEMO_USERS (bank size, default 10000), DEMO_SECONDS (workload, default 20),
# DEMO_RATE (transactions/s, default 300), DEMO_STORAGE (s3, the default: the warehouse of
# part 1 in an S3 store on loopback, the Versity S3 Gateway from .deps; local: a directory).
set -euo pipefail
cd "$(dirname "$0")/.."
FRAZIL=${FRAZIL:-$PWD/build/frazil}
DEMO=${DEMO_DIR:-$PWD/demo-warehouse}
USERS=${DEMO_USERS:-10000}
SECONDS_OF_WORK=${DEMO_SECONDS:-20}
RATE=${DEMO_RATE:-300}
PSQL="/usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1"
rm -rf "$DEMO" && mkdir -p "$DEMO/input"
PG=$(mktemp -d /tmp/frazil-demo-pg.XXXXXX)
FRAZIL_PID=""
cleanup() {
  [[ -n $FRAZIL_PID ]] && kill "$FRAZIL_PID" 2>/dev/null || true
  [[ -n ${S3_PID:-} ]] && kill "$S3_PID" 2>/dev/null || true
  scripts/pg_cluster.sh destroy "$PG" >/dev/null 2>&1 || true
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ frazil %s\n' "$(printf '%q ' "$@")"; "$FRAZIL" "$@"; }

echo "#### Part 1: PostgreSQL -> Iceberg, live"
step "Start a throwaway PostgreSQL 15 (wal_level=logical) and load the bank: $USERS users"
CONNINFO=$(scripts/pg_cluster.sh start "$PG")
echo "source: $CONNINFO"
$PSQL -d "$CONNINFO" -f examples/bank/schema.sql
$PSQL -d "$CONNINFO" -v users="$USERS" -f examples/bank/seed.sql
$PSQL -d "$CONNINFO" -At -c "SELECT 'users ' || (SELECT count(*) FROM users) || ', accounts ' || (SELECT count(*) FROM accounts) || ', transfers ' || (SELECT count(*) FROM transfers)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port)
WAREHOUSE_YAML="warehouse: $DEMO/warehouse"
if [[ ${DEMO_STORAGE:-s3} == s3 ]]; then
  step "Start an S3 store on loopback (Versity S3 Gateway, POSIX backend in $DEMO/s3): the warehouse lives in bucket 'lake'"
  S3_PORT=$(free_port)
  mkdir -p "$DEMO/s3"
  ROOT_ACCESS_KEY=demo ROOT_SECRET_KEY=demo-secret-key .deps/bin/versitygw --port "127.0.0.1:$S3_PORT" --keep-alive posix "$DEMO/s3" >"$DEMO/s3.log" 2>&1 &
  S3_PID=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null && break; sleep 0.1; done
  # CreateBucket, signed (curl speaks SigV4; the hash is that of the empty body)
  curl -fsS -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user demo:demo-secret-key \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "http://127.0.0.1:$S3_PORT/lake"
  export DEMO_S3_SECRET=demo-secret-key
  WAREHOUSE_YAML="warehouse: s3://lake/bank
state_dir: $DEMO/state                # frazil's local state (catalog.db, run history); the tables are in S3
s3:
  endpoint: http://127.0.0.1:$S3_PORT
  access_key_id: demo
  secret_access_key_env: DEMO_S3_SECRET"
fi
cat >"$DEMO/frazil.yaml" <<YAML
# the whole configuration of this demo
$WAREHOUSE_YAML
source:
  conninfo: "$CONNINFO"
  tables: [public.users, public.accounts, public.transfers]
  namespace: raw_data
  commit_interval_ms: 500
models:
  project: $PWD/examples/bank/models   # frazil run keeps these fresh (the orchestrator)
http:
  listen: 127.0.0.1:$HTTP_PORT          # /metrics, the orchestrator API (/api/...), the Iceberg REST catalog (/v1/...)
# examples/bank/orchestrator.yaml: the prototype's maintenance schedule, sped up for the
# demo (every minute instead of nightly, retention windows of seconds instead of days)
YAML
sed -e 's/cron: "[^"]*"/cron: "* * * * *"/' -e 's/older_than: 7d/older_than: 30s/; s/older_than: 14d/older_than: 60s/; s/older_than: 2h/older_than: 1m/' \
  examples/bank/orchestrator.yaml | grep -v '^#' >>"$DEMO/frazil.yaml"
F() { "$FRAZIL" -c "$DEMO/frazil.yaml" "$@"; }
step "frazil run: create the publication and slot, snapshot the tables, then stream; its orchestrator runs the models ($DEMO/frazil.yaml)"
cat "$DEMO/frazil.yaml"
# Every automatic model has consumed every change of its inputs, and no run is active.
wait_fresh() {
  for _ in $(seq 1 300); do
    local pending
    pending=$(F assets --format json | grep '"kind":"model"' | grep -v data_vault_prototype | grep -vc '"state":"fresh"' || true)
    [[ $pending == 0 ]] && return 0
    sleep 0.2
  done
  echo "models did not become fresh in 60 s:"; F assets; F runs list; return 1
}
"$FRAZIL" -c "$DEMO/frazil.yaml" run >"$DEMO/run.log" 2>&1 &
FRAZIL_PID=$!
for _ in $(seq 1 100); do grep -q "streaming changes" "$DEMO/run.log" && break; sleep 0.2; done
cat "$DEMO/run.log"

step "A live workload: $RATE transactions/s for $SECONDS_OF_WORK s (transfers, new users, renames, closed accounts)"
examples/bank/workload.sh "$CONNINFO" --rate "$RATE" --duration "$SECONDS_OF_WORK" --clients 4 >"$DEMO/workload.log" 2>&1 &
WORK_PID=$!
for i in 1 2 3; do
  sleep $((SECONDS_OF_WORK / 4 + 1))
  echo "-- after ~$((i * (SECONDS_OF_WORK / 4 + 1))) s:"
  F status
  F sql "SELECT 'accounts' AS raw_table, _op, count(*) AS changes FROM raw_data.accounts GROUP BY ALL
         UNION ALL SELECT 'transfers', _op, count(*) FROM raw_data.transfers GROUP BY ALL ORDER BY 1, 2"
  if [[ $i == 2 ]]; then
    echo "-- the orchestrator has been materializing the models as changes arrive (sensor runs, debounced):"
    run -c "$DEMO/frazil.yaml" assets
    run -c "$DEMO/frazil.yaml" runs list --limit 5
  fi
done
wait "$WORK_PID" || { cat "$DEMO/workload.log"; exit 1; }
grep -E "^(number of transactions actually processed|tps)" "$DEMO/workload.log" || true
END_LSN=$($PSQL -d "$CONNINFO" -At -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 100); do
  CONFIRMED=$($PSQL -d "$CONNINFO" -At -c "SELECT confirmed_flush_lsn >= '$END_LSN' FROM pg_replication_slots WHERE slot_name = 'frazil_slot'")
  [[ $CONFIRMED == t ]] && break
  sleep 0.2
done
F status

step "The changelog of one account: every insert, update and delete, with its LSN and commit time"
ACCOUNT=$($PSQL -d "$CONNINFO" -At -c "SELECT to_account FROM transfers WHERE to_account IS NOT NULL ORDER BY id DESC LIMIT 1")
run -c "$DEMO/frazil.yaml" sql "SELECT _op, _lsn, _commit_ts, currency, balance, _old.balance AS old_balance
                                FROM raw_data.accounts WHERE id = '$ACCOUNT' ORDER BY _commit_lsn, _seq"

step "The current state rebuilt from the raw changelogs passes the bank's invariants (examples/bank/checks.sql)"
CURRENT="SELECT * EXCLUDE (rn) FROM (SELECT *, row_number() OVER (PARTITION BY id ORDER BY _commit_lsn DESC, _seq DESC) AS rn FROM raw_data.TBL) WHERE rn = 1 AND _op <> 'd'"
CHECKS=$(grep -v '^--' examples/bank/checks.sql | sed '0,/^WITH /s//, /')
CHECKS_SQL="WITH users AS (${CURRENT//TBL/users}), accounts AS (${CURRENT//TBL/accounts}), transfers AS (${CURRENT//TBL/transfers}) ${CHECKS%;}"
F sql "$CHECKS_SQL"
echo "-- and it equals the source, row for row:"
F sql "SELECT count(*) AS accounts, sum(balance) AS total_balance FROM (${CURRENT//TBL/accounts})"
$PSQL -d "$CONNINFO" -c "SELECT count(*) AS accounts, sum(balance) AS total_balance FROM accounts"

step "The mirror tables: each source table as it is now, kept by frazil with position deletes (docs/mirror.md)"
run -c "$DEMO/frazil.yaml" sql "SELECT count(*) AS accounts, sum(balance) AS total_balance FROM mirror.accounts"
echo "-- the bank's invariants, straight on the mirrors:"
F sql "WITH users AS (FROM mirror.users), accounts AS (FROM mirror.accounts), transfers AS (FROM mirror.transfers) ${CHECKS%;}"
for t in users accounts transfers; do run -c "$DEMO/frazil.yaml" verify "$t"; done
run -c "$DEMO/frazil.yaml" table files mirror.accounts --format csv | cut -d, -f1 | sort | uniq -c

step "SQL models: raw -> parsed -> Data Vault, kept fresh by frazil run's orchestrator (examples/bank/models)"
MODELS=examples/bank/models
run -c "$DEMO/frazil.yaml" models list --project "$MODELS" --select path:models/parsed --select path:data_vault
wait_fresh
run -c "$DEMO/frazil.yaml" assets
echo "-- freshness: a change at the source, timed until its Data Vault satellite row is queryable"
PROBE="demo-probe-$RANDOM"
$PSQL -d "$CONNINFO" -c "UPDATE users SET name = '$PROBE' WHERE id = (SELECT id FROM users ORDER BY id LIMIT 1)"
T0=$(date +%s.%N)
for _ in $(seq 1 300); do
  [[ $(F sql "SELECT count(*) FROM data_vault.s_users WHERE name = '$PROBE'" --format csv | tail -n 1) == 1 ]] && break
  sleep 0.1
done
echo "PostgreSQL commit -> data_vault.s_users row: $(python3 -c "import time; print(f'{time.time() - $T0:.1f}')") s (the prototype: 30-90 s)"
echo "-- the prototype's seven models are manual (automatic: false): run them on demand"
run -c "$DEMO/frazil.yaml" materialize proto_parsed_users proto_parsed_accounts proto_h_users proto_h_accounts \
  proto_l_users_accounts proto_s_users proto_s_accounts
run -c "$DEMO/frazil.yaml" models test --project "$MODELS"

step "More changes at the source, then the models again: incremental, each model one commit"
examples/bank/workload.sh "$CONNINFO" --rate "$RATE" --duration 5 --clients 2 >"$DEMO/workload2.log" 2>&1
END_LSN=$($PSQL -d "$CONNINFO" -At -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 100); do
  CONFIRMED=$($PSQL -d "$CONNINFO" -At -c "SELECT confirmed_flush_lsn >= '$END_LSN' FROM pg_replication_slots WHERE slot_name = 'frazil_slot'")
  [[ $CONFIRMED == t ]] && break
  sleep 0.2
done
wait_fresh  # no `models run`: the orchestrator already ran what changed
run -c "$DEMO/frazil.yaml" runs list --limit 5
echo "-- the Data Vault: hubs, links, satellites (hashdiff: a record only for a real change)"
F sql "SELECT 'h_users' AS t, count(*) AS n FROM data_vault.h_users UNION ALL SELECT 'h_accounts', count(*) FROM data_vault.h_accounts
       UNION ALL SELECT 'l_users_accounts', count(*) FROM data_vault.l_users_accounts
       UNION ALL SELECT 's_accounts', count(*) FROM data_vault.s_accounts UNION ALL SELECT 'raw accounts changes', count(*) FROM raw_data.accounts"
echo "-- current balances from the satellite's end-dated view equal the mirror (and so the source):"
F sql "SELECT (SELECT sum(balance) FROM data_vault.s_accounts_eff WHERE __is_current) AS vault_total,
              (SELECT sum(balance) FROM mirror.accounts) AS mirror_total"
run -c "$DEMO/frazil.yaml" models test --project "$MODELS" --select path:data_vault
run -c "$DEMO/frazil.yaml" models docs --project "$MODELS" --output "$DEMO/lineage.html"

step "Maintenance while CDC and the models keep committing: compaction, snapshot expiry, orphan files"
echo "-- the jobs of examples/bank/orchestrator.yaml run on their schedules (every minute here):"
run -c "$DEMO/frazil.yaml" runs list --job compact_raw_parsed --limit 3
LAST=$(F runs list --job compact_raw_parsed --status succeeded --format json | grep -o '"id": [0-9]*' | head -n 1 | grep -o '[0-9]*' || true)
[[ -n $LAST ]] && run -c "$DEMO/frazil.yaml" runs logs "$LAST"
echo "-- and on demand, while CDC and the models keep committing:"
run -c "$DEMO/frazil.yaml" materialize --job expire_raw_parsed
run -c "$DEMO/frazil.yaml" runs list --limit 6
echo "-- the orchestrator's Prometheus metrics (http://127.0.0.1:$HTTP_PORT/metrics):"
curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^frazil_asset_(stale_seconds|runs_total)\{asset="data_vault\.(h_users|s_accounts)"' || true
echo "-- and the mirrors still equal the source:"
for t in users accounts transfers; do run -c "$DEMO/frazil.yaml" verify "$t"; done

step "The Iceberg REST catalog, served by frazil run at http://127.0.0.1:$HTTP_PORT: PyIceberg and DuckDB read the live tables through it (docs/rest-catalog.md)"
.venv/bin/python - "http://127.0.0.1:$HTTP_PORT" <<'PY'
import sys, duckdb, duckdb_extension_avro, duckdb_extension_httpfs, duckdb_extension_iceberg
from pathlib import Path
from pyiceberg.catalog import load_catalog
cat = load_catalog("frazil", type="rest", uri=sys.argv[1])
print("namespaces:", ", ".join(sorted(".".join(n) for n in cat.list_namespaces())))
t = cat.load_table("mirror.accounts")
a = t.scan(selected_fields=("balance",)).to_arrow()
print(f"pyiceberg   mirror.accounts: {a.num_rows} rows, total balance {sum(a['balance'].to_pylist())} (snapshot {t.metadata.current_snapshot_id})")
con = duckdb.connect()
for mod in (duckdb_extension_avro, duckdb_extension_httpfs, duckdb_extension_iceberg):
    con.execute(f"LOAD '{next(Path(mod.__file__).parent.rglob('*.duckdb_extension'))}'")
con.execute(f"ATTACH '' AS fz (TYPE iceberg, ENDPOINT '{sys.argv[1]}', AUTHORIZATION_TYPE 'none')")
n, total = con.execute("SELECT count(*), sum(balance) FROM fz.mirror.accounts").fetchone()
print(f"duckdb ATTACH mirror.accounts: {n} rows, total balance {total}")
PY
echo "-- (the two snapshots may differ by the commits that landed in between)"

step "Stop frazil (SIGTERM: it finishes the in-flight commit and confirms it to PostgreSQL)"
kill -TERM "$FRAZIL_PID"; wait "$FRAZIL_PID"; FRAZIL_PID=""
tail -n 2 "$DEMO/run.log"
run -c "$DEMO/frazil.yaml" table snapshots raw_data.accounts --format csv | tail -n 3

echo
echo "#### Part 2: files -> Iceberg tables, changed and read as of the past"
export FRAZIL_WAREHOUSE="$DEMO/warehouse"
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
META=$(sqlite3 "$FRAZIL_WAREHOUSE/catalog.db" "SELECT metadata_location FROM iceberg_tables WHERE table_namespace='bank' AND table_name='accounts'")
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
