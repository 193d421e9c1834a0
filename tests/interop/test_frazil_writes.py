"""frazil writes, the reference implementations read.

frazil creates and loads tables (every Iceberg type; unpartitioned and partitioned with every
transform), deletes rows (position deletes), evolves the schema, travels in time and rolls
back; PyIceberg, DuckDB's iceberg extension and Spark must each return exactly the rows the
test generated (and frazil itself must agree)."""

from __future__ import annotations

import json
import time

import pytest
from pyiceberg.expressions import EqualTo

import interop_support as S
import readers as R
from conftest import Frazil, duck_read, pyiceberg_catalog, pyiceberg_read, spark_read

N_ALL_TYPES = 150
N_MATRIX = 60


def _create_and_load(fz: Frazil, ns: str, name: str, schema: dict, data, spec: dict | None = None) -> str:
    ident = f"{ns}.{name}"
    fz.create_table(ident, schema, spec)
    fz.load(ident, data)
    return ident


def _parse_json_output(text: str) -> list:
    """`--format json` output: one JSON document, or JSON lines."""
    try:
        doc = json.loads(text)
        return doc if isinstance(doc, list) else [doc]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _primitive_fields(schema: dict) -> list[dict]:
    return [f for f in schema["fields"] if isinstance(f["type"], str) and f["name"] != "id"]


# ---------------------------------------------------------------------------------------
# Every type, unpartitioned (built once per module: several tests read the same table)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def all_types(frazil_bin, shared_wh, tmp_path_factory):
    fz = Frazil(frazil_bin, shared_wh, tmp_path_factory.mktemp("all_types"))
    ns = "fw_all_types"
    schema = S.all_types_schema(with_time=True, with_fixed=False)
    data = S.make_table(schema, N_ALL_TYPES, seed=11)
    fz.run("namespace", "create", ns)
    ident = _create_and_load(fz, ns, "every_type", schema, data)
    return fz, ident, schema, data


def test_every_type_frazil_reads_back(all_types):
    fz, ident, schema, data = all_types
    S.assert_same_rows(fz.export(f"SELECT * FROM {ident}"), data, schema, "frazil sql")


def test_every_type_pyiceberg(all_types):
    fz, ident, schema, data = all_types
    tbl = pyiceberg_catalog(fz.warehouse).load_table(ident)
    assert [f.name for f in tbl.schema().fields] == [f["name"] for f in schema["fields"]]
    for f in schema["fields"]:
        got = str(tbl.schema().find_field(f["name"]).field_type).replace(" ", "")
        if isinstance(f["type"], str):
            assert got == f["type"].replace(" ", ""), f"column {f['name']}: PyIceberg sees {got}, created as {f['type']}"
    S.assert_same_rows(tbl.scan().to_arrow(), S.pyiceberg_list_struct_nulls(data, schema), schema, "PyIceberg scan")


def test_every_type_duckdb(all_types, duck):
    fz, ident, schema, data = all_types
    loc = pyiceberg_catalog(fz.warehouse).load_table(ident).metadata_location
    S.assert_same_rows(duck_read(duck, loc), data, schema, "DuckDB iceberg_scan")


def test_every_type_spark_refuses_time_column(all_types, spark):
    """Spark has no time type: Iceberg's Spark runtime documents that it refuses to load such a
    table (every other type is read by Spark in test_partition_matrix)."""
    fz, ident, schema, data = all_types
    with pytest.raises(Exception, match="Spark does not support time fields"):
        spark_read(spark, ident)


