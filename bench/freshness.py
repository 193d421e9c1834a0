#!/usr/bin/env python3
"""End-to-end freshness: PostgreSQL commit -> row queryable in the bank's Data Vault
(data_vault.s_users), with `frazil run` doing CDC and orchestrating the models, on a throwaway
PostgreSQL 15 (`make bench`).

The bank (examples/bank/schema.sql + seed.sql, --users users) under a steady background
workload (examples/bank/workload.sh, --rate transactions/s, 4 clients: transfers, renames, new
users, ...). `frazil run` streams it into raw_data.* and, with models.project =
examples/bank/models, materializes parsed_data.* and data_vault.* whenever their inputs change
(the bank's asset policy: the prototype's models are not automatic). Every --interval seconds a
probe transaction renames one user to a unique marker; a poller runs `frazil sql` (a process per
poll, then sleeps 100 ms) looking for every outstanding marker in raw_data.users and
data_vault.s_users.

Per probe: commit = PostgreSQL's clock_timestamp() in the statement right after the probe's
COMMIT returned (same host clock as ours); then
  - seen by polling: when a `frazil sql` poll first returned the row (what a user polling sees;
    up to one poll cycle late, the cycle is printed);
  - exact: the commit time of the Iceberg snapshot that added the data file holding the row
    (read afterwards from the tables' manifests), no poll granularity.
Latency = raw_data.users (CDC) and data_vault.s_users (CDC + orchestrator + models), and the
model part alone (s_users - raw). Median / p90 / max over the probes, for the orchestrator's
defaults (debounce 500ms, max_delay 3s) and for debounce 200ms; next to the goal (median < 5 s)
and the prototype (Flink checkpoints every minute + a Dagster sensor polling every 30 s: ~30-90 s).

Sizes (flag / environment, default; --quick: ~40 s): --probes BENCH_FRESH_PROBES 20 (quick 5),
--interval 2 s (quick 1.2), --rate BENCH_FRESH_RATE 100 tps, --users 10,000 (quick 1,000).
Binary: FRAZIL_BIN (default build/frazil).
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdc  # noqa: E402  (Cluster: the CDC bench's throwaway PostgreSQL)
from cdc import sh  # noqa: E402

ROOT = cdc.ROOT
PGBIN = cdc.PGBIN
PY = os.path.join(ROOT, ".venv", "bin", "python")
FRAZIL = os.environ.get("FRAZIL_BIN", os.path.join(ROOT, "build", "frazil"))
BANK = os.path.join(ROOT, "examples", "bank")
POLL_SLEEP = 0.1
PROCS = []  # frazil processes started here (stopped on exit)

CONFIG = """warehouse: {wh}
source:
  conninfo: "{conninfo}"
models:
  project: {project}
http:
  listen: 127.0.0.1:{port}
log:
  level: info
orchestrator:
  debounce: {debounce}
  max_delay: {max_delay}
  assets:
    - match: "data_vault_prototype.*"
      automatic: false
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def metrics(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def cpu_seconds(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * len(xs))) - 1))]


def stats(xs):
    return f"median {statistics.median(xs):5.2f} s  p90 {pct(xs, 0.9):5.2f} s  max {max(xs):5.2f} s"


class Poller(threading.Thread):
    """Runs `frazil sql` for the outstanding markers, then sleeps POLL_SLEEP, until stopped."""

    def __init__(self, cfg):
        super().__init__(daemon=True)
        self.cfg = cfg
        self.pending = {}      # marker -> set of tables not yet seen
        self.seen = {}         # (marker, table) -> time first seen
        self.cycles = []       # seconds per poll (process + query)
        self.errors = 0
        self.lock = threading.Lock()
        self.stop = False

    def add(self, marker):
        with self.lock:
            self.pending[marker] = {"raw", "vault"}

    def outstanding(self):
        with self.lock:
            return len(self.pending)

    def run(self):
        while not self.stop:
            with self.lock:
                markers = list(self.pending)
            if not markers:
                time.sleep(POLL_SLEEP)
                continue
            lst = ", ".join(f"'{m}'" for m in markers)
            q = (f"SELECT 'raw', name FROM raw_data.users WHERE name IN ({lst}) UNION ALL "
                 f"SELECT 'vault', name FROM data_vault.s_users WHERE name IN ({lst})")
            t0 = time.time()
            r = subprocess.run([FRAZIL, "-c", self.cfg, "sql", q, "--format", "csv"], capture_output=True, text=True)
            t1 = time.time()
            self.cycles.append(t1 - t0)
            if r.returncode != 0:
                self.errors += 1
            else:
                with self.lock:
                    for line in r.stdout.strip().splitlines()[1:]:
                        table, _, m = line.partition(",")
                        if m in self.pending and table in self.pending[m]:
                            self.seen[(m, table)] = t1
                            self.pending[m].discard(table)
                            if not self.pending[m]:
                                del self.pending[m]
            time.sleep(POLL_SLEEP)


