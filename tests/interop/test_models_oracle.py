"""The oracle for `frazil models`: dbt-duckdb runs the same dbt project on the same data, and
frazil's model runner must produce exactly what dbt produced.

The project (`models_oracle/shop`) has sources loaded from CSV batches (`src.customers`,
`src.orders`, `src.payments`), staging views, an ephemeral model, table marts, seeds, Jinja
loops / `{% set %}` / if-elif-else / whitespace control, macros with default arguments,
`var()` (scalar and list from the project, a var() default, `--vars` over a project var),
`env_var()` set and defaulted, `schema` set per folder, per model in dbt_project.yml, per seed
and in `config()`, and incremental models: `merge` (one with `merge_update_columns`),
`delete+insert` (one on a composite key) and `append`, all filtering on `{{ this }}`.
Generic data tests (unique, not_null, accepted_values, relationships; the old top-level and
the 1.10+ `arguments:` form, one on a source) and a singular test.

Stages, each run by dbt (`.venv-dbt/bin/dbt`, DuckDB file) and by frazil (Iceberg warehouse):
 1. batch 1 into the sources, seed, run, test;
 2. batch 2 appended (new rows, and new versions of existing customers and orders), run
    again (incremental), test;
 3. `run --full-refresh --select customer_status`.
After every stage each seed and non-ephemeral model must hold the same multiset of rows under
the same column names (values compared by kind: numbers by value whether integer, decimal or
float, dates, timestamps, strings, booleans, NULL). Data test outcomes must agree too.

The second project (`models_oracle/failing`) has data tests built to fail (and one with
severity warn): both tools must report the same failures, frazil with exit code 1.

dbt-duckdb puts models in `main` / `main_<schema>`; frazil in the namespace named by the
model's `schema` config, or the project's name: tables are matched by model name.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT, Frazil, FrazilResult, frazil_binary

ORACLE_DIR = Path(__file__).resolve().parent / "models_oracle"
BATCHES = ORACLE_DIR / "batches"
SOURCES = ("customers", "orders", "payments")
DBT_VENV = ROOT / ".venv-dbt"

# --vars of every run: overrides large_order_threshold (default 100 in macros/amount_band.sql);
# vip_threshold keeps its var() default, report_currency / payment_methods come from
# dbt_project.yml.
RUN_VARS = "{large_order_threshold: 50}"
# env_var('ORACLE_SOURCE_SYSTEM', 'unset') is set; env_var('ORACLE_SHOP_UNSET_VARIABLE',
# 'default-region') must take its default.
MODEL_ENV = {"ORACLE_SOURCE_SYSTEM": "shopdb"}
UNSET_ENV = ("ORACLE_SHOP_UNSET_VARIABLE",)


def _model_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV}
    env.update(MODEL_ENV)
    env["TZ"] = "UTC"
    return env


# ---------------------------------------------------------------------------------------
# Relation contents and their comparison
# ---------------------------------------------------------------------------------------


@dataclass
class Rel:
    columns: list[str]
    rows: list[tuple]


_Q = Decimal("0.000001")


def _canon(v):
    """A value as (kind, text): numbers compare by value whatever their type (integer,
    decimal, hugeint, float; rounded to 6 decimals), dates, naive and zoned timestamps,
    strings, booleans; None is NULL."""
    if v is None:
        return None
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return ("num", repr(v))
        d = Decimal(repr(v))
    elif isinstance(v, (int, Decimal)):
        d = Decimal(v)
    else:
        d = None
    if d is not None:
        d = d.quantize(_Q, rounding=ROUND_HALF_EVEN)
        return ("num", "0" if d == 0 else format(d.normalize(), "f"))
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            return ("timestamptz", v.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat())
        return ("timestamp", v.isoformat())
    if isinstance(v, dt.date):
        return ("date", v.isoformat())
    if isinstance(v, dt.time):
        return ("time", v.isoformat())
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return ("bytes", bytes(v).hex())
    return (type(v).__name__, repr(v))


def _canon_rows(rel: Rel) -> collections.Counter:
    return collections.Counter(tuple(_canon(v) for v in row) for row in rel.rows)


def _show(row: tuple) -> str:
    return "(" + ", ".join("NULL" if v is None else f"{v[1]!r}" for v in row) + ")"


def rel_diff(name: str, expected: Rel, got: Rel) -> str | None:
    """None when equal; otherwise a readable account of the difference."""
    if [c.lower() for c in expected.columns] != [c.lower() for c in got.columns]:
        return f"{name}: columns differ\n  dbt:    {expected.columns}\n  frazil: {got.columns}"
    e, g = _canon_rows(expected), _canon_rows(got)
    if e == g:
        return None
    missing = sorted(_show(r) for r in (e - g).elements())
    extra = sorted(_show(r) for r in (g - e).elements())
    lines = [f"{name}: rows differ (dbt {sum(e.values())} rows, frazil {sum(g.values())} rows); columns {expected.columns}"]
    lines += [f"  only in dbt:    {r}" for r in missing[:25]]
    lines += [f"  only in frazil: {r}" for r in extra[:25]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# dbt (the oracle)
# ---------------------------------------------------------------------------------------


@dataclass
class DbtNode:
    name: str
    resource_type: str  # model | seed
    materialized: str
    custom_schema: str | None
    relation_name: str | None  # None for ephemeral models


class Dbt:
    """dbt-duckdb on a copy of a project, with a profiles.yml pointing at a DuckDB file."""

    def __init__(self, project_src: Path, workdir: Path) -> None:
        self.bin = DBT_VENV / "bin" / "dbt"
        if not self.bin.exists():
            pytest.fail(f"dbt not found at {self.bin}: the oracle needs the .venv-dbt virtualenv (dbt-core + dbt-duckdb); run `make deps`")
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.project = self.dir / "project"
        shutil.copytree(project_src, self.project)
        self.db = self.dir / "oracle.duckdb"
        self.project_name = _project_name(self.project)
        profile = re.search(r"^profile:\s*(\S+)", (self.project / "dbt_project.yml").read_text(), re.M).group(1)
        (self.dir / "profiles.yml").write_text(
            f"{profile}:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {json.dumps(str(self.db))}\n      threads: 1\n"
        )

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin), *args, "--profiles-dir", str(self.dir), "--project-dir", str(self.project)]
        env = _model_env()
        env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        env["DBT_USE_COLORS"] = "false"
        p = subprocess.run(cmd, cwd=self.dir, env=env, capture_output=True, text=True, timeout=300)
        if check and p.returncode != 0:
            raise AssertionError(f"dbt (the oracle) failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stdout[-4000:]}\n{p.stderr[-2000:]}")
        return p

    def load_sources(self, batch: str, append: bool) -> None:
        """The CSVs into schema src, read the way `frazil load` reads a CSV (cli.cc ReaderSql)."""
        with duckdb.connect(str(self.db)) as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS src")
            for t in SOURCES:
                reader = f"read_csv('{BATCHES / batch / (t + '.csv')}', auto_detect=true, header=true)"
                if append:
                    con.execute(f"INSERT INTO src.{t} BY NAME SELECT * FROM {reader}")
                else:
                    con.execute(f"CREATE TABLE src.{t} AS SELECT * FROM {reader}")

    def manifest_nodes(self) -> dict[str, DbtNode]:
        manifest = json.loads((self.project / "target" / "manifest.json").read_text())
        out = {}
        for n in manifest["nodes"].values():
            if n["resource_type"] in ("model", "seed") and n["package_name"] == self.project_name:
                out[n["name"]] = DbtNode(n["name"], n["resource_type"], n["config"]["materialized"], n["config"].get("schema"), n.get("relation_name"))
        return out

    def test_results(self) -> dict[str, tuple[str, int]]:
        """test name (without dbt's hash) -> (status pass|fail|warn|error, failing rows)."""
        doc = json.loads((self.project / "target" / "run_results.json").read_text())
        out = {}
        for r in doc["results"]:
            if r["unique_id"].startswith("test."):
                out[r["unique_id"].split(".")[2]] = (r["status"], r.get("failures") or 0)
        return out

    def read_all(self, nodes: dict[str, DbtNode]) -> dict[str, Rel]:
        out = {}
        with duckdb.connect(str(self.db), read_only=True) as con:
            for name, n in nodes.items():
                if n.materialized == "ephemeral":
                    continue
                cur = con.execute(f"SELECT * FROM {n.relation_name}")
                out[name] = Rel([d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()])
        return out

    def relation_names(self) -> set[str]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def _project_name(project: Path) -> str:
    return re.search(r"^name:\s*['\"]?([A-Za-z0-9_]+)", (project / "dbt_project.yml").read_text(), re.M).group(1)


# ---------------------------------------------------------------------------------------
# frazil
# ---------------------------------------------------------------------------------------


class ModelsFrazil(Frazil):
    """frazil with the models' environment (env_var) and a copy of the project."""

    def __init__(self, binary: Path, warehouse: Path, workdir: Path, project_src: Path) -> None:
        super().__init__(binary, warehouse, workdir)
        self.project = self.workdir / "project"
        shutil.copytree(project_src, self.project)

    def _env(self) -> dict:
        env = super()._env()
        for k in UNSET_ENV:
            env.pop(k, None)
        env.update(MODEL_ENV)
        return env

    def models(self, command: str, *args: str) -> FrazilResult:
        return self.run("models", command, "--project", str(self.project), *args, check=False)

    def read(self, ident: str) -> Rel:
        tbl = self.export(f"SELECT * FROM {ident}")
        cols = [tbl.column(i).to_pylist() for i in range(tbl.num_columns)]
        return Rel(list(tbl.column_names), [tuple(r) for r in zip(*cols)] if cols else [])


def _describe(res: FrazilResult) -> str:
    return f"`{' '.join(res.args[3:])}` exited {res.returncode}\n--- stderr ---\n{res.stderr[-4000:]}\n--- stdout ---\n{res.stdout[-3000:]}"


def require_ok(res: FrazilResult, what: str) -> None:
    assert res.returncode == 0, f"frazil {what} failed: {_describe(res)}"


def frazil_test_outcomes(res: FrazilResult) -> dict[str, tuple[str, int]] | str:
    """`models test --format json` -> test name -> (status, failing rows); a str says why the
    output could not be read."""
    try:
        doc = json.loads(res.stdout)
        return {r["name"]: (r["status"], int(r.get("failures") or 0)) for r in doc["results"] if r.get("kind") == "test"}
    except (ValueError, KeyError, TypeError) as e:
        return f"cannot read `models test --format json` output ({e}): {_describe(res)}"


def _tokens(name: str) -> set[str]:
    return {t for t in name.lower().split("_") if t}


def pair_tests(dbt_names: list[str], frazil_names: list[str]) -> tuple[dict[str, str], list[str], list[str]]:
    """Pairs dbt's tests with frazil's: same name first, then the most similar name (shared
    words of the name; frazil renders e.g. ref('x') or source tests a little differently).
    Returns dbt name -> frazil name, and the unpaired names of each side."""
    pairs = {n: n for n in dbt_names if n in frazil_names}
    rest_d = [n for n in dbt_names if n not in pairs]
    rest_f = [n for n in frazil_names if n not in pairs.values()]
    scored = []
    for d in rest_d:
        for f in rest_f:
            a, b = _tokens(d), _tokens(f)
            scored.append((len(a & b) / len(a | b), d, f))
    for score, d, f in sorted(scored, key=lambda x: (-x[0], x[1], x[2])):
        if score >= 0.5 and d not in pairs and f not in pairs.values():
            pairs[d] = f
    return pairs, sorted(set(dbt_names) - set(pairs)), sorted(set(frazil_names) - set(pairs.values()))


def compare_test_outcomes(stage: str, dbt_results: dict[str, tuple[str, int]], res: FrazilResult) -> list[str]:
    """Differences between dbt's data test outcomes and frazil's: exit code, counts per
    status, and per test its status and number of failing rows."""
    problems = []
    dbt_failed = sorted(n for n, (s, _) in dbt_results.items() if s in ("fail", "error"))
    want_exit = 1 if dbt_failed else 0
    if res.returncode != want_exit:
        problems.append(f"{stage}: frazil models test exited {res.returncode}, expected {want_exit} (dbt failing tests: {dbt_failed or 'none'})\n{_describe(res)}")
    got = frazil_test_outcomes(res)
    if isinstance(got, str):
        return problems + [f"{stage}: {got}"]
    want_counts = collections.Counter(s for s, _ in dbt_results.values())
    got_counts = collections.Counter(s for s, _ in got.values())
    if want_counts != got_counts:
        problems.append(f"{stage}: test outcomes differ: dbt {dict(sorted(want_counts.items()))}, frazil {dict(sorted(got_counts.items()))}")
    pairs, only_d, only_f = pair_tests(list(dbt_results), list(got))
    if only_d or only_f:
        problems.append(f"{stage}: tests without a counterpart: only dbt {only_d}, only frazil {only_f}")
    for d, f in sorted(pairs.items()):
        if dbt_results[d] != got[f]:
            problems.append(f"{stage}: test {d} (frazil: {f}): dbt {dbt_results[d][0]} with {dbt_results[d][1]} failing rows, frazil {got[f][0]} with {got[f][1]}")
    return problems


# ---------------------------------------------------------------------------------------
# The shop scenario: both tools through three stages
# ---------------------------------------------------------------------------------------


@dataclass
class Stage:
    dbt: dict[str, Rel] = field(default_factory=dict)
    frazil: dict[str, Rel | str] = field(default_factory=dict)  # str: why it could not be read
    dbt_tests: dict[str, tuple[str, int]] | None = None
    frazil_test: FrazilResult | None = None
    frazil_run: FrazilResult | None = None
    # where frazil's `models list` puts a node it did not put where dbt would, and what is there
    frazil_elsewhere: dict[str, tuple[str, Rel | str]] = field(default_factory=dict)


@dataclass
class ShopRuns:
    dbt: Dbt
    fz: ModelsFrazil
    nodes: dict[str, DbtNode]
    stages: dict[str, Stage]
    frazil_steps: dict[str, FrazilResult]
    frazil_listed: dict[str, str] = field(default_factory=dict)  # node name -> relation per `models list`

    def ident(self, name: str) -> str:
        n = self.nodes[name]
        return f"{n.custom_schema or self.dbt.project_name}.{name}"

    def compared(self) -> list[str]:
        return sorted(n for n, v in self.nodes.items() if v.materialized != "ephemeral")


def _frazil_read(runs: ShopRuns, ident: str) -> Rel | str:
    try:
        return runs.fz.read(ident)
    except AssertionError as e:  # frazil sql failed: keep its message
        m = re.search(r"--- stderr ---\n(.*?)\n--- stdout ---", str(e), re.S)
        lines = (m.group(1) if m else str(e)).strip().splitlines()
        return lines[0] if lines else str(e)


def _frazil_read_stage(runs: ShopRuns, stage: Stage) -> Stage:
    for name in runs.compared():
        stage.frazil[name] = _frazil_read(runs, runs.ident(name))
        elsewhere = runs.frazil_listed.get(name)
        if isinstance(stage.frazil[name], str) and elsewhere and elsewhere != runs.ident(name):
            stage.frazil_elsewhere[name] = (elsewhere, _frazil_read(runs, elsewhere))
    return stage


def _frazil_listing(fz: ModelsFrazil) -> dict[str, str]:
    res = fz.models("list", "--format", "json")
    out = {}
    if res.returncode == 0:
        for line in res.stdout.splitlines():
            try:
                row = json.loads(line)
                out[row["node"].split(".", 1)[1]] = row["relation"]
            except (ValueError, KeyError, IndexError):
                pass
    return out


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> ShopRuns:
    work = tmp_path_factory.mktemp("models_oracle_shop")
    dbt = Dbt(ORACLE_DIR / "shop", work / "dbt")
    wh = work / "warehouse"
    wh.mkdir()
    fz = ModelsFrazil(frazil_binary(), wh, work / "frazil", ORACLE_DIR / "shop")
    if not fz.binary.exists():
        pytest.fail(f"frazil binary not found at {fz.binary} (build it with `make build` or set FRAZIL_BIN)")

    # dbt, all stages (the oracle must succeed; its test step may report failures)
    d_stages = {}
    dbt.load_sources("batch1", append=False)
    dbt.run("seed")
    dbt.run("run", "--vars", RUN_VARS)
    dbt.run("test", check=False)
    nodes = dbt.manifest_nodes()
    d_stages["batch1"] = (dbt.read_all(nodes), dbt.test_results())
    dbt.load_sources("batch2", append=True)
    dbt.run("run", "--vars", RUN_VARS)
    dbt.run("test", check=False)
    d_stages["batch2"] = (dbt.read_all(nodes), dbt.test_results())
    dbt.run("run", "--full-refresh", "--select", "customer_status", "--vars", RUN_VARS)
    d_stages["full_refresh"] = (dbt.read_all(nodes), None)

    runs = ShopRuns(dbt, fz, nodes, {}, {})
    steps = runs.frazil_steps

    # frazil, the same stages
    for t in SOURCES:
        fz.run("load", f"src.{t}", str(BATCHES / "batch1" / f"{t}.csv"))
    steps["seed"] = fz.models("seed")
    steps["run1"] = fz.models("run", "--vars", RUN_VARS)
    steps["test1"] = fz.models("test", "--format", "json")
    runs.frazil_listed = _frazil_listing(fz)
    s1 = _frazil_read_stage(runs, Stage(d_stages["batch1"][0], dbt_tests=d_stages["batch1"][1], frazil_test=steps["test1"], frazil_run=steps["run1"]))
    for t in SOURCES:
        fz.run("load", f"src.{t}", str(BATCHES / "batch2" / f"{t}.csv"), "--mode", "append")
    steps["run2"] = fz.models("run", "--vars", RUN_VARS)
    steps["test2"] = fz.models("test", "--format", "json")
    s2 = _frazil_read_stage(runs, Stage(d_stages["batch2"][0], dbt_tests=d_stages["batch2"][1], frazil_test=steps["test2"], frazil_run=steps["run2"]))
    steps["run3"] = fz.models("run", "--full-refresh", "--select", "customer_status", "--vars", RUN_VARS)
    s3 = _frazil_read_stage(runs, Stage(d_stages["full_refresh"][0], frazil_run=steps["run3"]))
    runs.stages = {"batch1": s1, "batch2": s2, "full_refresh": s3}
    return runs


def _assert_stage_matches(runs: ShopRuns, stage_name: str) -> None:
    stage = runs.stages[stage_name]
    problems = []
    if stage.frazil_run is not None and stage.frazil_run.returncode != 0:
        problems.append(f"frazil models run failed: {_describe(stage.frazil_run)}")
    for name in runs.compared():
        got = stage.frazil.get(name)
        if isinstance(got, str):
            msg = f"{name} ({runs.nodes[name].materialized}): cannot read {runs.ident(name)} from frazil: {got}"
            if name in stage.frazil_elsewhere:
                where, rel = stage.frazil_elsewhere[name]
                if isinstance(rel, str):
                    msg += f"\n  frazil's models list puts it in {where}, unreadable too: {rel}"
                else:
                    d = rel_diff(name, stage.dbt[name], rel)
                    msg += f"\n  frazil put it in {where} instead; " + ("the contents there equal dbt's" if d is None else "the contents there differ too:\n" + d)
            problems.append(msg)
            continue
        d = rel_diff(f"{name} ({runs.nodes[name].materialized}, {runs.ident(name)})", stage.dbt[name], got)
        if d:
            problems.append(d)
    assert not problems, f"stage {stage_name}: frazil differs from dbt-duckdb in {len(problems)} way(s):\n\n" + "\n\n".join(problems)


def test_oracle_project_covers_the_features(shop):
    """The dbt side itself: every kind of node this suite claims to compare exists."""
    mats = collections.Counter(n.materialized for n in shop.nodes.values())
    assert mats["view"] >= 3 and mats["table"] >= 2 and mats["incremental"] == 5 and mats["ephemeral"] == 1 and mats["seed"] == 2, mats
    tests = shop.stages["batch1"].dbt_tests
    assert len(tests) >= 25 and all(s == "pass" for s, _ in tests.values()), tests
    assert "ephemeral" not in {shop.nodes[n].materialized for n in shop.compared()}


def test_seed_and_first_run_match_dbt(shop):
    require_ok(shop.frazil_steps["seed"], "models seed")
    _assert_stage_matches(shop, "batch1")


def test_first_data_tests_match_dbt(shop):
    problems = compare_test_outcomes("batch1", shop.stages["batch1"].dbt_tests, shop.stages["batch1"].frazil_test)
    assert not problems, "\n\n".join(problems)


def test_data_test_names_match_dbt(shop):
    """dbt's names for generic tests (what `--select <test>` and the logs use)."""
    got = frazil_test_outcomes(shop.stages["batch1"].frazil_test)
    assert not isinstance(got, str), got
    pairs, only_d, only_f = pair_tests(list(shop.stages["batch1"].dbt_tests), list(got))
    renamed = {d: f for d, f in pairs.items() if d != f}
    assert not (renamed or only_d or only_f), (
        "frazil names data tests differently from dbt:\n"
        + "".join(f"  dbt {d}\n  frazil {f}\n" for d, f in sorted(renamed.items()))
        + (f"  unpaired: dbt {only_d}, frazil {only_f}" if only_d or only_f else "")
    )


def test_incremental_run_matches_dbt(shop):
    _assert_stage_matches(shop, "batch2")


def test_second_data_tests_match_dbt(shop):
    problems = compare_test_outcomes("batch2", shop.stages["batch2"].dbt_tests, shop.stages["batch2"].frazil_test)
    assert not problems, "\n\n".join(problems)


def test_full_refresh_of_one_model_matches_dbt(shop):
    _assert_stage_matches(shop, "full_refresh")


def _by_key(rel: Rel, key: str) -> dict:
    i = [c.lower() for c in rel.columns].index(key)
    return {r[i]: dict(zip([c.lower() for c in rel.columns], r)) for r in rel.rows}


def _check_incremental_semantics(side: str, b1: dict[str, Rel], b2: dict[str, Rel], fr: dict[str, Rel]) -> list[str]:
    """What batch 2 was built to provoke, checked on one side's tables."""
    p = []

    def keys_unique(model: str, *key: str) -> None:
        cols = [c.lower() for c in b2[model].columns]
        idx = [cols.index(k) for k in key]
        dup = [k for k, n in collections.Counter(tuple(r[i] for i in idx) for r in b2[model].rows).items() if n > 1]
        if dup:
            p.append(f"{side} {model}: {key} duplicated after the incremental run: {dup}")

    keys_unique("fct_orders", "order_id")
    keys_unique("customer_status", "customer_id")
    keys_unique("daily_revenue", "order_date")
    keys_unique("daily_payments", "payment_date", "payment_method")
    keys_unique("payment_log", "payment_id")
    # merge: changed orders updated in place, new ones added
    o1, o2 = _by_key(b1["fct_orders"], "order_id"), _by_key(b2["fct_orders"], "order_id")
    if len(o2) != len(o1) + 4:
        p.append(f"{side} fct_orders: {len(o1)} orders after batch 1, {len(o2)} after batch 2 (4 new expected)")
    for oid, status in ((104, "shipped"), (107, "completed"), (109, "returned")):
        if o1.get(oid, {}).get("status") == status or o2.get(oid, {}).get("status") != status:
            p.append(f"{side} fct_orders: order {oid} should change to {status}: batch 1 {o1.get(oid)}, batch 2 {o2.get(oid)}")
    for oid in (107, 110):
        if o1.get(oid, {}).get("payment_count") != 1 or o2.get(oid, {}).get("payment_count") != 2:
            p.append(f"{side} fct_orders: order {oid} got a second payment in batch 2: {o1.get(oid)} -> {o2.get(oid)}")
    # merge with merge_update_columns: email/country follow, names stay until a full refresh
    c2, cf = _by_key(b2["customer_status"], "customer_id"), _by_key(fr["customer_status"], "customer_id")
    if c2.get(3, {}).get("email") != "grace.hopper@navy.example" or c2.get(3, {}).get("last_name") != "Hopper":
        p.append(f"{side} customer_status: customer 3 must take the new email but keep last_name 'Hopper' (merge_update_columns): {c2.get(3)}")
    if c2.get(5, {}).get("country_code") != "DE":
        p.append(f"{side} customer_status: customer 5 moved to DE: {c2.get(5)}")
    if cf.get(3, {}).get("last_name") != "Murray Hopper":
        p.append(f"{side} customer_status after --full-refresh: customer 3's last_name must be 'Murray Hopper': {cf.get(3)}")
    # delete+insert: the last day of batch 1 recomputed with its late order
    d1, d2 = _by_key(b1["daily_revenue"], "order_date"), _by_key(b2["daily_revenue"], "order_date")
    day = dt.date(2024, 1, 15)
    if d1.get(day, {}).get("orders") != 3 or d2.get(day, {}).get("orders") != 4:
        p.append(f"{side} daily_revenue: {day} must go from 3 to 4 orders (delete+insert): {d1.get(day)} -> {d2.get(day)}")
    # delete+insert on a composite key: (2024-01-16, bank_transfer) replaced with 2 payments
    def day_method(rel: Rel) -> dict:
        cols = [c.lower() for c in rel.columns]
        return {(r[cols.index("payment_date")], r[cols.index("payment_method")]): dict(zip(cols, r)) for r in rel.rows}

    k = (dt.date(2024, 1, 16), "bank_transfer")
    p1, p2 = day_method(b1["daily_payments"]), day_method(b2["daily_payments"])
    if p1.get(k, {}).get("payments") != 1 or p2.get(k, {}).get("payments") != 2:
        p.append(f"{side} daily_payments: {k} must go from 1 to 2 payments (delete+insert, composite key): {p1.get(k)} -> {p2.get(k)}")
    # append: only the new payments added
    if len(b2["payment_log"].rows) != len(b1["payment_log"].rows) + 7:
        p.append(f"{side} payment_log: {len(b1['payment_log'].rows)} rows after batch 1, {len(b2['payment_log'].rows)} after batch 2 (7 appended expected)")
    return p


def test_incremental_models_update_not_duplicate(shop):
    st = shop.stages
    oracle = _check_incremental_semantics("dbt", st["batch1"].dbt, st["batch2"].dbt, st["full_refresh"].dbt)
    assert not oracle, "the scenario itself is broken (dbt-duckdb):\n" + "\n".join(oracle)
    sides = [st["batch1"].frazil, st["batch2"].frazil, st["full_refresh"].frazil]
    unreadable = sorted({m for s in sides for m in ("fct_orders", "customer_status", "daily_revenue", "daily_payments", "payment_log") if not isinstance(s.get(m), Rel)})
    assert not unreadable, f"frazil: cannot read {unreadable} at every stage (see the stage tests)"
    problems = _check_incremental_semantics("frazil", *sides)
    assert not problems, "\n".join(problems)


def test_ephemeral_model_is_not_materialized(shop):
    eph = [n for n, v in shop.nodes.items() if v.materialized == "ephemeral"]
    assert eph == ["int_order_payments"], eph
    assert "int_order_payments" not in shop.dbt.relation_names()
    res = shop.fz.run("sql", f"SELECT * FROM {shop.ident('int_order_payments')}", check=False)
    assert res.returncode != 0, f"frazil materialized the ephemeral model int_order_payments as {shop.ident('int_order_payments')}"


def test_list_places_nodes_like_dbt(shop):
    listing = shop.fz.models("list", "--format", "json")
    require_ok(listing, "models list")
    listed = {}
    for line in listing.stdout.splitlines():
        if line.strip():
            row = json.loads(line)
            listed[row["node"]] = (row["materialized"], row["relation"])
    problems = []
    for name, n in sorted(shop.nodes.items()):
        want = (n.materialized, shop.ident(name))
        got = listed.get(f"{n.resource_type}.{name}")
        if got != want:
            problems.append(f"  {n.resource_type}.{name}: dbt {want[0]} in {want[1]} (dbt-duckdb: {n.relation_name}), frazil {got}")
    assert not problems, "models list: materialization / namespace differ from dbt's (namespace = the schema config, else the project name):\n" + "\n".join(problems)


def test_compile_expands_templates_like_dbt(shop):
    """Compiled SQL: the Jinja is gone and the loops / macros / vars expanded as in dbt's own
    compiled files (checked there first)."""
    expect = {
        "stg_orders": ["status in ('shipped', 'completed')"],
        "stg_payments": [
            "::decimal(18, 2) as amount",
            "::decimal(18, 0) as amount_whole",
            "when 'credit_card' then 'card' when 'gift_card' then 'card' when 'coupon' then 'voucher'",
            "payment_method in ('credit_card', 'coupon', 'bank_transfer', 'gift_card') as is_known_method",
        ],
        "fct_orders": ["credit_card_amount", "gift_card_amount", "'EUR' as currency", ">= 50 then 'large'"],
    }
    for model, snippets in expect.items():
        compiled = next((shop.dbt.project / "target" / "compiled").rglob(f"{model}.sql")).read_text()
        flat = " ".join(compiled.split())
        for s in snippets:
            assert s in flat, f"dbt's compiled {model} lacks {s!r} (fix the test):\n{compiled}"
        res = shop.fz.models("compile", "--select", model, "--vars", RUN_VARS)
        require_ok(res, f"models compile --select {model}")
        flat = " ".join(res.stdout.split())
        assert "{{" not in res.stdout and "{%" not in res.stdout, f"frazil's compiled {model} still has Jinja:\n{res.stdout}"
        missing = [s for s in snippets if s not in flat]
        assert not missing, f"frazil's compiled {model} lacks {missing}:\n{res.stdout}"

    # Without --vars the project's large_order_threshold (75) wins over var()'s default (100).
    snippet = ">= 75 then 'large'"
    d = shop.dbt.run("compile", "--select", "fct_orders")
    assert snippet in " ".join(d.stdout.split()), f"dbt's compiled fct_orders lacks {snippet!r} (fix the test):\n{d.stdout}"
    res = shop.fz.models("compile", "--select", "fct_orders")
    require_ok(res, "models compile --select fct_orders")
    assert snippet in " ".join(res.stdout.split()), f"frazil's compiled fct_orders (no --vars) lacks {snippet!r}:\n{res.stdout}"


# ---------------------------------------------------------------------------------------
# Data tests built to fail
# ---------------------------------------------------------------------------------------


def test_failing_data_tests_reported_like_dbt(tmp_path):
    dbt = Dbt(ORACLE_DIR / "failing", tmp_path / "dbt")
    dbt.run("seed")
    dbt.run("run")
    d = dbt.run("test", check=False)
    results = dbt.test_results()
    statuses = collections.Counter(s for s, _ in results.values())
    assert d.returncode == 1 and statuses == {"pass": 2, "fail": 3, "warn": 1}, f"the scenario itself is broken (dbt-duckdb): {results}"

    wh = tmp_path / "warehouse"
    wh.mkdir()
    fz = ModelsFrazil(frazil_binary(), wh, tmp_path / "frazil", ORACLE_DIR / "failing")
    require_ok(fz.models("seed"), "models seed")
    require_ok(fz.models("run"), "models run")
    nodes = dbt.manifest_nodes()
    for name, n in nodes.items():
        if n.materialized != "ephemeral":
            diff = rel_diff(name, dbt.read_all({name: n})[name], fz.read(f"{n.custom_schema or dbt.project_name}.{name}"))
            assert diff is None, diff
    res = fz.models("test", "--format", "json")
    assert res.returncode == 1, f"frazil models test must exit 1 when data tests fail: {_describe(res)}"
    problems = compare_test_outcomes("failing", results, res)
    assert not problems, "\n\n".join(problems)
    text = fz.models("test")
    assert text.returncode == 1, f"frazil models test (text output) must exit 1 when data tests fail: {_describe(text)}"
    assert "FAIL" in text.stdout + text.stderr, f"frazil models test does not say FAIL: {_describe(text)}"
