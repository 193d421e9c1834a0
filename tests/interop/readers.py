"""Reader-side helpers shared by the test modules: filtered reads in each peer, partition
checks, catalog inspection. Expected rows always come from the test's own source data."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import interop_support as S

EPOCH_DATE = dt.date(1970, 1, 1)


def local_path(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def catalog_pointer(warehouse: Path, ident: str) -> str | None:
    """metadata_location of a table straight from the SQLite catalog (no peer involved)."""
    ns, name = ident.rsplit(".", 1)
    con = sqlite3.connect(f"file:{warehouse}/catalog.db?mode=ro", uri=True)
    try:
        row = con.execute(
            "SELECT metadata_location FROM iceberg_tables WHERE catalog_name=? AND table_namespace=? AND table_name=?",
            ("frazil", ns, name),
        ).fetchone()
    finally:
        con.close()
    return row[0] if row else None


# --- values of one column ---------------------------------------------------------------


def python_values(table: pa.Table, col: str) -> list:
    return table.column(col).to_pylist()


def sample_values(table: pa.Table, col: str, k: int = 3) -> list:
    """Up to k distinct non-null, non-NaN values of a column: its minimum, its maximum and
    one from the middle (in canonical order)."""
    # Not NaN or infinities: PyIceberg turns an infinite literal on a float column into
    # "above max" and answers nothing, whatever the file holds.
    vals = [v for v in python_values(table, col) if v is not None and not (isinstance(v, float) and not math.isfinite(v))]
    if not vals:
        return []
    uniq = []
    seen = set()
    for v in vals:
        key = repr(v)
        if key not in seen:
            seen.add(key)
            uniq.append(v)
    try:
        uniq.sort()
    except TypeError:
        uniq.sort(key=repr)
    picks = [uniq[0], uniq[-1], uniq[len(uniq) // 2]]
    out = []
    for p in picks:
        if all(repr(p) != repr(o) for o in out):
            out.append(p)
    return out[:k]


def rows_where_equal(rows: list[dict], col: str, value: Any, itype: Any) -> list[dict]:
    target = S.canon(value, itype)
    return [r for r in rows if r.get(col) is not None and S.canon(r[col], itype) == target]


# --- PyIceberg ---------------------------------------------------------------------------


def pyiceberg_can_filter(itype: str) -> bool:
    """PyIceberg 0.12 plans uuid filters but then fails evaluating them on the rows
    (pyarrow has no 'equal' kernel for its uuid extension type): DuckDB and Spark cover uuid."""
    return itype != "uuid"


def spark_can_filter(itype: str) -> bool:
    """Spark sees uuid columns as strings; an equality filter on one returns no rows even on a
    PyIceberg-written table (and can throw ClassCastException UUID -> ByteBuffer when the
    column is bucketed). PyIceberg's own bounds tests and DuckDB cover uuid."""
    return itype != "uuid"


def duckdb_can_prune(transform: str, itype: str) -> bool:
    """Where DuckDB 1.5.5's iceberg extension computes a partition transform of a filter
    literal wrongly. bucket on uuid: an equality filter misses rows whose partition value
    matches the spec's (checked against PyIceberg's transform and the spec's test vector)."""
    if transform.startswith("bucket") and itype == "uuid":
        return False
    # truncate on a negative decimal(9,2) literal: DuckDB raises "INTERNAL Error: Information
    # loss on integer cast: value 4044967250 outside of target range" (unsigned wrap).
    if transform.startswith("truncate") and itype.startswith("decimal"):
        return False
    return True


def pyiceberg_literal(value: Any, itype: str) -> Any:
    if itype == "date":
        return value.isoformat()
    if itype == "time":
        return value.isoformat()
    if itype == "timestamp":
        return value.isoformat()
    if itype == "timestamptz":
        return value.astimezone(dt.timezone.utc).isoformat()
    if itype == "uuid":
        return uuid.UUID(str(value))
    return value


# --- DuckDB --------------------------------------------------------------------------------


