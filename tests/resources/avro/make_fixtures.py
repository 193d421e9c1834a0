"""Writes the PyIceberg-produced golden manifests used by manifest_test.cc.

Run with the repo venv:  .venv/bin/python tests/resources/avro/make_fixtures.py
It creates a table in a throw-away SqlCatalog, appends one small pyarrow table
partitioned by identity(category) and identity(d) (bucket and day need
pyiceberg-core, which the venv does not have), and copies the resulting
manifest, manifest list and metadata JSON next to this script.
"""
import datetime
import os
import shutil
import tempfile

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import DateType, DoubleType, LongType, NestedField, StringType, TimestampType

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        catalog = SqlCatalog(
            "fixtures",
            uri=f"sqlite:///{tmp}/catalog.db",
            warehouse=f"file://{tmp}/warehouse",
        )
        catalog.create_namespace("db")
        schema = Schema(
            NestedField(1, "id", LongType(), required=True),
            NestedField(2, "category", StringType(), required=False),
            NestedField(3, "price", DoubleType(), required=False),
            NestedField(4, "ts", TimestampType(), required=False),
            NestedField(5, "d", DateType(), required=False),
        )
        spec = PartitionSpec(
            PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="category"),
            PartitionField(source_id=5, field_id=1001, transform=IdentityTransform(), name="d"),
        )
        table = catalog.create_table("db.t", schema=schema, partition_spec=spec)
        data = pa.table(
            {
                "id": pa.array([34, 35], type=pa.int64()),
                "category": pa.array(["iceberg", "iceberg"], type=pa.string()),
                "price": pa.array([1.5, 2.5], type=pa.float64()),
                "ts": pa.array([datetime.datetime(2017, 11, 16, 22, 31, 8, 1)] * 2, type=pa.timestamp("us")),
                "d": pa.array([datetime.date(2017, 11, 16)] * 2, type=pa.date32()),
            },
            schema=pa.schema(
                [
                    pa.field("id", pa.int64(), nullable=False),
                    pa.field("category", pa.string()),
                    pa.field("price", pa.float64()),
                    pa.field("ts", pa.timestamp("us")),
                    pa.field("d", pa.date32()),
                ]
            ),
        )
        table.append(data)
        table = catalog.load_table("db.t")
        snap = table.current_snapshot()
        list_path = snap.manifest_list.removeprefix("file://")
        manifests = snap.manifests(table.io)
        assert len(manifests) == 1
        manifest_path = manifests[0].manifest_path.removeprefix("file://")
        shutil.copy(list_path, os.path.join(HERE, "pyiceberg_manifest_list.avro"))
        shutil.copy(manifest_path, os.path.join(HERE, "pyiceberg_manifest.avro"))
        shutil.copy(table.metadata_location.removeprefix("file://"),
                    os.path.join(HERE, "pyiceberg_metadata.json"))
        entry = manifests[0].fetch_manifest_entry(table.io)[0]
        print("snapshot", snap.snapshot_id, "seq", snap.sequence_number)
        print("manifest", manifests[0])
        print("entry", entry)


if __name__ == "__main__":
    main()