def test_every_type_bounds_allow_exact_filtered_reads(all_types, duck):
    """Equality filters at each column's minimum, maximum and a middle value. PyIceberg and
    DuckDB prune data files with frazil's lower/upper bounds: a wrongly encoded bound (length,
    endianness, truncation, NaN) drops matching rows."""
    fz, ident, schema, data = all_types
    tbl = pyiceberg_catalog(fz.warehouse).load_table(ident)
    rows = data.to_pylist()
    checked = 0
    for f in _primitive_fields(schema):
        name, itype = f["name"], f["type"]
        for v in R.sample_values(data, name):
            expected = R.rows_where_equal(rows, name, v, itype)
            assert expected, (name, v)
            if R.pyiceberg_can_filter(itype):
                got = tbl.scan(row_filter=EqualTo(name, R.pyiceberg_literal(v, itype))).to_arrow()
                S.assert_same_rows(got, S.pyiceberg_list_struct_nulls(expected, schema), schema, f"PyIceberg where {name} = {v!r}")
            ph, param = R.duck_param(v, itype)
            got = duck_read(duck, tbl.metadata_location, where=f"{name} = {ph}", params=[param])
            S.assert_same_rows(got, expected, schema, f"DuckDB where {name} = {v!r}")
            checked += 1
    assert checked >= 2 * len(_primitive_fields(schema))


# ---------------------------------------------------------------------------------------
# Partitioned with every transform (and unpartitioned) read by all three peers
# ---------------------------------------------------------------------------------------

MATRIX = {
    "unpartitioned": [],
    "identity": [("identity", "c_string"), ("identity", "c_date"), ("identity", "c_bool")],
    "bucket": [("bucket[8]", "id"), ("bucket[4]", "c_uuid"), ("bucket[3]", "c_dec18"), ("bucket[6]", "c_date"), ("bucket[5]", "c_string")],
    "truncate": [("truncate[3]", "c_string"), ("truncate[10]", "c_long"), ("truncate[50]", "c_dec9"), ("truncate[4]", "c_binary")],
    "temporal": [("year", "c_tstz"), ("month", "c_date"), ("day", "c_ts"), ("hour", "c_tstz")],
}


@pytest.mark.parametrize("layout", list(MATRIX))
def test_partition_matrix(layout, shared_frazil, ns, duck, spark):
    fz = shared_frazil
    schema = S.all_types_schema(with_time=False, with_fixed=False)
    data = S.make_table(schema, N_MATRIX, seed=40 + list(MATRIX).index(layout))
    if layout == "truncate":
        # truncate(v) = v - (((v % W) + W) % W) leaves the type's range near its minimum
        # (Java wraps, Python does not, the spec is silent): keep clear of that edge.
        data = S.rows_to_arrow(
            [
                dict(
                    r,
                    c_long=None if r["c_long"] is None else r["c_long"] // 4,
                    c_dec9=None if r["c_dec9"] is None else (r["c_dec9"] / 4).quantize(S.decimal.Decimal("0.01"), rounding=S.decimal.ROUND_DOWN),
                )
                for r in data.to_pylist()
            ],
            schema,
        )
    if layout == "identity":
        # An identity-partitioned string becomes a directory name (percent-encoded UTF-8 can
        # triple its length; NAME_MAX is 255 bytes): keep the values short for this layout.
        data = S.rows_to_arrow([dict(r, c_string=None if r["c_string"] is None else r["c_string"][:12]) for r in data.to_pylist()], schema)
    spec = S.partition_spec(schema, MATRIX[layout]) if MATRIX[layout] else None
    fz.run("namespace", "create", ns)
    ident = _create_and_load(fz, ns, layout, schema, data, spec)

    S.assert_same_rows(fz.export(f"SELECT * FROM {ident}"), data, schema, "frazil sql")

    tbl = pyiceberg_catalog(fz.warehouse).load_table(ident)
    got_spec = [(str(f.transform), tbl.schema().find_field(f.source_id).name) for f in tbl.spec().fields]
    assert got_spec == MATRIX[layout], f"PyIceberg sees partition spec {got_spec}"
    S.assert_same_rows(tbl.scan().to_arrow(), S.pyiceberg_list_struct_nulls(data, schema), schema, "PyIceberg scan")
    S.assert_same_rows(duck_read(duck, tbl.metadata_location), data, schema, "DuckDB iceberg_scan")
    sschema = S.spark_schema(schema)
    S.assert_same_rows(spark_read(spark, ident), S.spark_rows(data, schema), sschema, "Spark")

    files = R.check_partition_values(tbl, schema)
    assert files >= 1

    # Pruning by partition value: each peer computes the transform of the literal itself.
    rows = data.to_pylist()
    srows = S.spark_rows(data, schema).to_pylist()
    for transform, col in MATRIX[layout]:
        itype = S.field_by_name(schema, col)["type"]
        for i, v in enumerate(R.sample_values(data, col)):
            expected = R.rows_where_equal(rows, col, v, itype)
            if R.pyiceberg_can_filter(itype):
                got = tbl.scan(row_filter=EqualTo(col, R.pyiceberg_literal(v, itype))).to_arrow()
                S.assert_same_rows(got, S.pyiceberg_list_struct_nulls(expected, schema), schema, f"PyIceberg where {col} = {v!r}")
            if R.duckdb_can_prune(transform, itype):
                ph, param = R.duck_param(v, itype)
                got = duck_read(duck, tbl.metadata_location, where=f"{col} = {ph}", params=[param])
                S.assert_same_rows(got, expected, schema, f"DuckDB where {col} = {v!r}")
            if i == 0 and R.spark_can_filter(itype):
                sexp = [r for r in srows if r["id"] in {e["id"] for e in expected}]
                got = R.spark_read_filtered(spark, ident, col, v, itype)
                S.assert_same_rows(got, sexp, sschema, f"Spark where {col} = {v!r}")


