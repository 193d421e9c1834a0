"""Helpers for test_cdc.py: `frazil run` as a managed subprocess, PostgreSQL queries that keep
NULLs and the exact output text of every type, transactions that report their xid and the WAL
positions around their commit, LSN waits on the Iceberg side, and raw-table reads normalized
to plain Python values so frazil, PyIceberg, DuckDB and Spark can be compared exactly."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

import readers as R
from pg_cluster import PG_BIN, PgCluster

# The session settings frazil gives every source connection (docs/cdc-types.md). Reading the
# expected values with the same settings makes PostgreSQL print exactly the text pgoutput sends.
PG_SESSION_OPTIONS = (
    "-c datestyle=ISO,YMD -c timezone=UTC -c intervalstyle=iso_8601 -c extra_float_digits=3 "
    "-c bytea_output=hex -c client_encoding=UTF8"
)

_FS = "\x1f"  # psql field separator
_RS = "\x1e"  # psql record separator
_NULL = "\x01NULL\x01"

EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


# ---------------------------------------------------------------------------------------
# LSNs
# ---------------------------------------------------------------------------------------


def parse_lsn(text: str) -> int:
    hi, lo = text.strip().split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


# ---------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------


def pg_query(pg: PgCluster, sql: str, user: str = "postgres") -> list[tuple]:
    """Rows of one query as tuples of PostgreSQL's output text (None for NULL), read with
    frazil's session settings. Values may contain '|' and newlines."""
    dsn = pg.dsn().replace("user=postgres", f"user={user}")
    cmd = [str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-F", _FS, "-R", _RS, "-P", f"null={_NULL}", "-d", dsn, "-f", "-"]
    env = dict(os.environ, PGOPTIONS=PG_SESSION_OPTIONS)
    p = subprocess.run(cmd, input=sql, capture_output=True, text=True, timeout=300, env=env)
    if p.returncode != 0:
        raise AssertionError(f"psql failed: {p.stderr.strip()}\nSQL: {sql[:3000]}")
    out = p.stdout
    if out.endswith("\n"):
        out = out[:-1]
    if not out:
        return []
    return [tuple(None if v == _NULL else v for v in rec.split(_FS)) for rec in out.split(_RS)]


def pg_value(pg: PgCluster, sql: str) -> str | None:
    rows = pg_query(pg, sql)
    assert len(rows) == 1 and len(rows[0]) == 1, f"expected one value from {sql!r}, got {rows!r}"
    return rows[0][0]


@dataclass
class Txn:
    """One committed source transaction: its xid and the WAL insert position / clock just
    before COMMIT and just after it. The commit record starts in [pre_lsn, post_lsn)."""

    xid: int
    pre_lsn: int
    post_lsn: int
    pre_ts_us: int
    post_ts_us: int
    label: str = ""


def pg_txn(pg: PgCluster, body: str, label: str = "") -> Txn:
    """Runs `body` (statements ending in ';') as one transaction and returns its Txn."""
    script = (
        "BEGIN;\n"
        f"{body}\n"
        "SELECT 'pre', pg_current_xact_id()::text, pg_current_wal_insert_lsn(), (extract(epoch from clock_timestamp())*1000000)::bigint;\n"
        "COMMIT;\n"
        "SELECT 'post', '', pg_current_wal_insert_lsn(), (extract(epoch from clock_timestamp())*1000000)::bigint;\n"
    )
    out = pg.exec(script)
    got = {}
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 4 and parts[0] in ("pre", "post"):
            got[parts[0]] = parts
    assert "pre" in got and "post" in got, f"transaction {label} did not report its positions: {out!r}"
    return Txn(
        xid=int(got["pre"][1]) & 0xFFFFFFFF,
        pre_lsn=parse_lsn(got["pre"][2]),
        post_lsn=parse_lsn(got["post"][2]),
        pre_ts_us=int(got["pre"][3]),
        post_ts_us=int(got["post"][3]),
        label=label,
    )


def current_lsn(pg: PgCluster) -> int:
    return parse_lsn(pg.exec("SELECT pg_current_wal_insert_lsn()"))


def slot_row(pg: PgCluster, slot: str) -> tuple | None:
    rows = pg_query(pg, f"SELECT slot_name, active, confirmed_flush_lsn, active_pid FROM pg_replication_slots WHERE slot_name = '{slot}'")
    return rows[0] if rows else None


def drop_source_objects(pg: PgCluster, slot: str, publication: str | None = None) -> None:
    """Best-effort cleanup: terminate the slot's walsender, drop the slot (and publication)."""
    sql = f"""
DO $$
DECLARE pid int;
BEGIN
  FOR i IN 1..200 LOOP
    SELECT active_pid INTO pid FROM pg_replication_slots WHERE slot_name = '{slot}';
    IF NOT FOUND THEN EXIT; END IF;
    IF pid IS NOT NULL THEN PERFORM pg_terminate_backend(pid); END IF;
    BEGIN
      PERFORM pg_drop_replication_slot('{slot}');
      EXIT;
    EXCEPTION WHEN OTHERS THEN PERFORM pg_sleep(0.05);
    END;
  END LOOP;
END $$;
"""
    if publication:
        sql += f'DROP PUBLICATION IF EXISTS "{publication}";\n'
    try:
        pg.exec(sql)
    except Exception:
        pass


# ---------------------------------------------------------------------------------------
# frazil run / status / sql as subprocesses
# ---------------------------------------------------------------------------------------


@dataclass
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class FrazilCdc:
    """`frazil` with one warehouse and one source configuration (FRAZIL_SOURCE_* variables,
    or a frazil.yaml in the working directory). `start()` launches `frazil run` with output to
    files (a pipe could fill up and block it); `stop()` sends SIGTERM and returns the exit code.
    `close()` (registered as a finalizer by the test) kills whatever is still running."""

    def __init__(self, binary: Path, warehouse: Path, workdir: Path, env: dict[str, str], use_config_file: bool = False):
        self.binary = Path(binary)
        self.warehouse = Path(warehouse)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.source_env = dict(env)
        self.use_config_file = use_config_file
        self.proc: subprocess.Popen | None = None
        self.runs = 0
        self._out: Path | None = None
        self._err: Path | None = None
        self._procs: list[subprocess.Popen] = []

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRAZIL_")}
        env["TZ"] = "UTC"
        if not self.use_config_file:
            env["FRAZIL_WAREHOUSE"] = str(self.warehouse)
            env.update(self.source_env)
        return env

    # --- frazil run -------------------------------------------------------------------

    def start(self, *args: str) -> "FrazilCdc":
        assert self.proc is None or self.proc.poll() is not None, "frazil run is already running"
        assert self.binary.exists(), f"frazil binary not found at {self.binary} (cmake --build build)"
        self.runs += 1
        self._out = self.workdir / f"run{self.runs}.stdout"
        self._err = self.workdir / f"run{self.runs}.stderr"
        with open(self._out, "w") as out, open(self._err, "w") as err:
            self.proc = subprocess.Popen([str(self.binary), "run", *args], cwd=self.workdir, env=self.env(), stdout=out, stderr=err, start_new_session=True)
        self._procs.append(self.proc)
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stdout(self) -> str:
        return self._out.read_text(errors="replace") if self._out and self._out.exists() else ""

    def stderr(self) -> str:
        return self._err.read_text(errors="replace") if self._err and self._err.exists() else ""

    def describe(self) -> str:
        rc = None if self.proc is None else self.proc.poll()
        return f"frazil run #{self.runs} (exit {rc})\n--- stderr (tail) ---\n{self.stderr()[-5000:]}\n--- stdout (tail) ---\n{self.stdout()[-1500:]}"

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"frazil run exited unexpectedly\n{self.describe()}")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (frazil stops after the in-flight commit); returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"frazil run did not stop within {timeout} s of SIGTERM\n{self.describe()}")

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"frazil run still running after {timeout} s\n{self.describe()}")

    def close(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=30)

    # --- other commands ---------------------------------------------------------------

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> CliResult:
        cmd = [str(self.binary), *map(str, args)]
        p = subprocess.run(cmd, cwd=self.workdir, env=self.env(), capture_output=True, text=True, timeout=timeout)
        res = CliResult(cmd, p.returncode, p.stdout, p.stderr)
        if check and p.returncode != 0:
            raise AssertionError(f"frazil failed (exit {p.returncode}): {' '.join(cmd)}\n--- stderr ---\n{p.stderr[-4000:]}\n--- stdout ---\n{p.stdout[-2000:]}")
        return res

    def sql_json(self, query: str) -> list[dict]:
        out = self.cli("sql", "--format", "json", query).stdout
        try:
            doc = json.loads(out)
            return doc if isinstance(doc, list) else [doc]
        except json.JSONDecodeError:
            return [json.loads(line) for line in out.splitlines() if line.strip()]

    def export(self, query: str) -> pa.Table:
        """`frazil sql "COPY (<query>) TO '<file>' (FORMAT parquet)"`: exact types, no text."""
        import pyarrow.parquet as pq

        self._n = getattr(self, "_n", 0) + 1
        out = self.workdir / f"export{self._n}.parquet"
        self.cli("sql", f"COPY ({query}) TO '{out}' (FORMAT parquet)")
        return pq.read_table(out)


