"""The orchestrator inside `frazil run` (docs/orchestrator.md) against a real PostgreSQL 15:
the bank of examples/bank streamed by CDC, its models project (parsed layer, generated Data
Vault, the prototype's models as `automatic: false`) kept fresh by the orchestrator alone, and
maintenance jobs run while changes stream in.

  * test_bank_pipeline_runs_itself: schema + seed, `frazil run` with models.project and a
    200 ms debounce / 1 s max delay; a randomized workload (models_vault.BankWorkload and
    examples/bank/workload.sh) streams for a few seconds. No `frazil models run`: once CDC has
    caught up, `frazil assets` shows every automatic model fresh with no run active, the
    parsed layer equals the raw changelog and the Data Vault equals the independent
    computation of models_vault.py; the prototype's manual models never ran (no table, in no
    run); every run was a successful sensor run, and there were far fewer runs than CDC
    commits (debounce).
  * test_maintenance_under_ingestion: the same with mirrors and an audit trail (a trigger per
    row change, not published); while the workload streams, several rounds of
    `frazil materialize --job` for compact (raw, parsed, vault), expire-snapshots (older_than
    0s, retain_last 2), remove-orphans (older_than 0s), rewrite-manifests, and
    `frazil maintain compact`. Then: each mirror verifies against its source (`frazil verify`),
    the raw changelog's (op, id) rows equal the snapshot plus the audit trail exactly, the
    models still equal the oracle (incremental `new_rows` models survive raw compaction and
    expiry), and frazil sql, PyIceberg, DuckDB and Spark count the same rows in every table.
    The maintenance must have done something: a raw table compacted into fewer files,
    snapshots expired, manifests rewritten.
  * test_crash_during_model_run: SIGKILL of `frazil run` while a model run is in progress
    (seen in `frazil runs list --status running`), twice; after each restart the killed run is
    `interrupted` and its retry succeeds; the final tables equal the oracle.
  * test_cancel_logs_and_errors: `frazil runs cancel` of a running and of a queued run,
    `frazil runs logs`, cancelling a finished run, `frazil materialize` of a raw table, of an
    unknown asset and of an unknown job; `frazil run` refusing orchestrator configurations
    with an unknown task, a bad cron expression, an unknown time zone, a schedule of an
    unknown job, an unknown key.

Seeds: FRAZIL_ORCH_SEED overrides the workload seed (printed).
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import cdc_support as C
import models_support as MS
import orchestrator_support as O
import readers as R
from conftest import spark_collect
from pg_cluster import PgCluster, pg_cluster_fixture

SEED = int(os.environ.get("FRAZIL_ORCH_SEED", "20261207"))

pg = pg_cluster_fixture("module", name="pg")

# Fast sensors: a burst of commits is one run; a run at least every second under load.
FAST = {"debounce": "200ms", "max_delay": "1s", "poll_interval": "200ms", "retry_backoff": "300ms"}


@pytest.fixture
def banks():
    made: list[O.Bank] = []
    yield made
    for b in made:
        b.close()


def _bank(banks, frazil_bin, pg, name, warehouse, tmp_path, **kw) -> O.Bank:
    b = O.Bank(frazil_bin, pg, name, warehouse, tmp_path, **kw)
    banks.append(b)
    return b


def _start_and_settle(b: O.Bank, timeout: float = 90) -> None:
    """`frazil run`: the initial snapshot, then the orchestrator's first runs of every model."""
    b.cdc.start()
    for t in b.raw_tables():
        C.wait_snapshot(b.warehouse, t, b.cdc, timeout=timeout)
    b.wait_fresh(timeout)


def _now_us() -> int:
    return time.time_ns() // 1000


def _snapshots(wh: Path, ident: str) -> list[dict]:
    md = C.table_metadata(wh, ident)
    return sorted(md.get("snapshots", []), key=lambda s: s["sequence-number"]) if md else []


# =======================================================================================
# 1. The bank pipeline runs itself
# =======================================================================================


