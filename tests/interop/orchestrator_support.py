"""Helpers for test_orchestrator.py: the bank (examples/bank) in a PostgreSQL database of its
own, streamed by `frazil run` with the orchestrator on (models.project + orchestrator.* in a
frazil.yaml in the working directory), a background workload, the orchestrator's CLI
(`frazil assets`, `frazil runs`, `frazil materialize`) as JSON, a trigger-kept audit trail of
every source change (independent of pgoutput), and the Data Vault oracle of models_vault.py
applied to the raw changelog read with PyIceberg.

Every bank uses namespaces of its own (`<prefix>_raw`, `_parsed`, `_vault`, `_proto`,
`_mirror`): the models project is copied and its schemas renamed, so banks never meet in a
shared warehouse."""

from __future__ import annotations

import collections
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import cdc_support as C
import models_support as MS
import models_vault as V
from cdc_support import FrazilCdc
from pg_cluster import PG_BIN, PgCluster

ROOT = Path(__file__).resolve().parents[2]
BANK = ROOT / "examples" / "bank"
BANK_TABLES = ["users", "accounts", "transfers"]
PARSED = {t: f"parsed_{t}" for t in BANK_TABLES}
VAULT_TABLES = ["h_users", "h_accounts", "h_transfers", "l_users_accounts", "l_transfers_accounts", "s_users", "s_accounts", "s_transfers"]
VAULT_VIEWS = ["s_users_eff", "s_accounts_eff", "s_transfers_eff"]
PROTO_TABLES = ["parsed_users", "parsed_accounts", "h_users", "h_accounts", "l_users_accounts", "s_users", "s_accounts"]


# ---------------------------------------------------------------------------------------
# One database of the cluster
# ---------------------------------------------------------------------------------------


class PgDb:
    """The parts of PgCluster that cdc_support uses, bound to one database."""

    def __init__(self, pg: PgCluster, db: str) -> None:
        self.pg, self.db = pg, db

    @property
    def running(self) -> bool:
        return self.pg.running

    @property
    def conninfo(self) -> str:
        return self.pg.dsn(self.db)

    def dsn(self, dbname: str | None = None, tcp: bool = False) -> str:
        return self.pg.dsn(dbname or self.db, tcp)

    def exec(self, sql: str, dbname: str | None = None, timeout: float = 300) -> str:
        return self.pg.exec(sql, dbname or self.db, timeout)

    def psql_file(self, path: Path, variables: dict | None = None) -> str:
        return self.pg.psql_file(path, self.db, variables)


AUDIT_SQL = """
CREATE TABLE audit (seq bigserial PRIMARY KEY, tbl text NOT NULL, op text NOT NULL, id text NOT NULL);
CREATE FUNCTION audit_change() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO audit (tbl, op, id) VALUES (TG_TABLE_NAME, 'c', NEW.id::text);
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO audit (tbl, op, id) VALUES (TG_TABLE_NAME, 'u', NEW.id::text);
  ELSE
    INSERT INTO audit (tbl, op, id) VALUES (TG_TABLE_NAME, 'd', OLD.id::text);
  END IF;
  RETURN NULL;
END $f$;
""" + "".join(
    f"CREATE TRIGGER {t}_audit AFTER INSERT OR UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION audit_change();\n" for t in BANK_TABLES
)


# ---------------------------------------------------------------------------------------
# The bank pipeline
# ---------------------------------------------------------------------------------------


