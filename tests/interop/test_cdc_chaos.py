"""Crash tests of `frazil run` (CDC from PostgreSQL into raw changelog tables): exactly once.

Ground truth: every published source table has row-level AFTER triggers (and a statement
trigger for TRUNCATE) writing each change into `audit`, a table that is NOT published:
(seq, txid_current(), table, op, id, payload, old_payload). `payload` is a text rendering of
the row's non-key columns (md5 of the TOASTable note) computed by the same SQL expression in
PostgreSQL and in frazil's DuckDB, so the raw rows and the audit rows compare exactly.

Checks after the crashes (`verify_exactly_once`):
  * raw change rows (c/u/d/t) == audit rows as multisets, keyed by
    (txid mod 2^32 = _txid, table, op, id, payload, old row payload): nothing lost, nothing
    twice, nothing invented (rolled-back transactions and subtransactions must be absent);
  * `r` rows == the table's contents when its snapshot was taken, at most one per key;
  * within each source transaction the raw rows, ordered by _seq across all tables, follow
    the audit order; one _commit_lsn per transaction, _lsn non-decreasing, _lsn <= _commit_lsn;
  * replaying r rows then the changes in (_commit_lsn, _seq) order gives each source table's
    final contents (commit order = LSN order);
  * Iceberg (read with PyIceberg, independently of frazil): the data files added by successive
    snapshots hold strictly increasing _commit_lsn ranges, every row's _commit_lsn is below
    its snapshot's frazil.lsn, the rows of one source transaction land in snapshots with one
    frazil.lsn in every table (one catalog commit), no data file is listed twice, and
    PyIceberg's row count equals `frazil sql`'s.
Then (`verify_mirrors`, docs/mirror.md): every table's mirror `mirror.<table>` equals the
source table exactly, as a multiset of (id, payload) read through DuckDB's iceberg extension
and through PyIceberg; its metadata matches its raw table (frazil.lsn committed together,
schema, no equality deletes); and `frazil verify mirror.<table>` exits 0.

Tests:
  * test_chaos_sigkill_and_postgres_crash: a mixed workload (pgbench scripts: multi-table
    transactions, savepoints, rollbacks, TOASTed notes on a REPLICA IDENTITY FULL table; a
    Python thread: 30-50k-row transactions that PostgreSQL streams, one rolled back, one with
    a rolled-back subtransaction, a TRUNCATE between inserts) while `frazil run` is SIGKILLed
    at random moments (>= 20 times) and PostgreSQL crashes twice (once under a running frazil
    that must reconnect by itself, once together with frazil).
  * test_kill_points_snapshot_and_commit_windows: FRAZIL_KILL_POINT makes frazil die in each
    commit window (during the first snapshot commit, right after the first table's snapshot
    commit, after a snapshot chunk is written, after Parquet, after manifests, after the
    catalog commit, after the LSN confirm), with source changes between the runs.
  * test_sigkill_during_big_initial_snapshot: SIGKILL while a 2M-row table is being copied
    (a small table's snapshot already committed); the restart must copy it once.
"""

from __future__ import annotations

import collections
import csv
import io
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import mirror_support as M
from conftest import ROOT, Frazil, frazil_binary, pyiceberg_catalog
from pg_cluster import PG_BIN, PgCluster, pg_cluster_fixture

NS = "raw_data"
SLOT = "frazil_slot"
U32 = 1 << 32


# ---------------------------------------------------------------------------------------
# Source tables and the audit trail
# ---------------------------------------------------------------------------------------


@dataclass
class Src:
    name: str
    columns: list[tuple[str, str]]  # non-key columns (name, PostgreSQL type); the key is id bigserial
    full: bool  # REPLICA IDENTITY FULL
    md5: tuple[str, ...] = ()  # columns rendered as md5 (large values)

    def payload_sql(self, col) -> str:
        """The payload expression; col(name) -> SQL for that column (same in PG and DuckDB)."""
        parts = []
        for c, _ in self.columns:
            e = f"md5({col(c)})" if c in self.md5 else f"CAST({col(c)} AS text)"
            parts.append(f"coalesce({e}, '~')")
        return " || '|' || ".join(parts)

    @property
    def null_payload(self) -> str:
        return "|".join("~" for _ in self.columns)


ACCOUNTS = Src("accounts", [("owner", "text"), ("balance", "bigint"), ("note", "text")], full=True, md5=("note",))
TRANSFERS = Src("transfers", [("src", "bigint"), ("dst", "bigint"), ("amount", "bigint"), ("memo", "text")], full=False)
EVENTS = Src("events", [("kind", "text"), ("body", "text")], full=False)
ALL = [ACCOUNTS, TRANSFERS, EVENTS]


def create_source(pg: PgCluster, tables: list[Src]) -> None:
    """Tables, the audit table and helper functions (no triggers yet: seed first)."""
    sql = [
        "CREATE TABLE audit (seq bigserial PRIMARY KEY, txid bigint NOT NULL DEFAULT txid_current(), "
        "tbl text NOT NULL, op char(1) NOT NULL, id bigint, payload text, old_payload text);",
        # ~9.6 KB of hex: stored out of line (TOAST), so an update that leaves it alone sends it
        # as 'unchanged TOAST' and frazil must take it from the old row (replica identity full).
        "CREATE FUNCTION big_note() RETURNS text LANGUAGE sql VOLATILE AS "
        "$$ SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 300) $$;",
    ]
    for t in tables:
        cols = ", ".join(f"{c} {ty}" for c, ty in t.columns)
        sql.append(f"CREATE TABLE {t.name} (id bigserial PRIMARY KEY, {cols});")
        if t.full:
            sql.append(f"ALTER TABLE {t.name} REPLICA IDENTITY FULL;")
    pg.exec("\n".join(sql))


def add_audit_triggers(pg: PgCluster, tables: list[Src]) -> None:
    sql = []
    for t in tables:
        n = t.payload_sql(lambda c: f"n.{c}")
        o = t.payload_sql(lambda c: f"o.{c}")
        sql.append(f"""
CREATE FUNCTION audit_{t.name}() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF TG_LEVEL = 'STATEMENT' THEN
    INSERT INTO audit (tbl, op) VALUES ('{t.name}', 't');
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO audit (tbl, op, id, payload) SELECT '{t.name}', 'c', n.id, {n} FROM (SELECT NEW.*) n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO audit (tbl, op, id, payload, old_payload)
      SELECT '{t.name}', 'u', n.id, {n}, {o} FROM (SELECT NEW.*) n, (SELECT OLD.*) o;
  ELSE
    INSERT INTO audit (tbl, op, id, payload) SELECT '{t.name}', 'd', o.id, {o} FROM (SELECT OLD.*) o;
  END IF;
  RETURN NULL;
END $f$;
CREATE TRIGGER {t.name}_audit AFTER INSERT OR UPDATE OR DELETE ON {t.name}
  FOR EACH ROW EXECUTE FUNCTION audit_{t.name}();
CREATE TRIGGER {t.name}_audit_truncate AFTER TRUNCATE ON {t.name}
  FOR EACH STATEMENT EXECUTE FUNCTION audit_{t.name}();""")
    pg.exec("\n".join(sql))