def test_bank_pipeline_runs_itself(frazil_bin, pg, tmp_path, banks):
    t_start = _now_us()
    # CDC commits every 50 ms under load; the models at most about once a second.
    b = _bank(banks, frazil_bin, pg, "orch_self", tmp_path / "wh", tmp_path, mirror=False,
              source_extra={"FRAZIL_SOURCE_COMMIT_INTERVAL_MS": "50"},
              orchestrator={**FAST, "assets": [{"match": "orch_self_proto.*", "automatic": False}]})
    _start_and_settle(b)
    first_runs = b.runs()
    assert first_runs and all(r["trigger"] == "sensor" and r["status"] == "succeeded" for r in first_runs), first_runs

    print(f"test_bank_pipeline_runs_itself seed {SEED} (FRAZIL_ORCH_SEED)")
    w = b.workload(SEED, seconds=7)
    w.finish(timeout=60)
    b.wait_caught_up()
    b.wait_fresh(90)

    problems = O.model_problems(b, "after the workload, no `frazil models run`", min_inserted_us=t_start)
    assert not problems, "models vs the independent computation:\n  " + "\n  ".join(problems)

    # The prototype's models are manual: never run, never created.
    assets = {a["asset"]: a for a in b.assets()}
    for m in b.proto_models():
        assert m in assets and assets[m]["kind"] == "model", f"{m} is not a model asset: {assets.get(m)}"
        assert assets[m]["runs"] == 0 and assets[m]["last_run"] is None, f"the manual model {m} ran: {assets[m]}"
        assert R.catalog_pointer(b.warehouse, m) is None, f"the manual model {m} has a table"
    for m in b.automatic_models():
        assert assets[m]["state"] == "fresh" and assets[m]["last_status"] == "succeeded" and assets[m]["runs"] >= 2, assets[m]

    runs = b.runs()
    bad = [r for r in runs if r["status"] != "succeeded" or r["trigger"] != "sensor" or r["job"] != "materialize"]
    assert not bad, f"runs other than successful sensor runs: {bad}"
    in_runs = {a for r in runs for a in r["assets"]}
    assert not in_runs & set(b.proto_models()), f"manual models in runs: {sorted(in_runs & set(b.proto_models()))}"
    assert set(b.automatic_models()) <= in_runs
    # Debounce: a run per burst, not per CDC commit.
    # CDC commits: one catalog transaction for every raw table it changes, so one timestamp.
    commits = len({s["timestamp-ms"] for t in b.raw_tables() for s in _snapshots(b.warehouse, t) if s["summary"].get("operation") != "replace"})
    txns = sum(len({r["_commit_lsn"] for r in O.raw_rows(b, t) if r["_op"] != "r"}) for t in O.BANK_TABLES)
    later = [r for r in runs if r["id"] > max(x["id"] for x in first_runs)]
    print(f"{len(runs)} runs ({len(later)} during the workload) for {commits} CDC commits, "
          f"{txns} source transactions, {w.transactions} generated transactions + {w.pgbench_runs} pgbench bursts")
    assert later, "no run after the workload's changes"
    assert len(later) * 3 <= commits, f"{len(later)} runs for {commits} CDC commits: the debounce did not batch commits"
    assert len(later) * 10 <= txns, f"{len(later)} runs for {txns} source transactions"
    # A sensor run says why it ran and what each model did.
    log = b.logs(later[-1]["id"])
    assert "upstream changed for:" in log and "success" in log and "succeeded in" in log, log


# =======================================================================================
# 2. Maintenance jobs while changes stream in
# =======================================================================================


def _maintenance_jobs(b: O.Bank) -> list[dict]:
    models = [f"{b.raw_ns}.*", f"{b.parsed_ns}.*", f"{b.vault_ns}.*"]
    every = models + [f"{b.mirror_ns}.*"]
    return [
        {"name": "compact_all", "task": "compact", "tables": models},
        {"name": "expire_all", "task": "expire-snapshots", "tables": every, "params": {"older_than": "0s", "retain_last": 2}},
        {"name": "orphans_all", "task": "remove-orphans", "tables": every, "params": {"older_than": "0s"}},
        {"name": "manifests_all", "task": "rewrite-manifests", "tables": every},
        {"name": "stats_all", "task": "drop-stats", "tables": every},
    ]