class Bank:
    """examples/bank in database `name`, its models project copied with namespaces
    `<name>_raw|_parsed|_vault|_proto`, and a FrazilCdc whose working directory holds a
    frazil.yaml with models.project and `orchestrator` (the source comes from FRAZIL_SOURCE_*)."""

    def __init__(self, frazil_bin: Path, pg: PgCluster, name: str, warehouse: Path, tmp: Path, *, users: int = 40,
                 mirror: bool = True, orchestrator: dict | None = None, extra_models: dict[str, str] | None = None,
                 audit: bool = False, source_extra: dict[str, str] | None = None) -> None:
        self.name = name
        self.raw_ns, self.parsed_ns, self.vault_ns = f"{name}_raw", f"{name}_parsed", f"{name}_vault"
        self.proto_ns, self.mirror_ns = f"{name}_proto", f"{name}_mirror"
        pg.exec(f"CREATE DATABASE {name}")
        self.db = PgDb(pg, name)
        self.db.psql_file(BANK / "schema.sql")
        self.db.psql_file(BANK / "seed.sql", variables={"users": users})
        if audit:
            self.db.exec(AUDIT_SQL)
        self.project = copy_project(tmp / f"{name}_models", self, extra_models or {})
        self.warehouse = Path(warehouse)
        self.warehouse.mkdir(parents=True, exist_ok=True)
        self.slot, self.publication = f"fzo_{name}", f"fzo_{name}_pub"
        extra = {"FRAZIL_SOURCE_MIRROR": "true" if mirror else "false", **(source_extra or {})}
        if mirror:
            extra["FRAZIL_SOURCE_MIRROR_NAMESPACE"] = self.mirror_ns
        env = C.source_env(self.db.conninfo, self.slot, self.publication, [f"public.{t}" for t in BANK_TABLES], self.raw_ns, **extra)
        self.cdc = FrazilCdc(frazil_bin, self.warehouse, tmp / f"{name}_work", env)
        self.orchestrator = dict(orchestrator or {})
        self.write_config(self.orchestrator)
        self.workloads: list[Workload] = []

    # --- configuration ----------------------------------------------------------------

    def write_config(self, orchestrator: dict, workdir: Path | None = None) -> Path:
        """frazil.yaml (JSON is YAML) with models.project and `orchestrator`."""
        path = (workdir or self.cdc.workdir) / "frazil.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"models": {"project": str(self.project)}, "orchestrator": orchestrator}, indent=2))
        return path

    def ident(self, kind: str, table: str) -> str:
        return f"{getattr(self, kind + '_ns')}.{table}"

    def raw_tables(self) -> list[str]:
        return [f"{self.raw_ns}.{t}" for t in BANK_TABLES]

    def parsed_tables(self) -> list[str]:
        return [f"{self.parsed_ns}.{PARSED[t]}" for t in BANK_TABLES]

    def vault_tables(self) -> list[str]:
        return [f"{self.vault_ns}.{t}" for t in VAULT_TABLES]

    def mirror_tables(self) -> list[str]:
        return [f"{self.mirror_ns}.{t}" for t in BANK_TABLES]

    def automatic_models(self) -> list[str]:
        return self.parsed_tables() + self.vault_tables()

    def proto_models(self) -> list[str]:
        return [f"{self.proto_ns}.{t}" for t in PROTO_TABLES]

    # --- the source -------------------------------------------------------------------

    def source_ids(self) -> dict[str, list[str]]:
        return {t: [r[0] for r in C.pg_query(self.db, f"SELECT id::text FROM {t}")] for t in BANK_TABLES}

    def audit(self) -> list[tuple[str, str, str]]:
        return [(r[0], r[1], r[2]) for r in C.pg_query(self.db, "SELECT tbl, op, id FROM audit ORDER BY seq")]

    def marker(self) -> C.Txn:
        """One transaction touching every bank table (no-op updates): once each raw table has
        committed it, CDC has caught up with everything before it."""
        body = ("UPDATE users SET name = name WHERE id = (SELECT id FROM users ORDER BY id LIMIT 1);\n"
                "UPDATE accounts SET balance = balance WHERE id = (SELECT id FROM accounts ORDER BY id LIMIT 1);\n"
                "UPDATE transfers SET note = note WHERE id = (SELECT id FROM transfers ORDER BY id LIMIT 1);")
        return C.pg_txn(self.db, body, label="marker")

    def wait_caught_up(self, timeout: float = 90) -> None:
        txn = self.marker()
        for t in self.raw_tables():
            C.wait_committed(self.warehouse, t, txn, self.cdc, timeout=timeout)

    def workload(self, seed: int, seconds: float, pgbench_every: int = 2) -> "Workload":
        w = Workload(self, random.Random(seed), seconds, pgbench_every)
        self.workloads.append(w)
        w.start()
        return w

    # --- the orchestrator's CLI ---------------------------------------------------------

    def assets(self) -> list[dict]:
        return as_list(MS.json_doc(self.cdc.cli("assets", "--format", "json").stdout))

    def runs(self, *filters: str, limit: int = 10000) -> list[dict]:
        return as_list(MS.json_doc(self.cdc.cli("runs", "list", "--format", "json", "-n", str(limit), *filters).stdout))

    def run_record(self, run_id: int) -> dict:
        return json.loads(self.cdc.cli("runs", "show", str(run_id), "--format", "json").stdout)

    def logs(self, run_id: int) -> str:
        return self.cdc.cli("runs", "logs", str(run_id)).stdout

    def materialize_job(self, job: str) -> dict:
        """`frazil materialize --job <job>`: must exit 0; returns the run (newest of that job)."""
        res = self.cdc.cli("materialize", "--job", job, timeout=300)
        m = re.search(r"run (\d+) queued", res.stderr)
        assert m, f"frazil materialize --job {job} did not say which run it queued:\n{res.stderr[-2000:]}"
        run = self.run_record(int(m.group(1)))
        assert run["status"] == "succeeded", f"run of job {job}: {run}\n{self.logs(run['id'])}"
        return run

    def fresh_state(self) -> tuple[bool, str]:
        """(every automatic model fresh and no run queued or running, a description)."""
        assets = {a["asset"]: a for a in self.assets()}
        models = self.automatic_models()
        not_fresh = {m: (assets[m]["state"] if m in assets else "not an asset") for m in models if assets.get(m, {}).get("state") != "fresh"}
        active = [r for r in self.runs("--status", "queued") + self.runs("--status", "running")]
        return (not not_fresh and not active), f"not fresh: {not_fresh}; active runs: {[(r['id'], r['job'], r['status']) for r in active]}"

    def wait_fresh(self, timeout: float = 90) -> None:
        last = [""]

        def ok():
            good, why = self.fresh_state()
            last[0] = why
            return good

        try:
            C.wait_for(ok, timeout, "every automatic model fresh and no run active", self.cdc, interval=0.3)
        except AssertionError as e:
            raise AssertionError(f"{e}\nlast state: {last[0]}") from None

    def close(self) -> None:
        for w in self.workloads:
            w.stop_event.set()
        for w in self.workloads:
            w.join(timeout=60)
        self.cdc.close()
        if self.db.running:
            C.drop_source_objects(self.db, self.slot, self.publication)


