"""CDC end to end: PostgreSQL 15 (throwaway clusters from scripts/pg_cluster.sh) -> `frazil run`
-> raw changelog tables, read back by frazil itself, PyIceberg, DuckDB's iceberg extension
and Spark.

Every expectation comes from what the test did to PostgreSQL: the rows it wrote (modelled in
Python), the transaction ids and WAL positions PostgreSQL reported around each COMMIT, and
PostgreSQL's own output for every value (read with the session settings frazil uses, see
docs/cdc-types.md). Tests share one cluster (module scope), each with its own tables, slot,
publication and warehouse (or namespace, for the Spark test on the session warehouse).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
import re
import struct
import time
import uuid
from pathlib import Path
from typing import Callable

import pytest

import cdc_support as C
from cdc_support import FrazilCdc, Txn, pg_query, pg_txn, wait_committed, wait_for
from conftest import duck_read, pyiceberg_catalog, spark_read
from pg_cluster import PgCluster, pg_cluster_fixture

D = decimal.Decimal
EPOCH_DATE = dt.date(1970, 1, 1)


# ---------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------


# One logical-replication cluster per module (tests use their own tables and slots).
pg = pg_cluster_fixture("module", name="pg")


@pytest.fixture
def make_cdc(frazil_bin, pg, tmp_path):
    """make(name, tables, ...) -> FrazilCdc with slot fz_<name>, publication fz_<name>_pub,
    namespace cdc_<name>, a warehouse of its own unless given. Every process it started is
    killed and its slot and publication dropped at the end of the test, pass or fail."""
    made: list[FrazilCdc] = []

    def make(name: str, tables: list[str], warehouse: Path | None = None, cluster: PgCluster | None = None,
             conninfo: str | None = None, use_config_file: bool = False, **extra: str) -> FrazilCdc:
        cluster = cluster or pg
        slot, pub, ns = f"fz_{name}", f"fz_{name}_pub", f"cdc_{name}"
        wh = Path(warehouse) if warehouse else tmp_path / f"wh_{name}"
        wh.mkdir(parents=True, exist_ok=True)
        env = C.source_env(conninfo or cluster.conninfo, slot, pub, tables, ns, **extra)
        cdc = FrazilCdc(frazil_bin, wh, tmp_path / f"work_{name}", env, use_config_file=use_config_file)
        cdc.pg, cdc.slot, cdc.publication, cdc.ns, cdc.name = cluster, slot, pub, ns, name
        if use_config_file:
            lines = [
                f"warehouse: {wh}",
                "source:",
                f"  conninfo: {json.dumps(conninfo or cluster.conninfo)}",
                f"  tables: [{', '.join(tables)}]",
                f"  slot: {slot}",
                f"  publication: {pub}",
                f"  namespace: {ns}",
                "  commit_interval_ms: 200",
            ]
            (cdc.workdir / "frazil.yaml").write_text("\n".join(lines) + "\n")
        made.append(cdc)
        return cdc

    yield make
    for cdc in made:
        cdc.close()
        if cdc.pg.running:
            C.drop_source_objects(cdc.pg, cdc.slot, cdc.publication)


def ident(cdc: FrazilCdc, table: str) -> str:
    return f"{cdc.ns}.{table}"


def raw_pyiceberg(cdc: FrazilCdc, table: str, snapshot_id: int | None = None) -> list[dict]:
    tbl = pyiceberg_catalog(cdc.warehouse).load_table(ident(cdc, table))
    scan = tbl.scan(snapshot_id=snapshot_id) if snapshot_id is not None else tbl.scan()
    return C.arrow_rows(scan.to_arrow())


def raw_frazil(cdc: FrazilCdc, table: str) -> list[dict]:
    return C.arrow_rows(cdc.export(f"SELECT * FROM {ident(cdc, table)}"))


def error_line(stderr: str) -> str:
    lines = [l for l in stderr.splitlines() if l.startswith("error:")]
    assert lines, f"no 'error: ...' line on stderr:\n{stderr[-3000:]}"
    return lines[-1]


# ---------------------------------------------------------------------------------------
# 1. Snapshot + streaming end to end, every reader, multi-table atomicity
# ---------------------------------------------------------------------------------------

BIG_TEXT = "".join(hashlib.md5(str(i).encode()).hexdigest() for i in range(1, 321))  # 10240 chars, TOASTed
BIG_TEXT_SQL = "(SELECT string_agg(md5(i::text), '' ORDER BY i) FROM generate_series(1, 320) i)"
USER_COLS = ["id", "name", "score", "joined", "seen"]
ORDER_COLS = ["id", "user_id", "amount", "note"]
TS_BASE_US = int((dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) - C.EPOCH_UTC).total_seconds()) * 1_000_000


def _user(g: int) -> dict:
    return {
        "id": g,
        "name": BIG_TEXT if g == 5 else f"user {g}",
        "score": (D(g) * D("1.25")).quantize(D("0.01")),
        "joined": (dt.date(2020, 1, 1) + dt.timedelta(days=g) - EPOCH_DATE).days,
        "seen": TS_BASE_US + g * 60_500_000,
    }


def _order(g: int) -> dict:
    return {"id": g, "user_id": g % 100 + 1, "amount": (D(g) * D("10.5")).quantize(D("0.01")), "note": BIG_TEXT if g == 8 else None}


def _nulls(cols: list[str]) -> dict:
    return {c: None for c in cols}


def _micros(ts: str) -> int:
    d = dt.datetime.fromisoformat(ts) - C.EPOCH_UTC
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def _days(d: str) -> int:
    return (dt.date.fromisoformat(d) - EPOCH_DATE).days


E2E_SETUP = f"""
CREATE TABLE e2e_users (id int PRIMARY KEY, name text, score numeric(10,2), joined date, seen timestamptz);
ALTER TABLE e2e_users REPLICA IDENTITY FULL;
INSERT INTO e2e_users SELECT g, 'user ' || g, g * 1.25, date '2020-01-01' + g,
  timestamptz '2024-01-01 00:00:00+00' + g * interval '60.5 seconds' FROM generate_series(1, 1000) g;
UPDATE e2e_users SET name = {BIG_TEXT_SQL} WHERE id = 5;
CREATE TABLE e2e_orders (id int PRIMARY KEY, user_id int, amount numeric(12,2), note text);
INSERT INTO e2e_orders SELECT g, g % 100 + 1, g * 10.5, NULL FROM generate_series(1, 50) g;
UPDATE e2e_orders SET note = {BIG_TEXT_SQL} WHERE id = 8;
"""


def _e2e_changes(pg: PgCluster, committed: Callable[[str, Txn], None]) -> tuple[list[Txn], dict[str, list[tuple]]]:
    """Runs the streamed transactions; returns them and, per table, the expected changes in
    order: (txn index, op, row, old). `committed(table, txn)` waits until frazil committed
    txn: before the multi-table transaction both tables are caught up, so that it is the only
    transaction in its batch."""
    users = {g: _user(g) for g in range(1, 1001)}
    orders = {g: _order(g) for g in range(1, 51)}
    exp: dict[str, list[tuple]] = {"e2e_users": [], "e2e_orders": []}
    txns: list[Txn] = []

    def run(label: str, sql: str) -> int:
        txns.append(pg_txn(pg, sql, label))
        return len(txns) - 1

    # T0: inserts, one with unicode and one all NULL.
    t = run("insert", """
INSERT INTO e2e_users VALUES (1001, 'Zoë ünïcödé 😀 tab\there', 12.34, '1999-12-31', '2000-01-01 12:00:00.123456+00');
INSERT INTO e2e_users VALUES (1002, NULL, NULL, NULL, NULL);
""")
    users[1001] = {"id": 1001, "name": "Zoë ünïcödé 😀 tab\there", "score": D("12.34"), "joined": _days("1999-12-31"), "seen": _micros("2000-01-01T12:00:00.123456+00:00")}
    users[1002] = {"id": 1002, **{c: None for c in USER_COLS[1:]}}
    exp["e2e_users"] += [(t, "c", dict(users[1001]), None), (t, "c", dict(users[1002]), None)]

    # T1: updates (replica identity full: old images), one leaving a TOASTed column unchanged.
    t = run("update", """
