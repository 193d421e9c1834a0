"""Checks that PyIceberg reads manifests and manifest lists written by frazil.

Produce the files with the C++ unit test, then run this with the repo venv:

    mkdir -p /tmp/frazil_avro
    FRAZIL_AVRO_DUMP_DIR=/tmp/frazil_avro build/iceberg_test --gtest_filter='Manifest*'
    FRAZIL_AVRO_DUMP_DIR=/tmp/frazil_avro .venv/bin/python tests/interop/check_frazil_avro.py

Under pytest the test is skipped unless FRAZIL_AVRO_DUMP_DIR names such a directory.
PyIceberg resolves the writer schema by field id, so this also proves every field id.
"""
import math
import os
import sys

import pytest
from pyiceberg.avro.file import AvroFile
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.manifest import (
    DEFAULT_READ_VERSION,
    MANIFEST_ENTRY_SCHEMAS,
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    read_manifest_list,
)


def check(directory: str) -> None:
    io = PyArrowFileIO()
    lists = list(read_manifest_list(io.new_input(os.path.join(directory, "frazil_manifest_list.avro"))))
    assert len(lists) == 2, lists
    m = lists[0]
    assert m.manifest_path == "s3://b/t/metadata/m0.avro"
    assert m.manifest_length == 5000
    assert m.partition_spec_id == 2
    assert m.content == ManifestContent.DATA
    assert lists[1].content == ManifestContent.DELETES
    assert m.sequence_number == 7 and m.min_sequence_number == 3
    assert m.added_snapshot_id == 1234567890123
    assert (m.added_files_count, m.existing_files_count, m.deleted_files_count) == (1, 2, 3)
    assert (m.added_rows_count, m.existing_rows_count, m.deleted_rows_count) == (10, 20, 30)
    assert m.partitions[0].lower_bound == b"a" and m.partitions[0].upper_bound == b"z"
    assert m.partitions[1].contains_null is True
    assert lists[1].key_metadata == b"key"

    with AvroFile[ManifestEntry](
        io.new_input(os.path.join(directory, "frazil_manifest.avro")),
        MANIFEST_ENTRY_SCHEMAS[DEFAULT_READ_VERSION],
        read_types={-1: ManifestEntry, 2: DataFile},
        read_enums={0: ManifestEntryStatus, 101: FileFormat, 134: DataFileContent},
    ) as reader:
        header = reader.header
        entries = list(reader)
    meta = header.meta
    assert meta["format-version"] == "2" and meta["content"] == "data"
    assert meta["partition-spec-id"] == "2" and meta["schema-id"] == "3"
    assert len(entries) == 2
    a, b = entries
    assert a.status == ManifestEntryStatus.ADDED and a.snapshot_id is None
    assert b.status == ManifestEntryStatus.EXISTING and b.snapshot_id == 42
    assert b.sequence_number == 3 and b.file_sequence_number == 4
    df = a.data_file
    assert df.content == DataFileContent.DATA
    assert df.file_path == "s3://b/t/data/f0.parquet"
    assert df.file_format == FileFormat.PARQUET
    assert df.record_count == 100 and df.file_size_in_bytes == 4096
    assert dict(df.column_sizes) == {1: 10, 6: 20}
    assert dict(df.null_value_counts) == {1: 0, 6: 3}
    assert dict(df.upper_bounds)[6] == b"zz"
    assert df.split_offsets == [4, 1 << 20]
    assert df.key_metadata == b"km"
    p = df.partition
    assert p[0] == -5 and p[1] == 17486 and p[2] == 1510871468000001
    assert p[4] == "s0" and p[5] == b"\x00\x01" and p[6] == b"abc"
    assert p[9] is True and p[10] == 1.25 and math.isnan(p[11])
    assert b.data_file.partition[13] is None
    print("PyIceberg read frazil's manifest list and manifest: OK")
    print("decimal partition value as PyIceberg sees it:", p[8], b.data_file.partition[8])


def test_pyiceberg_reads_frazil_avro():
    directory = os.environ.get("FRAZIL_AVRO_DUMP_DIR")
    if not directory or not os.path.exists(os.path.join(directory, "frazil_manifest.avro")):
        pytest.skip("set FRAZIL_AVRO_DUMP_DIR to files written by iceberg_test")
    check(directory)


if __name__ == "__main__":
    check(os.environ.get("FRAZIL_AVRO_DUMP_DIR", sys.argv[1] if len(sys.argv) > 1 else "/tmp/frazil_avro"))