# ---------------------------------------------------------------------------------------
# Deletes (position delete files)
# ---------------------------------------------------------------------------------------


def test_delete_writes_position_deletes_peers_apply_them(shared_frazil, ns, duck, spark):
    fz = shared_frazil
    schema = S.all_types_schema(with_time=False, with_fixed=False)
    data = S.make_table(schema, 90, seed=5)
    fz.run("namespace", "create", ns)
    ident = _create_and_load(fz, ns, "del", schema, data, S.partition_spec(schema, [("bucket[3]", "id")]))
    cat = pyiceberg_catalog(fz.warehouse)
    data_files_before = {t.file.file_path for t in cat.load_table(ident).scan().plan_files()}

    fz.run("table", "delete", ident, "--where", "id % 7 = 3")
    fz.run("table", "delete", ident, "--where", "c_date < DATE '1970-01-01'")
    expected = [
        r
        for r in data.to_pylist()
        if not (r["id"] % 7 == 3) and not (r["c_date"] is not None and r["c_date"] < S.EPOCH_DATE)
    ]
    assert 0 < len(expected) < data.num_rows

    tbl = cat.load_table(ident)
    tasks = list(tbl.scan().plan_files())
    assert {t.file.file_path for t in tasks} == data_files_before, "delete rewrote data files (expected merge-on-read)"
    deletes = [d for t in tasks for d in t.delete_files]
    assert deletes, "no delete files attached to any data file"
    assert all(d.content.name == "POSITION_DELETES" for d in deletes), [d.content for d in deletes]
    assert tbl.current_snapshot().summary.operation.value in ("delete", "overwrite")

    S.assert_same_rows(fz.export(f"SELECT * FROM {ident}"), expected, schema, "frazil sql after delete")
    S.assert_same_rows(tbl.scan().to_arrow(), S.pyiceberg_list_struct_nulls(expected, schema), schema, "PyIceberg after delete")
    S.assert_same_rows(duck_read(duck, tbl.metadata_location), expected, schema, "DuckDB after delete")
    sexp = [r for r in S.spark_rows(data, schema).to_pylist() if r["id"] in {e["id"] for e in expected}]
    S.assert_same_rows(spark_read(spark, ident), sexp, S.spark_schema(schema), "Spark after delete")


# ---------------------------------------------------------------------------------------
# Schema evolution
# ---------------------------------------------------------------------------------------


