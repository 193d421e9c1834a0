#!/usr/bin/env python3
"""Mirror table figures (docs/mirror.md), each next to its reference, on a throwaway PostgreSQL 15.

1. Update-heavy steady state: pgbench TPC-B-like (`pgbench -i -s SCALE`, then CLIENTS x TXNS
   transactions) recorded in a template slot; then, from copies of that slot (so every run decodes
   the same WAL): frazil run --until <end> with mirrors on, with mirrors off
   (FRAZIL_SOURCE_MIRROR=false), and pg_recvlogical -> /dev/null (the physical limit). Changes/s,
   CPU-s per million changes, peak RSS; mirror/raw-only throughput (goal >= 0.7x); pgbench's own
   TPS (the source's maximum rate here) next to the rate frazil applies changes at.
2. Read cost: a ROWS-row table with a primary key, UPDATES random-key updates (1,000 per
   transaction) streamed by a running `frazil run` into its mirror; a full scan (sums over every
   column) of that mirror vs the same rows written fresh (a new `frazil run` initial copy into
   another warehouse, whose mirror is written from the copy in one go), through `frazil sql` and
   through DuckDB's iceberg extension (goal <= 1.3x). Data and delete file counts.
3. Storage: bytes of the live data + delete files of the mirror vs the fresh copy (goal <= 1.5x).
4. Index: size of <warehouse>/.frazil/mirror/<ns>.<table>.idx after a clean stop (SIGTERM), and
   memory: VmRSS of an idle `frazil run` that applied one change (the index loaded) minus the same
   without mirrors, per million keys, on copies of one warehouse and slot; the index's own memory
   as frazil logs it when saving (after the updates of 2, and freshly loaded); the rebuild time
   and peak RSS when the index file is missing.

Wall seconds, CPU seconds (user+sys of the client process only: PostgreSQL's walsender decodes in
its own process for all three) and peak RSS from GNU time, as bench/cdc.py; with --repeat, the run
of median wall of each configuration.
Sizes (flag / environment, default; --quick: 1-2 minutes):
  --scale   BENCH_MIRROR_SCALE     pgbench scale (10 = 1 M accounts)       quick: 1
  --clients BENCH_MIRROR_CLIENTS   pgbench clients (-c; -j is min(2, c))   4
  --txns    BENCH_MIRROR_TXNS      pgbench transactions per client (-t)     50,000; quick: 2,500
  --rows    BENCH_MIRROR_ROWS      rows of the read-cost table              1 M; quick: 100 K
  --updates BENCH_MIRROR_UPDATES   updates streamed into it                 10 M; quick: 300 K
  --repeat  BENCH_MIRROR_REPEAT    runs per configuration in 1, interleaved 3; quick: 1
Binary: FRAZIL_BIN (default build/frazil). `--perf` records the mirror run of 1 with perf and
prints where its CPU goes. Sections: `bench/mirror.py [steady] [read]` (read = 2, 3 and 4).
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdc  # noqa: E402  (sh, Cluster, frazil_env: the CDC bench's helpers)
from cdc import sh, frazil_env  # noqa: E402

ROOT = cdc.ROOT
PGBIN = cdc.PGBIN
PY = os.path.join(ROOT, ".venv", "bin", "python")
FRAZIL = os.environ.get("FRAZIL_BIN", os.path.join(ROOT, "build", "frazil"))
WORK = None  # the run's work directory (main sets it); stderr of measured processes goes there


# --- processes ------------------------------------------------------------------------------

class Measured:
    """A child process measured by GNU time, as bench/cdc.py measures (a direct child of Python would
    inherit Python's RSS high-water mark through vfork + exec), plus VmRSS samples over its life.
    Signals and samples go to the measured command, not to time."""

    def __init__(self, args, env=None, sample_every=0.5):
        self.args = args
        self.err_path = tempfile.mktemp(prefix="stderr-", dir=WORK)
        self.time_path = tempfile.mktemp(prefix="time-", dir=WORK)
        self.err = open(self.err_path, "w")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(["/usr/bin/time", "-f", "%e %U %S %M", "-o", self.time_path] + args, env=env,
                                  stdout=subprocess.DEVNULL, stderr=self.err)
        self.pid = None  # the command's pid, once time has started it
        for _ in range(500):
            try:
                with open(f"/proc/{self.p.pid}/task/{self.p.pid}/children") as f:
                    kids = f.read().split()
            except OSError:
                kids = []
            if kids:
                self.pid = int(kids[0])
                break
            if self.p.poll() is not None:
                break
            time.sleep(0.01)
        self.samples = []  # (seconds since start, VmRSS MB)
        self.done = False
        self.result = None
        if sample_every and self.pid:
            self.thread = threading.Thread(target=self._sample, args=(sample_every,), daemon=True)
            self.thread.start()

    def rss_mb(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except (OSError, TypeError):
            pass
        return None

    def _sample(self, every):
        while not self.done:
            r = self.rss_mb()
            if r is not None:
                self.samples.append((time.monotonic() - self.t0, r))
            time.sleep(every)

    def signal(self, sig=signal.SIGTERM):
        if self.pid:
            os.kill(self.pid, sig)

    def running(self):
        return self.p.poll() is None

    def wait(self, check=True):
        """Returns (wall s, cpu s, peak RSS MB)."""
        if self.result is None:
            self.p.wait()
            self.done = True
            self.err.close()
            lines = open(self.time_path).read().splitlines() if os.path.exists(self.time_path) else []
            try:
                wall, user, sys_, rss = lines[-1].split()
                self.result = (float(wall), float(user) + float(sys_), int(rss) / 1024)
            except (IndexError, ValueError):
                self.result = (time.monotonic() - self.t0, 0.0, 0.0)
            self.failed = self.p.returncode != 0
        if check and self.failed:
            sys.exit(f"failed ({self.p.returncode}): {' '.join(self.args)}\n{self.stderr()[-4000:]}")
        return self.result

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()


def measure(args, env=None):
    return Measured(args, env).wait()


def frazil(env, *args):
    return sh(FRAZIL, *args, env=env)


def scalar(env, sql):
    return frazil(env, "sql", sql, "--format", "csv").strip().splitlines()[-1]


def lsn_int(s):
    hi, lo = s.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def copy_slot(pg, src, dst):
    pg.psql(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{dst}'")
    pg.psql(f"SELECT pg_copy_logical_replication_slot('{src}', '{dst}')")


def drop_slot(pg, name):
    pg.psql(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{name}'")


def restore(base, wh):
    """Puts the saved warehouse `base` back at `wh` (metadata holds absolute paths: same place)."""
    shutil.rmtree(wh, ignore_errors=True)
    sh("cp", "-a", base, wh)


def snapshot_totals(env, table):
    """Sums over a table's snapshots: added-records, added-files-size; and how many."""
    out = frazil(env, "table", "snapshots", table, "--format", "json")
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    if len(rows) == 1 and isinstance(rows[0], list):
        rows = rows[0]
    tot = {"snapshots": len(rows), "added-records": 0, "added-files-size": 0}
    for r in rows[1:]:  # after the initial copy
        summary = dict(kv.split("=", 1) for kv in r["summary"].split(", ") if "=" in kv)
        for k in ("added-records", "added-files-size"):
            tot[k] += int(summary.get(k, 0))
    return tot


def live_files(env, table):
    """(data files, delete files, data bytes, delete bytes, data rows) of the current snapshot."""
    out = frazil(env, "table", "files", table, "--format", "json")
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    if len(rows) == 1 and isinstance(rows[0], list):
        rows = rows[0]
    d = [r for r in rows if r["content"] == "data"]
    x = [r for r in rows if r["content"] != "data"]
    return (len(d), len(x), sum(int(r["file_size_in_bytes"]) for r in d),
            sum(int(r["file_size_in_bytes"]) for r in x), sum(int(r["record_count"]) for r in d))


def metadata_location(env, table):
    for line in frazil(env, "table", "show", table).splitlines():
        if line.startswith("metadata:"):
            return line.split(None, 1)[1].strip().removeprefix("file://")
    sys.exit(f"no metadata location for {table}")


def row(name, wall, cpu, rss, n):
    print(f"  {name:<34} wall {wall:7.2f} s  cpu {cpu:7.2f} s  peak {rss:7.0f} MB  "
          f"{n / wall / 1000:8.1f} K changes/s  {cpu * 1e6 / n:6.2f} CPU-s/M changes")


def mb(b):
    return b / 1e6


def busy():
    return open("/proc/loadavg").read().split()[:3]


# --- 1. update-heavy steady state -----------------------------------------------------------

def steady(pg, work, o):
    jobs = min(2, o.clients)
    print(f"## 1. Update-heavy steady state: pgbench TPC-B-like, scale {o.scale} "
          f"({o.scale * 100_000:,} accounts), {o.clients} clients x {o.txns:,} transactions")
    sh(os.path.join(PGBIN, "pgbench"), "-i", "-q", "-s", str(o.scale), pg.conninfo)
    tables = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history"]
    pg.psql(f"CREATE PUBLICATION pbpub FOR TABLE {', '.join(tables)}")
    wh, base = os.path.join(work, "wh-pb"), os.path.join(work, "wh-pb-base")
    env = frazil_env(wh, pg, publication="pbpub", slot="pbslot", snapshot="initial")
    # The initial copy (accounts with their mirror and saved index), then the template slot.
    snap = measure([FRAZIL, "run", "--until", "now"], env)
    print(f"  initial copy of {o.scale * 100_000:,} accounts (mirrors on): wall {snap[0]:.2f} s, "
          f"cpu {snap[1]:.2f} s, peak {snap[2]:.0f} MB")
    copy_slot(pg, "pbslot", "pbtmpl")
    sh("cp", "-a", wh, base)
    pg.psql("VACUUM ANALYZE")
    out = sh(os.path.join(PGBIN, "pgbench"), "-n", "-c", str(o.clients), "-j", str(jobs), "-t", str(o.txns),
             pg.conninfo)
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out) or re.search(r"tps = ([0-9.]+)", out)
    tps = float(m.group(1))
    end = pg.psql("SELECT pg_current_wal_lsn()").strip()
    n_txn = o.clients * o.txns

    def frazil_run(mirror, perf=False):
        restore(base, wh)
        copy_slot(pg, "pbtmpl", "pbslot")
        e = dict(env, FRAZIL_SOURCE_MIRROR="true" if mirror else "false")
        args = [FRAZIL, "run", "--until", end]
        if perf:
            data = os.path.join(work, "perf.data")
            r = measure(["perf", "record", "-q", "-F", "499", "-g", "-o", data, "--"] + args, e)
            return r, data
        return measure(args, e), None

    def recv_run():
        copy_slot(pg, "pbtmpl", "pbrecv")
        r = measure([os.path.join(PGBIN, "pg_recvlogical"), "-d", pg.conninfo, "--slot", "pbrecv", "--start",
                     "--endpos", end, "-o", "proto_version=2", "-o", "publication_names=pbpub",
                     "-o", "streaming=on", "-f", "/dev/null"])
        drop_slot(pg, "pbrecv")
        return r

    recvs, raws, mirs = [], [], []
    for _ in range(o.repeat):  # interleaved, so a busy machine (or a cold WAL cache) hurts all alike
        recvs.append(recv_run())
        raws.append(frazil_run(False)[0])
        mirs.append(frazil_run(True)[0])
    recv, raw, mir = median_run(recvs), median_run(raws), median_run(mirs)
    # What the mirror run committed (the raw tables of its warehouse).
    n = int(scalar(env, "SELECT " + " + ".join(f"(SELECT count(*) FROM raw_data.{t} WHERE _op <> 'r')"
                                               for t in tables)))
    per_txn = n / n_txn
    row("pg_recvlogical -> /dev/null", *recv, n)
    row("frazil run, raw tables only", *raw, n)
    row("frazil run, raw + mirror tables", *mir, n)
    if o.repeat > 1:
        print(f"  (each: the run of median wall among {o.repeat} interleaved runs; wall/cpu of all runs: "
              f"pg_recvlogical {', '.join(f'{r[0]:.2f}/{r[1]:.2f}' for r in recvs)} s, raw-only "
              f"{', '.join(f'{r[0]:.2f}/{r[1]:.2f}' for r in raws)} s, mirror "
              f"{', '.join(f'{r[0]:.2f}/{r[1]:.2f}' for r in mirs)} s)")
    print(f"  {n:,} changes ({per_txn:.2f} per transaction: 3 updates, 1 insert)")
    print(f"  ratio mirror/raw-only throughput: {raw[0] / mir[0]:.2f}x (goal >= 0.7x); "
          f"mirror/pg_recvlogical {recv[0] / mir[0]:.2f}x; raw-only/pg_recvlogical {recv[0] / raw[0]:.2f}x")
    print(f"  mirror CPU: +{(mir[1] - raw[1]) * 1e6 / n:.2f} CPU-s per million changes over raw-only "
          f"(CPU ratio raw-only/mirror {raw[1] / mir[1]:.2f}x: the throughput ratio if CPU bound, steadier than wall "
          f"on a busy machine); peak RSS +{mir[2] - raw[2]:.0f} MB")
    produced = tps * per_txn
    applied = n / mir[0]
    print(f"  pgbench max: {tps:,.0f} TPS = {produced / 1000:,.1f} K changes/s produced; frazil with mirrors "
          f"applies {applied / 1000:,.1f} K changes/s = {applied / produced:.2f}x of that "
          f"({'keeps up' if applied >= produced else 'does NOT keep up'}; catch-up run alone on the machine)")
    files = live_files(env, "mirror.pgbench_accounts")
    w = snapshot_totals(env, "mirror.pgbench_accounts")
    print(f"  mirror.pgbench_accounts after the run: {files[0]} data files ({mb(files[2]):.1f} MB), "
          f"{files[1]} delete files ({mb(files[3]):.2f} MB); {w['snapshots'] - 1} commits wrote "
          f"{w['added-records']:,} rows ({mb(w['added-files-size']):.0f} MB) for {o.txns * o.clients:,} updates")
    idx = os.path.join(wh, ".frazil", "mirror", "mirror.pgbench_accounts.idx")
    if os.path.exists(idx):
        print(f"  index file after `--until` exit: {mb(os.path.getsize(idx)):.1f} MB for {o.scale * 100_000:,} keys")
    else:
        print("  index file after `--until` exit: MISSING (not saved)")
    verify(env, "mirror.pgbench_accounts")
    if o.perf:
        r, data = frazil_run(True, perf=True)
        perf_report(data, f"an extra mirror run under perf record -g (wall {r[0]:.2f} s)")
    drop_slot(pg, "pbslot")
    drop_slot(pg, "pbtmpl")