def _counts(b: O.Bank, ident: str, duck, spark) -> dict[str, int]:
    loc = R.catalog_pointer(b.warehouse, ident)
    assert loc, f"{ident} is not in the catalog"
    return {
        "frazil": int(b.cdc.sql_json(f"SELECT count(*) AS n FROM {ident}")[0]["n"]),
        "pyiceberg": MS.read_pyiceberg(b.warehouse, ident).num_rows,
        "duckdb": duck.execute(f"SELECT count(*) FROM iceberg_scan('{loc}')").fetchone()[0],
        "spark": spark.sql(f"SELECT count(*) AS n FROM frazil.{ident}").collect()[0]["n"],
    }


def test_maintenance_under_ingestion(frazil_bin, pg, shared_wh, tmp_path, banks, duck, spark):
    t_start = _now_us()
    b = _bank(banks, frazil_bin, pg, "orch_maint", shared_wh, tmp_path, mirror=True, audit=True,
              orchestrator={**FAST, "assets": [{"match": "orch_maint_proto.*", "automatic": False}]})
    b.write_config({**b.orchestrator, "jobs": _maintenance_jobs(b),
                    "schedules": [{"name": "nightly_compact", "cron": "30 2 * * *", "time_zone": "Europe/Berlin", "job": "compact_all"}]})
    snapshot_ids = b.source_ids()  # the initial copy's rows
    _start_and_settle(b)

    seen: dict[str, set[int]] = collections.defaultdict(set)  # every snapshot id ever current-era, per table

    def note_snapshots() -> None:
        for t in b.raw_tables() + b.parsed_tables() + b.vault_tables() + b.mirror_tables():
            seen[t] |= {s["snapshot-id"] for s in _snapshots(b.warehouse, t)}

    # Orphans: stray files as a crashed writer leaves them (two hours old).
    strays = []
    for t in b.raw_tables() + b.vault_tables()[:2]:
        loc = Path(R.local_path(C.table_metadata(b.warehouse, t)["location"]))
        for sub, name in (("data", "00000-0-stray.parquet"), ("metadata", "stray-snap.avro")):
            p = loc / sub / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"PAR1 stray")
            os.utime(p, (time.time() - 7200, time.time() - 7200))
            strays.append(p)

    w = b.workload(SEED + 1, seconds=10)
    compacted: dict[str, tuple[int, int]] = {}  # raw table -> (files deleted, files added) of a compaction
    logs = collections.defaultdict(str)
    rounds = 0
    while w.is_alive() or rounds < 2:
        rounds += 1
        note_snapshots()
        for job in ("compact_all", "expire_all", "orphans_all", "manifests_all"):
            run = b.materialize_job(job)
            logs[job] += b.logs(run["id"])
        res = b.cdc.cli("maintain", "compact", f"{b.raw_ns}.transfers", "--format", "json")
        assert json.loads(res.stdout) is not None
        for t in b.raw_tables():
            for s in _snapshots(b.warehouse, t):
                summ = s["summary"]
                if summ.get("operation") == "replace" and int(summ.get("deleted-data-files", 0)) > int(summ.get("added-data-files", 0)):
                    compacted[t] = (int(summ["deleted-data-files"]), int(summ["added-data-files"]))
        b.cdc.check_alive()
    w.finish()
    print(f"{rounds} maintenance rounds during the workload ({w.transactions} transactions, {w.pgbench_runs} pgbench bursts)")
    b.wait_caught_up()
    b.wait_fresh(90)
    note_snapshots()

    # Maintenance once more with nothing streaming: it must not make any model run again
    # (compactions and manifest rewrites are "replace" snapshots, not new data).
    runs_before = b.runs()
    for job in ("compact_all", "manifests_all", "expire_all", "orphans_all", "stats_all"):
        b.materialize_job(job)
    good, why = b.fresh_state()
    assert good, f"after maintenance on a quiet warehouse: {why}"
    new_runs = [r for r in b.runs() if r["id"] > max(x["id"] for x in runs_before) and r["job"] == "materialize"]
    assert not new_runs, f"maintenance made models run: {new_runs}"

    # The maintenance did something.
    assert compacted, f"no compaction of a raw table rewrote files into fewer; compact_all logs:\n{logs['compact_all'][-3000:]}"
    expired = {t: seen[t] - {s["snapshot-id"] for s in _snapshots(b.warehouse, t)} for t in seen}
    assert all(expired[t] for t in b.raw_tables()), f"raw tables with no snapshot expired: {[t for t in b.raw_tables() if not expired[t]]}"
    assert "expired" in logs["expire_all"] and "manifest(s) ->" in logs["manifests_all"], (logs["expire_all"][-2000:], logs["manifests_all"][-2000:])
    for t in b.raw_tables():
        assert len(_snapshots(b.warehouse, t)) < len(seen[t]), t
    assert not [p for p in strays if p.exists()], f"orphan files left: {[p for p in strays if p.exists()]}"
    assert "removed" in logs["orphans_all"], logs["orphans_all"][-2000:]

    # Every mirror equals its source.
    for t in b.mirror_tables():
        res = b.cdc.cli("verify", t, "--format", "json", check=False, timeout=180)
        assert res.returncode == 0, f"frazil verify {t} exited {res.returncode}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    # The raw changelog holds exactly the source's changes (the audit trail), once each.
    problems = O.raw_vs_audit(b, snapshot_ids)
    # The models still equal the independent computation.
    problems += O.model_problems(b, "after maintenance under ingestion", min_inserted_us=t_start)
    assert not problems, "\n  ".join(["after maintenance:"] + problems)

    # Every peer reads every table alike.
    differ = {}
    for t in b.raw_tables() + b.parsed_tables() + b.vault_tables() + b.mirror_tables():
        c = _counts(b, t, duck, spark)
        if len(set(c.values())) != 1:
            differ[t] = c
    assert not differ, f"row counts differ between readers: {differ}"

    runs = b.runs()
    # Never two runs writing one table at once: `frazil materialize --job` (this process) waits
    # for the sensor runs of `frazil run` (the other) and the other way round.
    clash = [(x["id"], x["job"], y["id"], y["job"]) for x in runs for y in runs
             if x["id"] < y["id"] and set(x["assets"]) & set(y["assets"])
             and x["started_ms"] < y["finished_ms"] and y["started_ms"] < x["finished_ms"]]
    assert not clash, f"runs writing the same tables at the same time: {clash}"
    failed = [r for r in runs if r["status"] != "succeeded"]
    print(f"{len(runs)} runs, not succeeded: {[(r['id'], r['job'], r['status'], r['error'][:200]) for r in failed]}")
    assert not failed, f"runs that did not succeed: {failed}"


