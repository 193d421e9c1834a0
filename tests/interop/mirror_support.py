"""Helpers for the mirror-table tests (docs/mirror.md): the source table's rows and a mirror's
rows in one canonical form, read by every peer, compared as multisets; the mirror's metadata
against its raw table; `frazil verify`.

Canonical form: one text (or None) per column, chosen by the column's PostgreSQL type, so
that PostgreSQL's own output and any reader's value compare exactly:
  integers and numeric(p,s)   -> PostgreSQL's text ('12.50'; Iceberg decimal(p,s) -> str(Decimal))
  text, varchar, char(n)      -> the text as PostgreSQL prints it (char(n) padded)
  boolean                     -> 't' / 'f'
  timestamp, timestamptz      -> microseconds since 1970-01-01 (UTC) as text
  date                        -> days since 1970-01-01 as text
  uuid / bytea                -> text form / hex; float4/8 -> the hex of the exact bits
Two paths give the same canonical rows: Python (PostgreSQL via psql, a reader's Arrow table
via cdc_support.arrow_rows), and SQL for big tables (PostgreSQL COPY to CSV, DuckDB over the
mirror with iceberg_scan, compared with EXCEPT ALL inside DuckDB).
"""

from __future__ import annotations

import collections
import decimal
import math
import os
import struct
import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa

import cdc_support as C
import readers as R
from pg_cluster import PG_BIN, PgCluster

META_COLUMNS = ("_op", "_lsn", "_commit_lsn", "_txid", "_commit_ts", "_seq", "_old")


# ---------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------


def iceberg_name(source_table: str) -> str:
    """docs/cdc.md: `accounts` for public.accounts, `sales__orders` for sales.orders."""
    schema, _, name = source_table.rpartition(".")
    return name if schema in ("", "public") else f"{schema}__{name}"


def qualified(source_table: str) -> str:
    return source_table if "." in source_table else f"public.{source_table}"


# ---------------------------------------------------------------------------------------
# Canonical values
# ---------------------------------------------------------------------------------------


def _kind(pgtype: str) -> str:
    t = pgtype.lower()
    if t in ("smallint", "integer", "bigint"):
        return "int"
    if t.startswith("numeric("):
        return "dec"
    if t in ("text", "name") or t.startswith("character"):
        return "text"
    if t == "numeric":
        return "text"  # unconstrained numeric is an Iceberg string (docs/cdc-types.md)
    if t == "boolean":
        return "bool"
    if t.startswith("timestamp"):
        return "ts"
    if t == "date":
        return "date"
    if t == "uuid":
        return "uuid"
    if t == "bytea":
        return "bytea"
    if t in ("double precision", "real"):
        return "float8" if t == "double precision" else "float4"
    raise AssertionError(f"mirror_support has no canonical form for PostgreSQL type {pgtype!r}: use another type in the test")


def pg_expr(col: str, pgtype: str) -> str:
    """PostgreSQL SQL giving the canonical text of a column."""
    q = f'"{col}"'
    k = _kind(pgtype)
    if k == "int":
        return f"{q}::text"
    if k in ("dec", "text"):
        return q  # output text (char(n) keeps its padding, as pgoutput sends it)
    if k == "bool":
        return f"CASE WHEN {q} THEN 't' WHEN NOT {q} THEN 'f' END"
    if k == "ts":
        return f"(extract(epoch FROM {q}) * 1000000)::bigint::text"
    if k == "date":
        return f"({q} - date '1970-01-01')::text"
    if k == "uuid":
        return f"{q}::text"
    if k == "bytea":
        return f"encode({q}, 'hex')"
    if k == "float8":
        return f"encode(float8send({q}), 'hex')"  # the exact bits
    if k == "float4":
        return f"encode(float4send({q}), 'hex')"
    raise AssertionError(pgtype)


def duck_expr(col: str, pgtype: str) -> str:
    """DuckDB SQL over the mirror giving the same canonical text."""
    q = f'"{col}"'
    k = _kind(pgtype)
    if k in ("int", "dec", "text"):
        return f"CAST({q} AS VARCHAR)"
    if k == "bool":
        return f"CASE WHEN {q} THEN 't' WHEN NOT {q} THEN 'f' END"
    if k == "ts":
        return f"CAST(epoch_us({q}) AS VARCHAR)"
    if k == "date":
        return f"CAST({q} - DATE '1970-01-01' AS VARCHAR)"
    raise AssertionError(pgtype)


