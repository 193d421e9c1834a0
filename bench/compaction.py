#!/usr/bin/env python3
"""Compaction figures (`frazil maintain compact`, `frazil maintain rewrite-manifests`), each next
to a peer measured in the same run (`make bench`).

The table: FILES small Parquet files of ROWS_PER_FILE rows each (7 columns, zstd, Iceberg field
ids), committed in COMMITS appends of FILES/COMMITS files each, one manifest per append: the
shape CDC leaves behind (a small file and a manifest per commit), built quickly. Writing 10,000
files through frazil's own commit path would take too long for a benchmark: `frazil load` costs a
process start and a commit per file (~0.2 s, 30+ minutes for 10,000), bench/commit_latency's
in-process commits grow with history (1,000 take ~30 s), and frazil's writer rolls files at row-
group granularity (a tiny write.target_file_size still gives ~150 K-row files). So pyarrow writes
the files (2 processes) and PyIceberg's add_files commits them into frazil's SQLite catalog.

1. `frazil maintain compact` (defaults: files < 100 MB rewritten into 512 MB files): wall,
   CPU-seconds, peak RSS, rows/s and MB/s of input, files before/after; next to the physical limit
   measured in the same run: DuckDB reading the same Parquet files directly and writing one file
   (COPY ... TO (FORMAT parquet, COMPRESSION zstd), a fresh process).
2. Query time before and after compaction: count(*), a filtered aggregate and a point lookup
   (planning and pruning bound), through `frazil sql` (one process per query: process start
   included, shown separately as `SELECT 1`) and through DuckDB's iceberg extension (in process,
   as a peer reader of the same table); median of REPS.
3. `frazil maintain rewrite-manifests` on the uncompacted table (restored from a copy): its cost
   and the manifests before/after, and the same queries again (planning over COMMITS manifests vs
   one).

Sizes (flag / environment, default; --quick: ~30 s): --files BENCH_COMPACT_FILES 10,000 (quick
1,000); --rows-per-file BENCH_COMPACT_ROWS 1,000; --commits BENCH_COMPACT_COMMITS files / 100;
--reps BENCH_COMPACT_REPS 3. Binary: FRAZIL_BIN (default build/frazil).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAZIL = os.environ.get("FRAZIL_BIN", os.path.join(ROOT, "build", "frazil"))
PY = os.path.join(ROOT, ".venv", "bin", "python")
TABLE = "bench.small"


def sh(*args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(str(a) for a in args)[:300]}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return r.stdout


def timed(args, env=None):
    """Runs a command under GNU time; returns (wall, cpu, peak_mb, stdout)."""
    tf = tempfile.mktemp()
    r = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf] + args, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)[:300]}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    wall, user, sys_, rss = open(tf).read().split()[-4:]
    os.unlink(tf)
    return float(wall), float(user) + float(sys_), int(rss) / 1024, r.stdout


GEN = r"""
import sys, duckdb, pyarrow as pa, pyarrow.parquet as pq
d, first, last, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
duckdb.sql("SET threads = 1")
for lo_f in range(first, last, 200):
    hi_f = min(last, lo_f + 200)
    t = duckdb.sql(f'''SELECT i AS id, i % 1000 AS account, (i * 7919 % 100000) / 100.0 AS amount,
        'channel-' || (i % 7) AS channel, TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i % 31536000) AS ts,
        (i % 3 = 0) AS flag, md5(i::VARCHAR) AS note
        FROM range({lo_f * rows}, {hi_f * rows}) t(i)''').to_arrow_table()
    schema = pa.schema([f.with_metadata({b"PARQUET:field_id": str(i + 1).encode()}) for i, f in enumerate(t.schema)])
    t = t.cast(schema)
    for f in range(lo_f, hi_f):
        pq.write_table(t.slice((f - lo_f) * rows, rows), f"{d}/f{f:06d}.parquet", compression="zstd")
"""

REGISTER = r"""
import glob, sys, time
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import NestedField, LongType, DoubleType, StringType, TimestamptzType, BooleanType
wh, d, commits = sys.argv[1], sys.argv[2], int(sys.argv[3])
cat = SqlCatalog("frazil", uri=f"sqlite:///{wh}/catalog.db", warehouse=f"file://{wh}")
cat.create_namespace("bench")
schema = Schema(NestedField(1, "id", LongType()), NestedField(2, "account", LongType()),
                NestedField(3, "amount", DoubleType()), NestedField(4, "channel", StringType()),
                NestedField(5, "ts", TimestamptzType()), NestedField(6, "flag", BooleanType()),
                NestedField(7, "note", StringType()))
