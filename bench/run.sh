#!/usr/bin/env bash
# `make bench`: frazil's figures next to a peer measured in the same run.
#   1. load 10 M rows: frazil load vs DuckDB COPY TO parquet (same data), vs PyIceberg append
#   2. commit latency with 1,000 snapshots of history
#   3. query: frazil sql vs DuckDB read_parquet on the same files; and with 10% deleted
#   4. CDC (bench/cdc.py): streaming vs pg_recvlogical, snapshot vs COPY, freshness, a 10 M-row transaction
#   5. mirror tables (bench/mirror.py): pgbench catch-up with mirrors vs raw only vs pg_recvlogical; read cost,
#      storage and key index of a mirror after 10 M updates vs the same rows written fresh
#   6. SQL models (bench/models.py): an incremental run over 1 M new rows vs the same SQL in DuckDB and vs dbt-duckdb
#   7. freshness (bench/freshness.py): bank workload, PostgreSQL commit -> row in data_vault.s_users through
#      `frazil run` + orchestrator (debounce 500ms and 200ms) vs the goal (< 5 s) and the prototype (30-90 s)
#   8. compaction (bench/compaction.py): 10,000 small files, `frazil maintain compact` vs DuckDB COPY of the same
#      files; queries (frazil sql, DuckDB iceberg_scan) before/after; rewrite-manifests and planning
#   9. orchestrator overhead (bench/orchestrator.py): idle CPU with/without it, per-run cost, sensor latency
#  10. REST catalog (bench/rest_catalog.py): frazil serve vs the Java reference fixture, load-table and commit
#      req/s and p50/p99 with 32 clients, CPU per 1000 requests, the SQLite store round trip as the floor
#  11. S3 (bench/s3.py): upload/download of a 1 GiB file through frazil's S3FileIO (build/s3_io) vs curl
#      --aws-sigv4, pyarrow's S3FileSystem and dd into versitygw's data dir; CDC rows/s with the warehouse in S3 vs local
# Wall time, CPU-seconds (user+sys) and peak RSS from GNU time. BENCH_ROWS overrides 10 M.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FRAZIL=$ROOT/build/frazil
PY=$ROOT/.venv/bin/python
ROWS=${BENCH_ROWS:-10000000}
W=$(mktemp -d /tmp/frazil-bench.XXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$ROOT/bench/results"
OUT=$ROOT/bench/results/$(date +%Y%m%d-%H%M%S).txt

measure() {  # name cmd... -> "name wall cpu rss"
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$W/time" "$@" >/dev/null 2>"$W/err" || { cat "$W/err"; exit 1; }
  read -r wall user sys rss <"$W/time"
  printf '%-34s wall %7.2f s  cpu %7.2f s  peak %7.0f MB\n' "$name" "$wall" "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc)"
  echo "$name $wall $(echo "$user + $sys" | bc) $rss" >>"$W/figures"
}
fig() { awk -v n="$1" -v c="$2" '$1==n {print $c}' "$W/figures"; }
ratio() { echo "scale=2; $1 / $2" | bc; }

{
echo "frazil benchmarks, $(date -u), $(nproc) cores, rows=$ROWS"
echo
echo "## 1. Load $ROWS rows (7 columns) from Parquet"
"$FRAZIL" --warehouse "$W/wh0" sql "COPY (SELECT i AS id, i % 1000 AS account, CAST(i % 100000 AS DECIMAL(15,2)) / 100 AS amount,
  'channel-' || (i % 7) AS channel, TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i % 31536000) AS ts,
  (i % 3 = 0) AS flag, md5(i::VARCHAR) AS note FROM range($ROWS) t(i)) TO '$W/input.parquet'" >/dev/null
