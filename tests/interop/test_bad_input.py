"""Bad input: each case must give a nonzero exit, a message on stderr that names the file or
table at fault, and leave the table as it was (checked through the SQLite catalog pointer and
a PyIceberg read compared with the rows the test loaded)."""

from __future__ import annotations

import shutil

import pytest

import interop_support as S
import readers as R
from conftest import Frazil, pyiceberg_catalog

IDENT = "bad.t"


@pytest.fixture
def loaded(frazil: Frazil):
    schema = S.simple_schema()
    rows = S.make_rows(schema, 30, seed=99)
    data = S.rows_to_arrow(rows, schema)
    frazil.run("namespace", "create", "bad")
    frazil.create_table(IDENT, schema)
    frazil.load(IDENT, data)
    tbl = pyiceberg_catalog(frazil.warehouse).load_table(IDENT)
    return schema, data, tbl


def _assert_unchanged(frazil: Frazil, schema, data, before) -> None:
    assert R.catalog_pointer(frazil.warehouse, IDENT) == before.metadata_location, "catalog pointer moved"
    tbl = pyiceberg_catalog(frazil.warehouse).load_table(IDENT)
    assert tbl.current_snapshot().snapshot_id == before.current_snapshot().snapshot_id
    assert [s.snapshot_id for s in tbl.metadata.snapshots] == [s.snapshot_id for s in before.metadata.snapshots]
    S.assert_same_rows(tbl.scan().to_arrow(), data, schema, "PyIceberg after the failed command")


def _names(stderr: str, *candidates: str) -> bool:
    return any(c and c in stderr for c in candidates)