def as_list(doc: Any) -> list:
    if isinstance(doc, list):
        return doc
    return [doc] if doc else []


def copy_project(dest: Path, bank: Bank, extra_models: dict[str, str]) -> Path:
    """examples/bank/models with the bank's namespaces (and extra model files)."""
    shutil.copytree(BANK / "models", dest)
    edits = {
        "models/sources.yml": [("schema: raw_data", f"schema: {bank.raw_ns}")],
        "dbt_project.yml": [("+schema: parsed_data", f"+schema: {bank.parsed_ns}"), ("+schema: data_vault_prototype", f"+schema: {bank.proto_ns}")],
        "data_vault/bank.yml": [("  schema: data_vault\n", f"  schema: {bank.vault_ns}\n")],
    }
    for rel, subs in edits.items():
        p = dest / rel
        text = p.read_text()
        for old, new in subs:
            assert old in text, f"{rel} no longer contains {old!r}: update orchestrator_support.copy_project"
            text = text.replace(old, new)
        p.write_text(text)
    for rel, text in extra_models.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    return dest


# ---------------------------------------------------------------------------------------
# The workload
# ---------------------------------------------------------------------------------------


class Workload(threading.Thread):
    """For `seconds` (or until stopped): batches of models_vault.BankWorkload's randomized
    transactions (payload changes, no-op updates, deletes and re-inserts of the same keys,
    several changes of one row in one transaction), a few ms apart, alternating with
    examples/bank/workload.sh (pgbench) bursts. Never concurrently with itself, so the
    generator's view of the source stays true."""

    def __init__(self, bank: Bank, rng: random.Random, seconds: float, pgbench_every: int) -> None:
        super().__init__(daemon=True)
        self.bank, self.rng, self.seconds, self.pgbench_every = bank, rng, seconds, pgbench_every
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.state = V.BankState()
        self.gen = V.BankWorkload(rng, self.state)
        self.transactions = 0
        self.pgbench_runs = 0

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        i = 0
        try:
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                self.state.load(lambda sql: C.pg_query(self.bank.db, sql))
                txns = self.gen.transactions(12)
                self.bank.db.exec("\nSELECT pg_sleep(0.015);\n".join(txns))
                self.transactions += len(txns)
                i += 1
                if self.pgbench_every and i % self.pgbench_every == 0 and time.monotonic() + 1 < deadline:
                    p = subprocess.run([str(BANK / "workload.sh"), self.bank.db.conninfo, "--rate", "40", "--duration", "1", "--clients", "2"],
                                       capture_output=True, text=True, timeout=60, env=dict(os.environ, PG_BIN=str(PG_BIN)))
                    if p.returncode != 0:
                        raise AssertionError(f"examples/bank/workload.sh failed: {p.stderr[-2000:]}{p.stdout[-2000:]}")
                    self.pgbench_runs += 1
        except BaseException as e:  # reported by finish()
            self.error = e

    def finish(self, stop: bool = False, timeout: float = 60) -> None:
        """Waits for the end of its time (stop=True: stops it now) and re-raises what went
        wrong in the thread."""
        if stop:
            self.stop_event.set()
        self.join(self.seconds + timeout)
        assert not self.is_alive(), "the workload thread did not stop"
        if self.error is not None:
            raise AssertionError(f"the workload failed: {self.error!r}") from self.error
        assert self.transactions > 0, "the workload ran no transaction"