EXACT = r"""
import json, sys, duckdb
from pyiceberg.catalog.sql import SqlCatalog
wh, markers = sys.argv[1], json.loads(sys.argv[2])
cat = SqlCatalog("frazil", uri=f"sqlite:///{wh}/catalog.db", warehouse=f"file://{wh}")
out = {}
for key, name in (("raw", "raw_data.users"), ("vault", "data_vault.s_users")):
    t = cat.load_table(name)
    ts = {s.snapshot_id: s.timestamp_ms for s in t.snapshots()}
    added = {}
    for m in t.current_snapshot().manifests(t.io):
        for e in m.fetch_manifest_entry(t.io, discard_deleted=True):
            if e.data_file.content.value == 0:
                added[e.data_file.file_path.removeprefix("file://")] = ts.get(e.snapshot_id)
    files = list(added)
    lst = ", ".join("'" + x.replace("'", "''") + "'" for x in markers)
    rows = duckdb.sql(f"SELECT filename, name FROM read_parquet({files!r}, filename = true) WHERE name IN ({lst})").fetchall()
    for f, n in rows:
        v = added.get(f)
        if v is not None:
            out.setdefault(n, {})[key] = min(v, out.get(n, {}).get(key, v)) / 1000.0
print(json.dumps(out))
"""