def _more_rows(schema):
    return S.rows_to_arrow(S.make_rows(schema, 5, seed=100, id_start=1000), schema)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_metadata_file(frazil, loaded, damage):
    schema, data, tbl = loaded
    path = R.local_path(tbl.metadata_location)
    original = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write({"garbage": b"\x00\x01not json at all{{", "truncated": original[: len(original) // 2], "empty": b""}[damage])

    res = frazil.fail("sql", f"SELECT count(*) FROM {IDENT}")
    assert _names(res.stderr, path.rsplit("/", 1)[-1], IDENT), f"message names neither the file nor the table: {res.stderr}"
    extra = frazil.tmpfile(".parquet")
    import pyarrow.parquet as pq

    pq.write_table(_more_rows(schema), extra)
    res = frazil.fail("load", IDENT, str(extra), "--format", "parquet")
    assert _names(res.stderr, path.rsplit("/", 1)[-1], IDENT), f"message names neither the file nor the table: {res.stderr}"
    assert R.catalog_pointer(frazil.warehouse, IDENT) == tbl.metadata_location, "a commit happened on top of corrupt metadata"

    with open(path, "wb") as fh:
        fh.write(original)
    _assert_unchanged(frazil, schema, data, tbl)


def _first_manifest(tbl):
    return tbl.current_snapshot().manifests(tbl.io)[0].manifest_path


@pytest.mark.parametrize("target", ["manifest", "manifest_list"])
def test_truncated_manifest(frazil, loaded, target):
    schema, data, tbl = loaded
    uri = _first_manifest(tbl) if target == "manifest" else tbl.current_snapshot().manifest_list
    path = R.local_path(uri)
    original = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write(original[: len(original) // 3])

    res = frazil.fail("sql", f"SELECT * FROM {IDENT}")
    assert path.rsplit("/", 1)[-1] in res.stderr, f"message does not name {path}: {res.stderr}"
    res = frazil.fail("table", "delete", IDENT, "--where", "id = 1")
    assert _names(res.stderr, path.rsplit("/", 1)[-1], IDENT), res.stderr
    assert R.catalog_pointer(frazil.warehouse, IDENT) == tbl.metadata_location, "a commit happened on top of a broken manifest"

    with open(path, "wb") as fh:
        fh.write(original)
    _assert_unchanged(frazil, schema, data, tbl)


def test_missing_data_file(frazil, loaded):
    schema, data, tbl = loaded
    data_file = R.local_path(next(iter(tbl.scan().plan_files())).file.file_path)
    moved = data_file + ".away"
    shutil.move(data_file, moved)

    res = frazil.fail("sql", f"SELECT * FROM {IDENT}")
    assert data_file.rsplit("/", 1)[-1] in res.stderr, f"message does not name {data_file}: {res.stderr}"
    res = frazil.fail("table", "delete", IDENT, "--where", "id = 1")
    assert _names(res.stderr, data_file.rsplit("/", 1)[-1], IDENT), res.stderr
    assert R.catalog_pointer(frazil.warehouse, IDENT) == tbl.metadata_location

    shutil.move(moved, data_file)
    _assert_unchanged(frazil, schema, data, tbl)


def test_unknown_type_in_schema(frazil):
    frazil.run("namespace", "create", "bad")
    schema = S.simple_schema()
    schema["fields"][1]["type"] = "varchar2"
    path = S.write_json(frazil.tmpfile(".json"), schema)
    res = frazil.fail("table", "create", "bad.u", "--schema", path)
    assert "varchar2" in res.stderr, f"message does not name the unknown type: {res.stderr}"
    assert not pyiceberg_catalog(frazil.warehouse).table_exists("bad.u")
    assert R.catalog_pointer(frazil.warehouse, "bad.u") is None

    schema = S.simple_schema()
    schema["fields"][2]["type"] = {"type": "struct", "fields": [{"id": 50, "name": "x", "required": False, "type": "int128"}]}
    path = S.write_json(frazil.tmpfile(".json"), schema)
    res = frazil.fail("table", "create", "bad.u", "--schema", path)
    assert "int128" in res.stderr, res.stderr
    assert not pyiceberg_catalog(frazil.warehouse).table_exists("bad.u")


def test_name_clash(frazil, loaded):
    schema, data, tbl = loaded
    other = S.all_types_schema(with_time=False)
    res = frazil.fail("table", "create", IDENT, "--schema", S.write_json(frazil.tmpfile(".json"), other))
    assert IDENT in res.stderr, f"message does not name the table: {res.stderr}"
    assert "exist" in res.stderr.lower(), res.stderr
    _assert_unchanged(frazil, schema, data, tbl)
    assert [f.name for f in pyiceberg_catalog(frazil.warehouse).load_table(IDENT).schema().fields] == [f["name"] for f in schema["fields"]]

    res = frazil.fail("namespace", "create", "bad")
    assert "bad" in res.stderr and "exist" in res.stderr.lower(), res.stderr


def test_concurrent_loads_all_land(frazil, loaded):
    """Several `frazil load` processes commit to one table at once. Compare-and-swap means a
    loser retries (or fails clearly with its rows absent); no commit may be lost or doubled."""
    import pyarrow.parquet as pq

    schema, data, tbl = loaded
    batches = []
    for k in range(4):
        b = S.rows_to_arrow(S.make_rows(schema, 20, seed=200 + k, id_start=10_000 * (k + 1)), schema)
        p = frazil.tmpfile(".parquet")
        pq.write_table(b, p)
        batches.append((b, p))
    procs = [frazil.popen("load", IDENT, str(p), "--format", "parquet") for _, p in batches]
    results = [(proc.wait(timeout=300), proc.stdout.read(), proc.stderr.read()) for proc in procs]

    expected = data.to_pylist()
    landed = 0
    for (b, _), (rc, out, err) in zip(batches, results):
        if rc == 0:
            expected += b.to_pylist()
            landed += 1
        else:
            assert err.strip() and any(w in err.lower() for w in ("conflict", "commit", "concurrent", "retry")), f"unclear failure: {err}"
    assert landed == len(batches), f"only {landed} of {len(batches)} concurrent loads landed: {[r[2] for r in results if r[0]]}"

    t = pyiceberg_catalog(frazil.warehouse).load_table(IDENT)
    S.assert_same_rows(t.scan().to_arrow(), expected, schema, "PyIceberg after concurrent loads")
    snaps = sorted(t.metadata.snapshots, key=lambda s: s.sequence_number)
    assert len(snaps) == 1 + landed
    assert len({s.sequence_number for s in snaps}) == len(snaps), "two snapshots share a sequence number"
    for parent, child in zip(snaps, snaps[1:]):
        assert child.parent_snapshot_id == parent.snapshot_id, "snapshot history is not a single chain"
    S.assert_same_rows(frazil.export(f"SELECT * FROM {IDENT}"), expected, schema, "frazil after concurrent loads")


def test_fixed_column_write_refused_clearly(frazil):
    """frazil cannot write fixed[L] yet: the load must fail naming the column, write no
    snapshot, and leave no data file behind."""
    schema = S.all_types_schema(with_time=False, with_fixed=True)
    data = S.make_table(schema, 5, seed=3)
    frazil.create_table("bad.fixed", schema)
    before = R.catalog_pointer(frazil.warehouse, "bad.fixed")
    path = frazil.tmpfile(".parquet")
    import pyarrow.parquet as pq
    pq.write_table(data, path)
    res = frazil.fail("load", "bad.fixed", path)
    assert "c_fixed" in res.stderr and "fixed[16]" in res.stderr, res.stderr
    assert R.catalog_pointer(frazil.warehouse, "bad.fixed") == before
    tbl = pyiceberg_catalog(frazil.warehouse).load_table("bad.fixed")
    assert tbl.current_snapshot() is None
    data_dir = tbl.location().removeprefix("file://") + "/data"
    import os
    assert not os.path.exists(data_dir) or not any(f.endswith(".parquet") for f in os.listdir(data_dir))