def source_env(conninfo: str, slot: str, publication: str, tables: list[str], namespace: str, **extra: str) -> dict[str, str]:
    env = {
        "FRAZIL_SOURCE_CONNINFO": conninfo,
        "FRAZIL_SOURCE_SLOT": slot,
        "FRAZIL_SOURCE_PUBLICATION": publication,
        "FRAZIL_SOURCE_TABLES": ",".join(tables),
        "FRAZIL_SOURCE_NAMESPACE": namespace,
        "FRAZIL_SOURCE_COMMIT_INTERVAL_MS": "200",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


# ---------------------------------------------------------------------------------------
# Waiting on the Iceberg side
# ---------------------------------------------------------------------------------------


def wait_for(pred: Callable[[], Any], timeout: float, what: str, cdc: FrazilCdc | None = None, interval: float = 0.2) -> Any:
    """Polls `pred` until it returns something truthy; fails early if frazil run died."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # a table not created yet, a metadata file being replaced
            last_exc = e
        if cdc is not None:
            cdc.check_alive()
        if time.monotonic() > deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            extra = f"\n{cdc.describe()}" if cdc is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}{extra}")
        time.sleep(interval)


def table_metadata(warehouse: Path, ident: str) -> dict | None:
    loc = R.catalog_pointer(warehouse, ident)
    if loc is None:
        return None
    with open(R.local_path(loc)) as f:
        return json.load(f)


def table_lsn(warehouse: Path, ident: str) -> int:
    """The raw table's committed LSN (table property frazil.lsn); 0 if none."""
    md = table_metadata(warehouse, ident)
    if not md:
        return 0
    v = md.get("properties", {}).get("frazil.lsn")
    return parse_lsn(v) if v else 0


def current_snapshot(md: dict) -> dict | None:
    sid = md.get("current-snapshot-id")
    if sid is None or sid == -1:
        return None
    for s in md.get("snapshots", []):
        if s["snapshot-id"] == sid:
            return s
    return None


def wait_committed(warehouse: Path, ident: str, txn: Txn, cdc: FrazilCdc, timeout: float = 60) -> int:
    """Waits until `txn` (which touched `ident`) is committed into the raw table: its
    frazil.lsn, the end of the batch's last commit record, passes the WAL position before the
    transaction's COMMIT."""
    return wait_for(lambda: (lambda l: l if l > txn.pre_lsn else 0)(table_lsn(warehouse, ident)), timeout, f"{ident} to commit transaction {txn.label or txn.xid} (frazil.lsn > {format_lsn(txn.pre_lsn)})", cdc)


def wait_snapshot(warehouse: Path, ident: str, cdc: FrazilCdc, timeout: float = 60) -> int:
    return wait_for(lambda: table_lsn(warehouse, ident), timeout, f"the initial snapshot of {ident}", cdc)


# ---------------------------------------------------------------------------------------
# Normalizing rows read by any reader
# ---------------------------------------------------------------------------------------


def _norm_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.timezone.utc)
        d = v - EPOCH_UTC
        return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds
    if isinstance(v, dict):
        return {k: _norm_value(x) for k, x in v.items()}
    if isinstance(v, bytearray):
        return bytes(v)
    if isinstance(v, (list, tuple)):
        return [_norm_value(x) for x in v]
    return v


