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