def test_schema_evolution_read_by_field_id(shared_frazil, ns, duck, spark):
    fz = shared_frazil
    schema = S.all_types_schema(with_time=False, with_fixed=False)
    batch1 = S.make_table(schema, 40, seed=21)
    fz.run("namespace", "create", ns)
    ident = _create_and_load(fz, ns, "evo", schema, batch1)
    cat = pyiceberg_catalog(fz.warehouse)
    ids_before = {f.name: f.field_id for f in cat.load_table(ident).schema().fields}

    fz.run("table", "alter", ident, "add-column", "c_new", "long")
    schema2 = json.loads(json.dumps(schema))
    schema2["fields"].append({"id": max(f["id"] for f in schema["fields"]) + 100, "name": "c_new", "required": False, "type": "long"})
    batch2 = S.make_table(schema2, 30, seed=22, id_start=1000)
    fz.load(ident, batch2)

    fz.run("table", "alter", ident, "rename-column", "c_string", "c_text")
    fz.run("table", "alter", ident, "drop-column", "c_binary")
    fz.run("table", "alter", ident, "update-column", "c_int", "long")
    fz.run("table", "alter", ident, "update-column", "c_float", "double")
    fz.run("table", "alter", ident, "update-column", "c_dec9", "decimal(18,2)")
    # A new column under a dropped column's name must not resurrect the old data.
    fz.run("table", "alter", ident, "add-column", "c_binary", "string")

    final = {"type": "struct", "schema-id": 0, "fields": []}
    for f in schema2["fields"]:
        f = dict(f)
        if f["name"] == "c_binary":
            continue
        if f["name"] == "c_string":
            f["name"] = "c_text"
        f["type"] = {"c_int": "long", "c_float": "double", "c_dec9": "decimal(18,2)"}.get(f["name"], f["type"])
        final["fields"].append(f)
    final["fields"].append({"id": 10_000, "name": "c_binary", "required": False, "type": "string"})

    expected = []
    for r in batch1.to_pylist() + batch2.to_pylist():
        r = dict(r)
        r.setdefault("c_new", None)
        r["c_text"] = r.pop("c_string")
        r["c_binary"] = None
        expected.append(r)

    tbl = cat.load_table(ident)
    ids_after = {f.name: f.field_id for f in tbl.schema().fields}
    assert ids_after["c_text"] == ids_before["c_string"], "rename changed the field id"
    assert ids_after["c_binary"] != ids_before["c_binary"], "re-added column reused the dropped field id"
    assert [f.name for f in tbl.schema().fields] == [f["name"] for f in final["fields"]]
    for name, t in (("c_int", "long"), ("c_float", "double"), ("c_dec9", "decimal(18,2)")):
        assert str(tbl.schema().find_field(name).field_type).replace(" ", "") == t

    S.assert_same_rows(fz.export(f"SELECT * FROM {ident}"), expected, final, "frazil sql after evolution")
    S.assert_same_rows(tbl.scan().to_arrow(), S.pyiceberg_list_struct_nulls(expected, final), final, "PyIceberg after evolution")
    S.assert_same_rows(duck_read(duck, tbl.metadata_location), expected, final, "DuckDB after evolution")
    sfinal = S.spark_schema(final)
    srows = S.spark_rows(S.rows_to_arrow(expected, final), final)
    S.assert_same_rows(spark_read(spark, ident), srows, sfinal, "Spark after evolution")


# ---------------------------------------------------------------------------------------
# Snapshots: time travel by id and timestamp, rollback, listing
# ---------------------------------------------------------------------------------------