UPDATE e2e_users SET score = score + 1 WHERE id = 1;
UPDATE e2e_users SET score = score + 1 WHERE id = 2;
UPDATE e2e_users SET name = 'renamed' WHERE id = 3;
UPDATE e2e_users SET score = 0.01 WHERE id = 5;
""")
    for g, change in ((1, {"score": users[1]["score"] + 1}), (2, {"score": users[2]["score"] + 1}), (3, {"name": "renamed"}), (5, {"score": D("0.01")})):
        old = dict(users[g])
        users[g] = {**users[g], **change}
        exp["e2e_users"].append((t, "u", dict(users[g]), old))

    # T2: delete (full identity: the whole old row).
    t = run("delete", "DELETE FROM e2e_users WHERE id = 4;")
    exp["e2e_users"].append((t, "d", users.pop(4), None))

    # T3: default identity: no old image unless the key changes (then the key only); a delete
    # carries the key only. (An unchanged TOASTed value without an old row: see
    # test_unchanged_toast_without_old_row.)
    t = run("orders", """
UPDATE e2e_orders SET amount = 1.00 WHERE id = 6;
UPDATE e2e_orders SET id = 1007 WHERE id = 7;
DELETE FROM e2e_orders WHERE id = 5;
UPDATE e2e_orders SET note = 'short now' WHERE id = 8;
""")
    orders[6]["amount"] = D("1.00")
    exp["e2e_orders"].append((t, "u", dict(orders[6]), None))
    o7 = orders.pop(7)
    orders[1007] = {**o7, "id": 1007}
    exp["e2e_orders"].append((t, "u", dict(orders[1007]), {**_nulls(ORDER_COLS), "id": 7}))
    orders.pop(5)
    exp["e2e_orders"].append((t, "d", {**_nulls(ORDER_COLS), "id": 5}, None))
    orders[8]["note"] = "short now"
    exp["e2e_orders"].append((t, "u", dict(orders[8]), None))

    # T4: truncate, T5: refill.
    t = run("truncate", "TRUNCATE e2e_orders;")
    orders.clear()
    exp["e2e_orders"].append((t, "t", _nulls(ORDER_COLS), None))
    t = run("refill", "INSERT INTO e2e_orders VALUES (1, 1, 5.00, 'after truncate'), (2, 2, 6.00, NULL);")
    committed("e2e_users", txns[2])
    committed("e2e_orders", txns[t])
    orders[1] = {"id": 1, "user_id": 1, "amount": D("5.00"), "note": "after truncate"}
    orders[2] = {"id": 2, "user_id": 2, "amount": D("6.00"), "note": None}
    exp["e2e_orders"] += [(t, "c", dict(orders[1]), None), (t, "c", dict(orders[2]), None)]

    # T6: one transaction over both tables (the last change to either).
    t = run("multi-table", """
INSERT INTO e2e_users VALUES (1003, 'multi', 3.00, '2024-02-29', '1969-12-31 23:59:59.999999+00');
UPDATE e2e_users SET seen = '2030-06-01 00:00:00+00' WHERE id = 1001;
INSERT INTO e2e_orders VALUES (3, 1003, 7.77, 'multi');
DELETE FROM e2e_orders WHERE id = 1;
""")
    users[1003] = {"id": 1003, "name": "multi", "score": D("3.00"), "joined": _days("2024-02-29"), "seen": _micros("1969-12-31T23:59:59.999999+00:00")}
    exp["e2e_users"].append((t, "c", dict(users[1003]), None))
    old = dict(users[1001])
    users[1001] = {**users[1001], "seen": _micros("2030-06-01T00:00:00+00:00")}
    exp["e2e_users"].append((t, "u", dict(users[1001]), old))
    exp["e2e_orders"].append((t, "c", {"id": 3, "user_id": 1003, "amount": D("7.77"), "note": "multi"}, None))
    exp["e2e_orders"].append((t, "d", {**_nulls(ORDER_COLS), "id": 1}, None))
    return txns, exp


def _check_changelog(rows: list[dict], table: str, cols: list[str], snapshot: list[dict], changes: list[tuple], txns: list[Txn], reader: str) -> None:
    """rows (any reader) == snapshot rows ('r', by id) followed by the streamed changes in
    (_commit_lsn, _seq) order, with _txid / _commit_lsn / _commit_ts / _lsn consistent with
    what PostgreSQL reported for each transaction."""
    where = f"{reader}, {table}"
    assert len(rows) == len(snapshot) + len(changes), f"{where}: {len(rows)} raw rows, expected {len(snapshot)} snapshot + {len(changes)} changes"
    snap = sorted((r for r in rows if r["_op"] == "r"), key=lambda r: r["id"])
    streamed = sorted((r for r in rows if r["_op"] != "r"), key=lambda r: (r["_commit_lsn"], r["_seq"]))
    assert len(snap) == len(snapshot), f"{where}: {len(snap)} snapshot rows (_op r), expected {len(snapshot)}"
    for got, want in zip(snap, snapshot):
        assert {c: got[c] for c in cols} == want, f"{where}: snapshot row differs:\n got  {({c: got[c] for c in cols})}\n want {want}"
        assert got["_old"] is None, f"{where}: snapshot row {got['id']} has _old {got['_old']}"
    first_txn = min(txns, key=lambda t: t.pre_lsn)
    assert len({r["_commit_lsn"] for r in snap}) <= 1, f"{where}: snapshot rows with different _commit_lsn"
    if snap:
        assert snap[0]["_commit_lsn"] is not None and snap[0]["_commit_lsn"] <= first_txn.pre_lsn, f"{where}: snapshot _commit_lsn {snap[0]['_commit_lsn']} after the first streamed transaction"
    prev = None
    for i, (got, (ti, op, row, old)) in enumerate(zip(streamed, changes)):
        txn = txns[ti]
        ctx = f"{where}: change #{i} ({txn.label}, expected {op} {row.get('id')})"
        assert got["_op"] == op, f"{ctx}: _op is {got['_op']!r}\n row {got}"
        assert {c: got[c] for c in cols} == row, f"{ctx}: values differ\n got  {({c: got[c] for c in cols})}\n want {row}"
        assert got["_old"] == old, f"{ctx}: _old differs\n got  {got['_old']}\n want {old}"
        assert got["_txid"] == txn.xid, f"{ctx}: _txid {got['_txid']}, PostgreSQL's xid {txn.xid}"
        assert txn.pre_lsn <= got["_commit_lsn"] < txn.post_lsn, f"{ctx}: _commit_lsn {C.format_lsn(got['_commit_lsn'])} outside the commit's WAL range [{C.format_lsn(txn.pre_lsn)}, {C.format_lsn(txn.post_lsn)})"
        assert got["_lsn"] is not None and got["_lsn"] < got["_commit_lsn"], f"{ctx}: _lsn {got['_lsn']} not before the commit {got['_commit_lsn']}"
        assert got["_commit_ts"] is not None and txn.pre_ts_us <= got["_commit_ts"] <= txn.post_ts_us, f"{ctx}: _commit_ts {got['_commit_ts']} outside [{txn.pre_ts_us}, {txn.post_ts_us}]"
        if prev is not None and prev["_commit_lsn"] == got["_commit_lsn"]:
            assert got["_seq"] > prev["_seq"] and got["_lsn"] > prev["_lsn"], f"{ctx}: _seq/_lsn not increasing within the transaction"
        prev = got


def _check_seq_across_tables(rows_by_table: dict[str, list[dict]], changes: dict[str, list[tuple]], txns: list[Txn]) -> None:
    """_seq is the change's ordinal within its transaction, over all tables: statement order."""
    for ti, txn in enumerate(txns):
        seqs = []
        for table, rows in rows_by_table.items():
            seqs += [r["_seq"] for r in rows if r["_op"] != "r" and r["_txid"] == txn.xid]
        n = sum(1 for ch in changes.values() for c in ch if c[0] == ti)
        assert sorted(seqs) == list(range(n)), f"transaction {txn.label}: _seq over all tables {sorted(seqs)}, expected 0..{n - 1}"