def canon(v: Any, pgtype: str) -> str | None:
    """A reader's value (after cdc_support.arrow_rows) in canonical form."""
    if v is None:
        return None
    k = _kind(pgtype)
    if k == "int":
        assert isinstance(v, int) and not isinstance(v, bool), f"{pgtype} read as {type(v).__name__} {v!r}"
        return str(v)
    if k == "dec":
        assert isinstance(v, decimal.Decimal), f"{pgtype} read as {type(v).__name__} {v!r}"
        return str(v)
    if k == "text":
        assert isinstance(v, str), f"{pgtype} read as {type(v).__name__} {v!r}"
        return v
    if k == "bool":
        assert isinstance(v, bool), f"{pgtype} read as {type(v).__name__} {v!r}"
        return "t" if v else "f"
    if k in ("ts", "date"):
        assert isinstance(v, int), f"{pgtype} read as {type(v).__name__} {v!r}"
        return str(v)
    if k == "uuid":
        return str(C.as_uuid(v))
    if k == "bytea":
        assert isinstance(v, bytes), f"{pgtype} read as {type(v).__name__} {v!r}"
        return v.hex()
    if k in ("float8", "float4"):
        assert isinstance(v, float), f"{pgtype} read as {type(v).__name__} {v!r}"
        if math.isnan(v):
            v = float("nan")  # PostgreSQL's canonical NaN bits
        return struct.pack(">d" if k == "float8" else ">f", v).hex()
    raise AssertionError(pgtype)


# ---------------------------------------------------------------------------------------
# PostgreSQL side
# ---------------------------------------------------------------------------------------


def pg_columns(pg: PgCluster, table: str) -> list[tuple[str, str]]:
    """(name, format_type) of the live columns in attnum order."""
    rows = C.pg_query(pg, f"SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{qualified(table)}'::regclass "
                          f"AND attnum > 0 AND NOT attisdropped ORDER BY attnum")
    return [(n, t) for n, t in rows]


def pg_rows(pg: PgCluster, table: str) -> tuple[list[tuple[str, str]], collections.Counter]:
    """The source table's columns and its rows as a multiset of canonical tuples."""
    cols = pg_columns(pg, table)
    exprs = ", ".join(pg_expr(n, t) for n, t in cols)
    rows = C.pg_query(pg, f"SELECT {exprs} FROM {qualified(table)}")
    return cols, collections.Counter(tuple(r) for r in rows)


def pg_copy_csv(pg: PgCluster, select: str, path: Path, dbname: str = "postgres") -> None:
    """psql \\copy of a SELECT into a client-side CSV file (NULL written as <<NULL>>)."""
    cmd = [str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.dsn(dbname),
           "-c", f"\\copy ({select}) TO '{path}' WITH (FORMAT csv, NULL '<<NULL>>')"]
    env = dict(os.environ, PGOPTIONS=C.PG_SESSION_OPTIONS)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if p.returncode != 0:
        raise AssertionError(f"psql \\copy failed: {p.stderr.strip()}")


# ---------------------------------------------------------------------------------------
# Reader side
# ---------------------------------------------------------------------------------------


def metadata_location(warehouse: Path, ident: str) -> str:
    loc = R.catalog_pointer(warehouse, ident)
    assert loc is not None, f"table {ident} is not in the catalog of {warehouse}"
    return loc


def read_pyiceberg(warehouse: Path, ident: str) -> pa.Table:
    from conftest import pyiceberg_catalog

    return pyiceberg_catalog(warehouse).load_table(ident).scan().to_arrow()


def read_pyiceberg_columns(warehouse: Path, ident: str, columns: list[str]) -> pa.Table:
    from conftest import pyiceberg_catalog

    return pyiceberg_catalog(warehouse).load_table(ident).scan(selected_fields=tuple(columns)).to_arrow()