def test_time_travel_and_rollback(shared_frazil, ns, duck, spark):
    fz = shared_frazil
    schema = S.all_types_schema(with_time=False, with_fixed=False)
    b1 = S.make_table(schema, 25, seed=31)
    b2 = S.make_table(schema, 25, seed=32, id_start=100)
    fz.run("namespace", "create", ns)
    ident = _create_and_load(fz, ns, "tt", schema, b1)
    time.sleep(0.05)
    fz.load(ident, b2)
    fz.run("table", "delete", ident, "--where", "id < 10")
    cat = pyiceberg_catalog(fz.warehouse)
    tbl = cat.load_table(ident)
    snaps = sorted(tbl.metadata.snapshots, key=lambda s: s.sequence_number)
    assert len(snaps) == 3, [s.snapshot_id for s in snaps]
    s1, s2, s3 = snaps
    assert s2.parent_snapshot_id == s1.snapshot_id and s3.parent_snapshot_id == s2.snapshot_id
    assert tbl.current_snapshot().snapshot_id == s3.snapshot_id
    assert [e.snapshot_id for e in tbl.metadata.snapshot_log] == [s1.snapshot_id, s2.snapshot_id, s3.snapshot_id]

    rows1 = b1.to_pylist()
    rows2 = rows1 + b2.to_pylist()
    rows3 = [r for r in rows2 if r["id"] >= 10]
    for snap, expected in ((s1, rows1), (s2, rows2), (s3, rows3)):
        sid = snap.snapshot_id
        S.assert_same_rows(fz.export(f"SELECT * FROM {ident} AT (VERSION => {sid})"), expected, schema, f"frazil AT VERSION {sid}")
        S.assert_same_rows(pyiceberg_read(fz.warehouse, ident, snapshot_id=sid), S.pyiceberg_list_struct_nulls(expected, schema), schema, f"PyIceberg snapshot {sid}")
        S.assert_same_rows(duck_read(duck, tbl.metadata_location, snapshot_id=sid), expected, schema, f"DuckDB snapshot {sid}")
        sexp = [r for r in S.spark_rows(S.rows_to_arrow(expected, schema), schema).to_pylist()]
        S.assert_same_rows(spark_read(spark, ident, version=sid), sexp, S.spark_schema(schema), f"Spark VERSION AS OF {sid}")

    # By timestamp: a moment between the first and second snapshot (UTC, milliseconds).
    assert s2.timestamp_ms > s1.timestamp_ms, "two commits 50 ms apart carry the same timestamp"
    mid_ms = (s1.timestamp_ms + s2.timestamp_ms) // 2
    mid = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(mid_ms // 1000)) + f".{mid_ms % 1000:03d}"
    S.assert_same_rows(fz.export(f"SELECT * FROM {ident} AT (TIMESTAMP => TIMESTAMP '{mid}')"), rows1, schema, f"frazil AT TIMESTAMP {mid}")

    listing = fz.run("table", "snapshots", ident, "--format", "json").stdout
    _parse_json_output(listing)
    for s in snaps:
        assert str(s.snapshot_id) in listing, f"snapshot {s.snapshot_id} missing from `table snapshots`"
    history = fz.run("table", "history", ident).stdout
    for s in snaps:
        assert str(s.snapshot_id) in history, f"snapshot {s.snapshot_id} missing from `table history`"
    files = fz.run("table", "files", ident).stdout
    for t in tbl.scan().plan_files():
        assert t.file.file_path.rsplit("/", 1)[-1] in files, f"{t.file.file_path} missing from `table files`"

    fz.run("table", "rollback", ident, str(s1.snapshot_id))
    tbl = cat.load_table(ident)
    assert tbl.current_snapshot().snapshot_id == s1.snapshot_id
    assert len(tbl.metadata.snapshots) == 3, "rollback must keep the later snapshots"
    S.assert_same_rows(fz.export(f"SELECT * FROM {ident}"), rows1, schema, "frazil after rollback")
    S.assert_same_rows(tbl.scan().to_arrow(), S.pyiceberg_list_struct_nulls(rows1, schema), schema, "PyIceberg after rollback")
    S.assert_same_rows(duck_read(duck, tbl.metadata_location), rows1, schema, "DuckDB after rollback")
    S.assert_same_rows(spark_read(spark, ident), S.spark_rows(b1, schema), S.spark_schema(schema), "Spark after rollback")


# ---------------------------------------------------------------------------------------
# load: CSV / JSON with schema inference, overwrite mode; namespaces
# ---------------------------------------------------------------------------------------


def _simple_rows(start: int, n: int) -> list[dict]:
    import datetime as dt

    names = ["ada", "Grüße", "日本", "🧊 ice", "", "comma, inside", 'quote "q"']
    return [
        {
            "id": start + i,
            "name": names[i % len(names)] if i % 5 else None,
            "amount": (i - 7) * 0.25,
            "day": dt.date(1969, 12, 25) + dt.timedelta(days=i * 13),
            "ts": dt.datetime(1960, 1, 1, 12, 0, 0, 250_000) + dt.timedelta(hours=i * 37),
        }
        for i in range(n)
    ]


def _write_csv(path, rows):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name", "amount", "day", "ts"])
        for r in rows:
            w.writerow([r["id"], "" if r["name"] is None else r["name"], r["amount"], r["day"].isoformat(), r["ts"].isoformat(sep=" ")])


def _write_ndjson(path, rows):
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps({"id": r["id"], "name": r["name"], "amount": r["amount"], "day": r["day"].isoformat(), "ts": r["ts"].isoformat(sep=" ")}, ensure_ascii=False) + "\n")