def _temporal_to_ints(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Timestamps -> int64 micros, dates -> int32 days, times -> int64 micros (infinite dates
    and timestamps do not fit Python's datetime)."""
    t = col.type
    if pa.types.is_timestamp(t):
        if t.unit != "us":
            col = pc.cast(col, pa.timestamp("us", tz=t.tz))
        return pc.cast(col, pa.int64())
    if pa.types.is_date32(t):
        return pc.cast(col, pa.int32())
    if pa.types.is_date64(t):
        return pc.cast(pc.cast(col, pa.date32()), pa.int32())
    if pa.types.is_time(t):
        if t.unit != "us":
            col = pc.cast(col, pa.time64("us"))
        return pc.cast(col, pa.int64())
    return col


def arrow_rows(table: pa.Table) -> list[dict]:
    """Rows as dicts; timestamps/dates/times as integers (micros / days), nested too."""
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_struct(col.type):
            if isinstance(col, pa.ChunkedArray):
                col = col.combine_chunks() if col.num_chunks else pa.array([], col.type)
            names = [col.type.field(i).name for i in range(col.type.num_fields)]
            children = [_temporal_to_ints(col.field(i)) for i in range(len(names))]
            col = pa.StructArray.from_arrays(children, names=names, mask=col.is_null())
        else:
            col = _temporal_to_ints(col)
        cols[name] = col.to_pylist()
    n = table.num_rows
    return [{k: _norm_value(v[i]) for k, v in cols.items()} for i in range(n)]


def as_uuid(v: Any) -> uuid.UUID | None:
    if v is None:
        return None
    if isinstance(v, uuid.UUID):
        return v
    if isinstance(v, (bytes, bytearray)):
        return uuid.UUID(bytes=bytes(v))
    return uuid.UUID(str(v))


def dec(text: str) -> decimal.Decimal:
    return decimal.Decimal(text)