# =======================================================================================
# 3. SIGKILL of `frazil run` during a model run
# =======================================================================================


def _kill_during_model_run(b: O.Bank, timeout: float = 60) -> list[dict]:
    """Waits for a model run in progress, SIGKILLs `frazil run` (its whole process group) and
    reaps it; returns the runs the store still has as running (max_concurrent_runs: 2)."""
    deadline = time.monotonic() + timeout
    while True:
        running = [r for r in b.runs("--status", "running") if r["job"] == "materialize"]
        if running:
            break
        b.cdc.check_alive()
        assert time.monotonic() < deadline, f"no model run in progress within {timeout} s\n{b.cdc.describe()}"
        time.sleep(0.05)
    os.killpg(b.cdc.proc.pid, signal.SIGKILL)
    b.cdc.proc.wait(timeout=30)  # reaped: its pid is gone, so the next start knows the owner died
    left = b.runs("--status", "running")
    assert running[0]["id"] in {r["id"] for r in left}, f"the killed run {running[0]['id']} is not left running: {left}"
    return left


def test_crash_during_model_run(frazil_bin, pg, tmp_path, banks):
    t_start = _now_us()
    b = _bank(banks, frazil_bin, pg, "orch_crash", tmp_path / "wh", tmp_path, mirror=False, users=60,
              orchestrator={**FAST, "assets": [{"match": "orch_crash_proto.*", "automatic": False}]})
    _start_and_settle(b)
    killed = []
    w = b.workload(SEED + 2, seconds=12)
    for _ in range(2):
        runs = _kill_during_model_run(b)
        killed += runs
        b.cdc.start()  # resumes CDC; Recover() marks the runs interrupted and retries them at once
        for run in runs:
            def retried():
                rec = b.run_record(run["id"])
                retries = [r for r in b.runs() if r["retry_of"] == run["id"]]
                return rec["status"] == "interrupted" and retries and all(r["status"] == "succeeded" for r in retries) and (rec, retries)

            rec, retries = C.wait_for(retried, 60, f"run {run['id']} interrupted and its retry succeeded", b.cdc)
            assert "interrupted" in rec["error"] and rec["finished_ms"] > 0, rec
            assert len(retries) == 1 and retries[0]["trigger"] == "retry" and retries[0]["attempt"] == run["attempt"] + 1, retries
            assert set(retries[0]["assets"]) <= set(run["assets"]) and retries[0]["assets"], (run, retries)
            assert "interrupted" in b.logs(run["id"]), b.logs(run["id"])
    w.finish()
    b.wait_caught_up()
    b.wait_fresh(90)
    problems = O.model_problems(b, "after two SIGKILLs during model runs", min_inserted_us=t_start)
    assert not problems, "models vs the independent computation:\n  " + "\n  ".join(problems)
    runs = b.runs()
    statuses = collections.Counter(r["status"] for r in runs)
    other = [(r, b.logs(r["id"])) for r in runs if r["status"] not in ("succeeded", "interrupted")]
    assert statuses["interrupted"] == len(killed) and not other, f"{statuses}: {other}"


