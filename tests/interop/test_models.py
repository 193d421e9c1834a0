"""`frazil models` on CDC data, with real peers: a throwaway PostgreSQL 15 -> `frazil run
--until now` -> raw changelog tables -> dbt-style model projects written by the tests ->
Iceberg tables read by frazil sql, PyIceberg, DuckDB's iceberg extension and Spark.

  * test_cdc_models_end_to_end: customers/orders with inserts, updates (also no-op ones),
    deletes, re-inserts and several changes of one row per transaction (REPLICA IDENTITY
    FULL), streamed into raw tables; a project with a parsed `new_rows(source())` append model,
    a current-state `merge` model over `new_rows(ref())` that keeps deletes as a flag, a
    `delete+insert` model straight from the raw table, a `SELECT * EXCLUDE (_old)` model with
    on_schema_change=append_new_columns (the source gains a column between the runs), an
    ephemeral model, a table aggregate and a view. Run, more changes, run again
    (incremental), run a third time with nothing new, then --full-refresh.
    After each run: the parsed model holds exactly the raw changes (frazil sql), the
    current-state models and the view equal PostgreSQL's tables, the aggregate equals the same
    GROUP BY in PostgreSQL, every model's commit records `frazil.read.<raw table>` = the raw
    table's snapshot at run time (and the snapshot of each upstream model it read), one commit
    per model per run; PyIceberg, DuckDB (metadata location from `frazil table show`) and Spark
    read the same rows as frazil sql; a full refresh gives the incremental result again. A
    column keeps its Iceberg field id for the table's life (no new schema per run).
  * test_models_test_and_history: `models test` on that result: passing generic tests, one
    built to fail (exit 1, named with its failing-row count, which must equal the number of
    order ids with more than one change in the raw table), `--select` of passing tests only
    (exit 0), and `models history` (JSON) recording the runs and each test's outcome.
  * test_models_run_sigkill: a raw table of ~30,000 changes over dozens of CDC commits; the same
    project in two namespaces, one run cleanly, the other SIGKILLed at seeded random points of
    its run (within the clean run's duration) several times per phase, then run to
    completion; two phases: a full build after streamed changes, then incremental runs (the
    clean one, the killed ones, one complete) while `frazil run` streams more changes into the
    raw table, and a final run once it has caught up. The killed
    namespace must equal the clean one and an independent Python computation from the raw
    table (PyIceberg): no duplicate or missing change in the append model, the right current
    state in the merge model, the right per-customer figures in the delete+insert model; and
    every snapshot any model table ever committed must equal the computation from exactly the
    upstream snapshots it recorded (no half-applied commit).
  * test_bank_data_vault_independent: examples/bank (schema.sql, seed.sql, workload.sh, the
    models project with its Data Vault spec) with a seeded random workload on top (payload
    changes, no-op updates, case/blank changes, change-and-undo, account re-assignment,
    closes and cancels (deletes) and re-inserts of the same keys, several changes of one row
    in one transaction), three rounds of `frazil run --until now` + `models build` (in the
    third, h_accounts first runs while parsed_accounts lags behind parsed_transfers, as when
    a build races `frazil run`), then `--full-refresh` of the vault; every hub,
    link, satellite and effectivity view is compared with a computation in Python
    (models_vault.py: hashlib md5 of the normalised, delimited keys, first sightings, hashdiff
    change detection) from the raw changelog read with PyIceberg, following docs/data-vault.md.

Test 1 runs on the session warehouse that Spark sees, in namespaces of its own (mdl_e2e*:
the raw tables too, so they never meet another test's `raw_data`); the others use
warehouses of their own with the raw tables in `raw_data`.
Seeds: FRAZIL_MODELS_SEED overrides the seed of the randomized parts (printed).
"""

from __future__ import annotations

import collections
import decimal
import os
import random
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import cdc_support as C
import models_support as MS
import models_vault as V
from cdc_support import FrazilCdc, pg_query
from pg_cluster import PG_BIN, PgCluster, pg_cluster_fixture

ROOT = Path(__file__).resolve().parents[2]
D = decimal.Decimal
SEED = int(os.environ.get("FRAZIL_MODELS_SEED", "20261206"))

# One cluster for the module; every test has its own tables, slot and publication.
pg = pg_cluster_fixture("module", name="pg")


def _new_cdc(frazil_bin: Path, pg: PgCluster, name: str, tables: list[str], warehouse: Path, workdir: Path, raw_ns: str, made: list, **extra: str) -> FrazilCdc:
    slot, pub = f"fzm_{name}", f"fzm_{name}_pub"
    warehouse.mkdir(parents=True, exist_ok=True)
    env = C.source_env(pg.conninfo, slot, pub, tables, raw_ns, **extra)
    cdc = FrazilCdc(frazil_bin, warehouse, workdir, env)
    cdc.pg, cdc.slot, cdc.publication = pg, slot, pub
    made.append(cdc)
    return cdc


def _close_all(made: list) -> None:
    for cdc in made:
        cdc.close()
        if cdc.pg.running:
            C.drop_source_objects(cdc.pg, cdc.slot, cdc.publication)


@pytest.fixture
def made_cdcs():
    made: list[FrazilCdc] = []
    yield made
    _close_all(made)


def run_until_now(cdc: FrazilCdc, timeout: float = 180) -> None:
    """`frazil run --until now`: catch up with the server's position at start, exit 0."""
    cdc.start("--until", "now")
    rc = cdc.wait_exit(timeout)
    assert rc == 0, f"frazil run --until now exited {rc}\n{cdc.describe()}"


def pg_typed(pg: PgCluster, sql: str, kinds: str) -> list[tuple]:
    """Rows of a PostgreSQL query as typed tuples: `kinds` has one letter per column,
    i = integer, d = decimal, s = text, t = timestamptz selected as epoch microseconds
    (`(extract(epoch FROM x) * 1000000)::bigint`), b = boolean."""
    conv = {"i": int, "d": D, "s": str, "t": int, "b": lambda v: v == "t"}
    return [tuple(None if v is None else conv[k](v) for k, v in zip(kinds, r)) for r in pg_query(pg, sql)]


def run_models(cdc: FrazilCdc, project: Path, *extra: str, command: str = "run") -> dict:
    """`frazil models <command> --format json`; every node must succeed. Returns the report
    with `by_name` (results by node name)."""
    res, doc = MS.models_json(cdc, command, "--project", str(project), *extra)
    assert isinstance(doc, dict) and "results" in doc, f"models {command} --format json printed no report:\n{res.stdout[-3000:]}"
    bad = [r for r in doc["results"] if r["status"] not in ("success", "pass")]
    assert not bad and doc["errors"] == 0, f"models {command} had failures: {bad}\n{res.stderr[-3000:]}"
    doc["by_name"] = {r["name"]: r for r in doc["results"]}
    return doc


