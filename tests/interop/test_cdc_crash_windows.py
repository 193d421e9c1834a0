"""Every crash window of a CDC commit (docs/cdc.md, "Exactly once"): frazil is killed at a
named point (FRAZIL_KILL_POINT, an abrupt _exit like SIGKILL) and restarted; afterwards
every source change is in the raw tables exactly once, and an independent reader
(PyIceberg) agrees."""
from __future__ import annotations

import os
import subprocess
import tempfile

import pytest
from pyiceberg.catalog.sql import SqlCatalog

from pg_cluster import pg_cluster_fixture

from conftest import frazil_binary

FRAZIL = frazil_binary()


# One logical-replication cluster per module (tests use their own tables and slots).
pg = pg_cluster_fixture("module", name="pg")


def frazil(env, *args, timeout=120):
    return subprocess.run([str(FRAZIL), *args], env=env, capture_output=True, text=True, timeout=timeout)


def raw_rows(env, table):
    out = frazil(env, "sql", f"SELECT id, v, _op FROM raw_data.{table} ORDER BY _commit_lsn, _seq", "--format", "csv")
    assert out.returncode == 0, out.stderr
    return [tuple(line.split(",")) for line in out.stdout.strip().splitlines()[1:]]


POINTS = ["cdc.after_parquet", "cdc.after_manifests", "cdc.after_commit", "cdc.after_confirm"]


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_a_commit_point_loses_and_duplicates_nothing(pg, point):
    name = point.split(".")[1]
    pg.exec(f"CREATE TABLE {name} (id int PRIMARY KEY, v text); INSERT INTO {name} VALUES (1, 'snap')")
    wh = tempfile.mkdtemp(prefix="frazil-crash-", dir="/tmp")
    env = dict(os.environ, FRAZIL_WAREHOUSE=wh, FRAZIL_SOURCE_CONNINFO=pg.conninfo,
               FRAZIL_SOURCE_TABLES=f"public.{name}", FRAZIL_SOURCE_PUBLICATION=f"pub_{name}",
               FRAZIL_SOURCE_SLOT=f"slot_{name}", FRAZIL_SOURCE_COMMIT_INTERVAL_MS="50")
    # Set up and snapshot, then change rows in three transactions.
    first = frazil(env, "run", "--until", "now")
    assert first.returncode == 0, first.stderr
    pg.exec(f"INSERT INTO {name} SELECT g, 'i' || g FROM generate_series(2, 50) g")
    pg.exec(f"UPDATE {name} SET v = 'u' || id WHERE id % 2 = 0")
    pg.exec(f"DELETE FROM {name} WHERE id % 5 = 0")
    killed = frazil(dict(env, FRAZIL_KILL_POINT=point), "run", "--until", "now")
    assert killed.returncode == 137, f"kill point {point} was not reached:\n{killed.stderr}"
    assert f"kill point {point} reached" in killed.stderr
    again = frazil(env, "run", "--until", "now")
    assert again.returncode == 0, again.stderr

    rows = raw_rows(env, name)
    expected = [("1", "snap", "r")]
    expected += [(str(i), f"i{i}", "c") for i in range(2, 51)]
    expected += [(str(i), f"u{i}", "u") for i in range(2, 51) if i % 2 == 0]
    # default replica identity: a delete carries the key only
    expected += [(str(i), "", "d") for i in range(2, 51) if i % 5 == 0]
    # (rows within one statement come in heap order, which updates change: compare as sets
    # per transaction, and each transaction's rows in commit order)
    ops = [r[2] for r in rows]
    assert ops == sorted(ops, key="rcud".index), f"changes out of commit order after a kill at {point}"
    assert sorted(rows) == sorted(expected), f"after a kill at {point}: {len(rows)} rows, expected {len(expected)}"

    # The independent reader sees the same rows, and the resume LSN covers everything.
    catalog = SqlCatalog("frazil", uri=f"sqlite:///{wh}/catalog.db", warehouse=f"file://{wh}")
    table = catalog.load_table(f"raw_data.{name}")
    assert table.scan().to_arrow().num_rows == len(expected)
    assert "frazil.lsn" in table.properties
    slot = pg.rows(f"SELECT confirmed_flush_lsn >= '{table.properties['frazil.lsn']}' FROM pg_replication_slots "
                   f"WHERE slot_name = 'slot_{name}'")
    assert slot == [["t"]]


def test_killed_during_the_initial_snapshot_copies_the_table_again_without_duplicates(pg):
    pg.exec("CREATE TABLE snapkill (id int PRIMARY KEY, v text); "
            "INSERT INTO snapkill SELECT g, md5(g::text) FROM generate_series(1, 200000) g")
    wh = tempfile.mkdtemp(prefix="frazil-crash-", dir="/tmp")
    env = dict(os.environ, FRAZIL_WAREHOUSE=wh, FRAZIL_SOURCE_CONNINFO=pg.conninfo,
               FRAZIL_SOURCE_TABLES="public.snapkill", FRAZIL_SOURCE_PUBLICATION="pub_snapkill",
               FRAZIL_SOURCE_SLOT="slot_snapkill", FRAZIL_SOURCE_COMMIT_INTERVAL_MS="50")
    killed = frazil(dict(env, FRAZIL_KILL_POINT="cdc.snapshot_chunk_written"), "run", "--until", "now")
    assert killed.returncode == 137, killed.stderr
    # Changes made between the crash and the restart must appear once, after the copy.
    pg.exec("UPDATE snapkill SET v = 'changed' WHERE id <= 10; DELETE FROM snapkill WHERE id > 199990")
    again = frazil(env, "run", "--until", "now")
    assert again.returncode == 0, again.stderr
    out = frazil(env, "sql", "SELECT _op, count(*), count(DISTINCT id), count(*) FILTER (WHERE v = 'changed') "
                             "FROM raw_data.snapkill GROUP BY 1 ORDER BY 1", "--format", "csv")
    assert out.returncode == 0, out.stderr
    got = [tuple(line.split(",")) for line in out.stdout.strip().splitlines()[1:]]
    # The copy after the restart already contains the update and the deletes (its snapshot
    # is newer): they must not be streamed a second time on top of it.
    assert got == [("r", "199990", "199990", "10")], got
