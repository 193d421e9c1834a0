"""Table maintenance: `frazil maintain expire-snapshots` and `remove-orphans` leave a table
that PyIceberg and DuckDB's iceberg extension read exactly as before, with every file the
metadata references still present and the unreferenced ones gone (docs/maintenance.md)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa

from conftest import Frazil, duck_read, pyiceberg_catalog

N_APPENDS = 30
ROWS_PER_APPEND = 10


def _local(location: str) -> Path:
    return Path(urlparse(location).path if location.startswith("file:") else location)


def _sorted(t: pa.Table) -> list[tuple]:
    cols = ["id", "v", "name"]
    return sorted(zip(*(t.column(c).to_pylist() for c in cols)))


def _referenced_files(tbl) -> set[Path]:
    """Every file a read of any snapshot needs, plus the metadata files (PyIceberg's view)."""
    io = tbl.io
    files = {_local(tbl.metadata_location)}
    files |= {_local(e.metadata_file) for e in tbl.metadata.metadata_log}
    for snap in tbl.metadata.snapshots:
        files.add(_local(snap.manifest_list))
        for manifest in snap.manifests(io):
            files.add(_local(manifest.manifest_path))
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                files.add(_local(entry.data_file.file_path))
    return files


def test_expire_and_remove_orphans_keep_the_table_readable(frazil: Frazil, duck):
    ident = "maint.events"
    for i in range(N_APPENDS):
        ids = list(range(i * ROWS_PER_APPEND, (i + 1) * ROWS_PER_APPEND))
        frazil.load(ident, pa.table({"id": pa.array(ids, pa.int64()),
                                     "v": pa.array([x * 7 % 13 for x in ids], pa.int64()),
                                     "name": pa.array([f"n{x}" for x in ids], pa.string())}))
    for where in ("id % 10 = 3", "v = 5", "id BETWEEN 100 AND 140"):
        frazil.run("table", "delete", ident, "--where", where)

    cat = pyiceberg_catalog(frazil.warehouse)
    tbl = cat.load_table(ident)
    snapshots_before = [s.snapshot_id for s in tbl.metadata.snapshots]
    assert len(snapshots_before) == N_APPENDS + 3
    expected = _sorted(tbl.scan().to_arrow())
    assert 0 < len(expected) < N_APPENDS * ROWS_PER_APPEND

    # Dry run: reports, changes nothing.
    dry = json.loads(frazil.run("maintain", "expire-snapshots", ident, "--older-than", "0s", "--retain-last", "3",
                                "--dry-run", "--format", "json").stdout)
    assert dry["dry_run"] and dry["snapshots"] == len(snapshots_before) - 3
    assert all(_local(f["location"]).exists() for f in dry["files"])
    assert cat.load_table(ident).metadata_location == tbl.metadata_location

    out = json.loads(frazil.run("maintain", "expire-snapshots", ident, "--older-than", "0s", "--retain-last", "3",
                                "--format", "json").stdout)
    assert out["snapshots"] == len(snapshots_before) - 3
    assert out["manifest_lists"] == len(snapshots_before) - 3
    assert out["failed"] == 0
    assert all(not _local(f["location"]).exists() for f in out["files"])

    tbl = cat.load_table(ident)
    kept = [s.snapshot_id for s in tbl.metadata.snapshots]
    assert kept == snapshots_before[-3:]

    # A stray file in data/ and in metadata/, and one outside the table location.
    table_dir = _local(tbl.metadata.location)
    strays = [table_dir / "data" / "stray-0000.parquet", table_dir / "metadata" / "stray-snap.avro"]
    outside = frazil.warehouse / "maint" / "not-a-table-file.parquet"
    for p in [*strays, outside]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"PAR1 stray")
    # Inside the default 7-day window: kept.
    res = json.loads(frazil.run("maintain", "remove-orphans", ident, "--format", "json").stdout)
    assert res["orphans"] == 0 and res["too_new"] == 2
    assert all(p.exists() for p in strays)
    res = json.loads(frazil.run("maintain", "remove-orphans", ident, "--older-than", "0", "--format", "json").stdout)
    removed = {_local(f["location"]) for f in res["files"]}
    assert set(strays) <= removed
    assert not any(p.exists() for p in strays)
    assert outside.exists(), "remove-orphans touched a file outside the table location"

    # Every file the metadata references exists; nothing unreferenced is left in data/.
    tbl = cat.load_table(ident)
    referenced = _referenced_files(tbl)
    missing = [p for p in referenced if not p.exists()]
    assert not missing, f"referenced files missing: {missing[:5]}"
    on_disk = {p for p in (table_dir / "data").rglob("*") if p.is_file()}
    all_named = set(referenced)
    for snap in tbl.metadata.snapshots:  # DELETED entries too: remove-orphans keeps them
        for manifest in snap.manifests(tbl.io):
            all_named |= {_local(e.data_file.file_path) for e in manifest.fetch_manifest_entry(tbl.io, discard_deleted=False)}
    assert on_disk <= all_named

    # Same rows in PyIceberg and DuckDB, the retained snapshots still readable.
    assert _sorted(tbl.scan().to_arrow()) == expected
    assert _sorted(duck_read(duck, tbl.metadata_location)) == expected
    assert _sorted(frazil.export(f"SELECT * FROM {ident}")) == expected
    first_kept = kept[0]
    assert len(tbl.scan(snapshot_id=first_kept).to_arrow()) == len(duck_read(duck, tbl.metadata_location, snapshot_id=first_kept))

    # Time travel to an expired snapshot fails with a message naming it.
    gone = snapshots_before[0]
    err = frazil.fail("sql", f"SELECT count(*) FROM {ident} AT (VERSION => {gone})")
    assert str(gone) in err.stderr and "no snapshot" in err.stderr, err.stderr


