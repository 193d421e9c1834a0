#!/usr/bin/env python3
"""Orchestrator overhead (`make bench`), each figure next to what it is an overhead on.

1. Idle: `frazil run` on the bank (examples/bank, --users users) with models.project =
   examples/bank/models (18 model assets) and no source changes after the first materialization:
   CPU-seconds over --idle seconds from /proc/<pid>/stat, and per tick from /metrics
   (frazil_orchestrator_tick_seconds_total / frazil_orchestrator_ticks_total); next to the same
   `frazil run` with the orchestrator off (orchestrator.enabled: false), idle as long, in the same
   run: the difference is what orchestration costs while nothing happens.
2. Per-run overhead: `frazil materialize trivial` (a one-row table model over a one-row table,
   its run recorded in the run store) vs the model's own query time (its run log line "1/1
   success ... (x s)") and vs the same model through `frazil models run --select trivial` (no run
   store) and `frazil sql "SELECT 1"` (process start); median of --reps.
3. Sensor latency, debounce 0: one-row updates of public.users (--changes, each after the
   previous one's run finished) under `frazil run` with orchestrator.debounce 0: from the commit of
   the raw_data.users snapshot holding the change (its committed_at) to the sensor run's queue and
   start (created_ms / started_ms in `frazil runs list`), and to the end of the run.

Sizes (flag, default; --quick: ~35 s): --idle 60 s (quick 10), --reps 5 (quick 3), --changes 10
(quick 4), --users 1,000. Binary: FRAZIL_BIN (default build/frazil).
"""
import argparse
import datetime as dt
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdc  # noqa: E402  (Cluster: the CDC bench's throwaway PostgreSQL)
from cdc import sh  # noqa: E402

ROOT = cdc.ROOT
PGBIN = cdc.PGBIN
FRAZIL = os.environ.get("FRAZIL_BIN", os.path.join(ROOT, "build", "frazil"))
BANK = os.path.join(ROOT, "examples", "bank")
PROCS = []

CONFIG = """warehouse: {wh}
source:
  conninfo: "{conninfo}"
models:
  project: {project}
http:
  listen: 127.0.0.1:{port}
orchestrator:
  enabled: {enabled}
  debounce: {debounce}
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
        return {}
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
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_config(work, name, pg, wh, enabled=True, debounce="500ms"):
    port = free_port()
    cfg = os.path.join(work, f"{name}.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(wh=wh, conninfo=pg.conninfo, project=os.path.join(BANK, "models"), port=port,
                              enabled="true" if enabled else "false", debounce=debounce))
    return cfg, port


def start(cfg, work, name):
    err = open(os.path.join(work, f"{name}.log"), "w")
    p = subprocess.Popen([FRAZIL, "-c", cfg, "run"], stdout=subprocess.DEVNULL, stderr=err)
    PROCS.append(p)
    return p


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def runs(cfg):
    return json.loads(sh(FRAZIL, "-c", cfg, "runs", "list", "--limit", "100000", "--format", "json"))


def wait_quiet(p, port, cfg, orchestrated, timeout=180):
    """Waits until CDC streams and (orchestrated) every automatic model has materialized and no run
    is queued or running."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if p.poll() is not None:
            sys.exit(f"frazil run exited ({p.returncode}); see its log")
        m = metrics(port)
        streaming = m.get('frazil_cdc_state{slot="frazil_slot",state="streaming"}') == 1
        if streaming and not orchestrated:
            return
        if streaming and m.get("frazil_runs_running", 1) == 0 and m.get("frazil_runs_queued", 1) == 0:
            stale = [k for k, v in m.items() if k.startswith("frazil_asset_stale_seconds") and v > 0
                     and "data_vault_prototype" not in k]
            if not stale and m.get('frazil_asset_last_success_timestamp_seconds{asset="data_vault.s_users"}', 0) > 0:
                return
        time.sleep(0.2)
    sys.exit("timed out waiting for frazil run to settle")


