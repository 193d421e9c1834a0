#!/usr/bin/env python3
"""CDC figures next to PostgreSQL's own tools, measured in the same run (`make bench`).

1. Steady-state streaming: frazil run --until <end> vs pg_recvlogical --endpos <end> (pgoutput to
   /dev/null) over the same WAL (inserts, then updates, in 1,000-row transactions).
2. Initial snapshot: frazil (snapshot: initial_only) vs COPY (SELECT *) TO STDOUT (FORMAT binary)
   piped to /dev/null.
3. Freshness at ~10 K changes/s (pgbench): PostgreSQL commit -> Iceberg snapshot that makes the row
   visible to `frazil sql`, median and p99.
4. One 10 M-row transaction (streamed by PostgreSQL): frazil's peak RSS.
Wall seconds, CPU seconds (user+sys, client process only) and peak RSS from GNU time.
Sizes: BENCH_CDC_CHANGES (default 1 M), BENCH_SNAPSHOT_ROWS (5 M), BENCH_BIG_TXN_ROWS (10 M).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAZIL = os.path.join(ROOT, "build", "frazil")
PGBIN = "/usr/lib/postgresql/15/bin"
CHANGES = int(os.environ.get("BENCH_CDC_CHANGES", 1_000_000))
SNAP_ROWS = int(os.environ.get("BENCH_SNAPSHOT_ROWS", 5_000_000))
BIG_ROWS = int(os.environ.get("BENCH_BIG_TXN_ROWS", 10_000_000))


def sh(*args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(str(a) for a in args)[:300]}\n{r.stderr[-3000:]}")
    return r.stdout


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="frazil-bench-pg-", dir="/tmp")
        self.conninfo = sh(os.path.join(ROOT, "scripts", "pg_cluster.sh"), "start", self.dir).strip()

    def psql(self, sql):
        return sh(os.path.join(PGBIN, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.conninfo, "-c", sql)

    def destroy(self):
        subprocess.run([os.path.join(ROOT, "scripts", "pg_cluster.sh"), "destroy", self.dir], capture_output=True)


def timed(args, env=None):
    """Runs a command under GNU time; returns (wall, cpu, peak_mb)."""
    tf = tempfile.mktemp()
    full = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf] + args
    r = subprocess.run(full, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    wall, user, sys_, rss = open(tf).read().split()
    os.unlink(tf)
    return float(wall), float(user) + float(sys_), int(rss) / 1024


def frazil_env(wh, pg, **source):
    env = dict(os.environ, FRAZIL_WAREHOUSE=wh, FRAZIL_SOURCE_CONNINFO=pg.conninfo, FRAZIL_LOG_LEVEL="warn")
    for k, v in source.items():
        env["FRAZIL_SOURCE_" + k.upper()] = str(v)
    return env


def row(name, wall, cpu, rss, n):
    print(f"  {name:<34} wall {wall:7.2f} s  cpu {cpu:7.2f} s  peak {rss:7.0f} MB  "
          f"{n / wall / 1000:8.1f} K/s  {cpu * 1e6 / n:6.2f} µs CPU/row")


def streaming(pg, work):
    print(f"## 1. Streaming {CHANGES:,} inserts + {CHANGES:,} updates (1,000-row transactions)")
    pg.psql("CREATE TABLE s(id int PRIMARY KEY, a int, b text, c numeric(12,2), d timestamptz)")
    pg.psql("CREATE PUBLICATION spub FOR TABLE s")
    pg.psql("SELECT pg_create_logical_replication_slot('recv', 'pgoutput')")
    # frazil's slot, created by frazil (snapshot never) before the workload
    env = frazil_env(os.path.join(work, "wh-s"), pg, publication="spub", slot="fslot", snapshot="never")
    timed([FRAZIL, "run", "--until", "now"], env)
    step = 1000
    for lo in range(0, CHANGES, 100 * step):
        pg.psql("".join(f"BEGIN; INSERT INTO s SELECT g, g, md5(g::text), g / 7.0, now() "
                        f"FROM generate_series({i}, {min(i + step, CHANGES) - 1}) g; COMMIT; "
                        for i in range(lo, min(lo + 100 * step, CHANGES), step)))
    for lo in range(0, CHANGES, 100 * step):
        pg.psql("".join(f"BEGIN; UPDATE s SET a = a + 1 WHERE id >= {i} AND id < {i + step}; COMMIT; "
                        for i in range(lo, min(lo + 100 * step, CHANGES), step)))
    end = pg.psql("SELECT pg_current_wal_lsn()").strip()
    n = 2 * CHANGES
    recv = timed([os.path.join(PGBIN, "pg_recvlogical"), "-d", pg.conninfo, "--slot", "recv", "--start",
                  "--endpos", end, "-o", "proto_version=2", "-o", "publication_names=spub",
                  "-o", "streaming=on", "-f", "/dev/null"])
    row("pg_recvlogical -> /dev/null", *recv, n)
    fz = timed([FRAZIL, "run", "--until", end], env)
    row("frazil run -> committed Iceberg", *fz, n)
    got = sh(FRAZIL, "sql", "SELECT count(*) FROM raw_data.s", "--format", "csv", env=env).split()[-1]
    assert int(got) == n, f"frazil committed {got} changes, expected {n}"
    print(f"  ratio frazil/pg_recvlogical throughput: {recv[0] / fz[0]:.2f}x (goal >= 0.9x)")
    return recv, fz


def snapshot(pg, work):
    print(f"\n## 2. Initial snapshot of {SNAP_ROWS:,} rows (5 columns)")
    pg.psql(f"CREATE TABLE snap AS SELECT g AS id, g % 1000 AS a, md5(g::text) AS b, (g / 7.0)::numeric(12,2) AS c, "
            f"now() AS d FROM generate_series(1, {SNAP_ROWS}) g; ALTER TABLE snap ADD PRIMARY KEY (id)")
    pg.psql("VACUUM ANALYZE snap")
    copy = timed(["sh", "-c", f"{PGBIN}/psql -X -q -d '{pg.conninfo}' -c "
                              f"'COPY (SELECT * FROM snap) TO STDOUT (FORMAT binary)' > /dev/null"])
    row("COPY TO STDOUT (binary) -> /dev/null", *copy, SNAP_ROWS)
    env = frazil_env(os.path.join(work, "wh-snap"), pg, tables="public.snap", publication="snappub",
                     slot="snapslot", snapshot="initial_only")
    fz = timed([FRAZIL, "run"], env)
    row("frazil snapshot -> committed Iceberg", *fz, SNAP_ROWS)
    got = sh(FRAZIL, "sql", "SELECT count(*) FROM raw_data.snap", "--format", "csv", env=env).split()[-1]
    assert int(got) == SNAP_ROWS, f"snapshot has {got} rows"
    print(f"  ratio frazil/COPY throughput: {copy[0] / fz[0]:.2f}x (goal >= 0.8x); "
          f"CPU {fz[1] * 1e6 / SNAP_ROWS:.2f} µs/row (Filament: 1.7 µs/row)")


def freshness(pg, work):
    print("\n## 3. Freshness at ~10 K changes/s for 20 s (pgbench, 1 insert per transaction)")
    pg.psql("CREATE TABLE f(id bigserial PRIMARY KEY, v int, t timestamptz DEFAULT clock_timestamp())")
    env = frazil_env(os.path.join(work, "wh-f"), pg, tables="public.f", publication="fpub", slot="fslot2")
    proc = subprocess.Popen([FRAZIL, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(2)
    script = os.path.join(work, "f.sql")
    open(script, "w").write("INSERT INTO f(v) VALUES (1);\n")
    out = sh(os.path.join(PGBIN, "pgbench"), "-n", "-f", script, "-c", "4", "-j", "2", "-T", "20", "-R", "10000",
             pg.conninfo)
    tps = [l for l in out.splitlines() if l.startswith("tps")]
    time.sleep(3)
    proc.terminate()
    proc.wait(timeout=30)
    # Each row became visible with the first snapshot whose frazil.lsn is past its commit LSN.
    code = f"""