t = cat.create_table("bench.small", schema=schema, location=f"file://{wh}/bench/small")
files = sorted(glob.glob(f"{d}/*.parquet"))
per = -(-len(files) // commits)
for b in range(0, len(files), per):
    t.add_files(["file://" + f for f in files[b:b + per]], check_duplicate_files=False)
"""

DUCK = r"""
import importlib, json, pathlib, statistics, sys, tempfile, time
import duckdb
def ext(mod, name):
    m = importlib.import_module(mod)
    return str(pathlib.Path(m.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension")
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
con.execute(f"SET home_directory='{tempfile.mkdtemp()}'")
con.execute("SET enable_progress_bar = false")
con.execute(f"LOAD '{ext('duckdb_extension_avro', 'avro')}'")
con.execute(f"LOAD '{ext('duckdb_extension_iceberg', 'iceberg')}'")
loc, reps, queries = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
out = {"version": duckdb.__version__}
for name, q in queries.items():
    q = q.replace("{t}", f"iceberg_scan('{loc}')")
    times, res = [], None
    for _ in range(reps):
        t = time.monotonic(); res = con.execute(q).fetchall(); times.append(time.monotonic() - t)
    out[name] = [statistics.median(times), str(sorted(res))]
print(json.dumps(out))
"""

QUERIES = {
    "count(*)": "SELECT count(*) FROM {t}",
    "filtered aggregate": "SELECT channel, count(*), round(sum(amount), 2) FROM {t} WHERE account < 100 GROUP BY channel",
    "point lookup": "SELECT id, account, note FROM {t} WHERE id = 123457",
}


def frazil_queries(wh, reps):
    """{name: (median seconds of `frazil sql`, result)}, plus 'SELECT 1' (process start)."""
    out = {}
    for name, q in [("SELECT 1", "SELECT 1")] + list(QUERIES.items()):
        times, res = [], None
        for _ in range(reps):
            t = time.monotonic()
            res = sh(FRAZIL, "--warehouse", wh, "sql", q.replace("{t}", TABLE), "--format", "csv")
            times.append(time.monotonic() - t)
        rows = sorted(tuple(l.split(",")) for l in res.strip().splitlines()[1:])
        out[name] = (statistics.median(times), rows)
    return out


def duck_queries(wh, reps):
    loc = metadata_location(wh)
    r = subprocess.run([PY, "-c", DUCK, loc, str(reps), json.dumps(QUERIES)], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  (DuckDB iceberg_scan failed: {r.stderr.strip()[-600:]})")
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def metadata_location(wh):
    for line in sh(FRAZIL, "--warehouse", wh, "table", "show", TABLE).splitlines():
        if line.startswith("metadata:"):
            return line.split(None, 1)[1].strip().removeprefix("file://")
    sys.exit("no metadata location")


def query_table(label_a, a, label_b, b, duck_a, duck_b):
    print(f"  {'query':<20} {'frazil sql ' + label_a:>18} {'frazil sql ' + label_b:>18} {'ratio':>7}   "
          f"{'DuckDB ' + label_a:>16} {'DuckDB ' + label_b:>16} {'ratio':>7}")
    for name in ["SELECT 1"] + list(QUERIES):
        fa, fb = a[name][0], b[name][0]
        line = f"  {name:<20} {fa:16.3f} s {fb:16.3f} s {fa / fb:6.1f}x"
        if name in QUERIES and duck_a and duck_b:
            da, db = duck_a[name][0], duck_b[name][0]
            line += f"   {da:14.3f} s {db:14.3f} s {da / max(db, 1e-6):6.1f}x"
        print(line)
    same = all(a[n][1] == b[n][1] for n in QUERIES)
    print(f"  results {label_a} vs {label_b}: {'equal' if same else 'DIFFER'}")
    if not same:
        for n in QUERIES:
            if a[n][1] != b[n][1]:
                print(f"    {n}: {a[n][1][:3]} vs {b[n][1][:3]}")


def busy():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 files: a ~30 s smoke run")
    ap.add_argument("--files", type=int)
    ap.add_argument("--rows-per-file", type=int)
    ap.add_argument("--commits", type=int)
    ap.add_argument("--reps", type=int)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (printed)")
    o = ap.parse_args()
    o.files = o.files or int(env("BENCH_COMPACT_FILES", 1_000 if o.quick else 10_000))
    o.rows_per_file = o.rows_per_file or int(env("BENCH_COMPACT_ROWS", 1_000))
    o.commits = o.commits or int(env("BENCH_COMPACT_COMMITS", max(1, o.files // 100)))
    o.reps = o.reps or int(env("BENCH_COMPACT_REPS", 3))
    if not os.access(FRAZIL, os.X_OK):
        sys.exit(f"no frazil binary at {FRAZIL} (build it, or set FRAZIL_BIN)")
    rows = o.files * o.rows_per_file
    print(f"# Compaction (bench/compaction.py{' --quick' if o.quick else ''}): {FRAZIL}, {os.cpu_count()} cores, "
          f"load average {busy()} at start")
    w = tempfile.mkdtemp(prefix="frazil-bench-compact-", dir="/tmp")
    try:
        d, wh, base = os.path.join(w, "files"), os.path.join(w, "wh"), os.path.join(w, "wh-base")
        os.makedirs(d)
        os.makedirs(wh)
        t0 = time.monotonic()
        half = o.files // 2
        gens = [subprocess.Popen([PY, "-c", GEN, d, str(a), str(b), str(o.rows_per_file)])
                for a, b in ((0, half), (half, o.files))]
        if any(p.wait() != 0 for p in gens):
            sys.exit("generating the Parquet files failed")
        t_gen = time.monotonic() - t0
        t0 = time.monotonic()
        sh(PY, "-c", REGISTER, wh, d, str(o.commits))
        t_reg = time.monotonic() - t0
        in_bytes = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"## Table {TABLE}: {o.files:,} files x {o.rows_per_file:,} rows = {rows:,} rows, "
              f"{in_bytes / 1e6:.0f} MB, in {o.commits:,} commits ({o.commits:,} manifests)")
        print(f"  (setup: pyarrow wrote the files in {t_gen:.1f} s, PyIceberg add_files committed them in {t_reg:.1f} s)")
        sh("cp", "-a", wh, base)

        print(f"\n## 1. Compaction of {o.files:,} small files (frazil maintain compact, defaults)")
        before_q = frazil_queries(wh, o.reps)
        before_d = duck_queries(wh, o.reps)
        wall, cpu, rss, out = timed([FRAZIL, "--warehouse", wh, "maintain", "compact", TABLE, "--format", "json"])
        rep = json.loads(out)
        fb, fa = rep["data_before"], rep["data_after"]
        assert fa["rows"] == rows == fb["rows"], f"rows before {fb['rows']}, after {fa['rows']}, expected {rows}"
        print(f"  {'frazil maintain compact':<34} wall {wall:7.2f} s  cpu {cpu:7.2f} s  peak {rss:7.0f} MB  "
              f"{rows / wall / 1e6:6.2f} M rows/s  {fb['bytes'] / wall / 1e6:6.1f} MB/s in  "
              f"{cpu * 1e6 / rows:.2f} CPU-s/M rows")
        print(f"    data files {fb['files']:,} ({fb['bytes'] / 1e6:.0f} MB) -> {fa['files']:,} ({fa['bytes'] / 1e6:.0f} MB), "
              f"{rep['commit_attempts']} commit attempt(s)")
        if wall > 3 * cpu + 5:
            print(f"    NOTE: wall {wall:.0f} s is far above CPU {cpu:.0f} s (waiting, not working; load average {busy()})")
        out_file = os.path.join(w, "duck.parquet")
        dwall, dcpu, drss, _ = timed([PY, "-c", f"import duckdb; duckdb.sql(\"COPY (SELECT * FROM read_parquet('{d}/*.parquet')) "
                                            f"TO '{out_file}' (FORMAT parquet, COMPRESSION zstd)\")"])
        print(f"  {'DuckDB read_parquet -> COPY 1 file':<34} wall {dwall:7.2f} s  cpu {dcpu:7.2f} s  peak {drss:7.0f} MB  "
              f"{rows / dwall / 1e6:6.2f} M rows/s  {in_bytes / dwall / 1e6:6.1f} MB/s in  "
              f"{dcpu * 1e6 / rows:.2f} CPU-s/M rows  ({os.path.getsize(out_file) / 1e6:.0f} MB)")
        print(f"  frazil compact vs DuckDB COPY: throughput {dwall / wall:.2f}x, CPU {dcpu / cpu:.2f}x "
              f"(1.0 = as fast as the physical limit; frazil also plans, applies deletes, commits)")

        print(f"\n## 2. Queries before / after compaction (median of {o.reps}; frazil sql = a process per query)")
        after_q = frazil_queries(wh, o.reps)
        after_d = duck_queries(wh, o.reps)
        if after_d:
            print(f"  (DuckDB {after_d['version']} iceberg_scan, in process)")
        query_table("before", before_q, "after", after_q, before_d, after_d)

        print(f"\n## 3. rewrite-manifests on the uncompacted table ({o.commits:,} manifests)")
        shutil.rmtree(wh)
        sh("cp", "-a", base, wh)
        wall, cpu, rss, out = timed([FRAZIL, "--warehouse", wh, "maintain", "rewrite-manifests", TABLE, "--format", "json"])
        rep = json.loads(out)
        print(f"  {'frazil maintain rewrite-manifests':<34} wall {wall:7.2f} s  cpu {cpu:7.2f} s  peak {rss:7.0f} MB  "
              f"manifests {rep['manifests_before']:,} -> {rep['manifests_after']:,}")
        rm_q = frazil_queries(wh, o.reps)
        rm_d = duck_queries(wh, o.reps)
        query_table("before", before_q, "rewritten", rm_q, before_d, rm_d)
        print(f"\nload average at the end: {busy()}")
    finally:
        if o.keep:
            print(f"kept: {w}")
        else:
            shutil.rmtree(w, ignore_errors=True)


if __name__ == "__main__":
    main()