def idle(pg, work, o, wh):
    print(f"## 1. Idle `frazil run` (bank, {o.users:,} users; no source changes): {o.idle:.0f} s with the orchestrator "
          f"and 18 model assets, {o.idle / 2:.0f} s without")
    out = {}
    for name, enabled, secs in (("with", True, o.idle), ("without", False, o.idle / 2)):
        cfg, port = write_config(work, f"idle-{name}", pg, wh, enabled)
        p = start(cfg, work, f"idle-{name}")
        wait_quiet(p, port, cfg, enabled)
        time.sleep(2)  # let the last commit's wake-ups pass
        m0, c0, t0 = metrics(port), cpu_seconds(p.pid), time.monotonic()
        time.sleep(secs)
        m1, c1, t1 = metrics(port), cpu_seconds(p.pid), time.monotonic()
        rss = rss_mb(p.pid)
        stop(p)
        cpu, span = c1 - c0, t1 - t0
        out[name] = (cpu, span)
        line = (f"  {'orchestrator on' if enabled else 'orchestrator off':<17} CPU {cpu:6.2f} s over {span:5.1f} s = "
                f"{100 * cpu / span:5.2f}% of a core ({cpu / span * 3600:6.1f} CPU-s per hour), VmRSS {rss:5.0f} MB")
        if enabled:
            ticks = m1.get("frazil_orchestrator_ticks_total", 0) - m0.get("frazil_orchestrator_ticks_total", 0)
            tick_s = m1.get("frazil_orchestrator_tick_seconds_total", 0) - m0.get("frazil_orchestrator_tick_seconds_total", 0)
            new_runs = m1.get("frazil_runs_running", 0) + m1.get("frazil_runs_queued", 0)
            if ticks:
                line += (f"; {ticks:.0f} ticks ({ticks / span:.2f}/s), {1000 * tick_s / ticks:.2f} ms per tick, "
                         f"{tick_s:.2f} s of tick time (wall) in {cpu:.2f} CPU-s")
            if new_runs:
                line += f"; {new_runs:.0f} runs queued/running at the end (expected none)"
        print(line)
    (cw, sw), (co, so) = out["with"], out["without"]
    print(f"  orchestration while idle: +{(cw / sw - co / so) * 100:.2f}% of a core "
          f"(+{(cw / sw - co / so) * 3600:.1f} CPU-s per hour)")


def per_run(work, o):
    print(f"\n## 2. Per-run overhead: a trivial table model (one-row table in, one row out), median of {o.reps}")
    wh, proj = os.path.join(work, "wh-trivial"), os.path.join(work, "proj")
    os.makedirs(os.path.join(proj, "models"))
    with open(os.path.join(proj, "dbt_project.yml"), "w") as f:
        f.write('name: t\nversion: "1"\nconfig-version: 2\nmodel-paths: ["models"]\n')
    with open(os.path.join(proj, "models", "sources.yml"), "w") as f:
        f.write("version: 2\nsources:\n  - name: raw\n    schema: raw\n    tables:\n      - name: t\n")
    with open(os.path.join(proj, "models", "trivial.sql"), "w") as f:
        f.write("{{ config(materialized='table') }}\nSELECT count(*) AS n, max(a) AS a FROM {{ source('raw', 't') }}\n")
    csv = os.path.join(work, "t.csv")
    with open(csv, "w") as f:
        f.write("a,b\n1,2\n")
    env = dict(os.environ, FRAZIL_WAREHOUSE=wh, FRAZIL_MODELS_PROJECT=proj, FRAZIL_LOG_LEVEL="warn")
    sh(FRAZIL, "load", "raw.t", csv, env=env)
    sh(FRAZIL, "materialize", "trivial", env=env)  # creates the table; the timed runs replace it

    def wall(args):
        t = time.monotonic()
        sh(*args, env=env)
        return time.monotonic() - t

    mat, query, in_run, sel1, mrun = [], [], [], [], []
    for _ in range(o.reps):
        mat.append(wall([FRAZIL, "materialize", "trivial"]))
        r = json.loads(sh(FRAZIL, "runs", "list", "-n", "1", "--format", "json", env=env))[0]
        in_run.append((r["finished_ms"] - r["started_ms"]) / 1000)
        log = sh(FRAZIL, "runs", "logs", str(r["id"]), env=env)
        m = re.search(r"success \S+ \(.*?([0-9.]+) s\)", log)
        query.append(float(m.group(1)) if m else float("nan"))
        mrun.append(wall([FRAZIL, "models", "run", "--select", "trivial"]))
        sel1.append(wall([FRAZIL, "sql", "SELECT 1"]))
    med = statistics.median
    print(f"  frazil materialize trivial (wall, process)   {med(mat):6.3f} s")
    print(f"    of which the run (started -> finished)     {med(in_run):6.3f} s")
    print(f"    of which the model's query + commit        {med(query):6.3f} s (its run log line)")
    print(f"  frazil models run --select trivial (wall)    {med(mrun):6.3f} s (same model, no run store)")
    print(f"  frazil sql 'SELECT 1' (wall: process start)  {med(sel1):6.3f} s")
    print(f"  orchestration cost per run: {1000 * (med(in_run) - med(query)):.0f} ms inside the run "
          f"(store, asset state, logs), {1000 * (med(mat) - med(mrun)):.0f} ms over `models run` per process; "
          f"materialize = {med(mat) / med(query):.1f}x the model's own time")