# ---------------------------------------------------------------------------------------
# The oracle: parsed layer and Data Vault from the raw changelog (models_vault.py)
# ---------------------------------------------------------------------------------------


def raw_rows(bank: Bank, table: str) -> list[dict]:
    cols = list(V.BANK_COLUMNS[table]) + V.RAW_META
    return MS.norm_rows(MS.read_pyiceberg(bank.warehouse, f"{bank.raw_ns}.{table}", columns=cols))


def model_problems(bank: Bank, what: str, min_inserted_us: int | None = None) -> list[str]:
    """Differences between the parsed layer / Data Vault frazil built and the independent
    computation from the raw changelog (PyIceberg reads; views through frazil sql)."""
    problems = []
    raw = {t: raw_rows(bank, t) for t in BANK_TABLES}
    parsed = {t: V.parsed(raw[t], t) for t in BANK_TABLES}
    for t in BANK_TABLES:
        cols = list(V.BANK_COLUMNS[t]) + ["__deleted_flag", "__valid_from_dttm", "__source_lsn", "__source_op", "__source_details"]
        got = MS.norm_rows(MS.read_pyiceberg(bank.warehouse, f"{bank.parsed_ns}.{PARSED[t]}"))
        g, w = MS.multiset(got, cols), MS.multiset(parsed[t], cols)
        if g != w:
            problems.append(f"{bank.parsed_ns}.{PARSED[t]} ({what}) vs the raw changelog: {MS.diff_text(g, w, limit=4)}")
    expected = V.bank_vault(parsed)
    for name in VAULT_TABLES + VAULT_VIEWS:
        ident = f"{bank.vault_ns}.{name}"
        cols = V.VAULT_COLUMNS[name]
        tbl = bank.cdc.export(f"SELECT * FROM {ident}") if name in VAULT_VIEWS else MS.read_pyiceberg(bank.warehouse, ident)
        extra = sorted(set(tbl.column_names) - set(cols) - {"__inserted_at"})
        if extra or "__inserted_at" not in tbl.column_names:
            problems.append(f"{ident} ({what}): columns {tbl.column_names}, docs/data-vault.md lists {cols} + __inserted_at")
            continue
        got_rows = MS.norm_rows(tbl)
        want_rows = list(expected[name].values()) if isinstance(expected[name], dict) else expected[name]
        g, w = MS.multiset(got_rows, cols), MS.multiset(want_rows, cols)
        if g != w:
            problems.append(f"{ident} ({what}): {MS.diff_text(g, w, limit=4)}")
            continue
        if min_inserted_us is not None and name not in VAULT_VIEWS:
            early = [r["__inserted_at"] for r in got_rows if r["__inserted_at"] is None or r["__inserted_at"] < min_inserted_us]
            if early:
                problems.append(f"{ident} ({what}): __inserted_at {early[:3]} before the pipeline started ({min_inserted_us})")
    ops = {t: collections.Counter(r["_op"] for r in raw[t]) for t in BANK_TABLES}
    if not all(ops[t]["r"] > 0 and ops[t]["c"] + ops[t]["u"] > 0 for t in BANK_TABLES):
        problems.append(f"the raw changelog lacks snapshot rows or changes: {ops}")
    return problems


def raw_vs_audit(bank: Bank, snapshot_ids: dict[str, list[str]]) -> list[str]:
    """The raw changelog's (op, id) rows against the source: the snapshot rows (`r`) are the
    ids the tables held when `frazil run` first started, every other row one audit-trail
    row (trigger per row change, kept in PostgreSQL, not published)."""
    problems = []
    audit = bank.audit()
    for t in BANK_TABLES:
        want = collections.Counter(("r", i) for i in snapshot_ids[t])
        want.update((op, i) for tbl, op, i in audit if tbl == t)
        rows = raw_rows(bank, t)
        got = collections.Counter((r["_op"], str(r["id"])) for r in rows)
        if got != want:
            problems.append(f"{bank.raw_ns}.{t} vs the audit trail: {MS.diff_text(got, want, limit=4)}; "
                            f"by op raw {dict(collections.Counter(k[0] for k in got.elements()))} "
                            f"audit {dict(collections.Counter(k[0] for k in want.elements()))}")
    return problems
