"""Regenerates the golden metadata.json fixtures written by real Iceberg implementations.

Usage (from the repo root):
  .venv/bin/python tests/resources/metadata/make_fixtures.py [pyiceberg|spark|broken|all]

pyiceberg_v2.metadata.json: PyIceberg 0.12, SQL catalog, nested types, identifier field,
  sort order, two appends and a delete (3 snapshots), then spec and schema evolution.
spark_v2.metadata.json: Spark 3.5 + Iceberg 1.10 (hadoop catalog), format v2 table
  partitioned by identity/day/bucket, two inserts, a DELETE (it drops a whole data file),
  a write order and a tag.
spark_v1.metadata.json: the same Spark, a format v1 table ("schema", "partition-spec", no
  sequence numbers) with two inserts.
broken_*.metadata.json: damaged copies of the PyIceberg golden (truncated, a required
  field missing, a wrong type, a dangling current-snapshot-id).
Volatile values (uuids, timestamps, local paths) stay as written; the tests only compare
round trips and a few stable facts.
"""
import glob
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def latest_metadata(folder):
    files = sorted(glob.glob(os.path.join(folder, "*.metadata.json")))
    return files[-1]


def make_pyiceberg():
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.expressions import EqualTo
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.table.sorting import NullOrder, SortDirection, SortField, SortOrder
    from pyiceberg.transforms import DayTransform, IdentityTransform  # bucket needs pyiceberg-core
    from pyiceberg.types import (ListType, LongType, MapType, NestedField, StringType,
                                 StructType, TimestamptzType, DecimalType, DoubleType)

    tmp = tempfile.mkdtemp(prefix="frazil_pyice_")
    catalog = SqlCatalog("fx", uri=f"sqlite:///{tmp}/cat.db", warehouse=f"file://{tmp}/wh")
    catalog.create_namespace("db")
    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "name", StringType(), required=False, doc="display name"),
        NestedField(3, "ts", TimestamptzType(), required=False),
        NestedField(4, "price", DecimalType(10, 2), required=False),
        NestedField(5, "tags", ListType(6, StringType(), element_required=False), required=False),
        NestedField(7, "attrs", MapType(8, StringType(), 9, DoubleType(), value_required=False),
                    required=False),
        NestedField(10, "loc", StructType(NestedField(11, "lat", DoubleType(), required=False),
                                          NestedField(12, "lon", DoubleType(), required=False)),
                    required=False),
        identifier_field_ids=[1],
    )
    spec = PartitionSpec(
        PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="name"),
    )
    order = SortOrder(SortField(source_id=1, transform=IdentityTransform(),
                                direction=SortDirection.DESC, null_order=NullOrder.NULLS_LAST))
    table = catalog.create_table("db.t", schema=schema, partition_spec=spec, sort_order=order,
                                 properties={"write.format.default": "parquet", "owner": "frazil"})
    arrow_schema = table.schema().as_arrow()
    import datetime
    import decimal
    def batch(ids):
        return pa.Table.from_pylist([
            {"id": i, "name": f"n{i}",
             "ts": datetime.datetime(2024, 1, 1 + i % 3, tzinfo=datetime.timezone.utc),
             "price": decimal.Decimal("1.25") * i, "tags": ["a", "b"], "attrs": {"k": 1.0 * i},
             "loc": {"lat": 1.0, "lon": 2.0}} for i in ids], schema=arrow_schema)
    table.append(batch([1, 2, 3]))
    table.append(batch([4, 5]))
    table.delete(EqualTo("id", 2))
    # Day and bucket transforms need pyiceberg-core to write data, so the second spec (and a
    # schema change) come after the data.
    with table.update_spec() as update:
        update.add_field("ts", DayTransform(), "ts_day")
    with table.update_schema() as update:
        update.add_column("note", StringType(), doc="added later")
    table = catalog.load_table("db.t")
    shutil.copy(table.metadata_location.removeprefix("file://"),
                os.path.join(HERE, "pyiceberg_v2.metadata.json"))
    shutil.rmtree(tmp)