def parse_ts(s):
    return dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc).timestamp()


def sensor(pg, work, o, wh):
    print(f"\n## 3. Sensor latency, debounce 0: {o.changes} single-row updates of public.users, each after the "
          f"previous run finished")
    cfg, port = write_config(work, "sensor", pg, wh, True, "0ms")
    p = start(cfg, work, "sensor")
    wait_quiet(p, port, cfg, True)
    psql = [os.path.join(PGBIN, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", pg.conninfo]
    queued, started, finished, cdc_lat = [], [], [], []
    for i in range(o.changes):
        known = {r["id"] for r in runs(cfg)}
        n_snap = len(sh(FRAZIL, "-c", cfg, "table", "snapshots", "raw_data.users", "--format", "json").splitlines())
        commit = float(sh(*psql, "-c", f"UPDATE users SET name = 'sensor-{i}' WHERE id = (SELECT id FROM users ORDER BY id "
                                       f"OFFSET {i * 37} LIMIT 1)", "-c", "SELECT extract(epoch FROM clock_timestamp())")
                       .strip().splitlines()[-1])
        deadline = time.monotonic() + 60
        new = None
        while time.monotonic() < deadline:
            new = [r for r in runs(cfg) if r["id"] not in known and r["trigger"].startswith("sensor")]
            if new and all(r["finished_ms"] for r in new):
                break
            time.sleep(0.2)
        if not new:
            print(f"  change {i}: no sensor run within 60 s")
            continue
        snaps = [json.loads(l) for l in sh(FRAZIL, "-c", cfg, "table", "snapshots", "raw_data.users",
                                            "--format", "json").splitlines() if l.strip()]
        if len(snaps) <= n_snap:
            print(f"  change {i}: no new raw_data.users snapshot")
            continue
        snap_t = parse_ts(snaps[n_snap]["committed_at"])
        r = min(new, key=lambda r: r["id"])
        cdc_lat.append(snap_t - commit)
        queued.append(r["created_ms"] / 1000 - snap_t)
        started.append(r["started_ms"] / 1000 - snap_t)
        finished.append(r["finished_ms"] / 1000 - snap_t)
        time.sleep(0.5)
    stop(p)
    if queued:
        med = statistics.median
        print(f"  PostgreSQL commit -> raw snapshot (CDC)         median {1000 * med(cdc_lat):7.1f} ms  max {1000 * max(cdc_lat):7.1f} ms")
        print(f"  raw snapshot -> sensor run queued               median {1000 * med(queued):7.1f} ms  max {1000 * max(queued):7.1f} ms")
        print(f"  raw snapshot -> run started                     median {1000 * med(started):7.1f} ms  max {1000 * max(started):7.1f} ms")
        print(f"  raw snapshot -> run finished (parsed -> vault)  median {1000 * med(finished):7.1f} ms  max {1000 * max(finished):7.1f} ms")
        print("  (committed_at and the run times have millisecond resolution; the prototype's sensor polled every 30 s: "
              "15 s on average)")


def busy():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a ~35 s smoke run")
    ap.add_argument("--idle", type=float)
    ap.add_argument("--reps", type=int)
    ap.add_argument("--changes", type=int)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--keep", action="store_true")
    o = ap.parse_args()
    q = o.quick
    o.idle = o.idle or (10 if q else 60)
    o.reps = o.reps or (3 if q else 5)
    o.changes = o.changes or (4 if q else 10)
    if not os.access(FRAZIL, os.X_OK):
        sys.exit(f"no frazil binary at {FRAZIL} (build it, or set FRAZIL_BIN)")
    print(f"# Orchestrator overhead (bench/orchestrator.py{' --quick' if q else ''}): {FRAZIL}, {os.cpu_count()} cores, "
          f"load average {busy()} at start")
    work = tempfile.mkdtemp(prefix="frazil-bench-orch-", dir="/tmp")
    os.chmod(work, 0o755)
    pg = cdc.Cluster()
    try:
        psql = [os.path.join(PGBIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.conninfo]
        sh(*psql, "-f", os.path.join(BANK, "schema.sql"))
        sh(*psql, "-v", f"users={o.users}", "-f", os.path.join(BANK, "seed.sql"))
        wh = os.path.join(work, "wh")
        idle(pg, work, o, wh)
        per_run(work, o)
        sensor(pg, work, o, wh)
        print(f"\nload average at the end: {busy()}")
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait()
        if o.keep:
            print(f"kept: work {work}, cluster {pg.dir} ({pg.conninfo})")
        else:
            pg.destroy()
            subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
