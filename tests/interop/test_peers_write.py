"""The reference implementations write, frazil reads.

PyIceberg and Spark create, append to, delete from, overwrite, update and evolve tables in
frazil's warehouse catalog; `frazil sql` must then return exactly what the writer itself
reads back (and what the test generated). A first test checks the harness: the peers agree
with each other on a PyIceberg-written table, so a failure elsewhere is frazil's."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.expressions import EqualTo, GreaterThanOrEqual, LessThan
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import StringType

import interop_support as S
import readers as R
from conftest import duck_read, pyiceberg_catalog, pyiceberg_read, spark_collect, spark_read


def _pyiceberg_spec(tbl_schema: Schema) -> PartitionSpec:
    def fid(name):
        return tbl_schema.find_field(name).field_id

    # PyIceberg 0.12 computes every transform but identity through the optional
    # pyiceberg-core package, which the pinned environment does not install.
    return PartitionSpec(PartitionField(source_id=fid("c_bool"), field_id=1000, transform=IdentityTransform(), name="c_bool"))


def test_peer_harness_agrees(shared_wh, ns, duck, spark):
    """No frazil here: PyIceberg writes, Spark / DuckDB / PyIceberg read the generated rows."""
    schema = S.all_types_schema(with_time=False)
    data = S.make_table(schema, 60, seed=3)
    cat = pyiceberg_catalog(shared_wh)
    cat.create_namespace(ns)
    ischema = Schema.model_validate(schema)
    tbl = cat.create_table(f"{ns}.h", schema=ischema, partition_spec=_pyiceberg_spec(ischema))
    tbl.append(data)
    tbl = cat.load_table(f"{ns}.h")
    written = S.pyiceberg_list_struct_nulls(data, schema)  # what PyIceberg puts in the files
    S.assert_same_rows(tbl.scan().to_arrow(), written, schema, "PyIceberg")
    S.assert_same_rows(duck_read(duck, tbl.metadata_location), written, schema, "DuckDB")
    S.assert_same_rows(spark_read(spark, f"{ns}.h"), S.spark_rows(S.rows_to_arrow(written, schema), schema), S.spark_schema(schema), "Spark")
    assert R.check_partition_values(tbl, schema) >= 2


def test_pyiceberg_writes_frazil_reads(frazil, duck):
    schema = S.all_types_schema(with_time=True)
    cat = pyiceberg_catalog(frazil.warehouse)
    cat.create_namespace("py")
    ischema = Schema.model_validate(schema)
    ident = "py.t"
    tbl = cat.create_table(ident, schema=ischema, partition_spec=_pyiceberg_spec(ischema))
    b1 = S.make_table(schema, 50, seed=61)
    b2 = S.make_table(schema, 50, seed=62, id_start=1000)
    tbl.append(b1)
    tbl.append(b2)
    expected = S.pyiceberg_list_struct_nulls(b1, schema) + S.pyiceberg_list_struct_nulls(b2, schema)

    def check(label, exp, sch=schema):
        t = cat.load_table(ident)
        own = t.scan().to_arrow()
        S.assert_same_rows(own, exp, sch, f"PyIceberg own read {label}")
        S.assert_same_rows(frazil.export(f"SELECT * FROM {ident}"), exp, sch, f"frazil sql {label}")
        return t

    check("after two appends", expected)

    tbl = cat.load_table(ident)
    tbl.delete(delete_filter=LessThan("id", 20))
    expected = [r for r in expected if r["id"] >= 20]
    t = check("after delete", expected)
    snap_after_delete = t.current_snapshot().snapshot_id

    b3 = S.make_table(schema, 15, seed=63, id_start=2000)
    t.overwrite(b3, overwrite_filter=GreaterThanOrEqual("id", 1000))
    expected = [r for r in expected if r["id"] < 1000] + S.pyiceberg_list_struct_nulls(b3, schema)
    t = check("after overwrite", expected)

    # Schema evolution by PyIceberg: frazil must resolve columns by field id.
    with t.update_schema() as upd:
        upd.rename_column("c_string", "c_text")
        upd.add_column("c_extra", StringType())
    final = {"type": "struct", "schema-id": 0, "fields": []}
    for f in schema["fields"]:
        final["fields"].append(dict(f, name="c_text") if f["name"] == "c_string" else dict(f))
    final["fields"].append({"id": 9999, "name": "c_extra", "required": False, "type": "string"})
    t = cat.load_table(ident)
    b4 = S.make_table(final, 10, seed=64, id_start=3000)
    t.append(S.rows_to_arrow(b4.to_pylist(), final))
    renamed = [dict({k if k != "c_string" else "c_text": v for k, v in r.items()}, c_extra=None) for r in expected]
    expected = renamed + S.pyiceberg_list_struct_nulls(b4, final)
    t = check("after rename + add column", expected, final)

    # Time travel into PyIceberg's history.
    old = pyiceberg_read(frazil.warehouse, ident, snapshot_id=snap_after_delete)
    S.assert_same_rows(frazil.export(f"SELECT * FROM {ident} AT (VERSION => {snap_after_delete})"), old, schema, "frazil AT VERSION (PyIceberg snapshot)")

    listing = frazil.run("table", "snapshots", ident, "--format", "json").stdout
    for s in t.metadata.snapshots:
        assert str(s.snapshot_id) in listing, f"PyIceberg snapshot {s.snapshot_id} missing from `frazil table snapshots`"
    assert "py" in frazil.run("namespace", "list").stdout

    # frazil's partition pruning on PyIceberg's partition values.
    some = next(r for r in expected if r["c_bool"] is True)
    got = frazil.export(f"SELECT * FROM {ident} WHERE c_bool AND id = {some['id']}")
    S.assert_same_rows(got, [some], final, "frazil filtered on partition column")


def _spark_source_view(spark, data: pa.Table, schema: dict, path, view: str) -> None:
    pq.write_table(S.spark_rows(data, schema), path)
    spark.read.parquet(str(path)).createOrReplaceTempView(view)


def test_spark_writes_frazil_reads(shared_frazil, ns, spark, duck, tmp_path):
    """Spark: partitioned table, INSERT, merge-on-read DELETE and UPDATE (position delete
    files), schema evolution; frazil must read exactly what Spark reads."""
    fz = shared_frazil
    schema = S.all_types_schema(with_time=False)
    sschema = S.spark_schema(schema)
    data = S.make_table(schema, 80, seed=71)
    ident = f"{ns}.sp"
    cols = S.select_list(sschema)
    _spark_source_view(spark, data, schema, tmp_path / "src.parquet", "src_" + ns)
    spark.sql(f"CREATE NAMESPACE frazil.{ns}")
    spark.sql(
        f"CREATE TABLE frazil.{ident} ({S.spark_ddl(schema)}) USING iceberg "
        "PARTITIONED BY (bucket(4, id), c_bool) "
        "TBLPROPERTIES ('format-version'='2', 'write.delete.mode'='merge-on-read', "
        "'write.update.mode'='merge-on-read', 'write.merge.mode'='merge-on-read')"
    )
    spark.sql(f"INSERT INTO frazil.{ident} SELECT {cols} FROM src_{ns}")
    after_insert = spark_collect(spark, f"SELECT snapshot_id FROM frazil.{ident}.snapshots").column(0).to_pylist()[-1]
    spark.sql(f"DELETE FROM frazil.{ident} WHERE id % 5 = 0 OR c_date < DATE '1900-01-01'")
    spark.sql(f"UPDATE frazil.{ident} SET c_string = concat(coalesce(c_string, 'null'), '-upd'), c_long = c_long + 1 WHERE id % 7 = 1 AND c_long BETWEEN -1000 AND 1000")

    contents = spark_collect(spark, f"SELECT content FROM frazil.{ident}.delete_files").column(0).to_pylist()
    assert contents and set(contents) == {1}, f"Spark wrote no position delete files: {contents}"

    expected = []
    for r in S.spark_rows(data, schema).to_pylist():
        if r["id"] % 5 == 0 or (r["c_date"] is not None and r["c_date"] < S.dt.date(1900, 1, 1)):
            continue
        if r["id"] % 7 == 1 and r["c_long"] is not None and -1000 <= r["c_long"] <= 1000:
            r = dict(r, c_string=(r["c_string"] if r["c_string"] is not None else "null") + "-upd", c_long=r["c_long"] + 1)
        expected.append(r)
    own = spark_read(spark, ident)
    S.assert_same_rows(own, expected, sschema, "Spark own read")
    S.assert_same_rows(fz.export(f"SELECT * FROM {ident}"), expected, sschema, "frazil sql (Spark table with deletes)")
    tbl = pyiceberg_catalog(fz.warehouse).load_table(ident)
    S.assert_same_rows(duck_read(duck, tbl.metadata_location), expected, sschema, "DuckDB (harness check)")
    S.assert_same_rows(tbl.scan().to_arrow(), S.pyiceberg_list_struct_nulls(expected, sschema), sschema, "PyIceberg (harness check)")

    old = spark_read(spark, ident, version=after_insert)
    S.assert_same_rows(old, S.spark_rows(data, schema), sschema, "Spark VERSION AS OF insert")
    S.assert_same_rows(fz.export(f"SELECT * FROM {ident} AT (VERSION => {after_insert})"), old, sschema, "frazil AT VERSION (Spark snapshot)")

    # Spark evolves the schema, then writes more; frazil resolves by field id.
    spark.sql(f"ALTER TABLE frazil.{ident} RENAME COLUMN c_double TO c_dbl")
    spark.sql(f"ALTER TABLE frazil.{ident} DROP COLUMN c_binary")
    spark.sql(f"ALTER TABLE frazil.{ident} ADD COLUMN c_binary string")
    spark.sql(f"ALTER TABLE frazil.{ident} ALTER COLUMN c_int TYPE bigint")
    new_row = {"id": 5001, "c_dbl": 1.5, "c_binary": "new", "c_int": 9000000000}
    target = spark.table(f"frazil.{ident}")
    spark.createDataFrame([tuple(new_row.get(f.name) for f in target.schema.fields)], schema=target.schema).writeTo(f"frazil.{ident}").append()
    final = {"type": "struct", "schema-id": 0, "fields": []}
    for f in sschema["fields"]:
        if f["name"] == "c_binary":
            continue
        f = dict(f, name="c_dbl" if f["name"] == "c_double" else f["name"])
        if f["name"] == "c_int":
            f["type"] = "long"
        final["fields"].append(f)
    final["fields"].append({"id": 9999, "name": "c_binary", "required": False, "type": "string"})
    exp2 = []
    for r in expected:
        r = {("c_dbl" if k == "c_double" else k): v for k, v in r.items()}
        r["c_binary"] = None
        exp2.append(r)
    exp2.append({f["name"]: None for f in final["fields"]} | new_row)
    own = spark_read(spark, ident)
    S.assert_same_rows(own, exp2, final, "Spark own read after evolution")
    S.assert_same_rows(fz.export(f"SELECT * FROM {ident}"), exp2, final, "frazil sql after Spark evolution")