def duck_connect():
    """A DuckDB connection with the iceberg extension from the PyPI packages (as conftest's
    `duck` fixture), for modules that do not use the fixture."""
    import tempfile

    import duckdb

    from conftest import _duckdb_extension_path

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute(f"SET home_directory='{tempfile.mkdtemp(prefix='duckhome-')}'")
    con.execute(f"LOAD '{_duckdb_extension_path('duckdb_extension_avro', 'avro')}'")
    con.execute(f"LOAD '{_duckdb_extension_path('duckdb_extension_iceberg', 'iceberg')}'")
    con.execute("SET TimeZone='UTC'")
    return con


def read_duckdb(duck, warehouse: Path, ident: str) -> pa.Table:
    return duck.execute(f"SELECT * FROM iceberg_scan('{metadata_location(warehouse, ident)}')").to_arrow_table()


def read_spark(spark, ident: str) -> pa.Table:
    from conftest import spark_read

    return spark_read(spark, ident)


def live_files(tbl) -> list:
    """The live DataFile entries (data, position deletes, equality deletes) of a PyIceberg
    table's current snapshot, read from its manifests (not `inspect.files()`, which fails on
    tables with a uuid column: its readable metrics cannot hold the uuid extension type)."""
    snap = tbl.current_snapshot()
    if snap is None:
        return []
    out = []
    for m in snap.manifests(tbl.io):
        for e in m.fetch_manifest_entry(tbl.io, discard_deleted=True):
            out.append(e.data_file)
    return out


def _content(df) -> int:
    return int(getattr(df.content, "value", df.content))


def int32_files_under_long_fields(warehouse: Path, ident: str) -> list[str]:
    """Long columns (promoted from int) that some live data file stores as INT32: the case
    where Spark's vectorized Iceberg reader (Iceberg 1.10.1) throws ClassCastException
    BigIntVector -> IntVector (apache/iceberg#16341, fixed by apache/iceberg#16343)."""
    import pyarrow.parquet as pq

    from conftest import pyiceberg_catalog

    tbl = pyiceberg_catalog(warehouse).load_table(ident)
    longs = {f.field_id: f.name for f in tbl.schema().fields if str(f.field_type) == "long"}
    found = set()
    if tbl.current_snapshot() is None or not longs:
        return []
    for df in live_files(tbl):
        if _content(df) != 0:
            continue
        for field in pq.read_schema(R.local_path(df.file_path)):
            fid = int((field.metadata or {}).get(b"PARQUET:field_id", b"-1"))
            if fid in longs and pa.types.is_int32(field.type):
                found.add(longs[fid])
    return sorted(found)


def read_spark_promotion_aware(spark, warehouse: Path, ident: str) -> pa.Table:
    """Spark's read; when it fails with apache/iceberg#16341 and the table really has INT32
    files under a promoted long column, the same read without Iceberg's vectorized reader
    (asserted, never skipped: any other failure is raised)."""
    try:
        return read_spark(spark, ident)
    except Exception as e:  # noqa: BLE001
        if "BigIntVector cannot be cast to" not in str(e):
            raise
        cols = int32_files_under_long_fields(warehouse, ident)
        assert cols, f"{ident}: Spark failed with BigIntVector -> IntVector but no long column has INT32 files: {str(e)[:500]}"
        spark.conf.set("spark.sql.iceberg.vectorization.enabled", "false")
        try:
            return read_spark(spark, ident)
        finally:
            spark.conf.unset("spark.sql.iceberg.vectorization.enabled")


def arrow_counter(table: pa.Table, cols: list[tuple[str, str]]) -> collections.Counter:
    names = [n for n, _ in cols]
    assert list(table.column_names) == names, f"columns {table.column_names}, the source has {names}"
    rows = C.arrow_rows(table)
    return collections.Counter(tuple(canon(r[n], t) for n, t in cols) for r in rows)


def _short(v: Any, n: int = 60) -> str:
    s = repr(v)
    if isinstance(v, str) and len(v) > n:
        s = repr(v[:20]) + f"...({len(v)} chars)..." + repr(v[-12:])
    return s


def _show_row(names: list[str], row: tuple) -> str:
    return "(" + ", ".join(f"{n}={_short(v)}" for n, v in zip(names, row)) + ")"