# =======================================================================================
# 4. Cancel, logs, refusals
# =======================================================================================

SLOW_SQL = """{{{{ config(materialized='table', schema='{ns}') }}}}
-- A model that takes seconds (a run to cancel while it is in progress).
SELECT count(*) AS n FROM range(250000000) t(i) WHERE hash(i) % 7 = 0
"""


def _wait_status(b: O.Bank, run_id: int, statuses: set[str], timeout: float = 60) -> dict:
    return C.wait_for(lambda: (lambda r: r if r["status"] in statuses else None)(b.run_record(run_id)), timeout,
                      f"run {run_id} to be {statuses}", b.cdc, interval=0.1)


def test_cancel_logs_and_errors(frazil_bin, pg, tmp_path, banks):
    slow_ns = "orch_cancel_slow"
    b = _bank(banks, frazil_bin, pg, "orch_cancel", tmp_path / "wh", tmp_path, mirror=False, users=20,
              extra_models={"models/slow/slow_a.sql": SLOW_SQL.format(ns=slow_ns), "models/slow/slow_b.sql": SLOW_SQL.format(ns=slow_ns)},
              orchestrator={**FAST, "max_concurrent_runs": 1,
                            "assets": [{"match": "orch_cancel_proto.*", "automatic": False}, {"match": f"{slow_ns}.*", "automatic": False}],
                            "jobs": [{"name": "compact_raw", "task": "compact", "tables": ["orch_cancel_raw.*"]}]})
    _start_and_settle(b)
    assets = {a["asset"]: a for a in b.assets()}
    assert assets[f"{slow_ns}.slow_a"]["kind"] == "model" and assets[f"{slow_ns}.slow_a"]["runs"] == 0, assets.get(f"{slow_ns}.slow_a")

    # A running run: `frazil run` picks up the queued run; cancel it while slow_a computes.
    res = b.cdc.cli("materialize", "slow_a", "slow_b", "--no-wait")
    slow = int(res.stdout.strip())
    _wait_status(b, slow, {"running"})
    # A queued run behind it (one run at a time): cancelled before it starts.
    queued = int(b.cdc.cli("materialize", "--job", "compact_raw", "--no-wait").stdout.strip())
    assert b.run_record(queued)["status"] == "queued"
    b.cdc.cli("runs", "cancel", str(queued))
    b.cdc.cli("runs", "cancel", str(slow))
    rq = _wait_status(b, queued, {"canceled", "succeeded", "failed"})
    assert rq["status"] == "canceled" and rq["started_ms"] == 0, rq
    rs = _wait_status(b, slow, {"canceled", "succeeded", "failed"})
    assert rs["status"] == "canceled", rs
    assert f"{slow_ns}.slow_b" not in rs["succeeded"], f"the model after the cancel ran: {rs}"
    assert R.catalog_pointer(b.warehouse, f"{slow_ns}.slow_b") is None, "slow_b was written after the cancel"
    log = b.logs(slow)
    assert "started (manual, attempt 1)" in log and "canceled" in log, log
    assert "canceled before it started" in b.logs(queued), b.logs(queued)
    assert not [r for r in b.runs() if r["retry_of"] in (slow, queued)], "a cancelled run was retried"

    # Cancelling a finished run, or no run, is refused.
    err = b.cdc.cli("runs", "cancel", str(slow), check=False)
    assert err.returncode != 0 and "already finished" in err.stderr, err
    err = b.cdc.cli("runs", "cancel", "999999", check=False)
    assert err.returncode != 0 and "999999" in err.stderr, err

    # A sensor run's log: why it ran, each model's outcome, the end.
    sensor = [r for r in b.runs() if r["trigger"] == "sensor" and r["status"] == "succeeded"][0]
    log = b.logs(sensor["id"])
    for m in sensor["assets"]:
        assert re.search(rf"\d+/\d+ success {re.escape(m)} ", log), f"no line for {m} in the log of run {sensor['id']}:\n{log}"
    assert log.splitlines()[-1].split(" ", 3)[3].startswith("succeeded in"), log

    # Only models can be materialized.
    for args, want in (([f"{b.raw_ns}.users"], ["only models can be materialized", f"{b.raw_ns}.users"]),
                       (["nosuch.table"], ["unknown asset", "nosuch.table"]),
                       (["--job", "nosuchjob"], ["unknown job", "nosuchjob"])):
        err = b.cdc.cli("materialize", *args, check=False)
        assert err.returncode != 0 and all(w in err.stderr for w in want), (args, err)
    # The manual models still never ran by themselves.
    assert all(R.catalog_pointer(b.warehouse, m) is None for m in b.proto_models())