def duck_param(value: Any, itype: str) -> tuple[str, Any]:
    """(SQL placeholder with a cast, parameter) for an equality filter in DuckDB."""
    if itype == "uuid":
        return "CAST(? AS UUID)", str(value)
    if itype in ("binary",) or itype.startswith("fixed"):
        return "CAST(? AS BLOB)", bytes(value)
    if itype == "timestamptz":
        return "CAST(? AS TIMESTAMPTZ)", value.astimezone(dt.timezone.utc).isoformat()
    if itype == "timestamp":
        return "CAST(? AS TIMESTAMP)", value.isoformat()
    if itype == "date":
        return "CAST(? AS DATE)", value.isoformat()
    if itype == "time":
        return "CAST(? AS TIME)", value.isoformat()
    if itype.startswith("decimal"):
        return f"CAST(? AS {itype.upper()})", str(value)
    if itype == "float":
        return "CAST(? AS FLOAT)", value
    return "?", value


# --- Spark -----------------------------------------------------------------------------------


def spark_filter_column(value: Any, itype: str):
    """A Spark Column literal equal to `value` in the Spark type of an Iceberg column."""
    from pyspark.sql import functions as F

    if itype == "uuid":
        return F.lit(str(value))
    if itype == "timestamp":
        return F.lit(value.isoformat()).cast("timestamp_ntz")
    if itype == "timestamptz":
        # isoformat, not strftime: strftime writes year 1 as "1", which Spark cannot cast.
        return F.lit(value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" ")).cast("timestamp")
    if itype == "date":
        return F.lit(value.isoformat()).cast("date")
    if itype.startswith("decimal"):
        return F.lit(str(value)).cast(itype.replace(" ", ""))
    if itype == "int":
        return F.lit(value).cast("int")
    if itype == "float":
        return F.lit(value).cast("float")
    if itype in ("binary",) or itype.startswith("fixed"):
        return F.lit(bytearray(value))
    return F.lit(value)


def spark_read_filtered(spark, ident: str, col: str, value: Any, itype: str) -> pa.Table:
    from pyspark.sql import functions as F

    df = spark.table(f"frazil.{ident}").filter(F.col(col) == spark_filter_column(value, itype))
    batches = df._collect_as_arrow()
    if batches:
        return pa.Table.from_batches(batches)
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(df.schema).empty_table()


# --- partitions ------------------------------------------------------------------------------


def _transform_input(v: Any, itype: str) -> Any:
    if v is None:
        return None
    if itype == "date":
        return (v - EPOCH_DATE).days
    if itype in ("timestamp", "timestamptz"):
        return S._micros(v)[1]
    if itype == "time":
        return ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond
    if itype == "uuid" and not isinstance(v, uuid.UUID):
        return uuid.UUID(bytes=v) if isinstance(v, bytes) else uuid.UUID(str(v))
    return v


def _partition_internal(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return S._micros(v)[1]
    if isinstance(v, dt.date):
        return (v - EPOCH_DATE).days
    if isinstance(v, decimal.Decimal):
        return v
    return v


def check_partition_values(tbl, schema: dict) -> int:
    """Every data file's partition tuple equals the transform of each of its rows, computed by
    PyIceberg's transforms; rows are read from the file by Iceberg field id. Returns the number
    of data files checked."""
    spec = tbl.spec()
    ischema = tbl.schema()
    checked = 0
    for task in tbl.scan().plan_files():
        df = task.file
        assert df.spec_id == spec.spec_id, f"{df.file_path}: spec id {df.spec_id}, table default {spec.spec_id}"
        data = pq.ParquetFile(local_path(df.file_path)).read()  # not read_table: no hive partition discovery
        by_id = {}
        for i, f in enumerate(data.schema):
            md = f.metadata or {}
            if b"PARQUET:field_id" in md:
                by_id[int(md[b"PARQUET:field_id"])] = data.column(i)
        for pos, pf in enumerate(spec.fields):
            src = ischema.find_field(pf.source_id)
            itype = S.field_by_name(schema, src.name)["type"]
            assert pf.source_id in by_id, f"{df.file_path}: no column with field id {pf.source_id} ({src.name})"
            fn = pf.transform.transform(src.field_type)
            got = {repr(_partition_internal(df.partition[pos]))}
            want = {repr(fn(_transform_input(v, itype))) for v in by_id[pf.source_id].to_pylist()}
            assert want == got, (
                f"{df.file_path}: partition field {pf.name} ({pf.transform}({src.name})) is {sorted(got)} "
                f"but its rows transform to {sorted(want)[:5]}"
            )
        checked += 1
    return checked