def diff_multisets(expected: collections.Counter, got: collections.Counter, names: list[str], where: str, limit: int = 8) -> str | None:
    """None when equal, else a readable description of the difference."""
    if expected == got:
        return None
    missing = expected - got
    extra = got - expected
    lines = [f"{where}: the mirror differs from the source: {sum(got.values())} rows vs {sum(expected.values())} in PostgreSQL; "
             f"{sum(missing.values())} missing, {sum(extra.values())} unexpected (columns {names})"]
    for r, n in sorted(missing.items(), key=lambda kv: repr(kv[0]))[:limit]:
        lines.append(f"  MISSING x{n}: {_show_row(names, r)}")
    for r, n in sorted(extra.items(), key=lambda kv: repr(kv[0]))[:limit]:
        lines.append(f"  UNEXPECTED x{n}: {_show_row(names, r)}")
    return "\n".join(lines)


def duck_compare(duck, pg: PgCluster, source_table: str, warehouse: Path, mirror_ident: str, workdir: Path,
                 dbname: str = "postgres") -> tuple[int, int, str | None]:
    """Exact multiset comparison inside DuckDB for big tables: PostgreSQL's canonical rows (COPY
    to CSV) EXCEPT ALL the mirror's (iceberg_scan), both ways. Returns (source rows, mirror
    rows, description of the difference or None)."""
    cols = pg_columns(pg, source_table)
    names = [n for n, _ in cols]
    workdir.mkdir(parents=True, exist_ok=True)
    csv_path = workdir / f"{iceberg_name(source_table)}.pg.csv"
    pg_copy_csv(pg, f"SELECT {', '.join(pg_expr(n, t) for n, t in cols)} FROM {qualified(source_table)}", csv_path, dbname)
    loc = metadata_location(warehouse, mirror_ident)
    mcols = [r[0] for r in duck.execute(f"DESCRIBE SELECT * FROM iceberg_scan('{loc}')").fetchall()]
    if mcols != names:
        return 0, 0, f"{mirror_ident}: mirror columns {mcols}, source columns {names}"
    colspec = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(cols))) + "}"
    duck.execute("DROP TABLE IF EXISTS _exp; DROP TABLE IF EXISTS _got")
    duck.execute(f"CREATE TEMP TABLE _exp AS SELECT * FROM read_csv('{csv_path}', header = false, columns = {colspec}, "
                 f"nullstr = '<<NULL>>', quote = '\"', escape = '\"', delim = ',', auto_detect = false)")
    duck.execute(f"CREATE TEMP TABLE _got AS SELECT {', '.join(duck_expr(n, t) + f' AS c{i}' for i, (n, t) in enumerate(cols))} "
                 f"FROM iceberg_scan('{loc}')")
    n_exp = duck.execute("SELECT count(*) FROM _exp").fetchone()[0]
    n_got = duck.execute("SELECT count(*) FROM _got").fetchone()[0]
    duck.execute("CREATE TEMP TABLE _missing AS SELECT * FROM _exp EXCEPT ALL SELECT * FROM _got")
    duck.execute("CREATE TEMP TABLE _extra AS SELECT * FROM _got EXCEPT ALL SELECT * FROM _exp")
    missing = duck.execute("SELECT * FROM _missing ORDER BY ALL LIMIT 8").fetchall()
    extra = duck.execute("SELECT * FROM _extra ORDER BY ALL LIMIT 8").fetchall()
    n_missing = duck.execute("SELECT count(*) FROM _missing").fetchone()[0]
    n_extra = duck.execute("SELECT count(*) FROM _extra").fetchone()[0]
    duck.execute("DROP TABLE _exp; DROP TABLE _got; DROP TABLE _missing; DROP TABLE _extra")
    csv_path.unlink(missing_ok=True)
    if not missing and not extra and n_exp == n_got:
        return n_exp, n_got, None
    lines = [f"{mirror_ident} (DuckDB iceberg_scan): the mirror differs from {source_table}: {n_got} rows vs {n_exp} in "
             f"PostgreSQL; {n_missing} missing, {n_extra} unexpected (columns {names})"]
    lines += [f"  MISSING: {_show_row(names, r)}" for r in missing]
    lines += [f"  UNEXPECTED: {_show_row(names, r)}" for r in extra]
    return n_exp, n_got, "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Metadata: the mirror against its raw table (docs/mirror.md "Where and what")
# ---------------------------------------------------------------------------------------


def _schema(md: dict) -> dict:
    sid = md.get("current-schema-id")
    for s in md.get("schemas", []):
        if s.get("schema-id") == sid:
            return s
    return md.get("schema", {})