def exact_times(wh, markers):
    r = subprocess.run([PY, "-c", EXACT, wh, json.dumps(markers)], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  (exact times from the snapshots failed: {r.stderr.strip()[-800:]})")
        return {}
    return json.loads(r.stdout)


def start_frazil(cfg, work, port, name):
    err = open(os.path.join(work, f"frazil-{name}.log"), "w")
    p = subprocess.Popen([FRAZIL, "-c", cfg, "run"], stdout=subprocess.DEVNULL, stderr=err)
    return p, err


def wait_idle(p, port, what, since, timeout=180):
    """Waits until this process has materialized data_vault.s_users (a run finished after `since`,
    Unix seconds) and no run is queued or running, or a run finished 2 s ago (a steady workload
    may keep the orchestrator busy)."""
    t0 = time.monotonic()
    first = None
    while time.monotonic() - t0 < timeout:
        if p.poll() is not None:
            sys.exit(f"frazil run exited ({p.returncode}) while waiting for {what}")
        m = metrics(port) or {}
        done = m.get('frazil_asset_last_success_timestamp_seconds{asset="data_vault.s_users"}', 0) >= since
        if done and first is None:
            first = time.monotonic()
        if done and (m.get("frazil_runs_running", 1) == 0 and m.get("frazil_runs_queued", 1) == 0
                     or time.monotonic() - first > 2):
            return time.monotonic() - t0
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {what}")


def probe(pg, marker, k, users):
    out = sh(os.path.join(PGBIN, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", pg.conninfo,
             "-c", f"UPDATE users SET name = '{marker}' WHERE id = (SELECT id FROM users ORDER BY id OFFSET {k % users} LIMIT 1)",
             "-c", "SELECT extract(epoch FROM clock_timestamp())")
    return float(out.strip().splitlines()[-1])


def phase(pg, work, o, name, debounce, max_delay):
    wh = os.path.join(work, "wh")
    cfg = os.path.join(work, f"frazil-{name}.yaml")
    port = free_port()
    with open(cfg, "w") as f:
        f.write(CONFIG.format(wh=wh, conninfo=pg.conninfo, project=os.path.join(BANK, "models"), port=port,
                              debounce=debounce, max_delay=max_delay))
    since = time.time()
    p, err = start_frazil(cfg, work, port, name)
    PROCS.append(p)
    settle = wait_idle(p, port, "the first materialization", since)
    runs_before = run_ids(cfg)
    time.sleep(o.interval)  # the workload's changes since start get their run
    cpu0, t_cpu0 = cpu_seconds(p.pid), time.monotonic()
    poller = Poller(cfg)
    poller.start()
    probes = []
    for i in range(o.probes):
        marker = f"probe-{name}-{i}-{uuid.uuid4().hex[:8]}"
        poller.add(marker)
        t_commit = probe(pg, marker, 7919 * (i + 1) + len(name), o.users)
        probes.append((marker, t_commit))
        time.sleep(o.interval)
    deadline = time.monotonic() + 60
    while poller.outstanding() and time.monotonic() < deadline:
        time.sleep(0.2)
    poller.stop = True
    poller.join()
    cpu1, t_cpu1 = cpu_seconds(p.pid), time.monotonic()
    m = metrics(port) or {}
    stop_ms = time.time() * 1000
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    err.close()
    # Runs of this phase; one in progress at the SIGTERM that ends it is interrupted (retried on the
    # next start): not counted.
    runs = [r for r in run_list(cfg) if r["id"] not in runs_before and r["trigger"].startswith("sensor")
            and r["started_ms"] and r["finished_ms"]
            and not (r["status"] == "interrupted" and r["finished_ms"] >= stop_ms)]
    return dict(name=name, debounce=debounce, max_delay=max_delay, settle=settle, probes=probes, poller=poller,
                cpu=(cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None, span=t_cpu1 - t_cpu0,
                metrics=m, runs=runs, wh=wh)


def run_list(cfg):
    r = subprocess.run([FRAZIL, "-c", cfg, "runs", "list", "--limit", "100000", "--format", "json"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return []
    try:
        return json.loads(r.stdout)
    except ValueError:
        return []


def run_ids(cfg):
    return {r["id"] for r in run_list(cfg)}


def report(res, exact):
    print(f"\n## debounce {res['debounce']}, max_delay {res['max_delay']}: {len(res['probes'])} probes")
    poller = res["poller"]
    seen = poller.seen
    rows = {"raw": [], "vault": [], "model": []}
    xs = {"raw": [], "vault": [], "model": []}
    missing = []
    for m, tc in res["probes"]:
        r, v = seen.get((m, "raw")), seen.get((m, "vault"))
        if r is None or v is None:
            missing.append(m)
        if r is not None:
            rows["raw"].append(r - tc)
        if v is not None:
            rows["vault"].append(v - tc)
        if r is not None and v is not None:
            rows["model"].append(v - r)
        e = exact.get(m, {})
        if "raw" in e:
            xs["raw"].append(e["raw"] - tc)
        if "vault" in e:
            xs["vault"].append(e["vault"] - tc)
        if "raw" in e and "vault" in e:
            xs["model"].append(e["vault"] - e["raw"])
    cyc = statistics.median(poller.cycles) if poller.cycles else 0
    print(f"  seen by polling `frazil sql` (a process per poll: {cyc * 1000:.0f} ms median per poll + "
          f"{POLL_SLEEP * 1000:.0f} ms sleep = up to {cyc + POLL_SLEEP:.2f} s late; {len(poller.cycles)} polls"
          f"{f', {poller.errors} failed' if poller.errors else ''}):")
    labels = {"raw": "commit -> raw_data.users (CDC)", "vault": "commit -> data_vault.s_users",
              "model": "  of which models (s_users - raw)"}
    for k in ("raw", "vault", "model"):
        if rows[k]:
            print(f"    {labels[k]:<36} {stats(rows[k])}")
    print("  exact (commit time of the Iceberg snapshot that added the row):")
    for k in ("raw", "vault", "model"):
        if xs[k]:
            print(f"    {labels[k]:<36} {stats(xs[k])}")
    if missing:
        print(f"  NOT SEEN within 60 s after the last probe: {len(missing)} of {len(res['probes'])} markers "
              f"({', '.join(missing[:3])}...)")
    best = xs["vault"] or rows["vault"]
    if best:
        med = statistics.median(best)
        print(f"  end-to-end median {med:.2f} s: goal < 5 s {'MET' if med < 5 else 'MISSED'}; "
              f"{60 / med:.0f}x fresher than the prototype's ~60 s midpoint (30-90 s)")
    runs = res["runs"]
    if runs:
        d = [(r["finished_ms"] - r["started_ms"]) / 1000 for r in runs]
        wait = [(r["started_ms"] - r["created_ms"]) / 1000 for r in runs]
        print(f"  sensor runs during the probes: {len(runs)} ({len(runs) / res['span'] * 60:.0f}/min), "
              f"duration median {statistics.median(d):.2f} s, max {max(d):.2f} s; queued->started median "
              f"{statistics.median(wait):.2f} s")
        if len(d) >= 6:
            h = len(d) // 2
            by_start = [x for _, x in sorted(zip((r["started_ms"] for r in runs), d))]
            print(f"    run duration, first half of the phase vs second half: median {statistics.median(by_start[:h]):.2f} s "
                  f"vs {statistics.median(by_start[h:]):.2f} s")
        bad = [r for r in runs if r["status"] != "succeeded"]
        if bad:
            kinds = {}
            for r in bad:
                kinds.setdefault((r["status"], r["error"][:300]), []).append(r["id"])
            for (status, error), ids in kinds.items():
                print(f"    {len(ids)} run(s) {status} (ids {', '.join(map(str, ids[:5]))}): {error or '(no error)'}")
    m = res["metrics"]
    ticks, tick_s = m.get("frazil_orchestrator_ticks_total"), m.get("frazil_orchestrator_tick_seconds_total")
    if res["cpu"] is not None:
        print(f"  frazil run (CDC + orchestrator + model runs) CPU {res['cpu']:.1f} s over {res['span']:.0f} s = "
              f"{100 * res['cpu'] / res['span']:.0f}% of one core"
              + (f"; orchestrator ticks {ticks:.0f}, {1000 * tick_s / ticks:.2f} ms each" if ticks else ""))
    return statistics.median(best) if best else None


def busy():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a ~40 s smoke run")
    ap.add_argument("--probes", type=int)
    ap.add_argument("--interval", type=float)
    ap.add_argument("--rate", type=int)
    ap.add_argument("--users", type=int)
    ap.add_argument("--debounces", default="500ms,200ms",
                    help="debounce of each phase, in order (max_delay 3s); default 500ms,200ms")
    ap.add_argument("--keep", action="store_true", help="keep the work directory and cluster (printed)")
    o = ap.parse_args()
    q = o.quick
    o.probes = o.probes or int(env("BENCH_FRESH_PROBES", 5 if q else 20))
    o.interval = o.interval or (1.2 if q else 2.0)
    o.rate = o.rate or int(env("BENCH_FRESH_RATE", 100))
    o.users = o.users or (1_000 if q else 10_000)
    if not os.access(FRAZIL, os.X_OK):
        sys.exit(f"no frazil binary at {FRAZIL} (build it, or set FRAZIL_BIN)")
    print(f"# Freshness (bench/freshness.py{' --quick' if q else ''}): {FRAZIL}, {os.cpu_count()} cores, "
          f"load average {busy()} at start")
    work = tempfile.mkdtemp(prefix="frazil-bench-fresh-", dir="/tmp")
    os.chmod(work, 0o755)
    pg = cdc.Cluster()
    load = None
    try:
        psql = [os.path.join(PGBIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.conninfo]
        sh(*psql, "-f", os.path.join(BANK, "schema.sql"))
        sh(*psql, "-v", f"users={o.users}", "-f", os.path.join(BANK, "seed.sql"))
        print(f"bank: {o.users:,} users, {2 * o.users:,} accounts, {7 * o.users:,} transfers; workload "
              f"examples/bank/workload.sh --rate {o.rate} --clients 4 (transfers 70%, renames 10%, new users 8%, ...); "
              f"a probe every {o.interval} s")
        total = len(o.debounces.split(",")) * (o.probes * o.interval + 40) + 120
        load = subprocess.Popen([os.path.join(BANK, "workload.sh"), pg.conninfo, "--rate", str(o.rate),
                                 "--duration", str(int(total)), "--clients", "4"],
                                stdout=open(os.path.join(work, "workload.out"), "w"), stderr=subprocess.STDOUT,
                                env=dict(os.environ, PG_BIN=PGBIN))
        results = []
        for debounce in o.debounces.split(","):
            results.append(phase(pg, work, o, "d" + debounce, debounce, "3s"))
        markers = [m for r in results for m, _ in r["probes"]]
        exact = exact_times(results[0]["wh"], markers)
        meds = [report(r, exact) for r in results]
        print(f"\n(first start: initial copy of the bank + first materialization of every model took "
              f"{results[0]['settle']:.1f} s; prototype for comparison: Flink checkpoints every 60 s, then a "
              f"30 s sensor poll and the dbt run: ~30-90 s)")
        if len(meds) == 2 and all(meds):
            print(f"debounce {results[1]['debounce']} vs {results[0]['debounce']}: median {meds[1]:.2f} s vs "
                  f"{meds[0]:.2f} s ({meds[0] / meds[1]:.2f}x; the phases run in this order on one warehouse, so the "
                  f"second also has the first's history: swap them with --debounces to check)")
        # Model tables after both phases: merges (hubs, links) add position-delete files every run.
        cfg = os.path.join(work, f"frazil-d{o.debounces.split(',')[-1]}.yaml")
        for t in ("data_vault.h_users", "data_vault.l_users_accounts", "data_vault.s_users", "raw_data.users"):
            r = subprocess.run([FRAZIL, "-c", cfg, "table", "show", t], capture_output=True, text=True)
            snaps = subprocess.run([FRAZIL, "-c", cfg, "table", "snapshots", t, "--format", "json"], capture_output=True,
                                   text=True).stdout.count("\n")
            m = [l.split(":", 1)[1].strip() for l in r.stdout.splitlines() if l.startswith("rows:")]
            print(f"{t:<28} {snaps:5d} snapshots; {m[0] if m else '?'}")
        print(f"load average at the end: {busy()}")
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait()
        if load and load.poll() is None:
            load.send_signal(signal.SIGINT)
            try:
                load.wait(timeout=10)
            except subprocess.TimeoutExpired:
                load.kill()
        if o.keep:
            print(f"kept: work {work}, cluster {pg.dir} ({pg.conninfo})")
        else:
            pg.destroy()
            subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