def test_snapshot_and_streaming_end_to_end(pg, make_cdc, shared_wh, duck, spark):
    pg.exec(E2E_SETUP)
    cdc = make_cdc("e2e", ["public.e2e_users", "public.e2e_orders"], warehouse=shared_wh, use_config_file=True)
    cdc.start()
    users_id, orders_id = ident(cdc, "e2e_users"), ident(cdc, "e2e_orders")
    C.wait_snapshot(cdc.warehouse, users_id, cdc)
    C.wait_snapshot(cdc.warehouse, orders_id, cdc)
    snap_users = [_user(g) for g in range(1, 1001)]
    snap_orders = [_order(g) for g in range(1, 51)]
    # The snapshot is readable (and complete) before any change is streamed.
    wait_for(lambda: len(raw_frazil(cdc, "e2e_users")) == 1000, 30, "1000 snapshot rows in e2e_users", cdc)

    txns, exp = _e2e_changes(pg, lambda table, txn: wait_committed(cdc.warehouse, ident(cdc, table), txn, cdc))
    last = {"e2e_users": txns[-1], "e2e_orders": txns[-1]}
    for table, txn in last.items():
        wait_committed(cdc.warehouse, ident(cdc, table), txn, cdc)
    assert cdc.stop() == 0, cdc.describe()

    snapshots = {"e2e_users": snap_users, "e2e_orders": snap_orders}
    cols = {"e2e_users": USER_COLS, "e2e_orders": ORDER_COLS}
    cat = pyiceberg_catalog(cdc.warehouse)
    read = {
        "frazil sql": lambda t: raw_frazil(cdc, t),
        "PyIceberg": lambda t: raw_pyiceberg(cdc, t),
        "DuckDB iceberg_scan": lambda t: C.arrow_rows(duck_read(duck, cat.load_table(ident(cdc, t)).metadata_location)),
        "Spark": lambda t: C.arrow_rows(spark_read(spark, ident(cdc, t))),
    }
    for reader, fn in read.items():
        got = {t: fn(t) for t in snapshots}
        for t in snapshots:
            _check_changelog(got[t], t, cols[t], snapshots[t], exp[t], txns, reader)
        if reader == "frazil sql":
            _check_seq_across_tables(got, exp, txns)

    # Multi-table atomicity: the last transaction touched both tables; both current snapshots
    # were committed together and carry the same frazil.lsn (also the table property).
    multi = txns[-1]
    lsns = {}
    for t in snapshots:
        md = C.table_metadata(cdc.warehouse, ident(cdc, t))
        snap = C.current_snapshot(md)
        assert snap is not None, f"{t}: no current snapshot"
        summary_lsn = snap.get("summary", {}).get("frazil.lsn")
        assert summary_lsn, f"{t}: current snapshot has no frazil.lsn in its summary: {snap.get('summary')}"
        assert summary_lsn == md["properties"].get("frazil.lsn"), f"{t}: snapshot frazil.lsn {summary_lsn}, table property {md['properties'].get('frazil.lsn')}"
        assert snap["summary"].get("added-records") == "2", f"{t}: the current snapshot should hold exactly the multi-table transaction's 2 changes: {snap['summary']}"
        lsns[t] = C.parse_lsn(summary_lsn)
    assert lsns["e2e_users"] == lsns["e2e_orders"], f"the multi-table transaction was committed at different frazil.lsn: {lsns}"
    assert multi.pre_lsn < lsns["e2e_users"] <= multi.post_lsn, f"frazil.lsn {C.format_lsn(lsns['e2e_users'])} is not the end of the last transaction [{C.format_lsn(multi.pre_lsn)}, {C.format_lsn(multi.post_lsn)}]"


# ---------------------------------------------------------------------------------------
# 2. Every built-in type, via snapshot and via streaming
# ---------------------------------------------------------------------------------------

# (column, PostgreSQL type, Iceberg type by docs/cdc-types.md, how to compare)
TYPE_COLUMNS = [
    ("c_int2", "int2", "int", "int"),
    ("c_int4", "int4", "int", "int"),
    ("c_int8", "int8", "long", "int"),
    ("c_float4", "float4", "float", "float4"),
    ("c_float8", "float8", "double", "float8"),
    ("c_num", "numeric", "string", "text"),
    ("c_num10_2", "numeric(10,2)", "decimal(10,2)", "dec"),
    ("c_num38", "numeric(38,10)", "decimal(38,10)", "dec"),
    ("c_num_neg", "numeric(5,-2)", "decimal(7,0)", "dec"),
    ("c_money", "money", "string", "text"),
    ("c_text", "text", "string", "text"),
    ("c_varchar", "varchar(20)", "string", "text"),
    ("c_char", "char(5)", "string", "text"),
    ("c_name", "name", "string", "text"),
    ("c_bytea", "bytea", "binary", "bytea"),
    ("c_bool", "bool", "boolean", "bool"),
    ("c_date", "date", "date", "date"),
    ("c_time", "time", "time", "time"),
    ("c_timetz", "timetz", "string", "text"),
    ("c_ts", "timestamp", "timestamp", "ts"),
    ("c_tstz", "timestamptz", "timestamptz", "ts"),
    ("c_interval", "interval", "string", "text"),
    ("c_uuid", "uuid", "uuid", "uuid"),
    ("c_json", "json", "string", "text"),
    ("c_jsonb", "jsonb", "string", "text"),
    ("c_xml", "xml", "string", "text"),
    ("c_inet", "inet", "string", "text"),
    ("c_cidr", "cidr", "string", "text"),
    ("c_macaddr", "macaddr", "string", "text"),
    ("c_macaddr8", "macaddr8", "string", "text"),
    ("c_bit", "bit(4)", "string", "text"),
    ("c_varbit", "varbit", "string", "text"),
    ("c_int_arr", "int[]", "string", "text"),
    ("c_text_arr", "text[]", "string", "text"),
    ("c_enum", "ty_mood", "string", "text"),
    ("c_domain", "ty_amount", "decimal(10,2)", "dec"),
    ("c_range", "int4range", "string", "text"),
    ("c_comp", "ty_pair", "string", "text"),
    ("c_tsv", "tsvector", "string", "text"),
    ("c_point", "point", "string", "text"),
    ("c_box", "box", "string", "text"),
    ("c_polygon", "polygon", "string", "text"),
    ("c_circle", "circle", "string", "text"),
]

ALL_BYTES = "\\x" + bytes(range(256)).hex()