def make_spark():
    os.environ.setdefault("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")
    from pyspark.sql import SparkSession
    tmp = tempfile.mkdtemp(prefix="frazil_spark_")
    jar = os.path.join(ROOT, ".deps", "jars", "iceberg-spark-runtime-3.5_2.12-1.10.0.jar")
    spark = (SparkSession.builder.master("local[1]")
             .config("spark.jars", jar)
             .config("spark.sql.extensions",
                     "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
             .config("spark.sql.catalog.x", "org.apache.iceberg.spark.SparkCatalog")
             .config("spark.sql.catalog.x.type", "hadoop")
             .config("spark.sql.catalog.x.warehouse", f"{tmp}/wh")
             .config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sql("CREATE TABLE x.db.t (id bigint NOT NULL, category string, ts timestamp, "
              "amount decimal(12,3), tags array<string>, props map<string,int>, "
              "pt struct<x: double, y: double>) USING iceberg "
              "PARTITIONED BY (category, days(ts), bucket(8, id)) "
              "TBLPROPERTIES ('format-version'='2', 'write.delete.mode'='merge-on-read')")
    spark.sql("INSERT INTO x.db.t VALUES "
              "(1, 'a', TIMESTAMP '2024-01-01 10:00:00', 1.5, array('p'), map('k', 1), named_struct('x', 1.0, 'y', 2.0)), "
              "(2, 'b', TIMESTAMP '2024-01-02 10:00:00', 2.5, array('q'), map('k', 2), named_struct('x', 3.0, 'y', 4.0))")
    spark.sql("INSERT INTO x.db.t VALUES "
              "(3, 'a', TIMESTAMP '2024-01-03 10:00:00', 3.5, array(), map(), null)")
    spark.sql("DELETE FROM x.db.t WHERE id = 2")
    spark.sql("ALTER TABLE x.db.t WRITE ORDERED BY id DESC NULLS LAST, category")
    spark.sql("ALTER TABLE x.db.t CREATE TAG v1")
    # A format v1 table: "schema"/"partition-spec" and no sequence numbers.
    spark.sql("CREATE TABLE x.db.t1 (id bigint, category string) USING iceberg "
              "PARTITIONED BY (category) TBLPROPERTIES ('format-version'='1')")
    spark.sql("INSERT INTO x.db.t1 VALUES (1, 'a'), (2, 'b')")
    spark.sql("INSERT INTO x.db.t1 VALUES (3, 'a')")
    spark.stop()
    shutil.copy(latest_metadata(os.path.join(tmp, "wh", "db", "t", "metadata")),
                os.path.join(HERE, "spark_v2.metadata.json"))
    shutil.copy(latest_metadata(os.path.join(tmp, "wh", "db", "t1", "metadata")),
                os.path.join(HERE, "spark_v1.metadata.json"))
    shutil.rmtree(tmp)


def make_broken():
    """Broken variants of the PyIceberg golden, each expected to fail with Corrupt."""
    import json
    src = os.path.join(HERE, "pyiceberg_v2.metadata.json")
    text = open(src).read()
    with open(os.path.join(HERE, "broken_truncated.metadata.json"), "w") as f:
        f.write(text[: len(text) // 2])
    doc = json.loads(text)
    del doc["last-column-id"]
    with open(os.path.join(HERE, "broken_missing_field.metadata.json"), "w") as f:
        json.dump(doc, f, indent=2)
    doc = json.loads(text)
    doc["schemas"][0]["fields"][1]["id"] = "2"
    with open(os.path.join(HERE, "broken_wrong_type.metadata.json"), "w") as f:
        json.dump(doc, f, indent=2)
    doc = json.loads(text)
    doc["current-snapshot-id"] = 12345
    with open(os.path.join(HERE, "broken_unknown_snapshot.metadata.json"), "w") as f:
        json.dump(doc, f, indent=2)


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    if which in ("pyiceberg", "all"):
        make_pyiceberg()
    if which in ("spark", "all"):
        make_spark()
    if which in ("broken", "all"):
        make_broken()
