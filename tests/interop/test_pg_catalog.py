"""frazil's PostgreSQL catalog store and PyIceberg's SqlCatalog (postgresql+psycopg2) share
one catalog database: each lists, loads and commits to the other's tables.

frazil's side runs through build/catalog_test (PostgresCatalogInterop.Phase) until the app
reads `catalog.uri: postgresql://...`; build it with `cmake --build build --target catalog_test`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from pg_cluster import PgCluster, pg_cluster_fixture

ROOT = Path(__file__).resolve().parents[2]
CATALOG_TEST = Path(os.environ.get("FRAZIL_CATALOG_TEST", ROOT / "build" / "catalog_test"))

pg = pg_cluster_fixture("module", name="pg")

pytest.importorskip("psycopg2")
from pyiceberg.catalog.sql import SqlCatalog  # noqa: E402


def frazil_phase(pg: PgCluster, warehouse: Path, phase: str) -> str:
    if not CATALOG_TEST.exists():
        pytest.skip(f"{CATALOG_TEST} is not built")
    env = dict(os.environ)
    env.update(
        FRAZIL_PG_CATALOG_CONNINFO=f"postgresql://postgres@127.0.0.1:{pg.port}/postgres",
        FRAZIL_PG_CATALOG_WAREHOUSE=f"file://{warehouse}",
        FRAZIL_PG_CATALOG_PHASE=phase,
    )
    done = subprocess.run(
        [str(CATALOG_TEST), "--gtest_filter=PostgresCatalogInterop.Phase"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0 and "[  PASSED  ] 1 test" in done.stdout, done.stdout + done.stderr
    return done.stdout


def py_catalog(pg: PgCluster, warehouse: Path) -> SqlCatalog:
    return SqlCatalog(
        "frazil",
        uri=f"postgresql+psycopg2://postgres@127.0.0.1:{pg.port}/postgres",
        warehouse=f"file://{warehouse}",
    )


def test_frazil_and_pyiceberg_share_a_postgres_catalog(pg: PgCluster, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    out = frazil_phase(pg, warehouse, "create")
    assert "FRAZIL created interop.frazil_table" in out

    # PyIceberg sees frazil's namespace, table and commit, reads it and appends to it.
    cat = py_catalog(pg, warehouse)
    assert ("interop",) in cat.list_namespaces()
    assert cat.load_namespace_properties("interop")["comment"] == "made by frazil"
    assert ("interop", "frazil_table") in cat.list_tables("interop")
    table = cat.load_table("interop.frazil_table")
    assert table.properties["written-by"] == "frazil"
    assert table.properties["frazil.commit"] == "1"
    assert table.scan().to_arrow().num_rows == 0
    rows = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": pa.array(["a", "b", None], pa.string())},
                    schema=pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string())]))
    table.append(rows)
    assert cat.load_table("interop.frazil_table").scan().to_arrow().num_rows == 3

    # A table of PyIceberg's own, with data.
    py_table = cat.create_table("interop.py_table", schema=rows.schema)
    py_table.append(rows.slice(0, 2))

    # The rows are the JDBC layout's, in frazil's PostgreSQL tables.
    listed = pg.rows("SELECT table_name, iceberg_type FROM iceberg_tables WHERE catalog_name = 'frazil' ORDER BY 1")
    assert listed == [["frazil_table", "TABLE"], ["py_table", "TABLE"]]

    # frazil loads both (with PyIceberg's snapshots) and commits to both.
    out = frazil_phase(pg, warehouse, "verify")
    assert "FRAZIL verified interop.frazil_table: 1 snapshot(s)" in out, out
    assert "FRAZIL verified interop.py_table: 1 snapshot(s)" in out, out

    # PyIceberg sees frazil's commits and keeps working on top of them.
    for name, count in (("frazil_table", 3), ("py_table", 2)):
        t = cat.load_table(f"interop.{name}")
        assert t.properties["frazil.verified"] == "true"
        assert t.scan().to_arrow().num_rows == count
        assert len(t.metadata.metadata_log) >= 1
    t = cat.load_table("interop.py_table")
    t.append(rows.slice(2, 1))
    assert cat.load_table("interop.py_table").scan().to_arrow().num_rows == 3
    prev = pg.rows("SELECT previous_metadata_location IS NOT NULL FROM iceberg_tables "
                   "WHERE catalog_name = 'frazil' AND table_name = 'py_table'")
    assert prev == [["t"]]


def test_two_rest_servers_share_one_postgres_catalog(pg: PgCluster, tmp_path: Path) -> None:
    """Two `frazil serve` processes on one PostgreSQL catalog store (the HA setup of
    docs/rest-catalog.md): PyIceberg commits through either one, frazil's CLI (catalog.uri
    postgresql://) and PyIceberg's SqlCatalog see every commit, a stale commit through the
    other server is a 409, and concurrent appends through both lose nothing."""
    import threading

    import rest_support as RS

    warehouse = tmp_path / "warehouse"
    uri = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
    extra = {"catalog": {"uri": uri, "name": "ha"}}
    with RS.FrazilServer(tmp_path / "a", warehouse=warehouse, extra=extra) as a, \
            RS.FrazilServer(tmp_path / "b", warehouse=warehouse, extra=extra) as b:
        ca, cb = a.pyiceberg(), b.pyiceberg()
        ca.create_namespace("ha")
        schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("src", pa.string())])
        t = ca.create_table("ha.t", schema=schema, properties={"commit.retry.num-retries": "50",
                                                                "commit.retry.min-wait-ms": "5"})
        t.append(pa.table({"id": [1], "src": ["a"]}, schema=schema))
        tb = cb.load_table("ha.t")
        assert tb.scan().to_arrow().num_rows == 1  # server b sees server a's commit
        tb.append(pa.table({"id": [2], "src": ["b"]}, schema=schema))
        # `t` is stale now: its commit through server a is refused, then retried by PyIceberg
        # on top of b's commit (nothing lost).
        t.append(pa.table({"id": [3], "src": ["a"]}, schema=schema))
        assert sorted(ca.load_table("ha.t").scan().to_arrow()["id"].to_pylist()) == [1, 2, 3]
        # A commit through b whose requirement no longer holds after a commit through a: 409.
        old_schema = cb.load_table("ha.t").metadata.current_schema_id
        from pyiceberg.types import StringType
        with ca.load_table("ha.t").update_schema() as u:
            u.add_column("note", StringType())
        r = b.http("POST", "/v1/namespaces/ha/tables/t", json_body={
            "requirements": [{"type": "assert-current-schema-id", "current-schema-id": old_schema}],
            "updates": [{"action": "set-properties", "updates": {"stale": "1"}}]})
        RS.assert_error_shape(r, 409, "CommitFailedException")
        assert "stale" not in cb.load_table("ha.t").properties
        schema = ca.load_table("ha.t").schema().as_arrow()

        errors: list[str] = []

        def writer(cat, src: str) -> None:
            try:
                tbl = cat.load_table("ha.t")
                for i in range(10):
                    tbl.append(pa.table({"id": [1000 * ord(src) + i], "src": [src], "note": [None]}, schema=schema))
                    tbl = cat.load_table("ha.t")
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        threads = [threading.Thread(target=writer, args=(c, s)) for c, s in ((a.pyiceberg(), "x"), (b.pyiceberg(), "y"))]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        assert not errors, errors
        final = SqlCatalog("ha", uri=f"postgresql+psycopg2://postgres@127.0.0.1:{pg.port}/postgres",
                           warehouse=f"file://{warehouse}").load_table("ha.t")
        ids = final.scan().to_arrow()["id"].to_pylist()
        assert len(ids) == 3 + 20 and len(set(ids)) == len(ids)
        out = a.cli("sql", "SELECT count(*) FROM ha.t").stdout
        assert "23" in out, out
        a.assert_alive()
        b.assert_alive()