# Rows as SQL literals per column (missing = NULL).
TYPE_ROWS = {
    1: {
        "c_int2": "12", "c_int4": "-123456", "c_int8": "1234567890123", "c_float4": "1.5", "c_float8": "3.141592653589793",
        "c_num": "'12345678901234567890.123456789012345678901234567890'", "c_num10_2": "'12345678.91'",
        "c_num38": "'1234567890123456789012345678.0123456789'", "c_num_neg": "1234567", "c_money": "'1234.56'",
        "c_text": "'hello'", "c_varchar": "'vc'", "c_char": "'ab'", "c_name": "'nm'", "c_bytea": "'\\x0a0bff'",
        "c_bool": "true", "c_date": "'2024-02-29'", "c_time": "'13:45:56.789012'", "c_timetz": "'13:45:56.789+05:30'",
        "c_ts": "'2024-05-01 10:00:00.5'", "c_tstz": "'2024-05-01 10:00:00.5+02'", "c_interval": "'1 year 2 months 3 days 04:05:06.5'",
        "c_uuid": "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "c_json": """'{"b": 1,  "a": [1, 2]}'""",
        "c_jsonb": """'{"b": 1, "a": [1, 2.50], "c": "ü"}'""", "c_xml": """'<a x="1">t &amp; u</a>'""",
        "c_inet": "'192.168.1.5/24'", "c_cidr": "'10.0.0.0/8'", "c_macaddr": "'08:00:2b:01:02:03'",
        "c_macaddr8": "'08:00:2b:01:02:03:04:05'", "c_bit": "B'1010'", "c_varbit": "B'110'", "c_int_arr": "'{1,NULL,3}'",
        "c_text_arr": """'{"a b",NULL,"\\"q\\"","NULL","",ü}'""", "c_enum": "'happy'", "c_domain": "12.5",
        "c_range": "'[1,10)'", "c_comp": "ROW(1, 'a b')", "c_tsv": "'a fat cat sat'", "c_point": "'(1.5,-2)'",
        "c_box": "'((0,0),(1,1))'", "c_polygon": "'((0,0),(1,0),(1,1))'", "c_circle": "'<(1,2),3>'",
    },
    2: {},  # every column NULL
    3: {
        "c_int2": "-32768", "c_int4": "2147483647", "c_int8": "-9223372036854775808", "c_float4": "'NaN'", "c_float8": "'Infinity'",
        "c_num": "'NaN'", "c_num10_2": "'-99999999.99'", "c_num38": "'-9999999999999999999999999999.9999999999'",
        "c_num_neg": "-9999900", "c_money": "'-92233720368547758.08'",
        "c_text": "E'tab\\there\\nnewline \\\\ backslash ''quote'' \"dq\" ünïcödé 😀'", "c_varchar": "''", "c_char": "''",
        "c_name": "'" + "x" * 63 + "'", "c_bytea": "'\\x'", "c_bool": "false", "c_date": "'infinity'", "c_time": "'24:00:00'",
        "c_timetz": "'00:00:00+14'", "c_ts": "'-infinity'", "c_tstz": "'infinity'", "c_interval": "'-1 years -2 days +03:04:05.678'",
        "c_uuid": "'00000000-0000-0000-0000-000000000000'", "c_json": "'[]'", "c_jsonb": """'{"z": [], "a": {"n": null}}'""",
        "c_xml": "'<r/>'", "c_inet": "'::1'", "c_cidr": "'2001:db8::/32'", "c_macaddr": "'ff:ff:ff:ff:ff:ff'",
        "c_macaddr8": "'00:00:00:00:00:00:00:00'", "c_bit": "B'0000'", "c_varbit": "B''", "c_int_arr": "'{{1,2},{3,NULL}}'",
        "c_text_arr": "'{}'", "c_enum": "'sad'", "c_domain": "0", "c_range": "'empty'", "c_comp": "ROW(NULL, NULL)", "c_tsv": "''",
        "c_point": "'(0,0)'", "c_box": "'((-1,-1),(1,1))'", "c_polygon": "'((0,0))'", "c_circle": "'<(0,0),0>'",
    },
    4: {
        "c_int2": "0", "c_int4": "0", "c_int8": "0", "c_float4": "'-0'", "c_float8": "'-Infinity'", "c_num": "'Infinity'",
        "c_num10_2": "'0.01'", "c_num38": "'0.0000000001'", "c_num_neg": "0", "c_money": "0", "c_text": "'NULL'",
        "c_varchar": "E'\\\\N'", "c_char": "'abcde'", "c_name": "''", "c_bytea": f"'{ALL_BYTES}'", "c_date": "'0044-03-15 BC'",
        "c_time": "'00:00:00'", "c_timetz": "'23:59:59.999999-12'", "c_ts": "'0044-03-15 10:00:00.5 BC'",
        "c_tstz": "'1900-01-01 00:00:00.000001+00'", "c_interval": "'0 seconds'", "c_uuid": "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
        "c_json": """'"\\u00e9 \\\\ x"'""", "c_jsonb": "'-0.0'", "c_int_arr": "'[0:2]={1,2,3}'",
        "c_text_arr": """'{{"a","b"},{"c",NULL}}'""", "c_enum": "'ok'", "c_domain": "'-99999999.99'", "c_range": "'(,5]'",
        "c_comp": "ROW(-1, '')", "c_tsv": "'''quoted lexeme'':1A'", "c_inet": "'0.0.0.0/0'",
    },
    5: {
        "c_int2": "32767", "c_int4": "-2147483648", "c_int8": "9223372036854775807", "c_float4": "'1e-45'",
        "c_float8": "'4.9e-324'", "c_num": "'-0.000000000000000000000000000000000000000001'", "c_num10_2": "'-0.00'",
        "c_date": "'5874897-12-31'", "c_ts": "'294246-12-31 23:59:59.999999'", "c_tstz": "'4714-11-24 00:00:00+00 BC'",
        "c_time": "'23:59:59.999999'",
    },
}


def _type_insert(ids: list[int]) -> str:
    names = [c[0] for c in TYPE_COLUMNS]
    stmts = []
    for i in ids:
        vals = TYPE_ROWS[i]
        stmts.append(f"INSERT INTO ty_all (id, {', '.join(names)}) VALUES ({i}, {', '.join(vals.get(n) or 'NULL' for n in names)});")
    return "\n".join(stmts)


def _pg_type_rows(pg: PgCluster) -> dict[int, dict]:
    """PostgreSQL's values: output text per column, plus day / microsecond numbers for the
    columns that map to typed date, time and timestamp columns."""
    exprs = ["id::text"]
    for name, _, _, kind in TYPE_COLUMNS:
        exprs.append(name)
        if kind == "date":
            exprs.append(f"CASE WHEN {name} = 'infinity' THEN '2147483647' WHEN {name} = '-infinity' THEN '-2147483647' ELSE ({name} - date '1970-01-01')::text END")
        elif kind == "ts":
            exprs.append(f"CASE WHEN {name} = 'infinity' THEN '9223372036854775807' WHEN {name} = '-infinity' THEN '-9223372036854775807' ELSE (extract(epoch FROM {name}) * 1000000)::bigint::text END")
        elif kind == "time":
            exprs.append(f"(extract(epoch FROM {name}) * 1000000)::bigint::text")
    out = {}
    for rec in pg_query(pg, f"SELECT {', '.join(exprs)} FROM ty_all ORDER BY id"):
        it = iter(rec)
        row = {"id": int(next(it))}
        for name, _, _, kind in TYPE_COLUMNS:
            text = next(it)
            number = next(it) if kind in ("date", "ts", "time") else None
            row[name] = (text, number)
        out[row["id"]] = row
    return out


def _expected_value(kind: str, text: str, number: str | None, itype: str):
    if kind == "int":
        return int(text)
    if kind in ("float4", "float8"):
        return float(text)
    if kind == "dec":
        return D(text)
    if kind == "bool":
        return {"t": True, "f": False}[text]
    if kind == "bytea":
        assert text.startswith("\\x"), text
        return bytes.fromhex(text[2:])
    if kind == "uuid":
        return uuid.UUID(text)
    if kind in ("date", "ts", "time"):
        return int(number)
    return text


def _same(kind: str, got, want, itype: str) -> bool:
    if kind in ("float4", "float8"):
        if not isinstance(got, float):
            return False
        if math.isnan(want):
            return math.isnan(got)
        fmt = "<f" if kind == "float4" else "<d"
        return struct.pack(fmt, got) == struct.pack(fmt, want)
    if kind == "dec":
        if not isinstance(got, D):
            return False
        scale = int(re.match(r"decimal\(\d+,(\d+)\)", itype).group(1))
        return got == want and got.as_tuple().exponent == -scale
    if kind == "uuid":
        return C.as_uuid(got) == want
    return type(got) is type(want) and got == want


def _compare_values(got_row: dict | None, pgr: dict, where: str, problems: list[str]) -> None:
    for name, pgtype, itype, kind in TYPE_COLUMNS:
        text, number = pgr[name]
        got = None if got_row is None else got_row.get(name)
        if text is None:
            if got is not None:
                problems.append(f"{where} {name} ({pgtype}): PostgreSQL NULL, raw {got!r}")
            continue
        if got is None:
            problems.append(f"{where} {name} ({pgtype}): PostgreSQL {text!r} but the raw value is NULL")
            continue
        want = _expected_value(kind, text, number, itype)
        if not _same(kind, got, want, itype):
            problems.append(f"{where} {name} ({pgtype} -> {itype}): raw {got!r}, PostgreSQL {text!r} (expected {want!r})")


def _check_types(rows: list[dict], pg_rows: dict[int, dict], reader: str) -> None:
    """Raw rows: ids 1-5 snapshot ('r'), 101-105 streamed inserts ('c') of the same values,
    201-205 streamed updates ('u') of 101-105 to new ids, whose _old (replica identity full)
    holds every value again. PostgreSQL now has ids 1-5 and 201-205."""
    by_id = {r["id"]: r for r in rows}
    assert len(rows) == len(by_id), f"{reader}: duplicate rows: {sorted(r['id'] for r in rows)}"
    base = sorted(i for i in pg_rows if i < 100)
    want_ids = base + [i + 100 for i in base] + [i + 200 for i in base]
    assert sorted(by_id) == want_ids, f"{reader}: raw rows for ids {sorted(by_id)}, expected {want_ids}"
    problems: list[str] = []
    for i in base:
        for rid, op, pg_id, old_id in ((i, "r", i, None), (i + 100, "c", i + 200, None), (i + 200, "u", i + 200, i + 100)):
            got = by_id[rid]
            if got["_op"] != op:
                problems.append(f"id {rid}: _op {got['_op']!r}, expected {op!r}")
            _compare_values(got, pg_rows[pg_id], f"id {rid}", problems)
            if old_id is None:
                if got["_old"] is not None:
                    problems.append(f"id {rid}: _old {got['_old']!r}, expected NULL")
            else:
                old = got["_old"]
                if old is None or old.get("id") != old_id:
                    problems.append(f"id {rid}: _old is {old!r}, expected the old row {old_id}")
                _compare_values(old, pg_rows[pg_id], f"id {rid} _old", problems)
    assert not problems, f"{reader}: {len(problems)} values differ from PostgreSQL:\n  " + "\n  ".join(problems)


TYPES_SETUP = """
CREATE TYPE ty_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN ty_amount AS numeric(10,2);
CREATE TYPE ty_pair AS (a int, b text);
CREATE TABLE ty_all (id int PRIMARY KEY, {cols});
ALTER TABLE ty_all REPLICA IDENTITY FULL;
"""


def test_every_builtin_type(pg, make_cdc):
    pg.exec(TYPES_SETUP.format(cols=", ".join(f"{n} {t}" for n, t, _, _ in TYPE_COLUMNS)))
    pg.exec(_type_insert([1, 2, 3, 4, 5]))
    cdc = make_cdc("types", ["public.ty_all"])
    cdc.start()
    tid = ident(cdc, "ty_all")
    C.wait_snapshot(cdc.warehouse, tid, cdc)
    # The same values again, streamed: inserted after the snapshot, then updated (the old
    # row image carries every value in _old).
    pg_txn(pg, "INSERT INTO ty_all SELECT id + 100, " + ", ".join(n for n, _, _, _ in TYPE_COLUMNS) + " FROM ty_all ORDER BY id;", "streamed copy")
    txn = pg_txn(pg, "UPDATE ty_all SET id = id + 100 WHERE id > 100;", "streamed update")
    wait_committed(cdc.warehouse, tid, txn, cdc)
    assert cdc.stop() == 0, cdc.describe()

    # The Iceberg types follow docs/cdc-types.md (the columns and their _old copies).
    tbl = pyiceberg_catalog(cdc.warehouse).load_table(tid)
    schema = tbl.schema()
    got_types = {f.name: str(f.field_type).replace(" ", "") for f in schema.fields}
    old_types = {f.name: str(f.field_type).replace(" ", "") for f in schema.find_field("_old").field_type.fields}
    wrong = {n: (pt, it, got_types.get(n), old_types.get(n)) for n, pt, it, _ in TYPE_COLUMNS if got_types.get(n) != it or old_types.get(n) != it}
    assert not wrong, "Iceberg types differ from docs/cdc-types.md (column: (PostgreSQL, expected, got, got in _old)):\n" + "\n".join(f"  {k}: {v}" for k, v in wrong.items())
    assert got_types.get("id") == "int"

    pg_rows = _pg_type_rows(pg)
    assert sorted(pg_rows) == [1, 2, 3, 4, 5, 201, 202, 203, 204, 205]
    _check_types(raw_frazil(cdc, "ty_all"), pg_rows, "frazil sql")
    _check_types(C.arrow_rows(tbl.scan().to_arrow()), pg_rows, "PyIceberg")


# ---------------------------------------------------------------------------------------
# 3. A value that cannot be represented stops frazil; it is never stored as NULL
# ---------------------------------------------------------------------------------------


def _assert_nan_failure(cdc: FrazilCdc, rc: int, table: str) -> str:
    err = cdc.stderr()
    assert rc != 0, f"frazil run exited 0 on a numeric(10,2) NaN\n{cdc.describe()}"
    line = error_line(err)
    assert table in line and "amount" in line, f"the error does not name the table {table} and the column amount: {line}"
    assert "NaN" in line, f"the error does not show the offending value: {line}"
    return line


def test_numeric_nan_in_constrained_column_fails_clearly(pg, make_cdc):
    pg.exec("""
CREATE TABLE nan_stream (id int PRIMARY KEY, amount numeric(10,2), note numeric);
INSERT INTO nan_stream VALUES (1, 1.50, 'NaN');
CREATE TABLE nan_snap (id int PRIMARY KEY, amount numeric(10,2));
INSERT INTO nan_snap VALUES (1, 2.50), (2, 'NaN'), (3, 3.50);
""")
    # Streaming: the snapshot row is fine; a NaN arriving later stops the pipeline.
    cdc = make_cdc("nan_stream", ["public.nan_stream"])
    cdc.start()
    sid = ident(cdc, "nan_stream")
    lsn0 = C.wait_snapshot(cdc.warehouse, sid, cdc)
    pg.exec("INSERT INTO nan_stream VALUES (2, 'NaN', 1);")
    pg.exec("INSERT INTO nan_stream VALUES (3, 3.00, 2);")
    rc = cdc.wait_exit(60)
    _assert_nan_failure(cdc, rc, "nan_stream")
    rows = raw_pyiceberg(cdc, "nan_stream")
    assert [(r["id"], r["amount"], r["note"]) for r in rows] == [(1, D("1.50"), "NaN")], f"raw rows after the failure: {rows}"
    assert C.table_lsn(cdc.warehouse, sid) == lsn0, "frazil.lsn moved past the failed transaction"
    # A restart does not skip the value: it fails again the same way.
    cdc.start()
    rc = cdc.wait_exit(60)
    _assert_nan_failure(cdc, rc, "nan_stream")
    assert [r["id"] for r in raw_pyiceberg(cdc, "nan_stream")] == [1]

    # Initial snapshot: the NaN row fails the copy; no row with a NULL amount is committed.
    cdc2 = make_cdc("nan_snap", ["public.nan_snap"])
    cdc2.start()
    rc = cdc2.wait_exit(60)
    _assert_nan_failure(cdc2, rc, "nan_snap")
    md = C.table_metadata(cdc2.warehouse, ident(cdc2, "nan_snap"))
    if md is not None and C.current_snapshot(md) is not None:
        rows = raw_pyiceberg(cdc2, "nan_snap")
        assert all(r["amount"] is not None for r in rows), f"NaN stored as NULL: {rows}"
        assert 2 not in [r["id"] for r in rows]


def test_unchanged_toast_without_old_row(pg, make_cdc):
    """Default replica identity: an UPDATE that leaves a TOASTed column alone does not send
    its value ('u') and there is no old row. frazil fills it from the row's earlier image (the
    snapshot row, or an earlier change in the same batch); never NULL."""
    pg.exec(f"""
CREATE TABLE toast_t (id int PRIMARY KEY, n int, doc text);
INSERT INTO toast_t VALUES (1, 1, {BIG_TEXT_SQL});
""")
    cdc = make_cdc("toast", ["public.toast_t"])
    cdc.start()
    tid = ident(cdc, "toast_t")
    C.wait_snapshot(cdc.warehouse, tid, cdc)
    # one update alone, then two in one transaction (the second fills from the first), then
    # an insert of a new row followed by an update of it in the same transaction
    pg_txn(pg, "UPDATE toast_t SET n = 2 WHERE id = 1;", "update beside TOAST")
    pg_txn(pg, "UPDATE toast_t SET n = 3 WHERE id = 1; UPDATE toast_t SET n = 4 WHERE id = 1;", "two updates")
    txn = pg_txn(pg, f"INSERT INTO toast_t VALUES (2, 1, {BIG_TEXT_SQL}); UPDATE toast_t SET n = 5 WHERE id = 2;",
                 "insert and update")
    wait_committed(cdc.warehouse, tid, txn, cdc)
    assert cdc.stop() == 0, cdc.describe()
    rows = sorted(raw_pyiceberg(cdc, "toast_t"), key=lambda r: (r["_commit_lsn"], r["_seq"] if r["_seq"] is not None else -1))
    assert [(r["_op"], r["id"], r["n"]) for r in rows] == [("r", 1, 1), ("u", 1, 2), ("u", 1, 3), ("u", 1, 4),
                                                          ("c", 2, 1), ("u", 2, 5)], rows
    for r in rows:
        assert r["doc"] == BIG_TEXT, f"{r['_op']} of id {r['id']}: the TOASTed value was stored as {str(r['doc'])[:60]!r}"


def test_unchanged_toast_without_any_earlier_image_stops_clearly(pg, make_cdc):
    """With snapshot: never frazil has no earlier image of a pre-existing row: it stops naming
    the table, the column and the fix, and stores nothing invented."""
    pg.exec(f"""
CREATE TABLE toast_n (id int PRIMARY KEY, n int, doc text);
INSERT INTO toast_n VALUES (1, 1, {BIG_TEXT_SQL});
""")
    cdc = make_cdc("toastn", ["public.toast_n"], FRAZIL_SOURCE_SNAPSHOT="never")
    cdc.start()
    tid = ident(cdc, "toast_n")
    deadline = time.monotonic() + 30
    while "streaming changes" not in cdc.stderr() and cdc.running and time.monotonic() < deadline:
        time.sleep(0.1)  # with snapshot: never only what commits after the slot exists is captured
    probe = pg_txn(pg, "INSERT INTO toast_n VALUES (100, 0, 'small');", "probe")
    wait_committed(cdc.warehouse, tid, probe, cdc)
    pg_txn(pg, "UPDATE toast_n SET n = 2 WHERE id = 1;", "update beside TOAST")
    deadline = time.monotonic() + 30
    while cdc.running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not cdc.running, "frazil kept running after an update it cannot store exactly"
    assert cdc.proc.returncode != 0, cdc.describe()
    line = error_line(cdc.stderr())
    assert "toast_n" in line and "doc" in line, f"the error does not name the table and column: {line}"
    assert "REPLICA IDENTITY FULL" in line, f"the error does not say how to fix it: {line}"
    rows = raw_pyiceberg(cdc, "toast_n")
    assert [(r["_op"], r["id"]) for r in rows] == [("c", 100)], "a row with an invented value was stored"


# ---------------------------------------------------------------------------------------
# 4. Schema changes while running
# ---------------------------------------------------------------------------------------


def _field_ids(tbl) -> dict[str, int]:
    return {f.name: f.field_id for f in tbl.schema().fields}


def _old_ids(tbl) -> dict[str, int]:
    old = tbl.schema().find_field("_old")
    return {f.name: f.field_id for f in old.field_type.fields}


def test_schema_changes_while_running(pg, make_cdc):
    pg.exec("""
CREATE TABLE sc_t (id int PRIMARY KEY, a int, b text, c int);
ALTER TABLE sc_t REPLICA IDENTITY FULL;
INSERT INTO sc_t VALUES (1, 10, 'one', 100);
""")
    cdc = make_cdc("schema", ["public.sc_t"])
    cdc.start()
    tid = ident(cdc, "sc_t")
    C.wait_snapshot(cdc.warehouse, tid, cdc)
    cat = pyiceberg_catalog(cdc.warehouse)
    ids0 = _field_ids(cat.load_table(tid))
    old0 = _old_ids(cat.load_table(tid))
    assert list(ids0)[:4] == ["id", "a", "b", "c"], ids0

    t1 = pg_txn(pg, "INSERT INTO sc_t VALUES (2, 20, 'two', 200);", "insert")
    t2 = pg_txn(pg, "ALTER TABLE sc_t ADD COLUMN d text; INSERT INTO sc_t VALUES (3, 30, 'three', 300, 'd3');", "add column")
    wait_committed(cdc.warehouse, tid, t2, cdc)
    snap_before_drop = cat.load_table(tid).current_snapshot().snapshot_id
    t3 = pg_txn(pg, "ALTER TABLE sc_t DROP COLUMN b; INSERT INTO sc_t VALUES (4, 40, 400, 'd4');", "drop column")
    t4 = pg_txn(pg, "ALTER TABLE sc_t ALTER COLUMN a TYPE bigint; INSERT INTO sc_t VALUES (5, 5000000000, 500, 'd5');", "int -> bigint")
    t5 = pg_txn(pg, "UPDATE sc_t SET a = a + 1 WHERE id = 1;", "update after changes")
    # A new table added to the publication while running.
    pg.exec(f"CREATE TABLE sc_new (id int PRIMARY KEY, v text); ALTER PUBLICATION {cdc.publication} ADD TABLE sc_new;")
    t6 = pg_txn(pg, "INSERT INTO sc_new VALUES (1, 'new'), (2, NULL);", "new table")
    wait_committed(cdc.warehouse, tid, t5, cdc)
    wait_committed(cdc.warehouse, ident(cdc, "sc_new"), t6, cdc)
    assert cdc.stop() == 0, cdc.describe()

    tbl = cat.load_table(tid)
    ids = _field_ids(tbl)
    names = list(ids)
    assert names[:4] == ["id", "a", "c", "d"] and "b" not in ids, f"raw columns after ADD d / DROP b: {names}"
    for keep in ("id", "a", "c"):
        assert ids[keep] == ids0[keep], f"field id of {keep} changed: {ids0[keep]} -> {ids[keep]}"
    assert ids["d"] not in ids0.values(), f"new column d reuses field id {ids['d']}"
    for meta in ("_op", "_lsn", "_commit_lsn", "_txid", "_commit_ts", "_seq", "_old"):
        assert ids.get(meta) == ids0.get(meta), f"field id of {meta} changed: {ids0.get(meta)} -> {ids.get(meta)}"
    types = {f.name: str(f.field_type) for f in tbl.schema().fields}
    assert types["a"] == "long", f"a after ALTER COLUMN a TYPE bigint is {types['a']}"
    old = _old_ids(tbl)
    assert list(old) == ["id", "a", "c", "d"], f"_old fields: {list(old)}"
    for keep in ("id", "a", "c"):
        assert old[keep] == old0[keep], f"_old.{keep} field id changed: {old0[keep]} -> {old[keep]}"

    rows = sorted(raw_pyiceberg(cdc, "sc_t"), key=lambda r: (r["_op"] != "r", r["_commit_lsn"], r["_seq"]))
    got = [(r["_op"], r["id"], r["a"], r["c"], r["d"]) for r in rows]
    want = [("r", 1, 10, 100, None), ("c", 2, 20, 200, None), ("c", 3, 30, 300, "d3"), ("c", 4, 40, 400, "d4"), ("c", 5, 5000000000, 500, "d5"), ("u", 1, 11, 100, None)]
    assert got == want, f"rows across the schema changes:\n got  {got}\n want {want}"
    assert rows[-1]["_old"] == {"id": 1, "a": 10, "c": 100, "d": None}, f"_old of the update after the changes: {rows[-1]['_old']}"
    for r, txn in zip(rows[1:], (t1, t2, t3, t4, t5)):
        assert r["_txid"] == txn.xid, f"row {r['id']} ({txn.label}): _txid {r['_txid']}, expected {txn.xid}"

    # The dropped column's values are still there in the snapshot before the drop.
    before = sorted(raw_pyiceberg(cdc, "sc_t", snapshot_id=snap_before_drop), key=lambda r: r["id"])
    assert [(r["id"], r.get("b"), r.get("d")) for r in before] == [(1, "one", None), (2, "two", None), (3, "three", "d3")], f"time travel to before DROP COLUMN b: {before}"

    new_rows = sorted(raw_pyiceberg(cdc, "sc_new"), key=lambda r: r["id"])
    assert [(r["_op"], r["id"], r["v"]) for r in new_rows] == [("c", 1, "new"), ("c", 2, None)], f"rows of the table added to the publication: {new_rows}"
    assert all(r["_txid"] == t6.xid for r in new_rows)


def test_rename_column_with_ddl_capture_keeps_field_id(pg, make_cdc):
    pg.exec("CREATE TABLE rn_t (id int PRIMARY KEY, old_name text, keep int); INSERT INTO rn_t VALUES (1, 'x', 1);")
    cdc = make_cdc("rename", ["public.rn_t"], FRAZIL_SOURCE_DDL_CAPTURE="true")
    try:
        cdc.start()
        tid = ident(cdc, "rn_t")
        C.wait_snapshot(cdc.warehouse, tid, cdc)
        cat = pyiceberg_catalog(cdc.warehouse)
        ids0 = _field_ids(cat.load_table(tid))
        old0 = _old_ids(cat.load_table(tid))
        t1 = pg_txn(pg, "ALTER TABLE rn_t RENAME COLUMN old_name TO new_name; INSERT INTO rn_t VALUES (2, 'y', 2);", "rename")
        wait_committed(cdc.warehouse, tid, t1, cdc)
        assert cdc.stop() == 0, cdc.describe()
        tbl = cat.load_table(tid)
        ids = _field_ids(tbl)
        assert "old_name" not in ids and "new_name" in ids, f"columns after the rename: {list(ids)}"
        assert ids["new_name"] == ids0["old_name"], f"RENAME COLUMN became drop + add: field id {ids0['old_name']} -> {ids['new_name']}"
        assert ids["keep"] == ids0["keep"]
        assert _old_ids(tbl).get("new_name") == old0["old_name"], f"_old after the rename: {_old_ids(tbl)} (before {old0})"
        rows = sorted(raw_pyiceberg(cdc, "rn_t"), key=lambda r: r["id"])
        assert [(r["_op"], r["id"], r["new_name"], r["keep"]) for r in rows] == [("r", 1, "x", 1), ("c", 2, "y", 2)], rows
    finally:
        cdc.close()
        pg.exec("DROP EVENT TRIGGER IF EXISTS frazil_ddl; DROP FUNCTION IF EXISTS public.frazil_capture_ddl();")


# ---------------------------------------------------------------------------------------
# 5. Errors: clear messages, nonzero exit codes
# ---------------------------------------------------------------------------------------


def test_error_wal_level_replica(make_cdc):
    cluster = PgCluster.start_new()
    try:
        cluster.exec("ALTER SYSTEM SET wal_level = replica;")
        cluster.restart()
        assert cluster.exec("SHOW wal_level") == "replica"
        cluster.exec("CREATE TABLE w (id int PRIMARY KEY);")
        cdc = make_cdc("wal", ["public.w"], cluster=cluster)
        cdc.start()
        rc = cdc.wait_exit(60)
        assert rc != 0, cdc.describe()
        line = error_line(cdc.stderr())
        assert "wal_level" in line and "logical" in line, f"the error does not explain wal_level: {line}"
        assert C.slot_row(cluster, cdc.slot) is None
    finally:
        cluster.destroy()


def test_error_role_without_replication(pg, make_cdc):
    pg.exec("CREATE TABLE norepl_t (id int PRIMARY KEY); CREATE ROLE fz_norepl LOGIN; GRANT SELECT ON norepl_t TO fz_norepl;")
    conninfo = pg.conninfo.replace("user=postgres", "user=fz_norepl")
    cdc = make_cdc("norepl", ["public.norepl_t"], conninfo=conninfo)
    cdc.start()
    rc = cdc.wait_exit(60)
    assert rc != 0, cdc.describe()
    line = error_line(cdc.stderr())
    assert re.search(r"ALTER ROLE \"?fz_norepl\"? REPLICATION", line), f"the error does not say ALTER ROLE ... REPLICATION: {line}"
    assert C.slot_row(pg, cdc.slot) is None


@pytest.mark.parametrize("form", ["keyword", "url"])
def test_error_unreachable_server_hides_password(make_cdc, form):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    if form == "keyword":
        conninfo = f"host=127.0.0.1 port={port} user=postgres password=sekret dbname=postgres connect_timeout=5"
    else:
        conninfo = f"postgresql://postgres:sekret@127.0.0.1:{port}/postgres?connect_timeout=5"
    cdc = make_cdc(f"unreach_{form}", ["public.x"], conninfo=conninfo)
    cdc.start()
    rc = cdc.wait_exit(60)
    out = cdc.stdout() + cdc.stderr()
    assert rc != 0, cdc.describe()
    line = error_line(cdc.stderr())
    assert "127.0.0.1" in line and str(port) in line, f"the error does not name host and port: {line}"
    assert "sekret" not in out, f"the password appears in frazil's output:\n{out}"
    # frazil status and source drop report the same failure without the password.
    res = cdc.cli("status", check=False)
    assert "sekret" not in res.output, f"`frazil status` prints the password:\n{res.output}"
    res = cdc.cli("source", "drop", check=False)
    assert "sekret" not in res.output, f"`frazil source drop` prints the password:\n{res.output}"
    assert res.returncode != 0 and "127.0.0.1" in res.stderr, f"`frazil source drop` against a dead server: exit {res.returncode}\n{res.output}"


def test_error_slot_dropped_while_running(pg, make_cdc):
    pg.exec("CREATE TABLE sd_t (id int PRIMARY KEY, v text); INSERT INTO sd_t VALUES (1, 'a');")
    cdc = make_cdc("slotdrop", ["public.sd_t"])
    cdc.start()
    tid = ident(cdc, "sd_t")
    C.wait_snapshot(cdc.warehouse, tid, cdc)
    t = pg_txn(pg, "INSERT INTO sd_t VALUES (2, 'b');", "before drop")
    wait_committed(cdc.warehouse, tid, t, cdc)
    wait_for(lambda: (C.slot_row(pg, cdc.slot) or (None, "f"))[1] == "t", 30, "the slot to be active", cdc)
    # Kill the walsender and drop the slot before frazil reconnects.
    pg.exec(f"""
DO $$
DECLARE pid int;
BEGIN
  FOR i IN 1..400 LOOP
    SELECT active_pid INTO pid FROM pg_replication_slots WHERE slot_name = '{cdc.slot}';
    IF pid IS NOT NULL THEN PERFORM pg_terminate_backend(pid); END IF;
    BEGIN
      PERFORM pg_drop_replication_slot('{cdc.slot}');
      RETURN;
    EXCEPTION WHEN object_in_use THEN PERFORM pg_sleep(0.005);
    END;
  END LOOP;
  RAISE EXCEPTION 'could not drop the slot';
END $$;
""")
    rc = cdc.wait_exit(60)
    assert rc != 0, f"frazil kept running or exited 0 after its slot was dropped\n{cdc.describe()}"
    line = error_line(cdc.stderr())
    assert cdc.slot in line and "slot" in line, f"the error does not name the replication slot: {line}"
    assert C.slot_row(pg, cdc.slot) is None, "frazil re-created the dropped slot (changes in between would be lost silently)"
    assert sorted(r["id"] for r in raw_pyiceberg(cdc, "sd_t")) == [1, 2]


def test_source_drop_with_publication(pg, make_cdc):
    pg.exec("CREATE TABLE drop_t (id int PRIMARY KEY); INSERT INTO drop_t VALUES (1);")
    cdc = make_cdc("dropsrc", ["public.drop_t"])
    cdc.start()
    C.wait_snapshot(cdc.warehouse, ident(cdc, "drop_t"), cdc)
    # Refused while frazil uses the slot.
    res = cdc.cli("source", "drop", "--publication", check=False)
    assert res.returncode != 0 and "in use" in res.stderr, f"`frazil source drop` while running: exit {res.returncode}\n{res.output}"
    assert C.slot_row(pg, cdc.slot) is not None
    assert cdc.stop() == 0, cdc.describe()
    wait_for(lambda: (C.slot_row(pg, cdc.slot) or (None, "t"))[1] == "f", 30, "the slot to become inactive")
    res = cdc.cli("source", "drop", "--publication")
    assert f"replication slot {cdc.slot}" in res.stdout and f"publication {cdc.publication}" in res.stdout, f"`frazil source drop --publication` output:\n{res.output}"
    assert C.slot_row(pg, cdc.slot) is None, "slot still exists"
    assert not pg_query(pg, f"SELECT 1 FROM pg_publication WHERE pubname = '{cdc.publication}'"), "publication still exists"
    # The raw table stays.
    assert [r["id"] for r in raw_pyiceberg(cdc, "drop_t")] == [1]
    res = cdc.cli("source", "drop", "--publication", check=False)
    assert res.returncode != 0 and "nothing to drop" in res.stderr, f"second drop: exit {res.returncode}\n{res.output}"


# ---------------------------------------------------------------------------------------
# 6. frazil status; a second run resumes without re-snapshotting or duplicating
# ---------------------------------------------------------------------------------------


def _status(cdc: FrazilCdc) -> tuple[str, dict[str, dict]]:
    res = cdc.cli("status", "--format", "json")
    lines = res.stdout.splitlines()
    header = lines[0] if lines else ""
    tables = {}
    for line in lines[1:]:
        if line.strip():
            doc = json.loads(line)
            for row in doc if isinstance(doc, list) else [doc]:
                tables[row["table"]] = row
    return header, tables


def test_status_and_resume_without_duplicates(pg, make_cdc):
    pg.exec("""
CREATE TABLE st_a (id int PRIMARY KEY, v text);
CREATE TABLE st_b (id int PRIMARY KEY, v text);
INSERT INTO st_a SELECT g, 'a' || g FROM generate_series(1, 100) g;
INSERT INTO st_b SELECT g, 'b' || g FROM generate_series(1, 10) g;
""")
    cdc = make_cdc("status", ["public.st_a", "public.st_b"])
    a_id, b_id = ident(cdc, "st_a"), ident(cdc, "st_b")
    cdc.start()
    C.wait_snapshot(cdc.warehouse, a_id, cdc)
    C.wait_snapshot(cdc.warehouse, b_id, cdc)
    # st_b's last change is committed in an earlier batch than st_a's: afterwards st_b is idle
    # (its frazil.lsn stays behind the server's position) but fully caught up.
    tb = pg_txn(pg, "INSERT INTO st_b VALUES (11, 'b11');", "b")
    wait_committed(cdc.warehouse, b_id, tb, cdc)
    ta = pg_txn(pg, "INSERT INTO st_a VALUES (101, 'a101'); UPDATE st_a SET v = 'changed' WHERE id = 1;", "a")
    wait_committed(cdc.warehouse, a_id, ta, cdc)
    assert C.table_lsn(cdc.warehouse, b_id) < ta.pre_lsn
    header, tables = _status(cdc)
    assert "streaming" in header, f"status while running: {header}"
    # Caught up: frazil confirmed everything up to the server's position to PostgreSQL.
    wait_for(lambda: pg_query(pg, f"SELECT confirmed_flush_lsn >= pg_current_wal_insert_lsn() FROM pg_replication_slots WHERE slot_name = '{cdc.slot}'") == [("t",)], 30, "the slot to confirm the server's position", cdc)
    assert cdc.stop() == 0, cdc.describe()

    header, tables = _status(cdc)
    assert cdc.slot in header and "not running" in header, f"status header after a clean stop: {header}"
    m = re.search(r"confirmed (\S+), server at (\S+)", header)
    assert m, f"status header has no confirmed / server LSN: {header}"
    assert set(tables) == {a_id, b_id}, f"status lists {sorted(tables)}"
    for tid, table in ((a_id, "public.st_a"), (b_id, "public.st_b")):
        row = tables[tid]
        assert row["source"] == table
        assert row["committed_lsn"] == C.format_lsn(C.table_lsn(cdc.warehouse, tid)), f"{tid}: status committed_lsn {row['committed_lsn']}, table frazil.lsn {C.format_lsn(C.table_lsn(cdc.warehouse, tid))}"
    assert tables[a_id]["rows"] == 102 and tables[b_id]["rows"] == 11, f"status rows: {[(t, r['rows']) for t, r in tables.items()]}"
    confirmed, server = C.parse_lsn(m.group(1)), C.parse_lsn(m.group(2))
    assert confirmed <= server
    for tid, row in tables.items():
        # Everything up to the slot's confirmed position is committed, even for a table whose
        # last change is older (st_b): lag is what the server has beyond that.
        want = max(0, server - max(C.parse_lsn(row["committed_lsn"]), confirmed))
        assert row["lag_bytes"] == want, f"{tid}: lag_bytes {row['lag_bytes']}, expected {want} (confirmed {m.group(1)}, server {m.group(2)}, committed {row['committed_lsn']})"
        if want == 0:
            assert row["lag_seconds"] == 0, f"{tid}: caught up but lag_seconds {row['lag_seconds']}"
    # Normally nothing writes WAL between the wait above and the status call: caught up.
    assert confirmed == server or server - confirmed < 4096, f"slot confirmed {m.group(1)} far behind the server {m.group(2)} after catching up"

    # While stopped: more changes, then a second run picks up exactly those.
    t2 = pg_txn(pg, "INSERT INTO st_a VALUES (102, 'a102'); DELETE FROM st_b WHERE id = 2;", "while stopped")
    cdc.start()
    wait_committed(cdc.warehouse, a_id, t2, cdc)
    wait_committed(cdc.warehouse, b_id, t2, cdc)
    assert cdc.stop() == 0, cdc.describe()
    assert "snapshot" not in cdc.stderr().lower(), f"the second run took a snapshot again:\n{cdc.stderr()[-3000:]}"
    a_rows = raw_pyiceberg(cdc, "st_a")
    b_rows = raw_pyiceberg(cdc, "st_b")
    a_ops = sorted((r["_op"], r["id"]) for r in a_rows)
    assert a_ops == sorted([("r", g) for g in range(1, 101)] + [("c", 101), ("u", 1), ("c", 102)]), f"st_a after the second run: {len(a_rows)} rows, ops {[o for o in a_ops if o[0] != 'r']}"
    b_ops = sorted((r["_op"], r["id"]) for r in b_rows)
    assert b_ops == sorted([("r", g) for g in range(1, 11)] + [("c", 11), ("d", 2)]), f"st_b after the second run: {b_ops}"
    # Catch up and exit (`--until now`): nothing new, nothing duplicated.
    cdc.start("--until", "now")
    assert cdc.wait_exit(60) == 0, cdc.describe()
    assert len(raw_pyiceberg(cdc, "st_a")) == len(a_rows) and len(raw_pyiceberg(cdc, "st_b")) == len(b_rows)


# ---------------------------------------------------------------------------------------
# 7. Large (streamed) transactions with savepoints, and a rolled-back one
# ---------------------------------------------------------------------------------------

PAYLOAD_SQL = "repeat(chr(97 + (g % 26)::int), 40) || g"
PAYLOAD_DUCK = "repeat(chr(CAST(97 + id % 26 AS INTEGER)), 40) || CAST(id AS VARCHAR)"


def test_large_streamed_transactions(pg, make_cdc):
    pg.exec("CREATE TABLE big_t (id bigint PRIMARY KEY, payload text); CREATE TABLE big_side (id int PRIMARY KEY);")
    cdc = make_cdc("big", ["public.big_t", "public.big_side"])
    cdc.start()
    tid = ident(cdc, "big_t")
    C.wait_snapshot(cdc.warehouse, tid, cdc)
    stats0 = pg_query(pg, f"SELECT coalesce(sum(stream_txns), 0) FROM pg_stat_replication_slots WHERE slot_name = '{cdc.slot}'")

    # > logical_decoding_work_mem (64MB): PostgreSQL streams it before the commit, including
    # the subtransaction that is rolled back afterwards.
    big = pg_txn(pg, f"""
INSERT INTO big_t SELECT g, {PAYLOAD_SQL} FROM generate_series(1, 600000) g;
SAVEPOINT s1;
INSERT INTO big_t SELECT g, {PAYLOAD_SQL} FROM generate_series(600001, 1000000) g;
INSERT INTO big_side VALUES (-1);
ROLLBACK TO SAVEPOINT s1;
INSERT INTO big_t SELECT g, {PAYLOAD_SQL} FROM generate_series(1000001, 1500000) g;
INSERT INTO big_side VALUES (1);
""", "large with savepoint")
    # A large transaction that rolls back entirely, then a small one to know it was passed.
    pg.exec(f"""
BEGIN;
INSERT INTO big_t SELECT g, {PAYLOAD_SQL} FROM generate_series(2000001, 2800000) g;
INSERT INTO big_side VALUES (2);
ROLLBACK;
""")
    after = pg_txn(pg, "INSERT INTO big_side VALUES (3);", "after rollback")
    wait_committed(cdc.warehouse, tid, big, cdc, timeout=180)
    wait_committed(cdc.warehouse, ident(cdc, "big_side"), after, cdc, timeout=180)
    assert cdc.stop() == 0, cdc.describe()
    streamed = pg_query(pg, f"SELECT sum(stream_txns) FROM pg_stat_replication_slots WHERE slot_name = '{cdc.slot}'")
    assert int(streamed[0][0]) - int(stats0[0][0] if stats0 else 0) >= 2, f"PostgreSQL did not stream the large transactions (pg_stat_replication_slots.stream_txns = {streamed}): the test would not test streaming"

    res = cdc.sql_json(f"""
SELECT count(*) AS n, count(DISTINCT id) AS ids, min(id) AS lo, max(id) AS hi,
       count(*) FILTER (WHERE id BETWEEN 600001 AND 1000000) AS rolled_back_sub,
       count(*) FILTER (WHERE id > 2000000) AS rolled_back_txn,
       count(*) FILTER (WHERE payload IS DISTINCT FROM {PAYLOAD_DUCK}) AS bad_payload,
       count(*) FILTER (WHERE _op <> 'c') AS not_insert,
       count(DISTINCT _txid) AS txids, min(_txid) AS txid, count(DISTINCT _commit_lsn) AS commit_lsns,
       min(_commit_lsn) AS commit_lsn, count(DISTINCT _seq) AS seqs, count(_commit_ts) AS with_ts
FROM {tid}""")[0]
    want = {"n": 1_100_000, "ids": 1_100_000, "lo": 1, "hi": 1_500_000, "rolled_back_sub": 0, "rolled_back_txn": 0, "bad_payload": 0, "not_insert": 0, "txids": 1, "txid": big.xid, "commit_lsns": 1, "seqs": 1_100_000, "with_ts": 1_100_000}
    diff = {k: (res.get(k), v) for k, v in want.items() if res.get(k) != v}
    assert not diff, f"large transaction in the raw table (got, expected): {diff}"
    assert big.pre_lsn <= res["commit_lsn"] < big.post_lsn, f"_commit_lsn {res['commit_lsn']} outside the commit's WAL range"
    side = sorted((r["_op"], r["id"], r["_txid"]) for r in raw_pyiceberg(cdc, "big_side"))
    assert side == [("c", 1, big.xid), ("c", 3, after.xid)], f"big_side: {side}"