import json
from pyiceberg.catalog.sql import SqlCatalog
cat = SqlCatalog("frazil", uri="sqlite:///{work}/wh-f/catalog.db", warehouse="file://{work}/wh-f")
t = cat.load_table("raw_data.f")
def lsn(s):
    hi, lo = s.split("/"); return (int(hi, 16) << 32) | int(lo, 16)
snaps = sorted((lsn(s.summary.additional_properties["frazil.lsn"]), s.timestamp_ms) for s in t.snapshots()
               if "frazil.lsn" in s.summary.additional_properties)
rows = t.scan(selected_fields=("_commit_lsn", "_commit_ts")).to_arrow()
import bisect
keys = [s[0] for s in snaps]
lat = []
for c, ts in zip(rows["_commit_lsn"].to_pylist(), rows["_commit_ts"].to_pylist()):
    i = bisect.bisect_right(keys, c)
    if i < len(snaps):
        lat.append(snaps[i][1] - ts.timestamp() * 1000)
print(json.dumps(lat))
"""
    lat = json.loads(sh(os.path.join(ROOT, ".venv", "bin", "python"), "-c", code))
    lat.sort()
    med = statistics.median(lat)
    p99 = lat[int(len(lat) * 0.99) - 1]
    print(f"  {tps[0] if tps else ''}; {len(lat):,} rows; commit -> visible median {med:.0f} ms, p99 {p99:.0f} ms "
          f"(goal: median < 1000 ms, p99 < 3000 ms)")


def big_txn(pg, work):
    print(f"\n## 4. One {BIG_ROWS:,}-row transaction (PostgreSQL streams it in progress)")
    pg.psql("CREATE TABLE big(id int PRIMARY KEY, payload text)")
    env = frazil_env(os.path.join(work, "wh-big"), pg, tables="public.big", publication="bigpub", slot="bigslot")
    timed([FRAZIL, "run", "--until", "now"], env)
    pg.psql(f"INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, {BIG_ROWS}) g")
    fz = timed([FRAZIL, "run", "--until", "now"], env)
    row("frazil run (one transaction)", *fz, BIG_ROWS)
    got = sh(FRAZIL, "sql", "SELECT count(*) FROM raw_data.big", "--format", "csv", env=env).split()[-1]
    assert int(got) == BIG_ROWS, f"big transaction has {got} rows"
    print(f"  peak RSS {fz[2]:.0f} MB (goal < 1024 MB)")


def main():
    work = tempfile.mkdtemp(prefix="frazil-bench-cdc-", dir="/tmp")
    pg = Cluster()
    try:
        which = sys.argv[1:] or ["streaming", "snapshot", "freshness", "big"]
        if "streaming" in which:
            streaming(pg, work)
        if "snapshot" in which:
            snapshot(pg, work)
        if "freshness" in which:
            freshness(pg, work)
        if "big" in which:
            big_txn(pg, work)
    finally:
        pg.destroy()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