def median_run(runs):
    return sorted(runs, key=lambda r: r[0])[len(runs) // 2]


def verify(env, table):
    r = subprocess.run([FRAZIL, "verify", table, "--format", "json", "--timeout", "30"], env=env,
                       capture_output=True, text=True)
    if r.returncode in (0, 1) and r.stdout.strip():
        v = json.loads(r.stdout)
        print(f"  frazil verify {table}: {'equal' if v['equal'] else 'DIFFERENT'} ({v['mirror_rows']:,} rows"
              + ("" if v["equal"] else f"; missing {v['missing_in_mirror']}, extra {v['extra_in_mirror']}, "
                 f"different {v['different_values']}") + ")")
    else:
        print(f"  frazil verify {table}: error (exit {r.returncode}): {r.stderr.strip()[-500:]}")


def perf_report(data, what):
    r = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,symbol", "--stdio",
                        "-g", "none", "--percent-limit", "1.5"], capture_output=True, text=True)
    lines = [l for l in r.stdout.splitlines() if l.strip() and not l.startswith("#")]
    print(f"  perf, {what}: self time by DSO and symbol (>= 1.5%):")
    for l in lines[:25]:
        print("    " + l.strip()[:150])


# --- 2-4. read cost, storage, index ---------------------------------------------------------

