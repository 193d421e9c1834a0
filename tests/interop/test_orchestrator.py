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