@pytest.mark.parametrize("orch,want", [
    ({"jobs": [{"name": "j", "task": "vacuum"}]}, ["job j", "unknown task 'vacuum'"]),
    ({"jobs": [{"name": "j", "task": "compact"}], "schedules": [{"name": "s", "cron": "61 * * * *", "job": "j"}]}, ["schedule s", "61"]),
    ({"jobs": [{"name": "j", "task": "compact"}], "schedules": [{"name": "s", "cron": "0 2 * * *", "time_zone": "Mars/Olympus", "job": "j"}]},
     ["schedule s", "Mars/Olympus"]),
    ({"schedules": [{"name": "s", "cron": "0 2 * * *", "job": "nosuchjob"}]}, ["schedule s", "unknown job 'nosuchjob'"]),
    ({"jobs": [{"name": "j", "task": "compact", "tabels": "x.*"}]}, ["unknown key 'tabels'"]),
    # (A list value is reported as "must be a single value" rather than as an unknown key.)
    ({"jobs": [{"name": "j", "task": "compact", "tabels": ["x.*"]}]}, ["tabels"]),
    ({"debounce": "soon"}, ["orchestrator.debounce", "soon"]),
], ids=["unknown-task", "bad-cron", "unknown-time-zone", "unknown-job", "unknown-key", "unknown-key-list", "bad-duration"])
def test_bad_orchestrator_config(frazil_bin, tmp_path, orch, want):
    """`frazil run` refuses the configuration before it touches the source (which is
    unreachable here: getting that far would be a different error)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "frazil.yaml").write_text(json.dumps({"models": {"project": str(O.BANK / "models")}, "orchestrator": orch}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAZIL_")}
    env.update(TZ="UTC", FRAZIL_WAREHOUSE=str(tmp_path / "wh"), FRAZIL_SOURCE_CONNINFO="host=/nonexistent port=1 user=nobody dbname=nothing",
               FRAZIL_SOURCE_SLOT="fzo_bad", FRAZIL_SOURCE_PUBLICATION="fzo_bad_pub")
    p = subprocess.run([str(frazil_bin), "run"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0, f"frazil run accepted {orch}:\n{p.stderr[-2000:]}"
    assert all(w in p.stderr for w in want), f"frazil run's message does not name the problem {want}:\n{p.stderr[-2000:]}"