def seed_source(pg: PgCluster, accounts: int = 2000, transfers: int = 1000, events: int = 1000) -> None:
    pg.exec(f"""
INSERT INTO accounts (owner, balance, note)
  SELECT 'o' || g, 1000, CASE WHEN g % 10 = 0 THEN big_note() WHEN g % 10 = 1 THEN NULL ELSE 'n' || g END
  FROM generate_series(1, {accounts}) g;
INSERT INTO transfers (src, dst, amount, memo) SELECT g % 97 + 1, g % 89 + 1, g, 'seed ' || g FROM generate_series(1, {transfers}) g;
INSERT INTO events (kind, body) SELECT 'k' || (g % 5), 'seed ' || g FROM generate_series(1, {events}) g;
""")


def pg_copy(pg: PgCluster, select: str) -> list[list[str | None]]:
    """Rows of a SELECT via COPY CSV (NULL distinct from '')."""
    out = pg.exec(f"COPY ({select}) TO STDOUT (FORMAT csv, NULL '<NULL>')")
    return [[None if v == "<NULL>" else v for v in row] for row in csv.reader(io.StringIO(out))]


def table_state(pg: PgCluster, t: Src) -> collections.Counter:
    """The table's rows as a multiset of (id, payload)."""
    rows = pg_copy(pg, f"SELECT id, {t.payload_sql(lambda c: c)} FROM {t.name}")
    return collections.Counter((int(i), p) for i, p in rows)


def audit_max_seq(pg: PgCluster) -> int:
    return int(pg.exec("SELECT coalesce(max(seq), 0) FROM audit"))


def set_streaming_threshold(pg: PgCluster) -> None:
    # Transactions over 1 MB of decoded changes are streamed while in progress (protocol 2
    # streaming): the large transactions of the workload go that way.
    pg.exec("ALTER SYSTEM SET logical_decoding_work_mem = '1MB'; SELECT pg_reload_conf();")