def _live_files(tbl) -> tuple[list[str], list[str]]:
    """(data files, delete files) of the current snapshot, as PyIceberg reads its manifests."""
    data, deletes = [], []
    for manifest in tbl.current_snapshot().manifests(tbl.io):
        for entry in manifest.fetch_manifest_entry(tbl.io, discard_deleted=True):
            (data if entry.data_file.content == 0 else deletes).append(entry.data_file.file_path)
    return data, deletes


def _manifest_counts(tbl) -> dict[int, int]:
    counts: dict[int, int] = {}
    for manifest in tbl.current_snapshot().manifests(tbl.io):
        counts[int(manifest.content)] = counts.get(int(manifest.content), 0) + 1
    return counts


def test_compact_and_rewrite_manifests_keep_the_rows(frazil: Frazil, duck):
    ident = "maint.compacted"
    n_loads, per_load = 25, 8
    for i in range(n_loads):
        ids = list(range(i * per_load, (i + 1) * per_load))
        frazil.load(ident, pa.table({"id": pa.array(ids, pa.int64()),
                                     "v": pa.array([x * 7 % 13 for x in ids], pa.int64()),
                                     "name": pa.array([f"n{x}" for x in ids], pa.string())}))
    for where in ("id % 10 = 3", "v = 5", "id BETWEEN 40 AND 50"):
        frazil.run("table", "delete", ident, "--where", where)

    cat = pyiceberg_catalog(frazil.warehouse)
    tbl = cat.load_table(ident)
    expected = _sorted(tbl.scan().to_arrow())
    assert 0 < len(expected) < n_loads * per_load
    assert _sorted(duck_read(duck, tbl.metadata_location)) == expected
    data_before, deletes_before = _live_files(tbl)
    assert len(data_before) >= n_loads - 2 and len(deletes_before) > 0
    snapshot_before = tbl.current_snapshot().snapshot_id

    # Dry run: the plan, nothing committed.
    dry = json.loads(frazil.run("maintain", "compact", ident, "--dry-run", "--format", "json").stdout)
    assert dry["dry_run"] and len(dry["groups"]) == 1 and dry["snapshot_id"] == 0
    assert dry["rewritten"]["files"] == len(data_before)
    assert cat.load_table(ident).metadata_location == tbl.metadata_location

    out = json.loads(frazil.run("maintain", "compact", ident, "--format", "json").stdout)
    assert out["data_after"]["files"] == 1 and out["deletes_after"]["files"] == 0
    assert out["removed_deletes"]["files"] == len(deletes_before)
    assert out["written"]["rows"] == len(expected) == out["live_rows"]

    tbl = cat.load_table(ident)
    snap = tbl.current_snapshot()
    assert snap.snapshot_id == out["snapshot_id"]
    assert snap.summary.operation.value == "replace"
    assert snap.summary["frazil.maintenance"] == "compact"
    data_after, deletes_after = _live_files(tbl)
    assert len(data_after) == 1 and deletes_after == []
    tasks = list(tbl.scan().plan_files())
    assert len(tasks) == 1 and not tasks[0].delete_files
    assert _sorted(tbl.scan().to_arrow()) == expected
    assert _sorted(duck_read(duck, tbl.metadata_location)) == expected
    assert _sorted(frazil.export(f"SELECT * FROM {ident}")) == expected
    # The snapshot before compaction still reads the same rows through its old files.
    assert _sorted(tbl.scan(snapshot_id=snapshot_before).to_arrow()) == expected
    assert _sorted(duck_read(duck, tbl.metadata_location, snapshot_id=snapshot_before)) == expected

    # More small loads and a delete, then the manifests: one per kind.
    for i in range(n_loads, n_loads + 5):
        ids = list(range(i * per_load, (i + 1) * per_load))
        frazil.load(ident, pa.table({"id": pa.array(ids, pa.int64()),
                                     "v": pa.array([x * 7 % 13 for x in ids], pa.int64()),
                                     "name": pa.array([f"n{x}" for x in ids], pa.string())}))
    frazil.run("table", "delete", ident, "--where", "id % 10 = 7")
    tbl = cat.load_table(ident)
    expected = _sorted(tbl.scan().to_arrow())
    entries_before = {}
    for manifest in tbl.current_snapshot().manifests(tbl.io):
        for e in manifest.fetch_manifest_entry(tbl.io, discard_deleted=True):
            entries_before[e.data_file.file_path] = (e.snapshot_id, e.sequence_number, e.file_sequence_number)
    assert sum(_manifest_counts(tbl).values()) > 2

    rm = json.loads(frazil.run("maintain", "rewrite-manifests", ident, "--format", "json").stdout)
    assert rm["snapshot_id"] != 0 and rm["manifests_after"] <= 2
    tbl = cat.load_table(ident)
    assert tbl.current_snapshot().summary["frazil.maintenance"] == "rewrite-manifests"
    counts = _manifest_counts(tbl)
    assert counts.get(0) == 1 and counts.get(1, 0) <= 1, counts
    entries_after = {}
    for manifest in tbl.current_snapshot().manifests(tbl.io):
        for e in manifest.fetch_manifest_entry(tbl.io, discard_deleted=True):
            assert e.status.value == 0  # EXISTING
            entries_after[e.data_file.file_path] = (e.snapshot_id, e.sequence_number, e.file_sequence_number)
    assert entries_after == entries_before
    assert _sorted(tbl.scan().to_arrow()) == expected
    assert _sorted(duck_read(duck, tbl.metadata_location)) == expected
    assert _sorted(frazil.export(f"SELECT * FROM {ident}")) == expected