measure frazil_load "$FRAZIL" --warehouse "$W/wh1" load bench.t "$W/input.parquet"
measure duckdb_copy_parquet "$PY" -c "import duckdb; duckdb.sql(\"COPY (SELECT * FROM read_parquet('$W/input.parquet')) TO '$W/copy.parquet' (FORMAT parquet, COMPRESSION zstd)\")"
measure pyiceberg_append "$PY" - <<PY
from pyiceberg.catalog.sql import SqlCatalog
import pyarrow.parquet as pq
cat = SqlCatalog("b", uri="sqlite:///$W/py.db", warehouse="file://$W/pywh")
cat.create_namespace("bench")
t = pq.read_table("$W/input.parquet")
tbl = cat.create_table("bench.t", schema=t.schema)
tbl.append(t)
PY
echo "frazil load vs DuckDB COPY: throughput ratio $(ratio "$(fig duckdb_copy_parquet 2)" "$(fig frazil_load 2)")x (goal >= 0.9x)"
echo "frazil load vs PyIceberg append: throughput ratio $(ratio "$(fig pyiceberg_append 2)" "$(fig frazil_load 2)")x (goal >= 5x)"
echo "frazil CPU-seconds per million rows: $(echo "scale=3; $(fig frazil_load 3) * 1000000 / $ROWS" | bc)"
echo
echo "## 1b. Partitioned load: hour(ts), about 8,760 partitions"
measure frazil_load_hourly "$FRAZIL" --warehouse "$W/wh2" load bench.h "$W/input.parquet" --partition-by 'hour(ts)'
measure duckdb_copy_partition_by "$PY" -c "import duckdb; duckdb.sql(\"SET partitioned_write_max_open_files = 20000; COPY (SELECT *, date_trunc('hour', ts) AS h FROM read_parquet('$W/input.parquet')) TO '$W/hourly' (FORMAT parquet, PARTITION_BY (h), COMPRESSION zstd)\")"
echo "frazil partitioned load vs DuckDB COPY PARTITION_BY: throughput ratio $(ratio "$(fig duckdb_copy_partition_by 2)" "$(fig frazil_load_hourly 2)")x"
echo
echo "## 2. Commit latency with 1,000 snapshots of history"
"$ROOT/build/commit_latency" 1000 "$W/commits"
echo
echo "## 3. Query: aggregate over the loaded table, frazil vs DuckDB read_parquet on the same files"
echo "(both through the same frazil binary, so process start-up is equal; median of 5 runs)"
FILES=$("$FRAZIL" --warehouse "$W/wh1" table files bench.t --format csv | tail -n +2 | cut -d, -f2 | sed 's#^file://##' | paste -sd, -)
Q="SELECT channel, count(*), sum(amount), max(ts) FROM"
LIST="['${FILES//,/\',\'}']"
median5() {  # name cmd... -> median wall seconds of 5 runs
  local name=$1; shift
  for i in 1 2 3 4 5; do
    /usr/bin/time -f "%e" -o "$W/t$i" "$@" >/dev/null 2>"$W/err" || { cat "$W/err"; exit 1; }
  done
  local m; m=$(cat "$W"/t[1-5] | sort -n | sed -n 3p)
  printf '%-34s median wall %6.3f s\n' "$name" "$m"
  echo "$name $m" >>"$W/figures"
}
median5 duckdb_read_parquet "$FRAZIL" --warehouse "$W/wh1" sql "$Q read_parquet($LIST) GROUP BY channel"
median5 frazil_sql "$FRAZIL" --warehouse "$W/wh1" sql "$Q bench.t GROUP BY channel"
echo "frazil sql vs DuckDB read_parquet: time ratio $(ratio "$(fig frazil_sql 2)" "$(fig duckdb_read_parquet 2)")x (goal <= 1.1x)"
"$FRAZIL" --warehouse "$W/wh1" table delete bench.t --where "id % 10 = 3" >/dev/null 2>&1
median5 frazil_sql_10pct_deleted "$FRAZIL" --warehouse "$W/wh1" sql "$Q bench.t GROUP BY channel"
echo "with 10% rows position-deleted vs plain read_parquet: $(ratio "$(fig frazil_sql_10pct_deleted 2)" "$(fig duckdb_read_parquet 2)")x (goal <= 1.5x)"
measure frazil_sql_10pct_deleted_rss "$FRAZIL" --warehouse "$W/wh1" sql "$Q bench.t GROUP BY channel"
echo
echo "# CDC (bench/cdc.py): frazil run vs pg_recvlogical and COPY on a throwaway PostgreSQL 15"
"$PY" "$ROOT/bench/cdc.py"
echo
FRAZIL_BIN=$FRAZIL "$PY" "$ROOT/bench/mirror.py"
echo
FRAZIL_BIN=$FRAZIL "$PY" "$ROOT/bench/models.py"
echo
FRAZIL_BIN=$FRAZIL "$PY" "$ROOT/bench/freshness.py"
echo
FRAZIL_BIN=$FRAZIL "$PY" "$ROOT/bench/compaction.py"
echo
FRAZIL_BIN=$FRAZIL "$PY" "$ROOT/bench/orchestrator.py"
echo
FRAZIL_BIN=$FRAZIL "$PY" "$ROOT/bench/rest_catalog.py"
echo
"$PY" "$ROOT/bench/s3.py"
} 2>&1 | tee "$OUT"
echo "results saved to $OUT"