def _inferred_schema(tbl) -> dict:
    return json.loads(tbl.schema().model_dump_json())


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_load_infers_schema_and_overwrites(fmt, frazil, duck):
    import datetime as dt

    def expect(rows, types):
        out = []
        for r in rows:
            r = dict(r)
            if fmt == "csv" and r["name"] == "":
                r["name"] = None  # CSV cannot tell an empty string from NULL
            if types["ts"] == "timestamptz":
                r["ts"] = r["ts"].replace(tzinfo=dt.timezone.utc)
            out.append(r)
        return out

    write = _write_csv if fmt == "csv" else _write_ndjson
    path = frazil.tmpfile(f".{fmt}")
    write(path, _simple_rows(0, 40))
    frazil.run("namespace", "create", "inf")
    ident = f"inf.t_{fmt}"
    frazil.run("load", ident, str(path), "--format", fmt)

    tbl = pyiceberg_catalog(frazil.warehouse).load_table(ident)
    schema = _inferred_schema(tbl)
    types = {f["name"]: f["type"] for f in schema["fields"]}
    assert set(types) == {"id", "name", "amount", "day", "ts"}, types
    assert types["id"] in ("int", "long") and types["name"] == "string" and types["day"] == "date", types
    assert types["amount"] in ("double", "float") or types["amount"].startswith("decimal"), types
    assert types["ts"] in ("timestamp", "timestamptz"), types
    rows = expect(_simple_rows(0, 40), types)

    S.assert_same_rows(tbl.scan().to_arrow(), rows, schema, "PyIceberg")
    S.assert_same_rows(duck_read(duck, tbl.metadata_location), rows, schema, "DuckDB")
    S.assert_same_rows(frazil.export(f"SELECT * FROM {ident}"), rows, schema, "frazil sql")

    path2 = frazil.tmpfile(f".{fmt}")
    write(path2, _simple_rows(500, 10))
    frazil.run("load", ident, str(path2), "--format", fmt, "--mode", "overwrite")
    tbl = pyiceberg_catalog(frazil.warehouse).load_table(ident)
    rows2 = expect(_simple_rows(500, 10), types)
    S.assert_same_rows(tbl.scan().to_arrow(), rows2, schema, "PyIceberg after overwrite")
    S.assert_same_rows(duck_read(duck, tbl.metadata_location), rows2, schema, "DuckDB after overwrite")


def test_namespaces_visible_to_pyiceberg(frazil):
    frazil.run("namespace", "create", "alpha")
    frazil.run("namespace", "create", "beta")
    cat = pyiceberg_catalog(frazil.warehouse)
    assert {("alpha",), ("beta",)} <= set(cat.list_namespaces())
    listing = frazil.run("namespace", "list").stdout
    assert "alpha" in listing and "beta" in listing
    frazil.run("namespace", "drop", "beta")
    assert ("beta",) not in set(pyiceberg_catalog(frazil.warehouse).list_namespaces())
    cat.create_namespace("gamma")
    assert "gamma" in frazil.run("namespace", "list").stdout