# ---------------------------------------------------------------------------------------
# frazil run as a process
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frazil_exe(tmp_path_factory) -> Path:
    """The frazil binary (built if missing), copied once per module: the runs of a test must
    all use one binary even if build/frazil is relinked meanwhile."""
    b = frazil_binary()
    if not b.exists():
        p = subprocess.run(["cmake", "--build", "build", "-j2"], cwd=ROOT, capture_output=True, text=True, timeout=3600)
        if p.returncode != 0 or not b.exists():
            pytest.fail(f"building frazil failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    deadline = time.monotonic() + 300
    while not os.access(b, os.X_OK):  # being linked right now
        if time.monotonic() > deadline:
            pytest.fail(f"{b} is not executable")
        time.sleep(1)
    copy = tmp_path_factory.mktemp("bin") / "frazil"
    shutil.copy2(b, copy)
    return copy


@pytest.fixture
def frazil(frazil_exe: Path, wh: Path, tmp_path: Path) -> Frazil:
    """frazil (the module's copy of the binary) on the per-test warehouse."""
    return Frazil(frazil_exe, wh, tmp_path / "work")


# One logical-replication cluster per test (tests use their own tables and slots).
pg = pg_cluster_fixture("function", name="pg")


@dataclass
class Run:
    n: int
    proc: subprocess.Popen
    log: Path
    kill_point: str | None
    started: float
    ended_by: str = ""  # "sigkill", "sigterm", "" = on its own / still running


class FrazilRunner:
    """Starts `frazil run` processes (logs in files), kills only the processes it started."""

    def __init__(self, binary: Path, warehouse: Path, workdir: Path, pg: PgCluster, tables: list[Src]) -> None:
        self.binary = binary
        self.warehouse = warehouse
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pg = pg
        self.tables = tables
        self.runs: list[Run] = []

    def env(self, kill_point: str | None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRAZIL_")}
        env.update(
            TZ="UTC",
            FRAZIL_WAREHOUSE=str(self.warehouse),
            FRAZIL_SOURCE_CONNINFO=self.pg.conninfo,
            FRAZIL_SOURCE_TABLES=",".join(f"public.{t.name}" for t in self.tables),
            FRAZIL_SOURCE_COMMIT_INTERVAL_MS="200",
        )
        if kill_point:
            env["FRAZIL_KILL_POINT"] = kill_point
        return env

    @property
    def current(self) -> Run | None:
        return self.runs[-1] if self.runs else None

    def start(self, kill_point: str | None = None) -> Run:
        assert self.current is None or self.current.proc.poll() is not None, "previous frazil run still alive"
        n = len(self.runs) + 1
        log = self.workdir / f"run-{n:03d}.log"
        with open(log, "w") as f:
            proc = subprocess.Popen(
                [str(self.binary), "run"], cwd=self.workdir, env=self.env(kill_point), stdout=f, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        run = Run(n, proc, log, kill_point, time.monotonic())
        self.runs.append(run)
        return run

    def sigkill(self) -> Run:
        run = self.current
        if run.proc.poll() is None:
            run.proc.send_signal(signal.SIGKILL)
            run.ended_by = "sigkill"
        run.proc.wait(timeout=30)
        return run

    def sigterm(self, timeout: float = 60) -> int:
        run = self.current
        if run.proc.poll() is None:
            run.proc.send_signal(signal.SIGTERM)
            run.ended_by = "sigterm"
        try:
            return run.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            run.proc.send_signal(signal.SIGKILL)
            run.proc.wait(timeout=30)
            raise AssertionError(f"frazil run #{run.n} did not stop within {timeout} s of SIGTERM\n{self.diagnostics()}")

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.current.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def cleanup(self) -> None:
        for run in self.runs:
            if run.proc.poll() is None:
                run.proc.send_signal(signal.SIGKILL)
                try:
                    run.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass

    def log_text(self, run: Run) -> str:
        try:
            return run.log.read_text(errors="replace")
        except OSError:
            return ""

    def unexpected_exits(self) -> list[str]:
        """Runs that ended on their own (not by our signal, not at their kill point)."""
        out = []
        for run in self.runs:
            rc = run.proc.poll()
            if rc is None or run.ended_by:
                continue
            text = self.log_text(run)
            if run.kill_point and rc == 137 and "kill point" in text:
                continue
            out.append(f"run #{run.n} exited by itself with {rc}{' (kill point ' + run.kill_point + ')' if run.kill_point else ''}:\n"
                       + "\n".join(text.splitlines()[-15:]))
        return out

    def diagnostics(self, last_runs: int = 3) -> str:
        """Warnings/errors of every run, and the tail of the last few logs."""
        lines = []
        for run in self.runs:
            for line in self.log_text(run).splitlines():
                if re.search(r"\b(warn|error|fatal|kill point)\b", line, re.I) and "FRAZIL_KILL_POINT" not in line:
                    lines.append(f"  #{run.n}: {line}")
        out = [f"frazil runs: {len(self.runs)}; warnings/errors ({len(lines)}, last 40):"] + lines[-40:]
        for run in self.runs[-last_runs:]:
            out.append(f"--- run #{run.n} (kill point {run.kill_point}, rc {run.proc.poll()}, {run.ended_by or 'own exit'}) "
                       f"log tail ---")
            out += self.log_text(run).splitlines()[-25:]
        return "\n".join(out)


@pytest.fixture
def runner_factory(frazil: Frazil, pg: PgCluster):
    made: list[FrazilRunner] = []

    def make(tables: list[Src]) -> FrazilRunner:
        r = FrazilRunner(frazil.binary, frazil.warehouse, frazil.workdir / "cdc", pg, tables)
        made.append(r)
        return r

    yield make
    for r in made:
        r.cleanup()


# ---------------------------------------------------------------------------------------
# Waiting on frazil's progress
# ---------------------------------------------------------------------------------------


def resume_lsns(warehouse: Path, tables: list[Src]) -> dict[str, str | None]:
    """frazil.lsn of each raw table (None: not created or no snapshot yet)."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    cat = pyiceberg_catalog(warehouse)
    out = {}
    for t in tables:
        try:
            out[t.name] = cat.load_table(f"{NS}.{t.name}").properties.get("frazil.lsn")
        except (NoSuchTableError, NoSuchNamespaceError):
            out[t.name] = None
    return out


def wait_started(runner: FrazilRunner, tables: list[Src], timeout: float) -> None:
    """Until every raw table has its snapshot committed (frazil.lsn set)."""
    deadline = time.monotonic() + timeout
    while True:
        lsns = resume_lsns(runner.warehouse, tables)
        if all(lsns.values()):
            return
        if runner.current.proc.poll() is not None:
            raise AssertionError(f"frazil exited ({runner.current.proc.poll()}) before the snapshot was committed: "
                                 f"{lsns}\n{runner.diagnostics()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"initial snapshot not committed within {timeout} s: {lsns}\n{runner.diagnostics()}")
        time.sleep(0.3)


def wait_quiet(pg: PgCluster, timeout: float = 60) -> None:
    """Until no workload session is left (a killed pgbench's backends may still commit)."""
    deadline = time.monotonic() + timeout
    while int(pg.exec("SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('pgbench', 'psql') "
                      "AND pid <> pg_backend_pid()")) > 0:
        assert time.monotonic() < deadline, "workload sessions still open: " + pg.exec(
            "SELECT pid, application_name, state, query FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
        time.sleep(0.2)


def put_marker(pg: PgCluster, table: Src) -> str:
    """A last source change; once it is in the raw table, everything before it must be too."""
    marker = f"marker-{uuid.uuid4().hex[:12]}"
    wait_quiet(pg)
    pg.exec(f"INSERT INTO {table.name} ({table.columns[0][0]}) VALUES ('{marker}')")
    return marker


def wait_marker(frazil: Frazil, runner: FrazilRunner, table: Src, marker: str, timeout: float) -> float:
    t0 = time.monotonic()
    while True:
        res = frazil.run("sql", f"SELECT count(*) AS n FROM {NS}.{table.name} WHERE {table.columns[0][0]} = '{marker}'",
                         "--format", "csv", check=False, timeout=60)
        if res.returncode == 0 and res.stdout.strip().splitlines()[-1:] == ["1"]:
            return time.monotonic() - t0
        if runner.current.proc.poll() is not None:
            raise AssertionError(f"frazil exited ({runner.current.proc.poll()}) while catching up\n{runner.diagnostics()}")
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"frazil did not catch up within {timeout} s (marker {marker} not in {NS}.{table.name}; "
                                 f"last query: {res.stdout.strip()[-200:]} {res.stderr.strip()[-300:]})\n{runner.diagnostics()}")
        time.sleep(0.5)


def slot_state(pg: PgCluster) -> str:
    try:
        return "slot (name|active|restart_lsn|confirmed_flush_lsn|server lsn): " + pg.exec(
            f"SELECT slot_name, active, restart_lsn, confirmed_flush_lsn, pg_current_wal_lsn() FROM pg_replication_slots "
            f"WHERE slot_name = '{SLOT}'")
    except Exception as e:  # noqa: BLE001 - diagnostics only
        return f"(slot state unavailable: {e})"


def finish_and_stop(frazil: Frazil, pg: PgCluster, runner: FrazilRunner, timeout: float = 150) -> float:
    """Writes a marker (into the last table), (re)starts frazil normally if needed, waits until
    the marker is in Iceberg, stops frazil with SIGTERM and requires exit code 0. Returns the
    catch-up time."""
    table = runner.tables[-1]
    marker = put_marker(pg, table)
    if runner.current is None or runner.current.proc.poll() is not None:
        runner.start()
    took = wait_marker(frazil, runner, table, marker, timeout)
    rc = runner.sigterm()
    assert rc == 0, f"frazil run exited with {rc} after SIGTERM (expected 0)\n{runner.diagnostics()}"
    return took


# ---------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------


def lsn_int(s: str) -> int:
    hi, lo = s.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def lsn_str(v: int | None) -> str:
    return "-" if v is None else f"{v >> 32:X}/{v & 0xFFFFFFFF:X}"


@dataclass
class RawRow:
    tbl: str
    op: str
    id: int | None
    payload: str | None
    old: str | None
    lsn: int
    commit_lsn: int | None
    txid: int | None
    seq: int | None

    @property
    def key(self):
        return (self.txid, self.tbl, self.op, self.id, self.payload, self.old)

    def show(self) -> str:
        return (f"{self.tbl} {self.op} id={self.id} txid={self.txid} seq={self.seq} lsn={lsn_str(self.lsn)} "
                f"commit_lsn={lsn_str(self.commit_lsn)} payload={_short(self.payload)} old={_short(self.old)}")


@dataclass
class AuditRow:
    seq: int
    txid: int
    tbl: str
    op: str
    id: int | None
    payload: str | None
    old: str | None

    def show(self) -> str:
        return f"{self.tbl} {self.op} id={self.id} txid={self.txid} audit_seq={self.seq} payload={_short(self.payload)} old={_short(self.old)}"


def _short(v) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def read_raw(frazil: Frazil, t: Src) -> list[RawRow]:
    new = t.payload_sql(lambda c: f'"{c}"')
    old = t.payload_sql(lambda c: f"struct_extract(_old, '{c}')")
    table = frazil.export(
        f"SELECT _op, id, CASE WHEN _op = 't' THEN NULL ELSE {new} END AS payload, "
        f"CASE WHEN _old IS NULL THEN NULL ELSE {old} END AS old_payload, "
        f"_lsn, _commit_lsn, _txid, _seq FROM {NS}.{t.name}"
    )
    cols = [table.column(c).to_pylist() for c in ("_op", "id", "payload", "old_payload", "_lsn", "_commit_lsn", "_txid", "_seq")]
    return [RawRow(t.name, op, i, p, o, lsn, clsn, tx, sq) for op, i, p, o, lsn, clsn, tx, sq in zip(*cols)]


def read_audit(pg: PgCluster) -> list[AuditRow]:
    rows = pg_copy(pg, "SELECT seq, txid, tbl, op, id, payload, old_payload FROM audit ORDER BY seq")
    return [AuditRow(int(s), int(x), t, op, None if i is None else int(i), p, o) for s, x, t, op, i, p, o in rows]


def expected_key(a: AuditRow, src: Src):
    """What frazil must write for an audit row: the new row for c/u, the old row for d (key
    only, i.e. the other columns NULL, unless replica identity full), the old row in _old for
    updates of a replica identity full table, nothing but the op for t."""
    tx = a.txid % U32
    if a.op == "t":
        return (tx, a.tbl, "t", None, None, None)
    if a.op == "c":
        return (tx, a.tbl, "c", a.id, a.payload, None)
    if a.op == "u":
        return (tx, a.tbl, "u", a.id, a.payload, a.old if src.full else None)
    return (tx, a.tbl, "d", a.id, a.payload if src.full else src.null_payload, None)


def verify_exactly_once(frazil: Frazil, pg: PgCluster, tables: list[Src], r_expected: dict[str, collections.Counter],
                        boundary: dict[str, int], check_r_content: dict[str, bool] | None = None) -> dict:
    """All checks of the module docstring. r_expected: each table's (id, payload) rows when its
    snapshot was taken; boundary: audit seq after which the table's changes must be in its
    raw table as changes (those up to it are in its snapshot). Raises with the first
    differences; returns counts for the report."""
    by_name = {t.name: t for t in tables}
    problems: list[str] = []
    raw: dict[str, list[RawRow]] = {t.name: read_raw(frazil, t) for t in tables}
    audit = read_audit(pg)
    stats = {"audit_rows": len(audit), "raw_rows": {k: len(v) for k, v in raw.items()}}

    # --- r rows: the snapshot, once per key ------------------------------------------------
    for t in tables:
        r_rows = [x for x in raw[t.name] if x.op == "r"]
        got = collections.Counter((x.id, x.payload) for x in r_rows)
        ids = collections.Counter(x.id for x in r_rows)
        dup = [(i, n) for i, n in ids.items() if n > 1]
        if dup:
            problems.append(f"{t.name}: {len(dup)} keys have more than one 'r' row (count {len(r_rows)}, distinct ids "
                            f"{len(ids)}), e.g. {sorted(dup)[:10]}")
        exp = r_expected[t.name]
        if got != exp:
            missing = list((exp - got).elements())[:10]
            extra = list((got - exp).elements())[:10]
            problems.append(f"{t.name}: 'r' rows differ from the table at snapshot time: {sum(got.values())} rows vs "
                            f"{sum(exp.values())} expected; missing {missing}; unexpected {extra}")

    # --- change rows == audit (multiset) -------------------------------------------------
    exp_rows: list[tuple[tuple, AuditRow]] = []
    for a in audit:
        if a.tbl in by_name and a.seq > boundary[a.tbl]:
            exp_rows.append((expected_key(a, by_name[a.tbl]), a))
    changes = [x for t in tables for x in raw[t.name] if x.op != "r"]
    exp_c = collections.Counter(k for k, _ in exp_rows)
    got_c = collections.Counter(x.key for x in changes)
    stats["expected_changes"] = len(exp_rows)
    stats["raw_changes"] = len(changes)
    stats["transactions"] = len({k[0] for k in exp_c})
    stats["ops"] = dict(collections.Counter(k[2] for k in exp_c.elements()))
    if exp_c != got_c:
        missing = exp_c - got_c
        extra = got_c - exp_c
        audit_by_key = {}
        for k, a in exp_rows:
            audit_by_key.setdefault(k, a)
        raw_by_key = collections.defaultdict(list)
        for x in changes:
            raw_by_key[x.key].append(x)
        dup_keys = [k for k in extra if k in exp_c]
        lines = [f"change rows differ from the audit trail: {len(changes)} raw vs {len(exp_rows)} expected; "
                 f"{sum(missing.values())} missing, {sum(extra.values())} unexpected "
                 f"({sum(extra[k] for k in dup_keys)} of them duplicates of expected changes)"]
        for k in list(missing)[:20]:
            lines.append(f"  MISSING x{missing[k]}: {audit_by_key[k].show()}")
        for k in list(extra)[:20]:
            rows = raw_by_key[k]
            what = "DUPLICATE" if k in exp_c else "UNEXPECTED"
            lines.append(f"  {what} x{extra[k]}: " + " | ".join(r.show() for r in rows[:3]))
        problems.append("\n".join(lines))

    # --- order within each source transaction ----------------------------------------------
    raw_tx = collections.defaultdict(list)
    for x in changes:
        raw_tx[x.txid].append(x)
    exp_tx = collections.defaultdict(list)
    for k, a in exp_rows:
        exp_tx[k[0]].append((a.seq, k))
    bad_order, bad_meta = [], []
    for tx, rows in raw_tx.items():
        rows.sort(key=lambda r: (r.seq if r.seq is not None else -1))
        commit = {r.commit_lsn for r in rows}
        seqs = [r.seq for r in rows]
        lsns = [r.lsn for r in rows]
        if len(commit) != 1 or None in commit or None in seqs or len(set(seqs)) != len(seqs) \
                or lsns != sorted(lsns) or any(r.lsn > r.commit_lsn for r in rows if r.commit_lsn is not None):
            bad_meta.append(f"txid {tx}: commit_lsn {sorted(lsn_str(c) for c in commit if c is not None)} seqs {seqs[:12]} "
                            f"lsns {[lsn_str(v) for v in lsns[:6]]}")
        got_seq = [r.key for r in rows]
        want = [k for _, k in sorted(exp_tx.get(tx, []))]
        if collections.Counter(got_seq) == collections.Counter(want) and got_seq != want:
            first = next(i for i, (g, w) in enumerate(zip(got_seq, want)) if g != w)
            bad_order.append(f"txid {tx}: {len(rows)} rows, first difference at position {first}: raw {got_seq[first]} "
                             f"vs audit {want[first]}")
    if bad_meta:
        problems.append(f"{len(bad_meta)} transactions with inconsistent _commit_lsn/_seq/_lsn, e.g.:\n  " + "\n  ".join(bad_meta[:20]))
    if bad_order:
        problems.append(f"{len(bad_order)} transactions whose raw rows (by _seq) are not in source order, e.g.:\n  "
                        + "\n  ".join(bad_order[:20]))

    # --- replay in (_commit_lsn, _seq) order gives the final source tables ----------------
    for t in tables:
        state: dict[int, str] = {}
        anomalies = []
        for x in raw[t.name]:
            if x.op == "r":
                state[x.id] = x.payload
        for x in sorted((x for x in raw[t.name] if x.op != "r"), key=lambda r: (r.commit_lsn, r.seq)):
            if x.op == "t":
                state.clear()
            elif x.op == "c":
                if x.id in state:
                    anomalies.append(f"insert of existing id: {x.show()}")
                state[x.id] = x.payload
            elif x.op == "u":
                if x.id not in state:
                    anomalies.append(f"update of absent id: {x.show()}")
                state[x.id] = x.payload
            elif x.op == "d":
                if x.id not in state:
                    anomalies.append(f"delete of absent id: {x.show()}")
                state.pop(x.id, None)
            else:
                anomalies.append(f"unknown _op: {x.show()}")
        final = table_state(pg, t)
        got = collections.Counter(state.items())
        if anomalies or got != final:
            diff = [f"missing {k}" for k in list((final - got).elements())[:5]] + \
                   [f"unexpected {k}" for k in list((got - final).elements())[:5]]
            problems.append(f"{t.name}: replaying the raw rows in (_commit_lsn, _seq) order does not give the source "
                            f"table ({len(state)} rows vs {sum(final.values())}); {len(anomalies)} anomalies: "
                            + "; ".join(anomalies[:8] + diff))

    # --- Iceberg, read by PyIceberg: counts, commit order, atomic multi-table commits --------
    problems += check_iceberg(frazil, tables, raw, stats)

    if problems:
        raise AssertionError("exactly-once check failed:\n" + "\n".join(problems))
    return stats


def check_iceberg(frazil: Frazil, tables: list[Src], raw: dict[str, list[RawRow]], stats: dict) -> list[str]:
    problems = []
    cat = pyiceberg_catalog(frazil.warehouse)
    tx_batches = collections.defaultdict(set)  # txid -> {(table, frazil.lsn of its snapshot)}
    files_total = 0
    for t in tables:
        tbl = cat.load_table(f"{NS}.{t.name}")
        n = tbl.scan(selected_fields=("_op",)).to_arrow().num_rows
        if n != len(raw[t.name]):
            problems.append(f"{t.name}: PyIceberg reads {n} rows, frazil sql {len(raw[t.name])}")
        snap_lsn = {}
        for s in tbl.metadata.snapshots:
            v = s.summary.additional_properties.get("frazil.lsn") if s.summary else None
            snap_lsn[s.snapshot_id] = lsn_int(v) if v else None
        entries = tbl.inspect.entries().to_pylist()
        paths = collections.Counter(e["data_file"]["file_path"] for e in entries if e["status"] != 2)
        twice = [p for p, c in paths.items() if c > 1]
        if twice:
            problems.append(f"{t.name}: data files listed more than once: {twice[:5]}")
        groups = collections.defaultdict(list)  # data sequence number -> [(op, txid, commit_lsn)]
        for e in entries:
            if e["status"] == 2:
                continue
            files_total += 1
            path = e["data_file"]["file_path"]
            local = path[len("file://"):] if path.startswith("file://") else path
            data = pq.read_table(local, columns=["_op", "_txid", "_commit_lsn"])
            blsn = snap_lsn.get(e["snapshot_id"])
            if blsn is None:
                problems.append(f"{t.name}: snapshot {e['snapshot_id']} adding {path} has no frazil.lsn in its summary")
                continue
            for op, tx, clsn in zip(*(data.column(c).to_pylist() for c in ("_op", "_txid", "_commit_lsn"))):
                groups[e["sequence_number"]].append((op, tx, clsn))
                if op == "r":
                    if clsn != blsn:
                        problems.append(f"{t.name}: 'r' row with _commit_lsn {lsn_str(clsn)} in a snapshot at {lsn_str(blsn)}")
                else:
                    if clsn is None or clsn >= blsn:
                        problems.append(f"{t.name}: row of txid {tx} with _commit_lsn {lsn_str(clsn)} committed in a "
                                        f"snapshot whose frazil.lsn is {lsn_str(blsn)} (not beyond the transaction)")
                    tx_batches[tx].add((t.name, blsn))
        prev_max, prev_seq = None, None
        for sn in sorted(groups):
            ch = [c for op, _, c in groups[sn] if op != "r" and c is not None]
            if not ch:
                continue
            if prev_max is not None and min(ch) <= prev_max:
                problems.append(f"{t.name}: Iceberg data sequence {sn} holds _commit_lsn from {lsn_str(min(ch))} but the "
                                f"earlier commit {prev_seq} went up to {lsn_str(prev_max)}: commits out of source order")
            prev_max, prev_seq = max(ch), sn
        if len(problems) > 40:
            break
    split = {tx: sorted(b) for tx, b in tx_batches.items() if len({l for _, l in b}) > 1}
    if split:
        ex = list(split.items())[:10]
        problems.append(f"{len(split)} source transactions are split over Iceberg commits with different frazil.lsn "
                        f"(not one catalog commit): " + "; ".join(f"txid {tx}: {[(n, lsn_str(l)) for n, l in b]}" for tx, b in ex))
    stats["data_files"] = files_total
    return problems[:60]


MIRROR_NS = "mirror"


def verify_mirrors(frazil: Frazil, pg: PgCluster, tables: list[Src], runner: "FrazilRunner") -> dict:
    """Every mirror equals its source table (frazil caught up, the source quiet): the multiset
    of (id, payload) -- the payload rendered by the same SQL as the audit trail -- read through
    DuckDB's iceberg extension (iceberg_scan) and through PyIceberg (its Arrow rows rendered by
    DuckDB); the mirror's metadata against its raw table; `frazil verify` exits 0."""
    import duckdb

    problems: list[str] = []
    stats = {}
    con = M.duck_connect()
    try:
        cat = pyiceberg_catalog(frazil.warehouse)
        for t in tables:
            mirror = f"{MIRROR_NS}.{t.name}"
            want = table_state(pg, t)
            stats[t.name] = sum(want.values())
            loc = M.metadata_location(frazil.warehouse, mirror) if M.R.catalog_pointer(frazil.warehouse, mirror) else None
            if loc is None:
                problems.append(f"{mirror}: no mirror table in the catalog")
                continue
            payload = t.payload_sql(lambda c: f'"{c}"')
            reads = {"DuckDB iceberg_scan": lambda: con.execute(f"SELECT id, {payload} FROM iceberg_scan('{loc}')").fetchall()}

            def via_pyiceberg(mirror=mirror, payload=payload):
                arrow = cat.load_table(mirror).scan().to_arrow()
                local = duckdb.connect()
                try:
                    local.register("m", arrow)
                    return local.execute(f"SELECT id, {payload} FROM m").fetchall()
                finally:
                    local.close()

            reads["PyIceberg"] = via_pyiceberg
            for reader, read in reads.items():
                try:
                    got = collections.Counter((int(i), p) for i, p in read())
                except Exception as e:  # noqa: BLE001 - a failing reader is a finding
                    problems.append(f"{mirror} ({reader}): reading failed: {type(e).__name__}: {str(e)[:600]}")
                    continue
                if got != want:
                    missing, extra = want - got, got - want
                    problems.append(
                        f"{mirror} ({reader}): the mirror differs from the source: {sum(got.values())} rows vs "
                        f"{sum(want.values())}; {sum(missing.values())} missing, e.g. {sorted(missing)[:6]}; "
                        f"{sum(extra.values())} unexpected, e.g. {sorted(extra)[:6]}")
            problems += M.check_metadata(frazil.warehouse, f"{NS}.{t.name}", mirror, f"public.{t.name}", SLOT, None)
            p = M.run_verify(runner.binary, runner.env(None), runner.workdir, mirror)
            if p.returncode != 0:
                problems.append(M.describe_verify(p, mirror))
    finally:
        con.close()
    if problems:
        raise AssertionError("mirror check failed:\n" + "\n".join(problems))
    return stats


# ---------------------------------------------------------------------------------------
# The workload
# ---------------------------------------------------------------------------------------

PGBENCH_SCRIPTS = {
    # A transfer: two account updates (in key order: no deadlocks) and an insert, one txn.
    "transfer": (40, """\\set a random(1, 2600)
\\set b random(1, 2600)
\\set amt random(1, 100)
\\set lo least(:a, :b)
\\set hi greatest(:a, :b)
BEGIN;
UPDATE accounts SET balance = balance - :amt WHERE id = :lo;
UPDATE accounts SET balance = balance + :amt WHERE id = :hi;
INSERT INTO transfers (src, dst, amount, memo) VALUES (:lo, :hi, :amt, 'transfer by ' || :client_id);
END;
"""),
    "open": (8, """\\set k random(1, 6)
INSERT INTO accounts (owner, balance, note)
  VALUES ('c' || :client_id, 0, CASE WHEN :k = 1 THEN big_note() WHEN :k = 2 THEN NULL ELSE 'short ' || :k END);
"""),
    # Updates of accounts whose note is TOASTed and unchanged (sent as 'unchanged TOAST'), or new.
    "note": (10, """\\set a random(1, 2600)
\\set k random(1, 5)
UPDATE accounts SET balance = balance + 1, note = CASE WHEN :k = 1 THEN big_note() WHEN :k = 2 THEN 'plain' ELSE note END
  WHERE id = :a;
"""),
    "events": (15, """\\set n random(1, 20)
INSERT INTO events (kind, body) SELECT 'k' || (g % 5), 'b' || g || ' by ' || :client_id FROM generate_series(1, :n) g;
"""),
    "delete": (6, """\\set x random(0, 60)
\\set a random(1, 2600)
BEGIN;
DELETE FROM transfers WHERE id = (SELECT max(id) FROM transfers) - :x;
DELETE FROM events WHERE id = (SELECT max(id) FROM events) - :x;
END;
"""),
    "delete_account": (2, """\\set a random(1, 2600)
DELETE FROM accounts WHERE id = :a;
"""),
    "update_transfer": (6, """\\set x random(0, 100)
UPDATE transfers SET memo = 'updated ' || :x, amount = amount + 1 WHERE id = (SELECT max(id) FROM transfers) - :x;
"""),
    "rollback": (4, """\\set a random(1, 2600)
BEGIN;
INSERT INTO events (kind, body) VALUES ('rolled back', 'never visible');
UPDATE accounts SET balance = balance + 1000000 WHERE id = :a;
INSERT INTO transfers (src, dst, amount, memo) VALUES (:a, :a, 0, 'rolled back');
ROLLBACK;
"""),
    "savepoint": (5, """\\set a random(1, 2600)
BEGIN;
INSERT INTO events (kind, body) VALUES ('sp', 'kept 1');
SAVEPOINT s1;
INSERT INTO events (kind, body) VALUES ('sp', 'rolled back to s1');
UPDATE accounts SET balance = balance - 5 WHERE id = :a;
ROLLBACK TO SAVEPOINT s1;
INSERT INTO transfers (src, dst, amount, memo) VALUES (:a, :a, 0, 'after savepoint');
SAVEPOINT s2;
UPDATE accounts SET owner = 'sp ' || :client_id WHERE id = :a;
RELEASE SAVEPOINT s2;
END;
"""),
}

# (fraction of the workload duration, label, SQL) run by the bulk thread.
BULK_ACTIONS = [
    (0.10, "50k-row insert, streamed, with a rolled-back subtransaction", """BEGIN;
INSERT INTO transfers (src, dst, amount, memo) SELECT g % 1000, g % 777, g, 'bulk A ' || g FROM generate_series(1, 40000) g;
SAVEPOINT s;
INSERT INTO events (kind, body) SELECT 'bulk-rolled-back', 'x' || g FROM generate_series(1, 8000) g;
ROLLBACK TO SAVEPOINT s;
INSERT INTO events (kind, body) SELECT 'bulk A', 'y' || g FROM generate_series(1, 10000) g;
COMMIT;"""),
    (0.25, "medium multi-table transaction", """BEGIN;
INSERT INTO events (kind, body) SELECT 'medium', 'm' || g FROM generate_series(1, 3000) g;
UPDATE accounts SET balance = balance + 7 WHERE id % 13 = 0;
COMMIT;"""),
    (0.33, "30k-row transaction rolled back (streamed, then aborted)", """BEGIN;
INSERT INTO events (kind, body) SELECT 'aborted bulk', 'z' || g FROM generate_series(1, 30000) g;
ROLLBACK;"""),
    (0.41, "80k-row insert (PostgreSQL crashes into it, then it runs again)", """BEGIN;
INSERT INTO transfers (src, dst, amount, memo) SELECT g % 1000, g % 777, g, 'bulk C ' || g FROM generate_series(1, 80000) g;
COMMIT;"""),
    (0.47, "TRUNCATE events between inserts", """BEGIN;
INSERT INTO events (kind, body) VALUES ('before truncate', '1'), ('before truncate', '2');
TRUNCATE events;
INSERT INTO events (kind, body) SELECT 'after truncate', 'a' || g FROM generate_series(1, 50) g;
COMMIT;"""),
    (0.55, "large update of a default-identity table", """BEGIN;
UPDATE transfers SET amount = amount + 1 WHERE id <= 20000;
COMMIT;"""),
    (0.68, "medium delete", """DELETE FROM transfers WHERE id % 5 = 0 AND id <= 30000;"""),
    (0.80, "50k-row insert with TOASTed notes among them", """BEGIN;
INSERT INTO events (kind, body) SELECT 'bulk B', 'w' || g FROM generate_series(1, 45000) g;
INSERT INTO accounts (owner, balance, note) SELECT 'bulk', g, CASE WHEN g % 50 = 0 THEN big_note() END FROM generate_series(1, 500) g;
COMMIT;"""),
]


class Workload:
    """pgbench (restarted after it dies, e.g. when PostgreSQL crashes) plus a thread running
    the large transactions of BULK_ACTIONS at their times."""

    def __init__(self, pg: PgCluster, workdir: Path, duration: float, rate: int = 250, clients: int = 4,
                 bulk: bool = True) -> None:
        self.pg = pg
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.duration = duration
        self.rate = rate
        self.clients = clients
        self.bulk = bulk
        self.stop_event = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.pgbench_runs: list[int] = []
        self.bulk_done: list[str] = []
        self.bulk_started: list[float] = []
        self.bulk_failed: list[str] = []
        self.threads: list[threading.Thread] = []
        self.start_time = 0.0
        self.log = self.workdir / "pgbench.log"
        self.files = []
        for name, (weight, text) in PGBENCH_SCRIPTS.items():
            p = self.workdir / f"{name}.sql"
            p.write_text(text)
            self.files.append(f"{p}@{weight}")

    def start(self) -> None:
        self.start_time = time.monotonic()
        self.threads = [threading.Thread(target=self._pgbench_loop, daemon=True)]
        if self.bulk:
            self.threads.append(threading.Thread(target=self._bulk_loop, daemon=True))
        for t in self.threads:
            t.start()

    def remaining(self) -> float:
        return self.start_time + self.duration - time.monotonic()

    def _pgbench_loop(self) -> None:
        with open(self.log, "a") as log:
            while not self.stop_event.is_set():
                left = int(self.remaining())
                if left < 1:
                    break
                cmd = [str(PG_BIN / "pgbench"), "-n", "-c", str(self.clients), "-j", "2", "-T", str(left),
                       "--rate", str(self.rate), "--max-tries", "20", "-d", self.pg.dsn()]
                for f in self.files:
                    cmd += ["-f", f]
                log.write(f"\n=== pgbench at +{time.monotonic() - self.start_time:.1f}s: -T {left}\n")
                log.flush()
                with self.lock:
                    if self.stop_event.is_set():
                        break
                    self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                rc = self.proc.wait()
                self.pgbench_runs.append(rc)
                if rc != 0:
                    time.sleep(0.5)

    def _bulk_loop(self) -> None:
        for frac, label, sql in BULK_ACTIONS:
            while not self.stop_event.is_set() and time.monotonic() < self.start_time + frac * self.duration:
                time.sleep(0.1)
            errors = []
            # Retried while PostgreSQL is down or recovering (whatever did not commit is not in
            # the audit trail either, so a retry never confuses the comparison).
            for _ in range(40):
                if self.stop_event.is_set():
                    return
                t0 = time.monotonic()
                self.bulk_started.append(t0)
                try:
                    self.pg.exec(sql, timeout=120)
                    self.bulk_done.append(f"{label} ({time.monotonic() - t0:.1f}s{', after ' + str(len(errors)) + ' failed tries' if errors else ''})")
                    break
                except Exception as e:  # noqa: BLE001
                    errors.append(str(e)[:200])
                    time.sleep(0.5)
            else:
                self.bulk_failed.append(f"{label}: {errors[-1]}")

    def wait(self) -> None:
        for t in self.threads:
            t.join(timeout=max(1.0, self.remaining() + 150))
        self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        with self.lock:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        for t in self.threads:
            t.join(timeout=150)

    def summary(self) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            text = ""
        processed = sum(int(m) for m in re.findall(r"^number of transactions actually processed: (\d+)", text, re.M))
        failed = sum(int(m) for m in re.findall(r"^number of failed transactions: (\d+)", text, re.M))
        errors = collections.Counter(re.sub(r"\d+", "N", l)[:160] for l in text.splitlines() if "error" in l.lower())
        return (f"pgbench: {len(self.pgbench_runs)} runs (exit codes {self.pgbench_runs}); the runs that printed a "
                f"summary processed {processed} transactions, {failed} failed; its errors: {dict(errors.most_common(6))}\n"
                f"bulk transactions done: {self.bulk_done}; failed: {self.bulk_failed}")


@pytest.fixture
def workloads():
    made: list[Workload] = []
    yield made
    for w in made:
        w.stop()


def log_has_after(runner: FrazilRunner, run: Run, pattern: str, after_len: int) -> bool:
    return re.search(pattern, runner.log_text(run)[after_len:]) is not None


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------


@pytest.mark.timeout(480)
def test_chaos_sigkill_and_postgres_crash(frazil: Frazil, pg: PgCluster, runner_factory, workloads, tmp_path):
    t_begin = time.monotonic()
    # The kill timing is random; FRAZIL_CHAOS_SEED=<seed printed by a run> repeats its choices.
    seed = int(os.environ.get("FRAZIL_CHAOS_SEED") or random.randrange(1 << 30))
    rnd = random.Random(seed)
    create_source(pg, ALL)
    seed_source(pg)
    add_audit_triggers(pg, ALL)
    set_streaming_threshold(pg)
    r_expected = {t.name: table_state(pg, t) for t in ALL}
    boundary = {t.name: audit_max_seq(pg) for t in ALL}  # 0: the triggers came after seeding

    runner = runner_factory(ALL)
    runner.start()
    wait_started(runner, ALL, timeout=60)

    duration = 70.0
    work = Workload(pg, tmp_path / "workload", duration)
    workloads.append(work)
    work.start()

    kills = kills_in_bulk = 0
    crash_log: list[str] = []
    crash1_at, crash2_at = 0.40 * duration, 0.75 * duration
    crashed1 = crashed2 = False
    while work.remaining() > 0 or kills < 20:
        if time.monotonic() - t_begin > 200:
            break
        # Sleep 0.3-3 s, but when a large transaction starts, kill 0.2-0.8 s later: while
        # PostgreSQL streams it (or frazil commits it).
        until, bulks = time.monotonic() + rnd.uniform(0.3, 3.0), len(work.bulk_started)
        during_bulk = False
        while time.monotonic() < until:
            if len(work.bulk_started) > bulks:
                time.sleep(rnd.uniform(0.2, 0.8))
                during_bulk = True
                break
            time.sleep(0.05)
        elapsed = duration - work.remaining()
        run = runner.current
        if run.proc.poll() is not None:
            # Died by itself (reported at the end, with its log): start again.
            runner.start()
            continue
        if not crashed1 and elapsed >= crash1_at and (during_bulk or elapsed >= crash1_at + 0.1 * duration):
            # PostgreSQL crashes under a running frazil, which must reconnect by itself; if
            # possible while a large transaction is being streamed (it never commits: no abort
            # record either, and the bulk thread runs it again once PostgreSQL is back).
            crashed1 = True
            mark = len(runner.log_text(run))
            pg.stop(crash=True)
            time.sleep(rnd.uniform(0.5, 2.0))
            pg.start()
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline and run.proc.poll() is None and \
                    not log_has_after(runner, run, r"streaming changes", mark):
                time.sleep(0.2)
            alive = run.proc.poll() is None
            resumed = log_has_after(runner, run, r"streaming changes", mark)
            crash_log.append(f"crash 1 at +{elapsed:.1f}s{' during a large transaction' if during_bulk else ''}: "
                             f"frazil alive={alive}, resumed streaming={resumed}")
            assert alive and resumed, (
                f"after PostgreSQL crashed and restarted, frazil (run #{run.n}) did not reconnect by itself within 45 s "
                f"(alive={alive}, rc={run.proc.poll()}, resumed={resumed})\n{runner.diagnostics()}")
            continue
        if not crashed2 and elapsed >= crash2_at:
            # frazil and PostgreSQL die together.
            crashed2 = True
            runner.sigkill()
            kills += 1
            pg.stop(crash=True)
            time.sleep(rnd.uniform(0.3, 1.5))
            pg.start()
            runner.start()
            crash_log.append(f"crash 2 at +{elapsed:.1f}s together with a SIGKILL")
            continue
        runner.sigkill()
        kills += 1
        kills_in_bulk += during_bulk
        runner.start()
    work.wait()
    chaos_end = time.monotonic()

    catch_up = finish_and_stop(frazil, pg, runner)
    unexpected = runner.unexpected_exits()
    try:
        stats = verify_exactly_once(frazil, pg, ALL, r_expected, boundary)
        stats["mirror_rows"] = verify_mirrors(frazil, pg, ALL, runner)
    except AssertionError as e:
        raise AssertionError(f"{e}\n\nchaos seed {seed} (FRAZIL_CHAOS_SEED), {kills} SIGKILLs, {crash_log}\n"
                             f"workload: {work.summary()}\n{slot_state(pg)}\n"
                             + ("unexpected frazil exits:\n" + "\n".join(unexpected) + "\n" if unexpected else "")
                             + runner.diagnostics()) from None
    print(f"\nchaos: seed {seed}, {kills} SIGKILLs ({kills_in_bulk} just after a large transaction began) over "
          f"{len(runner.runs)} runs, {crash_log}; catch-up {catch_up:.1f}s; "
          f"chaos phase {chaos_end - t_begin:.0f}s; total {time.monotonic() - t_begin:.0f}s; {stats}\n{work.summary()}")
    assert kills >= 20, f"only {kills} kills"
    assert crashed1 and crashed2
    assert not unexpected, "frazil exited by itself during the chaos run:\n" + "\n\n".join(unexpected)
    assert stats["transactions"] > 2000 and len(work.bulk_done) >= 4, (
        f"the workload did too little to mean anything: {stats}\n{work.summary()}")


# A change batch between the runs: one transaction over all three tables, plus single ones.
def between_runs_changes(pg: PgCluster, k: int) -> None:
    pg.exec(f"""
BEGIN;
INSERT INTO accounts (owner, balance, note) VALUES ('between {k}', {k}, big_note());
UPDATE accounts SET balance = balance + {k} WHERE id IN ({k * 3 + 10}, {k * 3 + 11});
UPDATE accounts SET note = note WHERE id = {k * 10};
INSERT INTO transfers (src, dst, amount, memo) VALUES ({k}, {k + 1}, {k}, 'between {k}');
DELETE FROM transfers WHERE id = {k * 7 + 1};
DELETE FROM events WHERE id = {k * 7 + 2};
UPDATE events SET body = 'changed between runs {k}' WHERE id = {k * 7 + 3};
COMMIT;
DELETE FROM accounts WHERE id = {k * 10 + 1000};
INSERT INTO events (kind, body) VALUES ('between', 'run {k}');
""")


@pytest.mark.timeout(300)
def test_kill_points_snapshot_and_commit_windows(frazil: Frazil, pg: PgCluster, runner_factory, workloads, tmp_path):
    t_begin = time.monotonic()
    create_source(pg, ALL)
    seed_source(pg, accounts=3000, transfers=2000, events=2000)
    add_audit_triggers(pg, ALL)
    set_streaming_threshold(pg)
    runner = runner_factory(ALL)
    r_expected: dict[str, collections.Counter] = {}
    boundary: dict[str, int] = {}
    log = []

    def run_to_kill_point(point: str, timeout: float = 60) -> None:
        run = runner.start(kill_point=point)
        rc = runner.wait_exit(timeout)
        text = runner.log_text(run)
        if rc is None:
            runner.sigkill()
            raise AssertionError(f"frazil never reached kill point {point} within {timeout} s\n{runner.diagnostics()}")
        assert rc == 137 and f"kill point {point.split(':')[0]} reached" in text, (
            f"frazil run with FRAZIL_KILL_POINT={point} exited with {rc} without reaching it\n{runner.diagnostics()}")

    # --- the initial snapshot, killed in each of its windows; changes between the runs -----
    # (r_expected/boundary: the table contents and audit position before the run that commits
    # a table's snapshot; changes before that are in its 'r' rows, after it in its changes.)
    def snapshot_run(point: str | None, k: int) -> None:
        before_state = {t.name: table_state(pg, t) for t in ALL if t.name not in r_expected}
        before_seq = audit_max_seq(pg)
        if point:
            run_to_kill_point(point)
        else:
            runner.start()
            wait_started(runner, ALL, timeout=90)
            assert runner.sigterm() == 0, runner.diagnostics()
        started = resume_lsns(frazil.warehouse, ALL)
        newly = [n for n, v in started.items() if v and n not in r_expected]
        for n in newly:
            r_expected[n] = before_state[n]
            boundary[n] = before_seq
        log.append(f"{point or 'normal run'}: snapshot committed for {newly or 'no table'}")
        between_runs_changes(pg, k)

    snapshot_run("cdc.after_manifests:1", 1)  # dies before the first table's snapshot commit
    assert not r_expected, f"a snapshot was committed before the kill point: {log}"
    snapshot_run("cdc.after_manifests:2", 2)  # dies right after the first table's snapshot commit
    snapshot_run("cdc.snapshot_chunk_written:1", 3)  # dies in the re-snapshot of the other tables
    snapshot_run("cdc.after_manifests:2", 4)  # the re-snapshot commits one more table, then dies
    snapshot_run(None, 5)  # the last table, then a clean stop
    assert set(r_expected) == {t.name for t in ALL}, log

    # --- streaming: each commit window, under a steady small workload ----------------------
    work = Workload(pg, tmp_path / "workload", duration=40, rate=100, clients=2, bulk=False)
    workloads.append(work)
    work.start()
    for point in ["cdc.after_parquet:1", "cdc.after_manifests:1", "cdc.after_commit:1", "cdc.after_confirm:1",
                  "cdc.after_parquet:3", "cdc.after_manifests:3", "cdc.after_commit:3", "cdc.after_confirm:3"]:
        run_to_kill_point(point)
        log.append(f"{point}: killed")
        time.sleep(0.3)
    # A streamed (large) transaction is in flight when the next kill comes.
    big = threading.Thread(target=lambda: pg.exec(
        "INSERT INTO events (kind, body) SELECT 'big', 'b' || g FROM generate_series(1, 40000) g"), daemon=True)
    big.start()
    run_to_kill_point("cdc.after_commit:2")
    big.join(timeout=60)
    run_to_kill_point("cdc.after_confirm:2")
    work.stop()

    catch_up = finish_and_stop(frazil, pg, runner)
    unexpected = runner.unexpected_exits()
    assert not unexpected, "\n\n".join(unexpected)
    try:
        stats = verify_exactly_once(frazil, pg, ALL, r_expected, boundary)
        stats["mirror_rows"] = verify_mirrors(frazil, pg, ALL, runner)
    except AssertionError as e:
        raise AssertionError(f"{e}\n\nruns: {log}\n{work.summary()}\n{slot_state(pg)}\n{runner.diagnostics()}") from None
    print(f"\nkill points: {log}; catch-up {catch_up:.1f}s; total {time.monotonic() - t_begin:.0f}s; {stats}")


BIG = Src("big", [("v", "text")], full=False)
SMALL = Src("small", [("v", "text")], full=False)


@pytest.mark.timeout(300)
def test_sigkill_during_big_initial_snapshot(frazil: Frazil, pg: PgCluster, runner_factory, tmp_path):
    t_begin = time.monotonic()
    tables = [BIG, SMALL]
    create_source(pg, tables)
    # Copying big takes seconds; small's snapshot commits meanwhile. The kill comes right after
    # that commit, while big is still being copied (checked below: a setup error otherwise).
    pg.exec("INSERT INTO big (v) SELECT 'row ' || g || ' ' || md5(g::text) FROM generate_series(1, 2000000) g; "
            "INSERT INTO small (v) SELECT 'small ' || g FROM generate_series(1, 1000) g; ANALYZE big; ANALYZE small;")
    add_audit_triggers(pg, tables)
    runner = runner_factory(tables)
    r_expected = {SMALL.name: table_state(pg, SMALL)}
    boundary = {SMALL.name: audit_max_seq(pg)}

    run = runner.start()
    deadline = time.monotonic() + 120
    while not re.search(r"table snapshot committed.*table=raw_data\.small\b", runner.log_text(run)):
        assert run.proc.poll() is None, f"frazil exited during the first snapshot\n{runner.diagnostics()}"
        assert time.monotonic() < deadline, f"small's snapshot not committed within 120 s\n{runner.diagnostics()}"
        time.sleep(0.05)
    time.sleep(0.3)
    runner.sigkill()
    lsns = resume_lsns(frazil.warehouse, tables)
    if lsns[BIG.name]:
        pytest.fail(f"test setup: the 2M-row snapshot finished before the SIGKILL ({lsns}); the kill did not land "
                    f"mid-copy\n{runner.diagnostics()}")
    assert lsns[SMALL.name], f"small's snapshot should be committed: {lsns}"

    # Changes while frazil is down: small gets them as changes, big in its (new) snapshot.
    pg.exec("""
BEGIN;
DELETE FROM big WHERE id <= 5;
UPDATE big SET v = 'updated while down' WHERE id BETWEEN 6 AND 10;
INSERT INTO big (v) SELECT 'inserted while down ' || g FROM generate_series(1, 5) g;
INSERT INTO small (v) VALUES ('while down');
UPDATE small SET v = 'small updated while down' WHERE id = 3;
DELETE FROM small WHERE id = 4;
COMMIT;
""")
    r_expected[BIG.name] = table_state(pg, BIG)
    boundary[BIG.name] = audit_max_seq(pg)

    run = runner.start()
    wait_started(runner, tables, timeout=150)
    pg.exec("""
BEGIN;
UPDATE big SET v = 'updated after restart' WHERE id BETWEEN 11 AND 20;
DELETE FROM big WHERE id BETWEEN 21 AND 22;
INSERT INTO big (v) VALUES ('after restart');
UPDATE small SET v = 'small after restart' WHERE id = 5;
COMMIT;
""")
    catch_up = finish_and_stop(frazil, pg, runner)
    assert not runner.unexpected_exits(), "\n\n".join(runner.unexpected_exits())

    # The cheap part first, in DuckDB: no key twice among the 'r' rows, all of them there.
    res = frazil.run("sql", f"SELECT count(*) AS n, count(DISTINCT id) AS d FROM {NS}.big WHERE _op = 'r'", "--format", "csv")
    n, d = map(int, res.stdout.strip().splitlines()[-1].split(","))
    assert n == d == sum(r_expected[BIG.name].values()), (
        f"big: {n} 'r' rows for {d} distinct keys, expected {sum(r_expected[BIG.name].values())} once each\n{runner.diagnostics()}")
    stats = verify_exactly_once(frazil, pg, tables, r_expected, boundary)
    stats["mirror_rows"] = verify_mirrors(frazil, pg, tables, runner)
    print(f"\nbig snapshot: killed mid-copy ({lsns}); catch-up {catch_up:.1f}s; total {time.monotonic() - t_begin:.0f}s; {stats}")