def load_updates(pg, o):
    """o.updates random-key updates of table u, 1,000 rows per transaction, 50 per psql call."""
    per_txn = 1000
    txns = max(1, o.updates // per_txn)
    done = 0
    while done < txns:
        k = min(50, txns - done)
        pg.psql("".join(
            f"BEGIN; UPDATE u SET a = a + 1, c = c + 0.01, d = now() WHERE id IN (SELECT DISTINCT "
            f"1 + (hashint8(g::bigint * 1000003 + {done + i}) & 2147483647) % {o.rows} "
            f"FROM generate_series(1, {per_txn}) g); COMMIT; "
            for i in range(k)))
        done += k


def wait_confirmed(pg, slot, lsn, proc):
    """Waits until `slot` confirmed `lsn`: frazil confirms an LSN once everything before it is committed."""
    while True:
        c = pg.psql(f"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{slot}'").strip()
        if c and lsn_int(c) >= lsn_int(lsn):
            return
        if not proc.running():
            proc.wait()
            sys.exit(f"frazil run stopped before confirming {lsn}:\n{proc.stderr()[-3000:]}")
        time.sleep(0.2)


def idle_run(pg, env, slot, lsn):
    """`frazil run` until it committed `lsn` and settled; returns (VmRSS MB then, Measured after SIGTERM)."""
    p = Measured([FRAZIL, "run"], dict(env, FRAZIL_LOG_LEVEL="info"), sample_every=0.2)
    wait_confirmed(pg, slot, lsn, p)
    time.sleep(2)
    rss = p.rss_mb()
    p.signal(signal.SIGTERM)
    p.wait()
    return rss, p


def read_cost(pg, work, o):
    print(f"\n## 2. Read cost: {o.rows:,} rows (primary key, 5 columns), {o.updates:,} random-key updates "
          f"(1,000 per transaction) streamed into the mirror by a running `frazil run`")
    pg.psql("CREATE TABLE u(id int PRIMARY KEY, a int, b text, c numeric(12,2), d timestamptz)")
    pg.psql(f"INSERT INTO u SELECT g, g % 1000, md5(g::text), g / 7.0, now() FROM generate_series(1, {o.rows}) g")
    pg.psql("VACUUM ANALYZE u")
    pg.psql("CREATE PUBLICATION upub FOR TABLE u")
    wh, fresh = os.path.join(work, "wh-u"), os.path.join(work, "wh-u-fresh")
    env = frazil_env(wh, pg, publication="upub", slot="uslot", snapshot="initial")
    snap = measure([FRAZIL, "run", "--until", "now"], env)
    print(f"  initial copy (mirrors on): wall {snap[0]:.2f} s, cpu {snap[1]:.2f} s, peak {snap[2]:.0f} MB")
    start = pg.psql("SELECT pg_current_wal_lsn()").strip()
    run = Measured([FRAZIL, "run"], dict(env, FRAZIL_LOG_LEVEL="info"))
    t0 = time.monotonic()
    load_updates(pg, o)
    t_load = time.monotonic() - t0
    end = pg.psql("SELECT pg_current_wal_lsn()").strip()
    wait_confirmed(pg, "uslot", end, run)
    t_caught = time.monotonic() - t0
    run.signal(signal.SIGTERM)
    wall, cpu, peak = run.wait()
    n = int(scalar(env, "SELECT count(*) FROM raw_data.u WHERE _op <> 'r'"))
    print(f"  {n:,} updates ({(lsn_int(end) - lsn_int(start)) / 1e6:,.0f} MB of WAL) loaded in {t_load:.1f} s "
          f"({n / t_load / 1000:.1f} K/s); frazil caught up {t_caught - t_load:.1f} s after the load ended; "
          f"frazil cpu {cpu:.1f} s = {cpu * 1e6 / n:.2f} CPU-s per million changes, peak {peak:.0f} MB")
    s = run.samples
    if s:
        marks = [s[min(len(s) - 1, int(len(s) * q))] for q in (0.1, 0.25, 0.5, 0.75, 1.0)]
        print("  VmRSS over the run: " + ", ".join(f"{t:.0f} s {r:.0f} MB" for t, r in marks))
    verify(env, "mirror.u")
    written = snapshot_totals(env, "mirror.u")
    print(f"  mirror commits: {written['snapshots']}; rows written into mirror data files "
          f"{written['added-records']:,} = {written['added-records'] / n:.1f} per change (rewrites, merges), "
          f"{mb(written['added-files-size']):,.0f} MB of data and delete files written")

    # The same rows written fresh: an initial copy into another warehouse (its mirror is written
    # from the copy in one go).
    fenv = frazil_env(fresh, pg, publication="upub", slot="ufresh", snapshot="initial_only")
    fr = measure([FRAZIL, "run"], fenv)
    print(f"  fresh copy (initial_only into another warehouse): wall {fr[0]:.2f} s, cpu {fr[1]:.2f} s")

    q = ("SELECT count(*), sum(id), sum(a), sum(length(b)), sum(c), sum(epoch_us(d)) FROM mirror.u")
    res = {}
    for name, e in (("mirror", env), ("fresh", fenv)):
        times, out = [], None
        for _ in range(5):
            t = time.monotonic()
            out = frazil(e, "sql", q, "--format", "csv").strip().splitlines()[-1]
            times.append(time.monotonic() - t)
        res[name] = (statistics.median(times), out)
    same = res["mirror"][1] == res["fresh"][1]
    print(f"  full scan `{q}` through `frazil sql`, median of 5 (process start-up included on both sides):")
    print(f"    streamed mirror {res['mirror'][0]:.3f} s, fresh copy {res['fresh'][0]:.3f} s: "
          f"{res['mirror'][0] / res['fresh'][0]:.2f}x (goal <= 1.3x); results {'equal' if same else 'DIFFER'}")
    if not same:
        print(f"    mirror: {res['mirror'][1]}\n    fresh:  {res['fresh'][1]}")
    duck = duckdb_scan({"mirror": metadata_location(env, "mirror.u"), "fresh": metadata_location(fenv, "mirror.u")})
    if duck:
        print(f"  same through DuckDB {duck['version']} iceberg_scan (in process, median of 5): streamed mirror "
              f"{duck['mirror'][0]:.3f} s, fresh {duck['fresh'][0]:.3f} s: {duck['mirror'][0] / duck['fresh'][0]:.2f}x; "
              f"results {'equal' if duck['mirror'][1] == duck['fresh'][1] else 'DIFFER'}")
    mf, ff = live_files(env, "mirror.u"), live_files(fenv, "mirror.u")
    print(f"  files: streamed mirror {mf[0]} data + {mf[1]} delete files; fresh copy {ff[0]} data + {ff[1]} delete")

    print("\n## 3. Storage: live data + delete files of the current snapshot")
    m_total, f_total = mf[2] + mf[3], ff[2] + ff[3]
    print(f"  streamed mirror {mb(m_total):.1f} MB ({mb(mf[2]):.1f} MB data holding {mf[4]:,} rows before deletes, "
          f"{mb(mf[3]):.2f} MB deletes); fresh copy {mb(f_total):.1f} MB ({ff[4]:,} rows): "
          f"{m_total / f_total:.2f}x (goal <= 1.5x)")

    print("\n## 4. Key index")
    idx = os.path.join(wh, ".frazil", "mirror", "mirror.u.idx")
    if os.path.exists(idx):
        size = os.path.getsize(idx)
        print(f"  index file after SIGTERM: {mb(size):.1f} MB for {o.rows:,} keys = "
              f"{size / o.rows:.1f} bytes per key ({mb(size) * 1e6 / o.rows:.1f} MB per million keys)")
    else:
        print("  index file after SIGTERM: MISSING: frazil did not save it (every start rebuilds the index)")
    # Memory: `frazil run` on the same warehouse and slot state, with and without mirrors, after
    # applying one update (the index is loaded at a mirror's first change), idle.
    saved = os.path.join(work, "wh-u-saved")
    sh("cp", "-a", wh, saved)
    copy_slot(pg, "uslot", "utmpl")
    pg.psql("UPDATE u SET a = a + 1 WHERE id = 1")
    one = pg.psql("SELECT pg_current_wal_lsn()").strip()
    runs = {}
    for name, e in (("off", dict(env, FRAZIL_SOURCE_MIRROR="false")), ("on", env), ("rebuild", env)):
        restore(saved, wh)
        if name == "rebuild" and os.path.exists(idx):
            os.unlink(idx)
        copy_slot(pg, "utmpl", "uslot")
        runs[name] = idle_run(pg, e, "uslot", one)
    (off_rss, off), (on_rss, on), (re_rss, rb) = runs["off"], runs["on"], runs["rebuild"]
    k = o.rows / 1e6
    print(f"  idle `frazil run` after one change, VmRSS: with mirror {on_rss:.0f} MB (peak {on.wait()[2]:.0f} MB), "
          f"without {off_rss:.0f} MB (peak {off.wait()[2]:.0f} MB): index = {(on_rss - off_rss) / k:.1f} MB per "
          f"million keys (peaks: {(on.wait()[2] - off.wait()[2]) / k:.1f})")
    log = on.stderr()
    how = ("loaded from the file" if "loaded the key index" in log else
           "REBUILT by scanning the table" if "rebuilt the key index" in log else "neither loaded nor rebuilt?")
    print(f"  (index {how} in the run with the mirror; the RSS difference also holds DuckDB's buffers of that work)")
    # The index's own structure (key_index.h): 24-byte slots, a power of two >= 1024 kept under 70 %
    # full, and an arena of length-prefixed keys ('v' || id for one integer key column).
    cap = 1024
    while o.rows * 10 > cap * 7:
        cap *= 2
    arena = sum((len(str(i)) + 2) * c for i, c in digit_counts(o.rows))
    after_updates, after_load = saved_index(run.stderr(), "mirror.u"), saved_index(log, "mirror.u")
    if after_updates and after_load:
        print(f"  index memory as frazil reports it when saving: {mb(after_updates[1]):.0f} MB after the "
              f"{n:,} updates, {mb(after_load[1]):.0f} MB when loaded from the file "
              f"({after_updates[0]:,} keys; {after_updates[1] / after_load[1]:.2f}x)")
    print(f"  index structure for {o.rows:,} keys: {cap:,} slots x 24 B + {mb(arena):.1f} MB of keys = "
          f"{mb(cap * 24 + arena) / k:.0f} MB per million keys before updates: freed key bytes are only reclaimed when the table grows")
    m = re.search(r"rebuilt the key index[^\n]*", rb.stderr())
    ms = re.search(r'ms[\"=: ]+(\d+)', m.group(0)) if m else None
    print(f"  without the index file: rebuilt from the table in {ms.group(1) if ms else '?'} ms; "
          f"idle VmRSS {re_rss:.0f} MB, peak {rb.wait()[2]:.0f} MB")
    drop_slot(pg, "utmpl")


def saved_index(log, table):
    """(keys, memory bytes, file bytes) from frazil's "saved the key index" log line, or None."""
    m = re.search(r"saved the key index of a mirror table table=" + re.escape(table) +
                  r" keys=(\d+) memory_bytes=(\d+) file_bytes=(\d+)", log)
    return tuple(int(x) for x in m.groups()) if m else None


def digit_counts(n):
    """[(a number with d digits, how many of 1..n have d digits)]."""
    out, lo = [], 1
    while lo <= n:
        hi = min(n, lo * 10 - 1)
        out.append((lo, hi - lo + 1))
        lo *= 10
    return out


DUCK_CODE = r"""
import json, statistics, sys, time, importlib, pathlib, tempfile
import duckdb
def ext(mod, name):
    m = importlib.import_module(mod)
    return str(pathlib.Path(m.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension")
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
con.execute(f"SET home_directory='{tempfile.mkdtemp()}'")
con.execute(f"LOAD '{ext('duckdb_extension_avro', 'avro')}'")
con.execute(f"LOAD '{ext('duckdb_extension_iceberg', 'iceberg')}'")
out = {"version": duckdb.__version__}
for name, loc in json.loads(sys.argv[1]).items():
    q = f"SELECT count(*), sum(id), sum(a), sum(length(b)), sum(c), sum(epoch_us(d)) FROM iceberg_scan('{loc}')"
    times, res = [], None
    for _ in range(5):
        t = time.monotonic(); res = con.execute(q).fetchall(); times.append(time.monotonic() - t)
    out[name] = (statistics.median(times), str(res))
print(json.dumps(out))
"""


def duckdb_scan(locations):
    r = subprocess.run([PY, "-c", DUCK_CODE, json.dumps(locations)], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  (DuckDB iceberg_scan failed: {r.stderr.strip()[-600:]})")
        return None
    return json.loads(r.stdout)


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sections", nargs="*", help="steady (1) and/or read (2, 3, 4); default both")
    ap.add_argument("--quick", action="store_true", help="small sizes: a 1-2 minute smoke run")
    ap.add_argument("--scale", type=int)
    ap.add_argument("--clients", type=int)
    ap.add_argument("--txns", type=int)
    ap.add_argument("--rows", type=int)
    ap.add_argument("--updates", type=int)
    ap.add_argument("--perf", action="store_true", help="perf record the mirror run of section 1")
    ap.add_argument("--repeat", type=int, help="frazil runs of section 1 per configuration, interleaved; the "
                    "fastest is shown (BENCH_MIRROR_REPEAT, default 3; quick: 1)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory and cluster (printed)")
    o = ap.parse_args()
    q = o.quick
    o.scale = o.scale or int(env("BENCH_MIRROR_SCALE", 1 if q else 10))
    o.clients = o.clients or int(env("BENCH_MIRROR_CLIENTS", 4))
    o.txns = o.txns or int(env("BENCH_MIRROR_TXNS", 2_500 if q else 50_000))
    o.rows = o.rows or int(env("BENCH_MIRROR_ROWS", 100_000 if q else 1_000_000))
    o.updates = o.updates or int(env("BENCH_MIRROR_UPDATES", 300_000 if q else 10_000_000))
    o.repeat = o.repeat or int(env("BENCH_MIRROR_REPEAT", 1 if q else 3))
    which = o.sections or ["steady", "read"]
    if set(which) - {"steady", "read"}:
        ap.error("sections are: steady, read")
    if not os.access(FRAZIL, os.X_OK):
        sys.exit(f"no frazil binary at {FRAZIL} (build it, or set FRAZIL_BIN)")
    print(f"# Mirror tables (bench/mirror.py{' --quick' if q else ''}): {FRAZIL}, {os.cpu_count()} cores, "
          f"load average {' '.join(busy())} at start")
    global WORK
    work = WORK = tempfile.mkdtemp(prefix="frazil-bench-mirror-", dir="/tmp")
    os.chmod(work, 0o755)
    pg = cdc.Cluster()
    try:
        if "steady" in which:
            steady(pg, work, o)
        if "read" in which:
            read_cost(pg, work, o)
        print(f"\nload average at the end: {' '.join(busy())}")
    finally:
        if o.keep:
            print(f"kept: work {work}, cluster {pg.dir} ({pg.conninfo})")
        else:
            pg.destroy()
            subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
