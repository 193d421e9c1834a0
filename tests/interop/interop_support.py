"""Data, schemas and comparison for the interop suite.

Everything a test expects is derived from data the test generated itself: a seeded pyarrow
table covering every Iceberg v2 type (with nulls, unicode, pre-1970 and year-1 dates and
timestamps, decimals of each precision class, NaN/inf, big nested values) and the matching
Iceberg schema in the spec's JSON format. Readers' results are turned into canonical Python
values driven by the Iceberg type, so PyIceberg, DuckDB, Spark and frazil output can be
compared exactly (decimals by unscaled value, timestamps in microseconds, floats bit-exact
in their own width).
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import json
import math
import random
import re
import struct
import uuid
from typing import Any, Callable

import pyarrow as pa

EPOCH_DATE = dt.date(1970, 1, 1)
EPOCH_NAIVE = dt.datetime(1970, 1, 1)
EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
US = dt.timedelta(microseconds=1)
_DCTX = decimal.Context(prec=100)  # the default 28 digits would round decimal(38,s)

# ---------------------------------------------------------------------------------------
# Iceberg schema (spec JSON) for the type matrix
# ---------------------------------------------------------------------------------------

# (name, type) where type is an Iceberg JSON type; nested types are built with the helpers
# below and receive ids in order. `None` marks the columns that are left out when
# with_time=False (Spark has no time type).


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


def _field(ids: _Ids, name: str, typ: Any, required: bool = False) -> dict:
    fid = ids.next()
    return {"id": fid, "name": name, "required": required, "type": typ(ids) if callable(typ) else typ}


def _struct(*fields: tuple) -> Callable[[_Ids], dict]:
    def build(ids: _Ids) -> dict:
        return {"type": "struct", "fields": [_field(ids, n, t) for n, t in fields]}

    return build


def _list(elem: Any) -> Callable[[_Ids], dict]:
    def build(ids: _Ids) -> dict:
        eid = ids.next()
        return {
            "type": "list",
            "element-id": eid,
            "element": elem(ids) if callable(elem) else elem,
            "element-required": False,
        }

    return build


def _map(key: Any, value: Any) -> Callable[[_Ids], dict]:
    def build(ids: _Ids) -> dict:
        kid = ids.next()
        vid = ids.next()
        return {
            "type": "map",
            "key-id": kid,
            "key": key(ids) if callable(key) else key,
            "value-id": vid,
            "value": value(ids) if callable(value) else value,
            "value-required": False,
        }

    return build


def all_types_schema(with_time: bool = True, with_fixed: bool = True) -> dict:
    """The matrix schema: every Iceberg v2 type, `id` required, everything else optional.

    frazil cannot write fixed[L] (DuckDB has no FIXED_LEN_BYTE_ARRAY writer; it refuses with a
    clear error, see test_bad_input.py), so tables frazil writes use with_fixed=False; tables
    the peers write keep it and frazil must read them."""
    cols: list[tuple[str, Any]] = [
        ("c_bool", "boolean"),
        ("c_int", "int"),
        ("c_long", "long"),
        ("c_float", "float"),
        ("c_double", "double"),
        ("c_dec9", "decimal(9,2)"),
        ("c_dec18", "decimal(18,6)"),
        ("c_dec38", "decimal(38,10)"),
        ("c_date", "date"),
    ]
    if with_time:
        cols.append(("c_time", "time"))
    cols += [
        ("c_ts", "timestamp"),
        ("c_tstz", "timestamptz"),
        ("c_string", "string"),
        ("c_uuid", "uuid"),
        ("c_binary", "binary"),
    ]
    if with_fixed:
        cols.append(("c_fixed", "fixed[16]"))
    cols += [
        (
            "c_struct",
            _struct(("s_int", "int"), ("s_string", "string"), ("s_inner", _struct(("d", "date"), ("amount", "decimal(9,2)")))),
        ),
        ("c_list", _list("long")),
        ("c_map", _map("string", "double")),
        ("c_list_struct", _list(_struct(("name", "string"), ("tags", _list("string"))))),
    ]
    ids = _Ids()
    fields = [_field(ids, "id", "long", required=True)]
    fields += [_field(ids, n, t) for n, t in cols]
    return {"type": "struct", "schema-id": 0, "fields": fields}


def simple_schema() -> dict:
    """A small schema for tests where the type matrix is not the point."""
    ids = _Ids()
    return {
        "type": "struct",
        "schema-id": 0,
        "fields": [
            _field(ids, "id", "long", required=True),
            _field(ids, "name", "string"),
            _field(ids, "amount", "decimal(18,6)"),
            _field(ids, "day", "date"),
            _field(ids, "ts", "timestamptz"),
        ],
    }


def field_by_name(schema: dict, name: str) -> dict:
    for f in schema["fields"]:
        if f["name"] == name:
            return f
    raise KeyError(name)


def field_id(schema: dict, name: str) -> int:
    return field_by_name(schema, name)["id"]


def partition_spec(schema: dict, fields: list[tuple[str, str]]) -> dict:
    """[(transform, source column)] -> spec JSON in the spec format, field ids from 1000."""
    out = []
    for i, (transform, col) in enumerate(fields):
        base = re.sub(r"\[.*\]", "", transform)
        out.append({"source-id": field_id(schema, col), "field-id": 1000 + i, "name": f"{col}_{base}", "transform": transform})
    return {"spec-id": 0, "fields": out}


# ---------------------------------------------------------------------------------------
# Arrow types
# ---------------------------------------------------------------------------------------

_DEC = re.compile(r"decimal\((\d+),\s*(\d+)\)")
_FIXED = re.compile(r"fixed\[(\d+)\]")


def arrow_type(t: Any) -> pa.DataType:
    if isinstance(t, dict):
        if t["type"] == "struct":
            return pa.struct([arrow_field(f) for f in t["fields"]])
        if t["type"] == "list":
            return pa.list_(pa.field("element", arrow_type(t["element"]), nullable=not t["element-required"]))
        if t["type"] == "map":
            return pa.map_(
                pa.field("key", arrow_type(t["key"]), nullable=False),
                pa.field("value", arrow_type(t["value"]), nullable=not t["value-required"]),
            )
        raise ValueError(t)
    simple = {
        "boolean": pa.bool_(),
        "int": pa.int32(),
        "long": pa.int64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "timestamp": pa.timestamp("us"),
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "string": pa.string(),
        "uuid": pa.uuid(),
        "binary": pa.binary(),
    }
    if t in simple:
        return simple[t]
    if m := _DEC.fullmatch(t):
        return pa.decimal128(int(m[1]), int(m[2]))
    if m := _FIXED.fullmatch(t):
        return pa.binary(int(m[1]))
    raise ValueError(f"unknown Iceberg type {t!r}")


def arrow_field(f: dict) -> pa.Field:
    return pa.field(f["name"], arrow_type(f["type"]), nullable=not f["required"])


def arrow_schema(schema: dict) -> pa.Schema:
    return pa.schema([arrow_field(f) for f in schema["fields"]])


# ---------------------------------------------------------------------------------------
# Data generation
# ---------------------------------------------------------------------------------------

STRINGS = [
    "plain",
    "héllo wörld",
    "日本語のテキスト",
    "emoji 🧊❄️🐘",
    "",
    " leading and trailing ",
    "a/b=c%20d?e#f",  # characters that must be escaped in partition paths
    "line\nbreak\ttab",
    "quote'\"back\\slash",
    "𝄞" * 20,  # non-BMP characters across the 16-code-point bound truncation
    "z" * 40,
    "NULL",
    "Ω",
]
MAX_STRING = "\U0010ffff" * 17  # upper bound cannot be incremented: writers must drop it

SPECIAL_DATES = [
    dt.date(1, 1, 1),
    dt.date(1582, 10, 10),  # inside the Julian/Gregorian gap: no calendar rebasing allowed
    dt.date(1900, 1, 1),
    dt.date(1969, 12, 31),
    dt.date(1970, 1, 1),
    dt.date(2000, 2, 29),
    dt.date(9999, 12, 31),
]
SPECIAL_TS_US = [
    -62135596800 * 1_000_000,  # 0001-01-01T00:00:00
    -2208988800 * 1_000_000 + 1,  # 1900-01-01T00:00:00.000001
    -1,  # 1969-12-31T23:59:59.999999 (floor division pitfall)
    0,
    1_700_000_000_123_456,
    253402300799_999_999,  # 9999-12-31T23:59:59.999999
]


def _rand_decimal(rng: random.Random, p: int, s: int) -> decimal.Decimal:
    unscaled = rng.randint(-(10**p - 1), 10**p - 1)
    return decimal.Decimal(unscaled).scaleb(-s, _DCTX)


def _ts_from_us(us: int, tz: bool) -> dt.datetime:
    base = EPOCH_UTC if tz else EPOCH_NAIVE
    return base + dt.timedelta(microseconds=us)


def _gen_value(t: Any, rng: random.Random, row_kind: str, null_rate: float) -> Any:
    """One value of Iceberg type t. row_kind: 'null', 'min', 'max', 'empty', 'nan', 'rand', 'big'."""
    if row_kind == "null":
        return None
    if row_kind == "rand" and rng.random() < null_rate:
        return None
    if isinstance(t, dict):
        kind = t["type"]
        if kind == "struct":
            return {f["name"]: _gen_value(f["type"], rng, row_kind, null_rate) for f in t["fields"]}
        if kind == "list":
            if row_kind == "empty":
                return []
            n = 10_000 if row_kind == "big" else rng.randint(0, 5)
            sub = "rand" if row_kind in ("big", "nan") else row_kind
            return [_gen_value(t["element"], rng, sub, 0.1) for _ in range(n)]
        if kind == "map":
            if row_kind == "empty":
                return []
            n = 500 if row_kind == "big" else rng.randint(0, 4)
            keys = sorted({f"k{rng.randint(0, 10**6)}_{rng.choice(STRINGS[:4])}" for _ in range(n)})
            sub = "rand" if row_kind in ("big", "nan", "min", "max") else row_kind
            return [(k, _gen_value(t["value"], rng, sub, 0.1)) for k in keys]
        raise ValueError(t)
    if t == "boolean":
        return {"min": False, "max": True}.get(row_kind, rng.random() < 0.5)
    if t in ("int", "long"):
        bits = 31 if t == "int" else 63
        if row_kind == "min":
            return -(2**bits)
        if row_kind == "max":
            return 2**bits - 1
        return rng.randint(-(2**bits), 2**bits - 1) if rng.random() < 0.5 else rng.randint(-1000, 1000)
    if t in ("float", "double"):
        big = 3.4028234663852886e38 if t == "float" else 1.7976931348623157e308
        if row_kind == "min":
            return -big
        if row_kind == "max":
            return big
        if row_kind == "nan":
            return float("nan")
        if row_kind == "empty":
            return float("inf") if t == "float" else float("-inf")
        v = rng.uniform(-1e6, 1e6)
        return struct.unpack("<f", struct.pack("<f", v))[0] if t == "float" else v
    if m := _DEC.fullmatch(t):
        p, s = int(m[1]), int(m[2])
        if row_kind == "min":
            return decimal.Decimal(-(10**p - 1)).scaleb(-s, _DCTX)
        if row_kind == "max":
            return decimal.Decimal(10**p - 1).scaleb(-s, _DCTX)
        if row_kind == "empty":
            return decimal.Decimal(0).scaleb(-s, _DCTX)
        return _rand_decimal(rng, p if rng.random() < 0.5 else min(p, 4), s)
    if t == "date":
        if row_kind == "min":
            return dt.date(1, 1, 1)
        if row_kind == "max":
            return dt.date(9999, 12, 31)
        if rng.random() < 0.3:
            return rng.choice(SPECIAL_DATES)
        return EPOCH_DATE + dt.timedelta(days=rng.randint(-25_000, 25_000))
    if t == "time":
        if row_kind == "min":
            return dt.time(0, 0, 0)
        if row_kind == "max":
            return dt.time(23, 59, 59, 999_999)
        us = rng.randint(0, 86_400_000_000 - 1)
        return (dt.datetime(2000, 1, 1) + dt.timedelta(microseconds=us)).time()
    if t in ("timestamp", "timestamptz"):
        tz = t == "timestamptz"
        if row_kind == "min":
            return _ts_from_us(SPECIAL_TS_US[0], tz)
        if row_kind == "max":
            return _ts_from_us(SPECIAL_TS_US[-1], tz)
        if rng.random() < 0.3:
            return _ts_from_us(rng.choice(SPECIAL_TS_US), tz)
        return _ts_from_us(rng.randint(-3_000_000_000_000_000, 3_000_000_000_000_000), tz)
    if t == "string":
        if row_kind == "min":
            return ""
        if row_kind == "max":
            return MAX_STRING
        if row_kind == "empty":
            return ""
        if row_kind == "big":
            return "big-" + "ß🧊" * 50_000
        return rng.choice(STRINGS) + (str(rng.randint(0, 99)) if rng.random() < 0.5 else "")
    if t == "uuid":
        if row_kind == "min":
            return uuid.UUID(int=0)
        if row_kind == "max":
            return uuid.UUID(int=2**128 - 1)
        return uuid.UUID(int=rng.getrandbits(128), version=4)
    if t == "binary":
        if row_kind in ("min", "empty"):
            return b""
        if row_kind == "max":
            return b"\xff" * 40
        if row_kind == "big":
            return bytes(rng.getrandbits(8) for _ in range(100_000))
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40)))
    if m := _FIXED.fullmatch(t):
        n = int(m[1])
        if row_kind == "min":
            return b"\x00" * n
        if row_kind == "max":
            return b"\xff" * n
        return bytes(rng.getrandbits(8) for _ in range(n))
    raise ValueError(f"unknown Iceberg type {t!r}")


def make_rows(schema: dict, n: int, seed: int = 7, id_start: int = 0, null_rate: float = 0.12) -> list[dict]:
    """n rows as Python dicts. The first rows are the edge cases: all nulls, minimums,
    maximums, empties/infinities, NaNs, big nested values; the rest random."""
    rng = random.Random(seed)
    kinds = ["null", "min", "max", "empty", "nan", "big"]
    rows = []
    for i in range(n):
        kind = kinds[i] if i < len(kinds) else "rand"
        row = {"id": id_start + i}
        for f in schema["fields"]:
            if f["name"] == "id":
                continue
            row[f["name"]] = _gen_value(f["type"], rng, kind, null_rate)
        rows.append(row)
    return rows


def rows_to_arrow(rows: list[dict], schema: dict) -> pa.Table:
    aschema = arrow_schema(schema)
    cols = []
    for f in aschema:
        vals = [r.get(f.name) for r in rows]
        if isinstance(f.type, pa.UuidType):
            storage = pa.array([v.bytes if v is not None else None for v in vals], pa.binary(16))
            cols.append(pa.ExtensionArray.from_storage(f.type, storage))
        else:
            cols.append(pa.array(vals, f.type))
    return pa.Table.from_arrays(cols, schema=aschema)


def make_table(schema: dict, n: int, seed: int = 7, id_start: int = 0) -> pa.Table:
    return rows_to_arrow(make_rows(schema, n, seed=seed, id_start=id_start), schema)


def write_json(path, obj) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2)
    return str(path)


# ---------------------------------------------------------------------------------------
# Canonical values and comparison
# ---------------------------------------------------------------------------------------


def _micros(v: Any) -> tuple[str, int]:
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            return ("tz", (v - EPOCH_UTC) // US)
        return ("ntz", (v - EPOCH_NAIVE) // US)
    raise TypeError(f"timestamp value of type {type(v).__name__}: {v!r}")


def canon(v: Any, t: Any) -> Any:
    """Canonical, exactly comparable form of value v of Iceberg type t."""
    if v is None:
        return None
    if v is _MISSING:
        return _MISSING
    if isinstance(t, dict):
        kind = t["type"]
        if kind == "struct":
            if not isinstance(v, dict):
                raise TypeError(f"struct value {v!r}")
            return tuple(canon(v.get(f["name"], _MISSING), f["type"]) for f in t["fields"])
        if kind == "list":
            return [canon(x, t["element"]) for x in v]
        if kind == "map":
            items = v.items() if isinstance(v, dict) else v
            pairs = [(canon(k, t["key"]), canon(x, t["value"])) for k, x in items]
            return sorted(pairs, key=lambda kv: repr(kv[0]))
        raise ValueError(t)
    if t == "boolean":
        if not isinstance(v, bool):
            raise TypeError(f"boolean value {v!r}")
        return v
    if t in ("int", "long"):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{t} value {v!r}")
        return v
    if t in ("float", "double"):
        f = float(v)
        if math.isnan(f):
            return "NaN"
        if t == "float":
            return struct.unpack("<f", struct.pack("<f", f))[0] if math.isfinite(f) else f
        return f
    if m := _DEC.fullmatch(t):
        s = int(m[2])
        d = decimal.Decimal(v)
        unscaled = d.scaleb(s, _DCTX)
        if unscaled != unscaled.to_integral_value():
            raise ValueError(f"decimal {d} has more than {s} fractional digits")
        return ("dec", int(unscaled))
    if t == "date":
        if isinstance(v, dt.datetime):
            raise TypeError(f"date read as datetime {v!r}")
        return ("date", (v - EPOCH_DATE).days)
    if t == "time":
        if isinstance(v, dt.time):
            return ("time", ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond)
        raise TypeError(f"time value {v!r}")
    if t in ("timestamp", "timestamptz"):
        return _micros(v)
    if t == "string":
        if not isinstance(v, str):
            raise TypeError(f"string value {v!r}")
        return v
    if t == "uuid":
        if isinstance(v, uuid.UUID):
            return str(v)
        if isinstance(v, (bytes, bytearray)) and len(v) == 16:
            return str(uuid.UUID(bytes=bytes(v)))
        if isinstance(v, str):
            return str(uuid.UUID(v))
        raise TypeError(f"uuid value {v!r}")
    if t == "binary" or _FIXED.fullmatch(t):
        if isinstance(v, (bytes, bytearray, memoryview)):
            return bytes(v)
        raise TypeError(f"binary value {v!r}")
    raise ValueError(f"unknown Iceberg type {t!r}")


class _Missing:
    def __repr__(self) -> str:
        return "<missing field>"


_MISSING = _Missing()


def expected_type_of(t: Any) -> str:
    return t if isinstance(t, str) else t["type"]


def canon_table(table: pa.Table | list[dict], schema: dict, label: str) -> list[tuple]:
    """Rows of `table` as canonical tuples in `schema` field order, sorted by the first field."""
    names = [f["name"] for f in schema["fields"]]
    if isinstance(table, pa.Table):
        missing = [n for n in names if n not in table.column_names]
        assert not missing, f"{label}: columns {missing} missing; reader returned {table.column_names}"
        cols = [table.column(n).to_pylist() for n in names]
        rows_iter = zip(*cols) if cols else iter(())
        rows = [dict(zip(names, r)) for r in rows_iter]
    else:
        rows = table
    out = []
    for r in rows:
        try:
            out.append(tuple(canon(r[f["name"]], f["type"]) for f in schema["fields"]))
        except (TypeError, ValueError) as e:
            raise AssertionError(f"{label}: row id={r.get(names[0])!r}: {e}") from e
    out.sort(key=lambda row: (row[0] is None, row[0]))
    return out


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 200 else s[:200] + f"...({len(s)} chars)"


def assert_same_rows(actual: pa.Table | list[dict], expected: pa.Table | list[dict], schema: dict, label: str) -> None:
    """Exact comparison of two row sets under `schema` (keyed and sorted by its first field)."""
    a = canon_table(actual, schema, f"{label} (actual)")
    e = canon_table(expected, schema, f"{label} (expected)")
    names = [f["name"] for f in schema["fields"]]
    if a == e:
        return
    problems = []
    a_ids = [r[0] for r in a]
    e_ids = [r[0] for r in e]
    if a_ids != e_ids:
        extra = sorted(set(a_ids) - set(e_ids), key=repr)[:10]
        lost = sorted(set(e_ids) - set(a_ids), key=repr)[:10]
        dups = len(a_ids) - len(set(a_ids))
        problems.append(f"row count {len(a)} vs expected {len(e)}; unexpected ids {extra}; missing ids {lost}; duplicate ids {dups}")
    e_by_id = {r[0]: r for r in e}
    shown = 0
    for r in a:
        x = e_by_id.get(r[0])
        if x is None or x == r:
            continue
        for i, n in enumerate(names):
            if r[i] != x[i]:
                problems.append(f"id={r[0]} column {n}: got {_short(r[i])} expected {_short(x[i])}")
                shown += 1
        if shown > 12:
            break
    raise AssertionError(f"{label}: rows differ:\n  " + "\n  ".join(problems))


def project_rows(rows: list[dict], fn: Callable[[dict], dict | None]) -> list[dict]:
    """Apply fn to deep copies of rows, dropping those for which it returns None."""
    out = []
    for r in rows:
        nr = fn(copy.deepcopy(r))
        if nr is not None:
            out.append(nr)
    return out


def rows_from_arrow(table: pa.Table) -> list[dict]:
    return table.to_pylist()


# ---------------------------------------------------------------------------------------
# Documented peer behaviour
# ---------------------------------------------------------------------------------------


def _is_list_of_struct(t: Any) -> bool:
    return isinstance(t, dict) and t["type"] == "list" and isinstance(t["element"], dict) and t["element"]["type"] == "struct"


def pyiceberg_list_struct_nulls(table: pa.Table | list[dict], schema: dict) -> list[dict]:
    """PyIceberg 0.12 turns a NULL top-level list<struct<...>> into [] both when it reads
    and when it writes (apache/iceberg-python#3833, #2246). Apply the same to the expected
    rows when PyIceberg is the reader or the writer; nothing else is relaxed."""
    rows = table.to_pylist() if isinstance(table, pa.Table) else copy.deepcopy(table)
    cols = [f["name"] for f in schema["fields"] if _is_list_of_struct(f["type"])]
    for r in rows:
        for c in cols:
            if r.get(c) is None:
                r[c] = []
    return rows


def spark_schema(schema: dict) -> dict:
    """The schema as Spark stores it: Spark SQL has no uuid (string), no fixed (binary) and
    cannot read Iceberg time columns at all."""
    out = copy.deepcopy(schema)
    out["fields"] = [f for f in out["fields"] if f["type"] != "time"]
    for f in out["fields"]:
        if f["type"] == "uuid":
            f["type"] = "string"
        elif isinstance(f["type"], str) and _FIXED.fullmatch(f["type"]):
            f["type"] = "binary"
    return out


def spark_rows(table: pa.Table, schema: dict) -> pa.Table:
    """Source data converted to the Spark-typed schema (uuid as text, fixed as binary)."""
    ss = spark_schema(schema)
    cols, names = [], []
    for f in ss["fields"]:
        c = table.column(f["name"])
        if isinstance(c.type, pa.UuidType):
            c = pa.array([None if v is None else str(v) for v in c.to_pylist()], pa.string())
        elif pa.types.is_fixed_size_binary(c.type):
            c = c.cast(pa.binary())
        cols.append(c)
        names.append(f["name"])
    return pa.Table.from_arrays(cols, names=names)


def spark_ddl_type(t: Any) -> str:
    if isinstance(t, dict):
        if t["type"] == "struct":
            return "struct<" + ",".join(f"{f['name']}:{spark_ddl_type(f['type'])}" for f in t["fields"]) + ">"
        if t["type"] == "list":
            return f"array<{spark_ddl_type(t['element'])}>"
        if t["type"] == "map":
            return f"map<{spark_ddl_type(t['key'])},{spark_ddl_type(t['value'])}>"
    m = {"long": "bigint", "timestamp": "timestamp_ntz", "timestamptz": "timestamp", "boolean": "boolean"}
    if t in m:
        return m[t]
    if _DEC.fullmatch(t):
        return t.replace(" ", "")
    if t in ("int", "float", "double", "date", "string", "binary"):
        return t
    raise ValueError(f"no Spark DDL for {t!r}")


def spark_ddl(schema: dict) -> str:
    return ", ".join(
        f"{f['name']} {spark_ddl_type(f['type'])}" + (" NOT NULL" if f["required"] else "") for f in spark_schema(schema)["fields"]
    )


def select_list(schema: dict) -> str:
    return ", ".join(f["name"] for f in schema["fields"])