def check_metadata(warehouse: Path, raw_ident: str, mirror_ident: str, source_table: str, slot: str | None,
                   key: list[str] | None) -> list[str]:
    """Problems with the mirror's metadata: properties (frazil.lsn equal to the raw table's,
    slot, source table, mirror-of, key), every snapshot's summary carrying frazil.lsn (the
    current one at most the property), schema = the raw table's source columns (ids, names,
    types), format v2, and no equality delete files."""
    problems: list[str] = []
    raw = C.table_metadata(warehouse, raw_ident)
    mir = C.table_metadata(warehouse, mirror_ident)
    if raw is None or mir is None:
        return [f"{mirror_ident}: raw table {raw_ident} {'missing' if raw is None else 'exists'}, mirror {'missing' if mir is None else 'exists'}"]
    where = mirror_ident
    if mir.get("format-version") != 2:
        problems.append(f"{where}: format-version {mir.get('format-version')}, expected 2")
    p, rp = mir.get("properties", {}), raw.get("properties", {})
    want = {"frazil.lsn": rp.get("frazil.lsn"), "frazil.source-table": qualified(source_table), "frazil.mirror-of": raw_ident}
    if slot is not None:
        want["frazil.slot"] = slot
    if key is not None:
        want["frazil.key"] = ",".join(key)
    for k, v in want.items():
        if p.get(k) != v:
            problems.append(f"{where}: property {k} = {p.get(k)!r}, expected {v!r}")
    snap = C.current_snapshot(mir)
    if snap is None:
        problems.append(f"{where}: no current snapshot")
    else:
        # A commit with no row change may move the property alone: the current snapshot's
        # frazil.lsn is at most the property.
        s_lsn, p_lsn = snap.get("summary", {}).get("frazil.lsn"), p.get("frazil.lsn")
        if not s_lsn or not p_lsn or C.parse_lsn(s_lsn) > C.parse_lsn(p_lsn):
            problems.append(f"{where}: current snapshot's summary frazil.lsn {s_lsn!r}, property {p_lsn!r}")
    no_lsn = [s["snapshot-id"] for s in mir.get("snapshots", []) if not s.get("summary", {}).get("frazil.lsn")]
    if no_lsn:
        problems.append(f"{where}: {len(no_lsn)} snapshots without frazil.lsn in their summary, e.g. {no_lsn[:3]}")
    raw_fields = [(f["id"], f["name"], f["type"]) for f in _schema(raw)["fields"] if f["name"] not in META_COLUMNS]
    mir_fields = [(f["id"], f["name"], f["type"]) for f in _schema(mir)["fields"]]
    if raw_fields != mir_fields:
        problems.append(f"{where}: schema (id, name, type) {mir_fields} differs from the raw table's source columns {raw_fields}")
    from conftest import pyiceberg_catalog

    tbl = pyiceberg_catalog(warehouse).load_table(mirror_ident)
    if tbl.current_snapshot() is not None:
        contents = collections.Counter(_content(df) for df in live_files(tbl))
        if contents.get(2):
            problems.append(f"{where}: {contents[2]} equality delete files (the contract: position deletes only)")
    return problems


def file_counts(warehouse: Path, ident: str) -> dict[str, int]:
    """Live data files / position delete files / equality delete files of a table."""
    from conftest import pyiceberg_catalog

    tbl = pyiceberg_catalog(warehouse).load_table(ident)
    c = collections.Counter(_content(df) for df in live_files(tbl))
    return {"data": c.get(0, 0), "position_deletes": c.get(1, 0), "equality_deletes": c.get(2, 0)}


# ---------------------------------------------------------------------------------------
# frazil verify
# ---------------------------------------------------------------------------------------


def verify_args(mirror_ident: str) -> list[str]:
    """`frazil verify <table>`: the mirror table, namespace.name."""
    return ["verify", mirror_ident]


def run_verify(binary: Path, env: dict, cwd: Path, mirror_ident: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *verify_args(mirror_ident)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def describe_verify(p: subprocess.CompletedProcess, mirror_ident: str) -> str:
    return (f"`frazil {' '.join(verify_args(mirror_ident))}` exited {p.returncode}\n--- stdout ---\n{p.stdout[-3000:]}\n"
            f"--- stderr ---\n{p.stderr[-3000:]}")