def _lit(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return str(v)


# =======================================================================================
# 1 + 3. CDC -> models end to end, every reader; data tests and history on the result
# =======================================================================================

E2E_RAW = "mdl_e2e_raw"
E2E_NS = "mdl_e2e"
E2E_MIRROR = "mdl_e2e_mirror"
STATUSES = ["new", "paid", "shipped", "cancelled"]
TIERS = ["gold", "silver", "bronze"]
NOTES = [None, "", "gift", "café ☕", 'say "hi"', "back\\slash", "multi\nline", "  padded  "]

E2E_SCHEMA = """
CREATE TABLE me_customers (
    id int PRIMARY KEY, name text NOT NULL, tier text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE me_orders (
    id int PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2) NOT NULL, status text NOT NULL,
    note text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
ALTER TABLE me_customers REPLICA IDENTITY FULL;
ALTER TABLE me_orders REPLICA IDENTITY FULL;
INSERT INTO me_customers (id, name, tier)
SELECT g, 'customer ' || g, (ARRAY['gold','silver','bronze'])[1 + g % 3] FROM generate_series(1, 40) g;
INSERT INTO me_orders (id, customer_id, amount, status, note)
SELECT g, 1 + (g * 7) % 40, ((g * 131) % 100000) / 100.0, (ARRAY['new','paid','shipped'])[1 + g % 3],
       (ARRAY[NULL, '', 'gift', 'café ☕'])[1 + g % 4]
FROM generate_series(1, 300) g;
"""


def e2e_transactions(rng: random.Random, n: int, next_id: list[int]) -> list[str]:
    """n random source transactions over me_orders / me_customers (1-6 statements each):
    inserts, re-inserts of possibly deleted ids, updates (some changing nothing), deletes, a
    row changed several times, deleted and re-inserted within one transaction."""
    txns = []
    for _ in range(n):
        stmts = []
        for _ in range(rng.randint(1, 6)):
            k = rng.random()
            oid = rng.randint(1, next_id[0] - 1)
            if k < 0.18:
                stmts.append(f"INSERT INTO me_orders (id, customer_id, amount, status, note) VALUES ({next_id[0]}, {rng.randint(1, 44)}, {rng.randint(1, 99999) / 100:.2f}, {_lit(rng.choice(STATUSES))}, {_lit(rng.choice(NOTES))});")
                next_id[0] += 1
            elif k < 0.26:  # re-insert (when deleted) with other values
                stmts.append(f"INSERT INTO me_orders (id, customer_id, amount, status, note) VALUES ({oid}, {rng.randint(1, 40)}, {rng.randint(1, 99999) / 100:.2f}, 'new', {_lit(rng.choice(NOTES))}) ON CONFLICT (id) DO NOTHING;")
            elif k < 0.46:
                stmts.append(f"UPDATE me_orders SET status = {_lit(rng.choice(STATUSES))}, updated_at = clock_timestamp() WHERE id = {oid};")
            elif k < 0.56:
                stmts.append(f"UPDATE me_orders SET amount = amount + {rng.randint(-500, 500) / 100:.2f} WHERE id = {oid} AND amount > 5;")
            elif k < 0.62:  # changes nothing, still a change event
                stmts.append(f"UPDATE me_orders SET note = note WHERE id = {oid};")
            elif k < 0.66:  # several changes of one row in one transaction
                stmts.append(f"UPDATE me_orders SET status = 'paid' WHERE id = {oid}; UPDATE me_orders SET note = {_lit(rng.choice(NOTES))} WHERE id = {oid}; UPDATE me_orders SET status = 'shipped' WHERE id = {oid};")
            elif k < 0.80:
                stmts.append(f"DELETE FROM me_orders WHERE id = {oid};")
            elif k < 0.84:  # deleted and re-inserted within one transaction
                stmts.append(f"DELETE FROM me_orders WHERE id = {oid}; INSERT INTO me_orders (id, customer_id, amount, status) VALUES ({oid}, {rng.randint(1, 40)}, 1.00, 'new');")
            elif k < 0.92:
                stmts.append(f"UPDATE me_customers SET tier = {_lit(rng.choice(TIERS))}, name = name || '.', updated_at = clock_timestamp() WHERE id = {rng.randint(1, 44)};")
            elif k < 0.96:
                stmts.append(f"DELETE FROM me_customers WHERE id = {rng.randint(1, 44)};")
            else:
                cid = rng.randint(1, 44)
                stmts.append(f"INSERT INTO me_customers (id, name, tier) VALUES ({cid}, 'customer {cid} again', {_lit(rng.choice(TIERS))}) ON CONFLICT (id) DO NOTHING;")
        txns.append("BEGIN;\n" + "\n".join(stmts) + "\nCOMMIT;")
    return txns


E2E_PROJECT = {
    "models/sources.yml": f"""
        version: 2
        sources:
          - name: raw
            schema: {E2E_RAW}
            tables:
              - name: orders
                identifier: me_orders
              - name: customers
                identifier: me_customers
        """,
    # One row per change of an order, typed, with the change's metadata.
    "models/parsed_orders.sql": """
        {{ config(materialized='incremental', incremental_strategy='append') }}
        SELECT id, customer_id, amount, status, note, updated_at,
               _op, _lsn, _commit_lsn, _txid, _seq, _commit_ts, _op = 'd' AS deleted
        FROM {{ new_rows(source('raw', 'orders')) }}
        WHERE _op <> 't'
        """,
    # Every column of the raw table but _old: a column added in the source between the runs
    # is appended to the model's table.
    "models/parsed_orders_all.sql": """
        {{ config(materialized='incremental', on_schema_change='append_new_columns') }}
        SELECT * EXCLUDE (_old) FROM {{ new_rows(source('raw', 'orders')) }}
        """,
    # The orders as they are: the latest change per id, merged on id (the default strategy
    # with a unique_key); a delete stays as a flagged row.
    "models/orders_current.sql": """
        {{ config(materialized='incremental', unique_key='id') }}
        SELECT id, customer_id, amount, status, note, updated_at, deleted,
               _commit_lsn AS changed_lsn, _seq AS changed_seq
        FROM {{ new_rows(ref('parsed_orders')) }}
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY _commit_lsn DESC, _seq DESC) = 1
        """,
    # The customers as they are, straight from the raw table, delete+insert on id.
    "models/customers_current.sql": """
        {{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='id') }}
        SELECT id, name, tier, updated_at, _op = 'd' AS deleted, _commit_lsn AS changed_lsn
        FROM {{ new_rows(source('raw', 'customers')) }}
        WHERE _op <> 't'
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY _commit_lsn DESC, _seq DESC) = 1
        """,
    "models/open_orders.sql": """
        {{ config(materialized='ephemeral') }}
        SELECT * FROM {{ ref('orders_current') }} WHERE NOT deleted
        """,
    "models/status_totals.sql": """
        {{ config(materialized='table') }}
        SELECT c.tier, o.status, count(*) AS orders, sum(o.amount) AS amount, max(o.updated_at) AS last_update
        FROM {{ ref('open_orders') }} AS o
        JOIN {{ ref('customers_current') }} AS c ON c.id = o.customer_id AND NOT c.deleted
        GROUP BY ALL
        """,
    "models/live_orders.sql": """
        {{ config(materialized='view') }}
        SELECT o.id, o.customer_id, c.name AS customer_name, o.amount, o.status, o.note
        FROM {{ ref('orders_current') }} AS o
        LEFT JOIN {{ ref('customers_current') }} AS c ON c.id = o.customer_id AND NOT c.deleted
        WHERE NOT o.deleted
        """,
    # Data tests (test_models_test_and_history): all pass but unique_parsed_orders_id, built
    # to fail (the parsed model has a row per change, several for many orders).
    "models/schema.yml": """
        version: 2
        models:
          - name: orders_current
            columns:
              - name: id
                tests: [unique, not_null]
              - name: status
                tests:
                  - accepted_values:
                      values: ['new', 'paid', 'shipped', 'cancelled']
          - name: customers_current
            columns:
              - name: id
                tests: [unique, not_null]
          - name: parsed_orders
            columns:
              - name: _op
                tests:
                  - accepted_values:
                      values: ['r', 'c', 'u', 'd']
              - name: id
                tests: [unique]
        """,
}

PARSED_COLS = ["id", "customer_id", "amount", "status", "note", "updated_at", "_op", "_lsn", "_commit_lsn", "_txid", "_seq", "_commit_ts"]
ORDER_COLS = ["id", "customer_id", "amount", "status", "note", "updated_at"]
CUSTOMER_COLS = ["id", "name", "tier", "updated_at"]
TOTALS_COLS = ["tier", "status", "orders", "amount", "last_update"]
LIVE_COLS = ["id", "customer_id", "customer_name", "amount", "status", "note"]
E2E_TABLES = ["parsed_orders", "parsed_orders_all", "orders_current", "customers_current", "status_totals"]
E2E_RAW_TABLES = ["me_orders", "me_customers"]
INCREMENTAL = ["parsed_orders", "parsed_orders_all", "orders_current", "customers_current"]


def _e2e_pg_expectations(pg: PgCluster) -> dict:
    def ts(c: str) -> str:
        return f"(extract(epoch FROM {c}) * 1000000)::bigint"

    return {
        "orders": pg_typed(pg, f"SELECT id, customer_id, amount, status, note, {ts('updated_at')} FROM me_orders", "iidsst"),
        "customers": pg_typed(pg, f"SELECT id, name, tier, {ts('updated_at')} FROM me_customers", "isst"),
        "totals": pg_typed(pg, f"SELECT c.tier, o.status, count(*), sum(o.amount), {ts('max(o.updated_at)')} FROM me_orders o JOIN me_customers c ON c.id = o.customer_id GROUP BY 1, 2", "ssidt"),
        "live": pg_typed(pg, "SELECT o.id, o.customer_id, c.name, o.amount, o.status, o.note FROM me_orders o LEFT JOIN me_customers c ON c.id = o.customer_id", "iisdss"),
    }


def _e2e_ident(t: str) -> str:
    return f"{E2E_NS}.{t}"


def _check_e2e_stage(cdc: FrazilCdc, pg: PgCluster, report: dict, raw_snaps: dict, before: dict, stage: str) -> None:
    """The models after a run against PostgreSQL and the raw tables, and what each commit
    recorded. `before`: each model table's snapshot ids before the run."""
    wh = cdc.warehouse
    exp = _e2e_pg_expectations(pg)

    # The parsed model holds exactly the raw table's changes, one row per change.
    raw = MS.norm_rows(cdc.export(f"SELECT * FROM {E2E_RAW}.me_orders"))
    parsed = MS.norm_rows(MS.read_frazil(cdc, _e2e_ident("parsed_orders")))
    MS.assert_same(MS.multiset(parsed, PARSED_COLS), MS.multiset(raw, PARSED_COLS), f"{stage}: parsed_orders vs raw {E2E_RAW}.me_orders")
    bad_flag = [r for r in parsed if r["deleted"] != (r["_op"] == "d")]
    assert not bad_flag, f"{stage}: parsed_orders.deleted differs from _op = 'd': {bad_flag[:3]}"
    raw_all = cdc.export(f"SELECT * EXCLUDE (_old) FROM {E2E_RAW}.me_orders")
    got_all = MS.read_frazil(cdc, _e2e_ident("parsed_orders_all"))
    assert sorted(got_all.column_names) == sorted(raw_all.column_names), f"{stage}: parsed_orders_all has columns {got_all.column_names}, the raw table {raw_all.column_names}"
    MS.assert_same(MS.multiset(MS.norm_rows(got_all), raw_all.column_names), MS.multiset(MS.norm_rows(raw_all), raw_all.column_names), f"{stage}: parsed_orders_all vs raw {E2E_RAW}.me_orders")
    assert {r["_op"] for r in raw} == {"r", "c", "u", "d"}, f"{stage}: the raw table should hold every kind of change: {collections.Counter(r['_op'] for r in raw)}"

    # The current-state models equal PostgreSQL's tables; exactly the ids PostgreSQL no
    # longer has are flagged deleted.
    for model, key, cols, raw_table in (("orders_current", "orders", ORDER_COLS, "me_orders"), ("customers_current", "customers", CUSTOMER_COLS, "me_customers")):
        rows = MS.norm_rows(MS.read_frazil(cdc, _e2e_ident(model)))
        live = [r for r in rows if not r["deleted"]]
        MS.assert_same(MS.multiset(live, cols), collections.Counter(exp[key]), f"{stage}: {model} (not deleted) vs PostgreSQL {raw_table}")
        ids = collections.Counter(r["id"] for r in rows)
        assert max(ids.values()) == 1, f"{stage}: {model} has several rows for ids {[i for i, n in ids.items() if n > 1][:10]}"
        ever = {r["id"] for r in MS.norm_rows(cdc.export(f"SELECT DISTINCT id FROM {E2E_RAW}.{raw_table} WHERE _op <> 't'"))}
        gone = ever - {r[0] for r in exp[key]}
        flagged = {r["id"] for r in rows if r["deleted"]}
        assert flagged == gone, f"{stage}: {model} flags {sorted(flagged)[:20]} deleted, PostgreSQL lost {sorted(gone)[:20]}"
    # frazil's mirror table agrees (a second opinion from the CDC side).
    mirror = MS.norm_rows(cdc.export(f"SELECT * FROM {E2E_MIRROR}.me_orders"))
    MS.assert_same(MS.multiset(mirror, ORDER_COLS), collections.Counter(exp["orders"]), f"{stage}: mirror {E2E_MIRROR}.me_orders vs PostgreSQL")

    totals = MS.norm_rows(MS.read_frazil(cdc, _e2e_ident("status_totals")))
    MS.assert_same(MS.multiset(totals, TOTALS_COLS), collections.Counter(exp["totals"]), f"{stage}: status_totals vs the GROUP BY in PostgreSQL")
    live = MS.norm_rows(cdc.export(f"SELECT * FROM {E2E_NS}.live_orders"))
    MS.assert_same(MS.multiset(live, LIVE_COLS), collections.Counter(exp["live"]), f"{stage}: view live_orders (frazil sql) vs the join in PostgreSQL")

    # Each model run is one commit recording what it read: the raw tables' snapshots at run
    # time, and the snapshot each upstream model committed in this very run.
    res = report["by_name"]
    snaps = {t: MS.current_snapshot_id(wh, _e2e_ident(t)) for t in E2E_TABLES}
    for t in E2E_TABLES:
        ids = [s["snapshot-id"] for s in MS.snapshots(wh, _e2e_ident(t))]
        assert res[t]["snapshot_id"] == snaps[t], f"{stage}: models run reported snapshot {res[t]['snapshot_id']} for {t}, the table is at {snaps[t]}"
        assert ids[:-1] == before.get(t, []) and ids[-1] == snaps[t], f"{stage}: {t} snapshots {ids}, before the run {before.get(t, [])}: one new commit expected"
    want_reads = {
        "parsed_orders": {f"{E2E_RAW}.me_orders": raw_snaps["me_orders"]},
        "parsed_orders_all": {f"{E2E_RAW}.me_orders": raw_snaps["me_orders"]},
        "customers_current": {f"{E2E_RAW}.me_customers": raw_snaps["me_customers"]},
        "orders_current": {f"{E2E_NS}.parsed_orders": snaps["parsed_orders"]},
        "status_totals": {f"{E2E_NS}.orders_current": snaps["orders_current"], f"{E2E_NS}.customers_current": snaps["customers_current"]},
    }
    for t, reads in want_reads.items():
        summary = MS.current_summary(wh, _e2e_ident(t))
        got = {k[len("frazil.read."):]: v for k, v in summary.items() if k.startswith("frazil.read.")}
        assert got == {k: str(v) for k, v in reads.items()}, f"{stage}: {t} commit summary records reads {got}, expected {reads}"
        assert summary.get("frazil.model") == t, f"{stage}: {t} summary frazil.model = {summary.get('frazil.model')}"
        assert summary.get("frazil.run-id") == report["run_id"], f"{stage}: {t} summary frazil.run-id = {summary.get('frazil.run-id')}, run {report['run_id']}"


def _raw_snapshots(wh: Path) -> dict:
    return {t: MS.current_snapshot_id(wh, f"{E2E_RAW}.{t}") for t in E2E_RAW_TABLES}


def _model_snapshot_ids(wh: Path) -> dict:
    return {t: [s["snapshot-id"] for s in MS.snapshots(wh, _e2e_ident(t))] for t in E2E_TABLES}


@pytest.fixture(scope="module")
def e2e(frazil_bin, pg, shared_wh, tmp_path_factory):
    """Test 1's pipeline on the session warehouse (Spark's), in namespaces of its own: the
    snapshot + streamed changes, models run, more changes, models run (incremental); each
    stage checked as it completes. Yields the cdc, the project and both run reports."""
    made: list[FrazilCdc] = []
    work = tmp_path_factory.mktemp("models_e2e")
    try:
        pg.exec(E2E_SCHEMA)
        cdc = _new_cdc(frazil_bin, pg, "e2e", ["public.me_orders", "public.me_customers"], shared_wh, work / "work", E2E_RAW, made,
                       FRAZIL_SOURCE_MIRROR_NAMESPACE=E2E_MIRROR)
        project = MS.write_project(work / "project", "e2e", E2E_NS, E2E_PROJECT)
        rng = random.Random(SEED)
        print(f"test_models e2e seed {SEED} (FRAZIL_MODELS_SEED)")
        next_id = [301]
        run_until_now(cdc)  # the initial snapshot
        pg.exec("\n".join(e2e_transactions(rng, 40, next_id)))
        run_until_now(cdc)  # streamed changes

        raw1 = _raw_snapshots(shared_wh)
        run1 = run_models(cdc, project)
        _check_e2e_stage(cdc, pg, run1, raw1, {}, "run 1")
        kinds = {r["name"]: r["materialized"] for r in run1["results"]}
        assert [kinds[m] for m in INCREMENTAL] == ["incremental (full)"] * len(INCREMENTAL), f"first run: {kinds}"
        assert kinds["live_orders"] == "view" and kinds["open_orders"] == "ephemeral" and kinds["status_totals"] == "table", kinds

        # A column added in the source, set by some of the changes that follow.
        pg.exec("ALTER TABLE me_orders ADD COLUMN priority int")
        txns = e2e_transactions(rng, 60, next_id)
        txns.insert(5, "UPDATE me_orders SET priority = id % 5 WHERE id % 7 = 0;")
        txns.append(f"INSERT INTO me_orders (id, customer_id, amount, status, priority) VALUES ({next_id[0]}, 1, 9.99, 'new', 42);")
        next_id[0] += 1
        pg.exec("\n".join(txns))
        run_until_now(cdc)
        raw2 = _raw_snapshots(shared_wh)
        assert all(raw2[t] != raw1[t] for t in E2E_RAW_TABLES), f"frazil run committed nothing for the second batch: {raw1} -> {raw2}"
        before = _model_snapshot_ids(shared_wh)
        run2 = run_models(cdc, project)
        _check_e2e_stage(cdc, pg, run2, raw2, before, "run 2")
        kinds = {r["name"]: r["materialized"] for r in run2["results"]}
        assert all(kinds[m] == "incremental" for m in INCREMENTAL), f"second run: {kinds}"
        assert "priority" in MS.read_frazil(cdc, _e2e_ident("parsed_orders_all")).column_names
        # The incremental run appended exactly the raw rows committed between the two runs.
        n1 = len(MS.read_pyiceberg(shared_wh, f"{E2E_RAW}.me_orders", snapshot_id=raw1["me_orders"]))
        n2 = len(MS.read_pyiceberg(shared_wh, f"{E2E_RAW}.me_orders", snapshot_id=raw2["me_orders"]))
        assert run2["by_name"]["parsed_orders"]["rows"] == n2 - n1, f"incremental parsed_orders appended {run2['by_name']['parsed_orders']['rows']} rows, the raw table gained {n2 - n1}"
        yield {"cdc": cdc, "project": project, "runs": [run1, run2]}
    finally:
        _close_all(made)


def _all_rows(cdc: FrazilCdc, t: str) -> collections.Counter:
    tbl = MS.read_frazil(cdc, _e2e_ident(t))
    return MS.multiset(MS.norm_rows(tbl), tbl.column_names)


def test_cdc_models_end_to_end(e2e, duck, spark):
    cdc: FrazilCdc = e2e["cdc"]
    wh = cdc.warehouse
    # A third run with nothing new: the append model commits nothing; no model's rows change.
    rows_before = {t: _all_rows(cdc, t) for t in E2E_TABLES}
    snaps_before = _model_snapshot_ids(wh)
    run3 = run_models(cdc, e2e["project"])
    assert run3["by_name"]["parsed_orders"]["rows"] == 0, f"nothing new, yet parsed_orders appended {run3['by_name']['parsed_orders']['rows']} rows"
    assert _model_snapshot_ids(wh)["parsed_orders"] == snaps_before["parsed_orders"], "an append of no rows committed a snapshot"
    for t in E2E_TABLES:
        MS.assert_same(_all_rows(cdc, t), rows_before[t], f"third run with nothing new: {t}")

    # Every reader sees the same rows as frazil sql.
    for t in E2E_TABLES:
        ident = _e2e_ident(t)
        ref_tbl = MS.read_frazil(cdc, ident)
        cols = ref_tbl.column_names
        want = MS.multiset(MS.norm_rows(ref_tbl), cols)
        assert sum(want.values()) > 0, f"{ident} is empty"
        loc = MS.metadata_location_from_show(cdc, ident)
        for reader, tbl in (
            ("PyIceberg", MS.read_pyiceberg(wh, ident)),
            ("DuckDB iceberg_scan", MS.read_duckdb(duck, loc)),
            ("Spark", MS.read_spark(spark, ident)),
        ):
            assert sorted(tbl.column_names) == sorted(cols), f"{reader} reads {ident} with columns {tbl.column_names}, frazil sql {cols}"
            MS.assert_same(MS.multiset(MS.norm_rows(tbl), cols), want, f"{reader} vs frazil sql on {ident}")

    # --full-refresh rebuilds the incremental models from everything upstream: the same rows
    # as the incremental runs produced, read from the raw tables' current snapshots.
    rebuilt = ["parsed_orders", "orders_current", "customers_current"]
    rows_before = {t: _all_rows(cdc, t) for t in rebuilt}
    raw_now = _raw_snapshots(wh)
    full = run_models(cdc, e2e["project"], "--full-refresh", *[a for t in rebuilt for a in ("--select", t)])
    assert sorted(full["by_name"]) == sorted(rebuilt), f"--select ran {sorted(full['by_name'])}"
    for t in rebuilt:
        assert full["by_name"][t]["materialized"] == "incremental (full)", full["by_name"][t]
        MS.assert_same(_all_rows(cdc, t), rows_before[t], f"--full-refresh of {t} vs its incremental result")
    assert MS.current_summary(wh, _e2e_ident("parsed_orders"))[f"frazil.read.{E2E_RAW}.me_orders"] == str(raw_now["me_orders"])

    # A column keeps its Iceberg field id for the table's life, and a table gets a new schema
    # only when its columns change (here only parsed_orders_all, which gained `priority`).
    # Every table here has a timestamptz column.
    churn = {}
    for t in E2E_TABLES:
        md = MS.metadata(wh, _e2e_ident(t))
        ids: dict[str, set] = collections.defaultdict(set)
        for sch in md["schemas"]:
            for f in sch["fields"]:
                ids[f["name"]].add(f["id"])
        column_sets = {frozenset(f["name"] for f in sch["fields"]) for sch in md["schemas"]}
        changed = {c: sorted(v) for c, v in ids.items() if len(v) > 1}
        if changed or len(md["schemas"]) != len(column_sets):
            churn[t] = f"{len(md['snapshots'])} commits, {len(column_sets)} column set(s), {len(md['schemas'])} schemas; field ids per column: {changed}"
    assert not churn, f"model tables re-numbered columns whose type never changed: {churn}"


def test_models_test_and_history(e2e):
    cdc: FrazilCdc = e2e["cdc"]
    project = e2e["project"]
    raw = MS.norm_rows(MS.read_pyiceberg(cdc.warehouse, f"{E2E_RAW}.me_orders"), ["id", "_op"])
    changes = collections.Counter(r["id"] for r in raw if r["_op"] != "t")
    dup_ids = sum(1 for n in changes.values() if n > 1)
    assert dup_ids > 0

    res = MS.models(cdc, "test", "--project", str(project), check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 1, f"models test with a failing test exited {res.returncode}\n{out[-3000:]}"
    fail_lines = [l for l in out.splitlines() if "FAIL" in l]
    named = [l for l in fail_lines if "unique_parsed_orders_id" in l]
    assert named, f"the failing test is not named in a FAIL line:\n{out[-3000:]}"
    assert all("unique_parsed_orders_id" in l for l in fail_lines), f"other tests failed:\n{out[-3000:]}"
    assert any(re.search(rf"\b{dup_ids} failing row", l) for l in named), f"expected {dup_ids} failing rows (order ids with more than one change):\n{out[-3000:]}"
    passing = ["unique_orders_current_id", "not_null_orders_current_id", "accepted_values_orders_current_status", "unique_customers_current_id", "not_null_customers_current_id", "accepted_values_parsed_orders__op"]
    for name in passing:
        assert re.search(rf"PASS test {re.escape(name)}", res.stdout), f"{name}: no PASS line\n{res.stdout[-3000:]}"

    # The current-state models' tests only: all pass, exit 0.
    ok = MS.models(cdc, "test", "--project", str(project), "--select", "orders_current", "--select", "customers_current", check=False)
    assert ok.returncode == 0, f"models test --select of passing tests exited {ok.returncode}\n{ok.stdout[-2000:]}{ok.stderr[-2000:]}"
    assert "FAIL" not in ok.stdout and "unique_parsed_orders_id" not in ok.stdout and "PASS test unique_orders_current_id" in ok.stdout, ok.stdout

    # History, newest first: the passing selection, the failed run before it, each test's
    # outcome and each model's commit.
    runs = MS.json_doc(MS.models(cdc, "history", "--format", "json").stdout)
    runs = runs if isinstance(runs, list) else [runs]
    tests = [r for r in runs if r["command"] == "test"]
    assert len(tests) >= 2, f"models history lists {runs}"
    newest, failed = tests[0], tests[1]
    assert newest["status"] == "success" and failed["status"] == "error", f"history statuses: {tests[:2]}"
    assert newest["finished_ms"] >= newest["started_ms"] >= failed["started_ms"] > 0, tests[:2]
    model_runs = {r["run_id"]: r for r in runs if r["command"] == "run"}
    for r in e2e["runs"]:
        assert model_runs.get(r["run_id"], {}).get("status") == "success", f"models history: run {r['run_id']} missing or not a success: {runs}"
    detail = MS.json_doc(MS.models(cdc, "history", failed["run_id"], "--format", "json").stdout)
    by_node = {d["node"]: d for d in (detail if isinstance(detail, list) else [detail])}
    assert by_node.get("test.unique_parsed_orders_id", {}).get("status") == "fail", f"history of the failed run: {by_node}"
    assert int(by_node["test.unique_parsed_orders_id"]["failures"]) == dup_ids, by_node["test.unique_parsed_orders_id"]
    for name in passing:  # (accepted_values tests are named with their values appended)
        hits = [d for k, d in by_node.items() if k == f"test.{name}" or k.startswith(f"test.{name}__")]
        assert len(hits) == 1 and hits[0]["status"] == "pass", f"{name} in history: {hits}"
    last = e2e["runs"][-1]
    run_detail = MS.json_doc(MS.models(cdc, "history", last["run_id"], "--format", "json").stdout)
    run_detail = {d["node"]: d for d in (run_detail if isinstance(run_detail, list) else [run_detail])}
    for t in E2E_TABLES:
        got = run_detail.get(f"model.{t}", {})
        assert got.get("status") == "success" and int(got["snapshot_id"]) == last["by_name"][t]["snapshot_id"], f"history of {t} in run {last['run_id']}: {got}"


# =======================================================================================
# 2. SIGKILL during `models run`: the result equals a clean run's, no commit half-applied
# =======================================================================================

CRASH_NS, CLEAN_NS = "crash_m", "clean_m"
CRASH_KILLS_PER_PHASE = 6

CRASH_PROJECT = {
    "models/sources.yml": """
        version: 2
        sources:
          - name: raw
            schema: raw_data
            tables:
              - name: cr_orders
        """,
    "models/parsed.sql": """
        {{ config(materialized='incremental', incremental_strategy='append') }}
        SELECT id, customer, amount, status, pad, _op, _lsn, _commit_lsn, _seq, _op = 'd' AS deleted
        FROM {{ new_rows(source('raw', 'cr_orders')) }}
        WHERE _op <> 't'
        """,
    "models/current.sql": """
        {{ config(materialized='incremental', incremental_strategy='merge', unique_key='id') }}
        SELECT id, customer, amount, status, deleted, _commit_lsn AS changed_lsn, _seq AS changed_seq
        FROM {{ new_rows(ref('parsed')) }}
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY _commit_lsn DESC, _seq DESC) = 1
        """,
    # Per customer, recomputed for the customers the new changes touch (delete+insert).
    "models/per_customer.sql": """
        {{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='customer') }}
        SELECT customer, count(*) AS changes, count(*) FILTER (WHERE deleted) AS deletes,
               sum(amount) AS amount_sum, max(_commit_lsn) AS last_lsn
        FROM {{ ref('parsed') }}
        WHERE customer IN (SELECT customer FROM {{ new_rows(ref('parsed')) }})
        GROUP BY customer
        """,
    "models/totals.sql": """
        {{ config(materialized='table') }}
        SELECT count(*) FILTER (WHERE NOT deleted) AS open_orders,
               coalesce(sum(amount) FILTER (WHERE NOT deleted), 0) AS open_amount,
               count(*) FILTER (WHERE deleted) AS deleted_orders
        FROM {{ ref('current') }}
        """,
    "models/open_orders.sql": """
        {{ config(materialized='view') }}
        SELECT id, customer, amount, status FROM {{ ref('current') }} WHERE NOT deleted
        """,
}
CRASH_TABLES = ["parsed", "current", "per_customer", "totals"]
CR_PARSED_COLS = ["id", "customer", "amount", "status", "pad", "_op", "_lsn", "_commit_lsn", "_seq", "deleted"]
CR_CURRENT_COLS = ["id", "customer", "amount", "status", "deleted", "changed_lsn", "changed_seq"]
CR_CUSTOMER_COLS = ["customer", "changes", "deletes", "amount_sum", "last_lsn"]
CR_TOTALS_COLS = ["open_orders", "open_amount", "deleted_orders"]


def crash_workload(rng: random.Random, n: int, next_id: list[int], pause: float = 0.08) -> str:
    """n transactions of set-based changes (hundreds of rows each), a pause between them so
    that a running `frazil run` commits them in many batches."""
    out = []
    for _ in range(n):
        a = next_id[0]
        b = a + rng.randint(150, 350)
        next_id[0] = b + 1
        m, k = rng.randint(60, 140), rng.randint(0, 59)
        lo = rng.randint(1, max(1, a - 6000))
        out.append(f"""BEGIN;
INSERT INTO cr_orders SELECT g, g % 97, (g % 1000) / 10.0, 'new', md5(g::text) FROM generate_series({a}, {b}) g;
UPDATE cr_orders SET status = (ARRAY['paid','shipped','returned'])[1 + (id + {k}) % 3], amount = amount + 1 WHERE id % {m} = {k} AND id BETWEEN {lo} AND {lo + 6000};
DELETE FROM cr_orders WHERE id % {m + 7} = {k} AND id BETWEEN {lo} AND {lo + 6000};
INSERT INTO cr_orders SELECT g, g % 97, 1.5, 'again', 'reinserted' FROM generate_series({lo}, {lo + 400}) g ON CONFLICT (id) DO NOTHING;
COMMIT;
SELECT pg_sleep({pause});""")
    return "\n".join(out)


def cr_parsed(raw: list[dict]) -> collections.Counter:
    return collections.Counter(tuple(r[c] for c in CR_PARSED_COLS[:-1]) + (r["_op"] == "d",) for r in raw if r["_op"] != "t")


def cr_current(parsed: list[dict]) -> collections.Counter:
    last: dict = {}
    for r in sorted(parsed, key=lambda r: (r["_commit_lsn"], r["_seq"])):
        last[r["id"]] = r
    return collections.Counter((r["id"], r["customer"], r["amount"], r["status"], r["deleted"], r["_commit_lsn"], r["_seq"]) for r in last.values())


def cr_per_customer(parsed: list[dict]) -> collections.Counter:
    g: dict = {}
    for r in parsed:
        c = g.setdefault(r["customer"], [0, 0, D(0), None])
        c[0] += 1
        c[1] += r["deleted"]
        c[2] += r["amount"]
        c[3] = r["_commit_lsn"] if c[3] is None else max(c[3], r["_commit_lsn"])
    return collections.Counter((k, v[0], v[1], v[2], v[3]) for k, v in g.items())


def cr_totals(current: list[dict]) -> collections.Counter:
    live = [r for r in current if not r["deleted"]]
    return collections.Counter([(len(live), sum((r["amount"] for r in live), D(0)), len(current) - len(live))])


CR_RAW_COLS = ["id", "customer", "amount", "status", "pad", "_op", "_lsn", "_commit_lsn", "_seq"]


def _rows(wh: Path, ident: str, snapshot_id: int | None = None, columns: list[str] | None = None) -> list[dict]:
    return MS.norm_rows(MS.read_pyiceberg(wh, ident, snapshot_id, columns))


def _check_crash_snapshots(wh: Path, ns: str) -> int:
    """Every snapshot of every model table in `ns` holds exactly what the model computes from
    the upstream snapshots that commit recorded (read with PyIceberg, computed in Python):
    no commit applied part of a run. Returns the number of snapshots checked."""
    parsed_cache: dict = {}

    def parsed_at(sid: int) -> list[dict]:
        if sid not in parsed_cache:
            parsed_cache[sid] = _rows(wh, f"{ns}.parsed", sid)
        return parsed_cache[sid]

    checked = 0
    for t in CRASH_TABLES:
        for s in MS.snapshots(wh, f"{ns}.{t}"):
            sid, summary = s["snapshot-id"], s.get("summary", {})
            where = f"{ns}.{t} snapshot {sid} (summary {summary})"
            assert summary.get("frazil.model") == t, f"{where}: not a model commit"
            reads = {k[len("frazil.read."):]: v for k, v in summary.items() if k.startswith("frazil.read.")}
            got = _rows(wh, f"{ns}.{t}", sid)
            if t == "parsed":
                assert set(reads) == {"raw_data.cr_orders"}, where
                raw = _rows(wh, "raw_data.cr_orders", int(reads["raw_data.cr_orders"]), CR_RAW_COLS)
                MS.assert_same(MS.multiset(got, CR_PARSED_COLS), cr_parsed(raw), where)
            elif t in ("current", "per_customer"):
                assert set(reads) == {f"{ns}.parsed"}, where
                upstream = parsed_at(int(reads[f"{ns}.parsed"]))
                if t == "current":
                    MS.assert_same(MS.multiset(got, CR_CURRENT_COLS), cr_current(upstream), where)
                else:
                    MS.assert_same(MS.multiset(got, CR_CUSTOMER_COLS), cr_per_customer(upstream), where)
            else:
                assert set(reads) == {f"{ns}.current"}, where
                upstream = _rows(wh, f"{ns}.current", int(reads[f"{ns}.current"]))
                MS.assert_same(MS.multiset(got, CR_TOTALS_COLS), cr_totals(upstream), where)
            checked += 1
    return checked


def test_models_run_sigkill(frazil_bin, pg, tmp_path, made_cdcs):
    rng = random.Random(SEED + 2)
    print(f"test_models_run_sigkill seed {SEED + 2} (FRAZIL_MODELS_SEED + 2)")
    pg.exec("""
CREATE TABLE cr_orders (id int PRIMARY KEY, customer int NOT NULL, amount numeric(12,2) NOT NULL, status text NOT NULL, pad text);
ALTER TABLE cr_orders REPLICA IDENTITY FULL;
INSERT INTO cr_orders SELECT g, g % 97, (g % 1000) / 10.0, 'new', md5(g::text) FROM generate_series(1, 12000) g;
""")
    wh = tmp_path / "wh"
    cdc = _new_cdc(frazil_bin, pg, "crash", ["public.cr_orders"], wh, tmp_path / "work", "raw_data", made_cdcs,
                   FRAZIL_SOURCE_MIRROR="false", FRAZIL_SOURCE_COMMIT_INTERVAL_MS="50")
    crash = MS.write_project(tmp_path / "crash_project", "crash", CRASH_NS, CRASH_PROJECT)
    clean = MS.write_project(tmp_path / "clean_project", "clean", CLEAN_NS, CRASH_PROJECT)
    next_id = [12001]
    kills: list[tuple[str, float, bool, dict]] = []
    cdc.start()
    C.wait_snapshot(wh, "raw_data.cr_orders", cdc)
    for phase, n_txns in (("full", 30), ("incremental, while frazil run streams", 40)):
        commits_before = len(MS.snapshots(wh, "raw_data.cr_orders"))
        if phase == "full":
            # Source changes streamed while frazil runs (many small CDC commits); the models
            # run on the result.
            pg.exec(crash_workload(rng, n_txns, next_id))
            assert cdc.stop() == 0, cdc.describe()
            run_until_now(cdc)
            commits = len(MS.snapshots(wh, "raw_data.cr_orders")) - commits_before
            assert commits >= n_txns // 3, f"{phase}: {n_txns} source transactions arrived in only {commits} CDC commits"
        else:
            # The models run (and are killed) while frazil run commits to the raw table.
            cdc.start()
            script = tmp_path / "workload2.sql"
            script.write_text(crash_workload(rng, n_txns, next_id, pause=0.15))
            source = subprocess.Popen([str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.dsn(), "-f", str(script)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        t0 = time.monotonic()
        clean_report = run_models(cdc, clean)
        duration = time.monotonic() - t0
        # Seeded random points over the clean run's duration, in increasing order: a run that
        # committed nothing is killed later the next time, so the kills spread over the run.
        for i, delay in enumerate(sorted(rng.uniform(0.0, duration) for _ in range(CRASH_KILLS_PER_PHASE))):
            mp = MS.models_popen(cdc, f"kill_{phase[:4]}_{i}", "run", "--project", str(crash))
            alive = MS.kill_after(mp, delay)
            committed = {t: len(MS.snapshots(wh, f"{CRASH_NS}.{t}")) if C.table_metadata(wh, f"{CRASH_NS}.{t}") else None for t in CRASH_TABLES}
            kills.append((phase[:11], round(delay, 3), alive, committed))
            if not alive:
                assert mp.proc.returncode == 0, f"{phase}: a models run that was not killed exited {mp.proc.returncode}:\n{mp.output()[-3000:]}"
        if phase != "full":
            mid = run_models(cdc, crash)  # one complete run while the stream goes on
            assert source.wait(timeout=120) == 0, f"the source workload failed: {source.stderr.read()[-2000:]}"
            assert cdc.stop() == 0, cdc.describe()
            run_until_now(cdc)
            assert len(MS.snapshots(wh, "raw_data.cr_orders")) - commits_before >= n_txns // 3, "the second workload arrived in few CDC commits"
            streamed_reads = {MS.current_summary(wh, f"{ns}.parsed")["frazil.read.raw_data.cr_orders"] for ns in (CLEAN_NS, CRASH_NS)}
            clean_report = run_models(cdc, clean)
        raw_snap = MS.current_snapshot_id(wh, "raw_data.cr_orders")
        final = run_models(cdc, crash)
        for t in ("parsed", "current", "per_customer"):
            assert final["by_name"][t]["materialized"].startswith("incremental"), final["by_name"][t]
        if phase != "full":
            assert clean_report["by_name"]["parsed"]["materialized"] == "incremental", clean_report["by_name"]["parsed"]
            assert str(raw_snap) not in streamed_reads, f"the runs during streaming read the final raw snapshot {raw_snap}: nothing was concurrent"

        # The killed namespace equals the clean one, and both equal the computation from the
        # raw table (PyIceberg) at the snapshot the runs read.
        raw = _rows(wh, "raw_data.cr_orders", raw_snap, CR_RAW_COLS)
        assert len(raw) > 20000, f"{phase}: the raw table has only {len(raw)} rows"
        want_parsed = cr_parsed(raw)
        parsed_rows = [dict(zip(CR_PARSED_COLS, k)) for k in want_parsed.elements()]
        want_current = cr_current(parsed_rows)
        want = {
            "parsed": (CR_PARSED_COLS, want_parsed),
            "current": (CR_CURRENT_COLS, want_current),
            "per_customer": (CR_CUSTOMER_COLS, cr_per_customer(parsed_rows)),
            "totals": (CR_TOTALS_COLS, cr_totals([dict(zip(CR_CURRENT_COLS, k)) for k in want_current.elements()])),
        }
        for ns in (CLEAN_NS, CRASH_NS):
            for t, (cols, expected) in want.items():
                MS.assert_same(MS.multiset(_rows(wh, f"{ns}.{t}"), cols), expected, f"{phase}: {ns}.{t} vs the computation from raw_data.cr_orders")
            assert MS.current_summary(wh, f"{ns}.parsed")[f"frazil.read.raw_data.cr_orders"] == str(raw_snap)
            view = MS.norm_rows(cdc.export(f"SELECT * FROM {ns}.open_orders"))
            MS.assert_same(MS.multiset(view, ["id", "customer", "amount", "status"]),
                           collections.Counter((k[0], k[1], k[2], k[3]) for k in want_current.elements() if not k[4]), f"{phase}: view {ns}.open_orders")
        dup = [k for k, n in MS.multiset(_rows(wh, f"{CRASH_NS}.parsed"), ["_lsn", "_seq", "id", "_op"]).items() if n > 1]
        assert not dup, f"{phase}: changes applied twice in {CRASH_NS}.parsed: {dup[:10]}"
    print("kills (phase, delay s, killed while running, snapshots per table after the kill):")
    for k in kills:
        print("  ", k)
    real = sum(1 for k in kills if k[2])
    assert real >= len(kills) // 2, f"only {real} of {len(kills)} kills hit a running `models run` (the delays are drawn from the clean run's duration): {kills}"
    # No commit of either namespace is half-applied.
    assert _check_crash_snapshots(wh, CRASH_NS) >= 2 * len(CRASH_TABLES)
    _check_crash_snapshots(wh, CLEAN_NS)


# =======================================================================================
# 4. The bank's Data Vault against an independent computation
# =======================================================================================

BANK = ROOT / "examples" / "bank"
BANK_TABLES = ["users", "accounts", "transfers"]
VAULT_TABLES = ["h_users", "h_accounts", "h_transfers", "l_users_accounts", "l_transfers_accounts", "s_users", "s_accounts", "s_transfers"]
VAULT_VIEWS = ["s_users_eff", "s_accounts_eff", "s_transfers_eff"]
SAT_HK = {"s_users": "users_hk", "s_accounts": "accounts_hk", "s_transfers": "transfers_hk"}
ENTITY_KEY = {"h_users": "users_hk", "h_accounts": "accounts_hk", "h_transfers": "transfers_hk",
              "l_users_accounts": "users_accounts_hk", "l_transfers_accounts": "transfers_accounts_hk"}


def _now_us() -> int:
    return time.time_ns() // 1000


def _bank_raw(wh: Path, table: str, snapshot_id: int | None = None) -> list[dict]:
    cols = list(V.BANK_COLUMNS[table]) + V.RAW_META
    return MS.norm_rows(MS.read_pyiceberg(wh, f"raw_data.{table}", snapshot_id, cols))


def _raw_identity(r: dict) -> tuple:
    return (r["_commit_lsn"], r["_lsn"], r["_seq"], r["_op"], str(r["id"]))


def _compare_vault(cdc: FrazilCdc, expected: dict, what: str, windows: list[tuple[int, int]] | None, min_inserted: int | None = None) -> list[str]:
    """Differences between the vault frazil built and the independent computation."""
    wh = cdc.warehouse
    problems = []
    for name in VAULT_TABLES + VAULT_VIEWS:
        cols = V.VAULT_COLUMNS[name]
        tbl = cdc.export(f"SELECT * FROM data_vault.{name}") if name in VAULT_VIEWS else MS.read_pyiceberg(wh, f"data_vault.{name}")
        extra = sorted(set(tbl.column_names) - set(cols) - {"__inserted_at"})
        if extra or "__inserted_at" not in tbl.column_names:
            problems.append(f"{name} ({what}): columns {tbl.column_names}, docs/data-vault.md lists {cols} + __inserted_at")
            continue
        got_rows = MS.norm_rows(tbl)
        want_rows = list(expected[name].values()) if isinstance(expected[name], dict) else expected[name]
        got, want = MS.multiset(got_rows, cols), MS.multiset(want_rows, cols)
        if got != want:
            problems.append(f"{name} ({what}): {MS.diff_text(got, want, limit=4)}")
            continue
        # __inserted_at: when the row was written, i.e. during the build that first saw it.
        if name in VAULT_VIEWS:
            continue
        if name in SAT_HK:
            rnd = {(r[SAT_HK[name]], r["__record_source_lsn"], r["__hashdiff"]): r["_round"] for r in want_rows}
            key = lambda r: (r[SAT_HK[name]], r["__record_source_lsn"], r["__hashdiff"])
        else:
            rnd = {r[ENTITY_KEY[name]]: r["_round"] for r in want_rows}
            key = lambda r: r[ENTITY_KEY[name]]
        for r in got_rows:
            ins = r["__inserted_at"]
            if min_inserted is not None:
                ok = ins is not None and ins >= min_inserted
                window = (min_inserted, None)
            else:
                lo, hi = windows[rnd[key(r)] - 1]
                ok = ins is not None and lo - 1000 <= ins <= hi + 1000
                window = (lo, hi)
            if not ok:
                problems.append(f"{name} ({what}): __inserted_at {ins} of {key(r)} is outside the build that first saw it {window}")
                break
    return problems


def test_bank_data_vault_independent(frazil_bin, pg, tmp_path, made_cdcs):
    models_dir = BANK / "models"
    assert (models_dir / "README.md").exists() and (models_dir / "data_vault" / "bank.yml").exists(), f"the bank project is missing in {models_dir}"
    project = tmp_path / "bank_models"
    shutil.copytree(models_dir, project)
    pg.psql_file(BANK / "schema.sql")
    pg.psql_file(BANK / "seed.sql", variables={"users": 150})
    wh = tmp_path / "wh"
    cdc = _new_cdc(frazil_bin, pg, "bank", [f"public.{t}" for t in BANK_TABLES], wh, tmp_path / "work", "raw_data", made_cdcs,
                   FRAZIL_SOURCE_MIRROR="false")
    run_until_now(cdc)  # the initial snapshot of the seeded bank

    rng = random.Random(SEED + 4)
    print(f"test_bank_data_vault_independent seed {SEED + 4} (FRAZIL_MODELS_SEED + 4)")
    state = V.BankState()
    workload = V.BankWorkload(rng, state)
    windows: list[tuple[int, int]] = []
    raw_snaps: list[dict] = []
    rounds = [(160, 2, []), (160, 2, ["undo_pending"] * 3), (60, 0, ["noop_user"] * 4 + ["noop_account"] * 3 + ["noop_transfer"] * 2 + ["new_user"] * 2)]
    for n_ops, pgbench_seconds, extra in rounds:
        state.load(lambda sql: pg_query(pg, sql))
        pg.exec("\n".join(workload.transactions(n_ops, extra)))
        if pgbench_seconds:  # the bank's own workload: concurrent pgbench clients
            p = subprocess.run([str(BANK / "workload.sh"), pg.conninfo, "--rate", "60", "--duration", str(pgbench_seconds), "--clients", "2"],
                               capture_output=True, text=True, timeout=120, env=dict(os.environ, PG_BIN=str(PG_BIN)))
            assert p.returncode == 0, f"examples/bank/workload.sh failed: {p.stderr[-2000:]}{p.stdout[-2000:]}"
        run_until_now(cdc)
        raw_snaps.append({t: MS.current_snapshot_id(wh, f"raw_data.{t}") for t in BANK_TABLES})
        t0 = _now_us()
        if len(windows) == 2:
            # A source of a hub lags behind another (as when a build races `frazil run`, which
            # commits while the parsed models compile one after the other): h_accounts runs
            # after parsed_transfers caught up but before parsed_accounts did. The rule is the
            # same: per key the least (__load_dttm, LSN, source order) over every sighting,
            # "so a full refresh rebuilds the same hub" (docs/data-vault.md).
            run_models(cdc, project, "--select", "parsed_transfers", "--select", "h_accounts")
        report = run_models(cdc, project, command="build")
        windows.append((t0, _now_us()))
        kinds = {r["name"]: r["materialized"] for r in report["results"] if r["kind"] == "model"}
        missing = [m for m in VAULT_TABLES + VAULT_VIEWS if m not in kinds]
        assert not missing, f"models build did not run {missing}: {sorted(kinds)}"
        want_kind = "incremental (full)" if len(windows) == 1 else "incremental"
        assert all(kinds[m] == want_kind for m in VAULT_TABLES), f"round {len(windows)}: {kinds}"
        assert any(r["kind"] == "test" for r in report["results"]), "models build ran no data tests"
    print(f"workload ops: {dict(workload.counts)}")
    for op in ("noop_user", "close_account", "reinsert_account", "cancel_transfer", "reinsert_transfer", "delete_user", "reinsert_user", "reassign_account", "change_now_undo_later", "undo_pending"):
        assert workload.counts[op] > 0, f"the workload never ran {op}: {dict(workload.counts)}"

    # The raw changelog (PyIceberg), each row labelled with the round that brought it.
    raw: dict[str, list[dict]] = {}
    for t in BANK_TABLES:
        rows = _bank_raw(wh, t)
        seen: dict[tuple, int] = {}
        for k in range(len(rounds), 0, -1):
            for r in _bank_raw(wh, t, raw_snaps[k - 1][t]):
                seen[_raw_identity(r)] = k
        for r in rows:
            r["_round"] = seen[_raw_identity(r)]
        raw[t] = rows
    ops = {t: collections.Counter(r["_op"] for r in raw[t]) for t in BANK_TABLES}
    assert all(ops[t]["d"] > 0 and ops[t]["u"] > 0 and ops[t]["c"] > 0 and ops[t]["r"] > 0 for t in BANK_TABLES), f"raw changes per kind: {ops}"

    # The parsed layer: one row per change, as examples/bank/models/README.md maps it.
    parsed = {t: V.parsed(raw[t], t) for t in BANK_TABLES}
    for t in BANK_TABLES:
        cols = list(V.BANK_COLUMNS[t]) + ["__deleted_flag", "__valid_from_dttm", "__source_lsn", "__source_op", "__source_details"]
        got = MS.norm_rows(MS.read_pyiceberg(wh, f"parsed_data.parsed_{t}"))
        MS.assert_same(MS.multiset(got, cols), MS.multiset(parsed[t], cols), f"parsed_data.parsed_{t} vs the raw changelog")
        assert {r["__source_connector"] for r in got} == {"frazil"}

    # The canonical texts this computation hashes are PostgreSQL's own output for the rows
    # the source still has (docs/data-vault.md: "also PostgreSQL's text output").
    pg_users = {r[0]: r for r in pg_query(pg, "SELECT id::text, created_at::text, md5(upper(trim(id::text))) FROM users")}
    pg_transfers = {int(r[0]): r for r in pg_query(pg, "SELECT id::text, amount::text, booked_at::text, md5(upper(trim(id::text))) FROM transfers")}
    latest = {t: {} for t in BANK_TABLES}
    for t in BANK_TABLES:
        for r in sorted(parsed[t], key=lambda r: r["__source_lsn"]):
            latest[t][r["id"]] = r
    mismatch = [(u, V.canonical(latest["users"][u]["created_at"], "date"), pg_users[u][1]) for u in pg_users
                if V.canonical(latest["users"][u]["created_at"], "date") != pg_users[u][1]]
    mismatch += [(i, V.canonical(latest["transfers"][i]["booked_at"], "tstz"), V.canonical(latest["transfers"][i]["amount"], "dec"), pg_transfers[i][2], pg_transfers[i][1])
                 for i in pg_transfers if (V.canonical(latest["transfers"][i]["booked_at"], "tstz"), V.canonical(latest["transfers"][i]["amount"], "dec")) != (pg_transfers[i][2], pg_transfers[i][1])]
    assert not mismatch, f"canonical text differs from PostgreSQL's: {mismatch[:5]}"

    expected = V.bank_vault(parsed)
    # PostgreSQL's md5(upper(trim(id::text))) finds every current user and transfer in its hub.
    assert {r[2] for r in pg_users.values()} <= set(expected["h_users"]) and {r[3] for r in pg_transfers.values()} <= set(expected["h_transfers"])
    hub_users = {r["users_hk"]: r["users_id"] for r in MS.norm_rows(MS.read_pyiceberg(wh, "data_vault.h_users"))}
    lost = [u for u, r in pg_users.items() if hub_users.get(r[2]) != u]
    assert not lost, f"users whose PostgreSQL md5(upper(trim(id::text))) is not their users_hk in data_vault.h_users: {lost[:5]}"
    sat = collections.Counter(r["__deleted_flag"] for r in expected["s_accounts"])
    assert sat[True] > 0, "the workload produced no delete record"
    problems = _compare_vault(cdc, expected, "after three incremental builds", windows)

    # A full refresh of the vault rebuilds the same records (docs/data-vault.md), new
    # __inserted_at aside.
    t0 = _now_us()
    sel = [a for m in VAULT_TABLES for a in ("--select", m)]
    run_models(cdc, project, "--full-refresh", *sel)
    problems += _compare_vault(cdc, expected, "after --full-refresh", None, min_inserted=t0 - 1000)
    assert not problems, "Data Vault vs the independent computation:\n  " + "\n  ".join(problems)
