"""The warehouse in S3 (docs/s3.md): the interop matrix with every table in a bucket.

One versitygw server (s3_support.py) and one `frazil serve` on `warehouse: s3://lake/wh` serve
the whole module; the frazil CLI runs on the same config, so its commits go through the same
SQLite catalog `<state_dir>/catalog.db` (JDBC layout, catalog name `frazil`) that the server
serves.

1. frazil writes (every type; a partitioned table through position deletes, schema evolution,
   time travel, compaction, expire and remove-orphans) and each independent reader returns
   exactly the generated rows: PyIceberg `SqlCatalog` on the catalog file with S3 FileIO keys,
   PyIceberg `RestCatalog` with nothing but the credentials frazil vends, DuckDB
   `iceberg_scan` of the s3:// metadata with an httpfs secret, DuckDB `ATTACH ... TYPE
   iceberg` to the REST catalog with vended credentials, Spark through the REST catalog with
   Iceberg's S3FileIO (vended credentials, and a second catalog with its own keys). Every file
   any table's metadata references is an object in the bucket (ListObjectsV2).
2. PyIceberg, Spark and DuckDB write through frazil's REST catalog into the bucket; `frazil
   sql` reads exactly what they wrote.
3. Bad input: a wrong secret and a missing bucket fail clearly and create nothing; the REST
   catalog vends credentials only to clients that ask for them.

Spark's JdbcCatalog is not used here: it names the catalog after the Spark catalog, and the
session's catalog `frazil` is bound to the session warehouse (conftest.py); the REST catalog
with explicit keys covers the "client has its own keys" case instead. Every process runs
without AWS_* variables, so a read that works used exactly the credentials this file gives.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sqlite3
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.expressions import GreaterThanOrEqual, LessThan
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import StringType

import interop_support as S
import rest_support as RS
from conftest import JARS_DIR, duck_read, spark_collect
from s3_support import S3Server, start_s3_server

BUCKET = "lake"
PREFIX = "wh"
WAREHOUSE = f"s3://{BUCKET}/{PREFIX}"
DELEGATION = {"X-Iceberg-Access-Delegation": "vended-credentials"}
S3_FILE_IO = "org.apache.iceberg.aws.s3.S3FileIO"


# ---------------------------------------------------------------------------------------
# Fixtures: one S3 server, one frazil serve on it, readers
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _no_aws_environment():
    """No AWS_* credentials or region from the environment: every client gets exactly the
    credentials the test hands it (or the REST catalog vends)."""
    mp = pytest.MonkeyPatch()
    for k in list(os.environ):
        if k.startswith("AWS_") and k != "AWS_CA_BUNDLE":
            mp.delenv(k)
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)  # no ~/.aws profiles either
    mp.setenv("AWS_CONFIG_FILE", os.devnull)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> S3Server:
    server = start_s3_server(tmp_path_factory.mktemp("s3wh"), buckets=(BUCKET,))
    try:
        yield server
    finally:
        server.stop()


def s3_config(s3: S3Server, warehouse: str, state_dir: Path, secret: str | None = None) -> dict:
    return {"warehouse": warehouse, "state_dir": str(state_dir),
            "s3": {"endpoint": s3.endpoint, "region": s3.region, "access_key_id": s3.access_key,
                   "secret_access_key": s3.secret_key if secret is None else secret}}


class Lake:
    """`frazil serve` on the S3 warehouse plus the CLI on its config (rest_support's
    FrazilServer with the S3 settings), and the readers of part 1."""

    def __init__(self, s3: S3Server, root: Path) -> None:
        self.s3 = s3
        self.state_dir = root / "state"
        cfg = s3_config(s3, WAREHOUSE, self.state_dir)
        self.srv = RS.FrazilServer(root / "srv", extra=cfg)
        (root / "srv" / "warehouse").rmdir()  # FrazilServer's local default; unused with S3
        self.duck_keys = None
        self.duck_rest = None

    @property
    def url(self) -> str:
        return self.srv.url

    # --- peers ---------------------------------------------------------------------------
    def s3_props(self) -> dict:
        return {"s3.endpoint": self.s3.endpoint, "s3.access-key-id": self.s3.access_key,
                "s3.secret-access-key": self.s3.secret_key, "s3.region": self.s3.region}

    def sql_catalog(self):
        """PyIceberg SqlCatalog on frazil's catalog file, S3 keys given by the test."""
        from pyiceberg.catalog.sql import SqlCatalog

        return SqlCatalog("frazil", uri=f"sqlite:///{self.state_dir}/catalog.db", warehouse=WAREHOUSE, **self.s3_props())

    def rest_catalog(self):
        """PyIceberg RestCatalog with no S3 settings at all: it reads with what frazil vends
        (PyIceberg sends X-Iceberg-Access-Delegation: vended-credentials by default)."""
        return self.srv.pyiceberg()

    def pointer(self, ident: str) -> str:
        ns, name = ident.rsplit(".", 1)
        con = sqlite3.connect(f"file:{self.state_dir}/catalog.db?mode=ro", uri=True)
        try:
            row = con.execute("SELECT metadata_location FROM iceberg_tables WHERE catalog_name='frazil' "
                              "AND table_namespace=? AND table_name=?", (ns, name)).fetchone()
        finally:
            con.close()
        assert row, f"{ident} not in {self.state_dir}/catalog.db"
        assert row[0].startswith(WAREHOUSE + "/"), f"{ident}: metadata at {row[0]}, outside {WAREHOUSE}"
        return row[0]

    def duck_attach(self) -> None:
        """(Re)attach the REST catalog: DuckDB caches table lists and metadata per attach."""
        con = self.duck_rest
        if any(r[0] == "ice" for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()):
            con.execute("DETACH ice")
        con.execute(f"ATTACH 'frazil' AS ice (TYPE iceberg, ENDPOINT '{self.url}', AUTHORIZATION_TYPE 'none')")

    # --- objects -------------------------------------------------------------------------
    def keys(self, prefix: str = "") -> set[str]:
        """Every object key under `prefix` in the bucket, by ListObjectsV2 (paged)."""
        return set(self.sizes(prefix))

    def sizes(self, prefix: str = "") -> dict[str, int]:
        """{key: size} of every object under `prefix`, by ListObjectsV2 (paged)."""
        out: dict[str, int] = {}
        token = None
        while True:
            q = "list-type=2&max-keys=500&prefix=" + urllib.parse.quote(prefix, safe="")
            if token:
                q += "&continuation-token=" + urllib.parse.quote(token, safe="")
            status, _, body = self.s3.request("GET", f"/{BUCKET}?{q}")
            assert status == 200, f"ListObjectsV2 {prefix!r}: HTTP {status} {body[:500]!r}"
            root = ET.fromstring(body)
            token = None
            for el in root:
                tag = el.tag.rsplit("}", 1)[-1]
                if tag == "Contents":
                    fields = {c.tag.rsplit("}", 1)[-1]: c.text for c in el}
                    out[fields["Key"]] = int(fields["Size"])
                elif tag == "NextContinuationToken":
                    token = el.text
            if not token:
                return out

    def exists(self, key: str) -> bool:
        status, _, _ = self.s3.request("HEAD", f"/{BUCKET}/{key}")
        assert status in (200, 404), f"HEAD {key}: HTTP {status}"
        return status == 200


def key_of(location: str) -> str:
    assert location.startswith(f"s3://{BUCKET}/"), f"{location} is not in s3://{BUCKET}/"
    return location[len(f"s3://{BUCKET}/"):]


@pytest.fixture(scope="module")
def lake(s3, tmp_path_factory) -> Lake:
    lk = Lake(s3, tmp_path_factory.mktemp("lake"))
    lk.srv.start()
    lk.duck_keys = RS.duckdb_connect(tmp_path_factory.mktemp("duck_keys"))
    lk.duck_keys.execute(s3.duckdb_secret_sql())
    lk.duck_rest = RS.duckdb_connect(tmp_path_factory.mktemp("duck_rest"))  # no secret: vended only
    try:
        yield lk
        lk.srv.assert_alive("after the S3 tests")
    finally:
        lk.duck_keys.close()
        lk.duck_rest.close()
        rc = lk.srv.stop()
    assert rc == 0, f"frazil serve exited {rc} on SIGTERM:\n{lk.srv.logs()}"
    for p in (lk.srv.stdout_path, lk.srv.stderr_path):
        assert s3.secret_key not in p.read_text(errors="replace"), f"the S3 secret key appears in {p}"


@pytest.fixture(scope="module")
def spark_s3(spark, lake):
    """Two Spark catalogs on the REST server, both with Iceberg's S3FileIO (iceberg-aws-bundle,
    fetched by scripts/deps.sh into .deps/jars, which the session puts on its classpath):
    `s3v<port>` asks for vended credentials and has no S3 settings of its own; `s3k<port>`
    does not ask and brings endpoint, path-style addressing, keys and region itself."""
    jars = " ".join(Path(j).name for j in glob.glob(str(JARS_DIR / "*.jar")))
    if "iceberg-aws-bundle" not in jars:
        pytest.fail(f"iceberg-aws-bundle missing in {JARS_DIR} (run `make deps`): found {jars}")
    loaded = spark.sparkContext.getConf().get("spark.jars", "")
    if "iceberg-aws-bundle" not in loaded:
        pytest.fail("the SparkSession was started without iceberg-aws-bundle on spark.jars")
    port = lake.url.rsplit(":", 1)[1]
    vended, keys = f"s3v{port}", f"s3k{port}"
    for name in (vended, keys):
        c = f"spark.sql.catalog.{name}"
        spark.conf.set(c, "org.apache.iceberg.spark.SparkCatalog")
        spark.conf.set(f"{c}.type", "rest")
        spark.conf.set(f"{c}.uri", lake.url)
        spark.conf.set(f"{c}.cache-enabled", "false")  # frazil commits behind Spark's back
        spark.conf.set(f"{c}.io-impl", S3_FILE_IO)
    spark.conf.set(f"spark.sql.catalog.{vended}.header.X-Iceberg-Access-Delegation", "vended-credentials")
    k = f"spark.sql.catalog.{keys}"
    spark.conf.set(f"{k}.s3.endpoint", lake.s3.endpoint)
    spark.conf.set(f"{k}.s3.path-style-access", "true")
    spark.conf.set(f"{k}.s3.access-key-id", lake.s3.access_key)
    spark.conf.set(f"{k}.s3.secret-access-key", lake.s3.secret_key)
    spark.conf.set(f"{k}.client.region", lake.s3.region)
    return vended, keys


# ---------------------------------------------------------------------------------------
# Reading with every peer
# ---------------------------------------------------------------------------------------


def read_all(lake: Lake, ident: str, expected: list[dict], schema: dict, label: str, *, snapshot_id: int | None = None,
             spark=None, spark_catalog: str | None = None) -> None:
    """frazil sql, PyIceberg (SqlCatalog + keys, RestCatalog + vended), DuckDB (iceberg_scan +
    secret, ATTACH + vended) and, given a session, Spark (REST + S3FileIO) each return exactly
    `expected` (the current snapshot, or `snapshot_id`)."""
    at = f" at snapshot {snapshot_id}" if snapshot_id else ""
    sql = f"SELECT * FROM {ident}" + (f" AT (VERSION => {snapshot_id})" if snapshot_id else "")
    S.assert_same_rows(lake.srv.sql(sql), expected, schema, f"frazil sql {label}{at}")

    py_expected = S.pyiceberg_list_struct_nulls(expected, schema)
    kw = {"snapshot_id": snapshot_id} if snapshot_id else {}
    for name, cat in (("PyIceberg SqlCatalog", lake.sql_catalog()), ("PyIceberg RestCatalog (vended)", lake.rest_catalog())):
        tbl = cat.load_table(ident)
        assert tbl.metadata_location == lake.pointer(ident), f"{name} loaded {tbl.metadata_location}"
        S.assert_same_rows(tbl.scan(**kw).to_arrow(), py_expected, schema, f"{name} {label}{at}")

    S.assert_same_rows(duck_read(lake.duck_keys, lake.pointer(ident), snapshot_id=snapshot_id), expected, schema,
                       f"DuckDB iceberg_scan (secret) {label}{at}")
    lake.duck_attach()
    dsql = f"SELECT * FROM ice.{ident}" + (f" AT (VERSION => {snapshot_id})" if snapshot_id else "")
    S.assert_same_rows(lake.duck_rest.execute(dsql).to_arrow_table(), expected, schema, f"DuckDB ATTACH (vended) {label}{at}")

    if spark is not None:
        ssql = f"SELECT * FROM {spark_catalog}.{ident}" + (f" VERSION AS OF {snapshot_id}" if snapshot_id else "")
        sexp = S.spark_rows(S.rows_to_arrow(expected, schema), schema)
        S.assert_same_rows(spark_collect(spark, ssql), sexp, S.spark_schema(schema), f"Spark {spark_catalog} {label}{at}")


def referenced_files(tbl) -> tuple[dict[str, int | None], set[str]]:
    """({key: size or None} of every object a read of any snapshot needs: metadata files,
    manifest lists, manifests, and the live data and delete files with the size their
    manifest entry records; every key named anywhere, DELETED entries too) as PyIceberg reads
    the metadata. Two live entries naming one object is a failure (one overwrote the other)."""
    io = tbl.io
    needed: dict[str, int | None] = {key_of(tbl.metadata_location): None}
    needed |= {key_of(e.metadata_file): None for e in tbl.metadata.metadata_log}
    named: set[str] = set()
    for snap in tbl.metadata.snapshots:
        needed[key_of(snap.manifest_list)] = None
        per_snapshot: list[str] = []
        for m in snap.manifests(io):
            needed[key_of(m.manifest_path)] = None
            for e in m.fetch_manifest_entry(io, discard_deleted=False):
                k = key_of(e.data_file.file_path)
                if e.status.value == 2:  # DELETED
                    named.add(k)
                    continue
                per_snapshot.append(k)
                needed[k] = e.data_file.file_size_in_bytes
        dups = sorted({k for k in per_snapshot if per_snapshot.count(k) > 1})
        assert not dups, (f"snapshot {snap.snapshot_id}: {len(per_snapshot)} live manifest entries name only "
                          f"{len(set(per_snapshot))} distinct objects (entries share a path, e.g. {dups[0]}): "
                          "each file's upload overwrote the previous one")
    return needed, set(needed) | named


def assert_files_in_bucket(lake: Lake, tbl, label: str) -> dict[str, int | None]:
    """Every referenced object is in the bucket (ListObjectsV2 under the table location),
    data and delete files with exactly the size their manifest entry records."""
    needed, _ = referenced_files(tbl)
    listed = lake.sizes(key_of(tbl.metadata.location) + "/")
    missing = sorted(set(needed) - set(listed))
    assert not missing, f"{label}: {len(missing)} referenced objects not in the bucket, e.g. {missing[:5]}"
    wrong = {k: (size, listed[k]) for k, size in needed.items() if size is not None and listed[k] != size}
    assert not wrong, f"{label}: objects whose size differs from the manifest's (manifest, bucket): {list(wrong.items())[:5]}"
    return needed


# ---------------------------------------------------------------------------------------
# 1. frazil writes, every reader reads
# ---------------------------------------------------------------------------------------


def test_every_type_in_s3(lake, spark, spark_s3):
    """Every Iceberg type (with the 100 KB strings, 10,000-element lists, extreme dates and
    timestamps) loaded by frazil into the bucket; all readers exact. Spark refuses the table
    because of its time column, as it does on a local warehouse."""
    schema = S.all_types_schema(with_time=True, with_fixed=False)
    data = S.make_table(schema, 150, seed=11)
    lake.srv.cli("namespace", "create", "fw")
    path = lake.srv.tmpfile(".schema.json")
    lake.srv.cli("table", "create", "fw.every_type", "--schema", S.write_json(path, schema))
    lake.srv.load("fw.every_type", data)
    loc = lake.pointer("fw.every_type")
    assert loc.startswith(f"{WAREHOUSE}/fw/every_type-"), loc
    read_all(lake, "fw.every_type", data.to_pylist(), schema, "every type")
    tbl = lake.sql_catalog().load_table("fw.every_type")
    assert tbl.metadata.location.startswith(f"{WAREHOUSE}/fw/")
    for t in tbl.scan().plan_files():
        assert t.file.file_path.startswith(tbl.metadata.location + "/data/"), t.file.file_path
    assert_files_in_bucket(lake, tbl, "every type")
    vended, _ = spark_s3
    with pytest.raises(Exception, match="Spark does not support time fields"):
        spark_collect(spark, f"SELECT * FROM {vended}.fw.every_type")


# Coarse enough that partitions hold several rows (so deletes are position deletes, not
# dropped files); the other transforms are proven on local warehouses (test_frazil_writes.py).
PART_SPEC = [("identity", "c_bool"), ("bucket[4]", "id")]


def load_per_partition(lake: Lake, ident: str, data: pa.Table, schema: dict, spec: list[tuple[str, str]]) -> int:
    """One `frazil load` per partition tuple of `data` (PyIceberg's transforms): a load that
    spans partitions loses rows in S3 today (test_load_spanning_partitions_in_s3), and the
    lifecycle below is about everything after the load. Returns the number of loads."""
    from pyiceberg.transforms import parse_transform

    ischema = Schema.model_validate(schema)
    fns = [(col, parse_transform(t).transform(ischema.find_field(col).field_type)) for t, col in spec]
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(data.to_pylist()):
        groups.setdefault(tuple(repr(fn(r[col])) for col, fn in fns), []).append(i)
    for idx in groups.values():
        lake.srv.load(ident, data.take(idx))
    return len(groups)


@pytest.mark.parametrize("layout", ["unpartitioned", "partitioned"])
def test_lifecycle_in_s3(layout, lake, spark, spark_s3):
    """A table (unpartitioned, and partitioned by identity and bucket, loaded one partition
    per `frazil load`: see load_per_partition) through its life: load, position deletes, time
    travel, schema evolution, compaction, expire and remove-orphans. After each step every
    reader returns exactly the expected rows, and every file the metadata references is an
    object of the recorded size."""
    vended, keys = spark_s3
    lk = lake
    schema = S.all_types_schema(with_time=False, with_fixed=False)
    b1 = S.make_table(schema, 60, seed=44)
    ident = f"fw.{layout}"
    lk.srv.cli("namespace", "create", "fw", check=False)  # exists when test_every_type ran
    args = ["table", "create", ident, "--schema", S.write_json(lk.srv.tmpfile(".json"), schema)]
    if layout == "partitioned":
        args += ["--partition-spec", S.write_json(lk.srv.tmpfile(".json"), S.partition_spec(schema, PART_SPEC))]
    lk.srv.cli(*args)
    if layout == "partitioned":
        assert load_per_partition(lk, ident, b1, schema, PART_SPEC) > 4
    else:
        lk.srv.load(ident, b1)
    cat = lk.sql_catalog()
    tbl = cat.load_table(ident)
    got_spec = [(str(f.transform), tbl.schema().find_field(f.source_id).name) for f in tbl.spec().fields]
    assert got_spec == (PART_SPEC if layout == "partitioned" else []), got_spec
    s1 = tbl.current_snapshot().snapshot_id
    tasks = list(tbl.scan().plan_files())
    if layout == "partitioned":
        assert len(tasks) > 4, f"{len(tasks)} data files for {len(PART_SPEC)} partition fields over 60 rows"
    assert_files_in_bucket(lk, tbl, "after the first load")
    data_files_s1 = {t.file.file_path for t in tasks}

    # Position deletes.
    lk.srv.cli("table", "delete", ident, "--where", "id % 7 = 3")
    lk.srv.cli("table", "delete", ident, "--where", "c_date < DATE '1970-01-01'")
    rows1 = b1.to_pylist()
    rows2 = [r for r in rows1 if r["id"] % 7 != 3 and not (r["c_date"] is not None and r["c_date"] < S.EPOCH_DATE)]
    assert 0 < len(rows2) < len(rows1)
    tbl = cat.load_table(ident)
    tasks = list(tbl.scan().plan_files())
    # Merge-on-read: no data file rewritten (a file whose every row is deleted may be dropped).
    assert {t.file.file_path for t in tasks} <= data_files_s1, "delete rewrote data files (expected merge-on-read)"
    deletes = {d.file_path for t in tasks for d in t.delete_files}
    assert deletes and all(d.content.name == "POSITION_DELETES" for t in tasks for d in t.delete_files)
    read_all(lk, ident, rows2, schema, "after deletes", spark=spark, spark_catalog=vended)
    # Spark is slow: its own-keys catalog and its time travel once (unpartitioned) suffice.
    once = layout == "unpartitioned"
    if once:  # Spark with its own keys (no delegation) reads the same.
        S.assert_same_rows(spark_collect(spark, f"SELECT * FROM {keys}.{ident}"),
                           S.spark_rows(S.rows_to_arrow(rows2, schema), schema), S.spark_schema(schema), "Spark (own keys) after deletes")
    # Time travel to the first snapshot, before any schema change.
    read_all(lk, ident, rows1, schema, "time travel", snapshot_id=s1, spark=spark if once else None, spark_catalog=vended)

    # Schema evolution: add a column, rename, promote; then rows in the new schema (so the
    # snapshot of that load, read by time travel below, has the final schema).
    lk.srv.cli("table", "alter", ident, "add-column", "c_new", "long")
    lk.srv.cli("table", "alter", ident, "rename-column", "c_string", "c_text")
    lk.srv.cli("table", "alter", ident, "update-column", "c_int", "long")
    final = {"type": "struct", "schema-id": 0, "fields": []}
    for f in schema["fields"]:
        f = dict(f, name="c_text") if f["name"] == "c_string" else dict(f)
        if f["name"] == "c_int":
            f["type"] = "long"
        final["fields"].append(f)
    final["fields"].append({"id": 900, "name": "c_new", "required": False, "type": "long"})
    b2 = S.make_table(final, 30, seed=45, id_start=1000)
    if layout == "partitioned":
        load_per_partition(lk, ident, b2, final, [(t, "c_text" if c == "c_string" else c) for t, c in PART_SPEC])
    else:
        lk.srv.load(ident, b2)
    rows3 = []
    for r in rows2:
        r = dict(r, c_new=None)
        r["c_text"] = r.pop("c_string")
        rows3.append(r)
    rows3 += b2.to_pylist()
    tbl = cat.load_table(ident)
    assert [f.name for f in tbl.schema().fields] == [f["name"] for f in final["fields"]]
    s3_id = tbl.current_snapshot().snapshot_id
    read_all(lk, ident, rows3, final, "after schema evolution", spark=spark, spark_catalog=vended)

    # Compaction: the data rewritten without deletes, the old snapshot still readable.
    out = json.loads(lk.srv.cli("maintain", "compact", ident, "--format", "json").stdout)
    # (A partition already in one file without deletes is left as it is.)
    assert out["deletes_after"]["files"] == 0 and out["data_after"]["rows"] == len(rows3), out
    assert 0 < out["written"]["rows"] == out["live_rows"] <= len(rows3), out
    assert out["data_after"]["files"] < out["data_before"]["files"], out
    tbl = cat.load_table(ident)
    assert tbl.current_snapshot().snapshot_id == out["snapshot_id"]
    assert tbl.current_snapshot().summary.operation.value == "replace"
    assert all(not t.delete_files for t in tbl.scan().plan_files())
    # (Read by every peer after expire + remove-orphans below, which leave the rows alone.)
    S.assert_same_rows(lk.srv.sql(f"SELECT * FROM {ident}"), rows3, final, "frazil sql after compaction")

    # Stray objects: in data/ and metadata/ of the table, and one outside any table.
    table_key = key_of(tbl.metadata.location)
    strays = [f"{table_key}/data/stray-0000.parquet", f"{table_key}/metadata/stray-snap.avro"]
    outside = f"{PREFIX}/fw/not-a-table-file.parquet"
    for k in [*strays, outside]:
        status, _, body = lk.s3.request("PUT", f"/{BUCKET}/{k}", b"PAR1 stray")
        assert status == 200, (k, status, body[:300])

    snaps_before = [s.snapshot_id for s in tbl.metadata.snapshots]
    ex = json.loads(lk.srv.cli("maintain", "expire-snapshots", ident, "--older-than", "0s", "--retain-last", "2",
                               "--format", "json").stdout)
    assert ex["snapshots"] == len(snaps_before) - 2 and ex["failed"] == 0, ex
    for f in ex["files"]:
        assert not lk.exists(key_of(f["location"])), f"expire reported {f['location']} deleted; it is still in the bucket"
    res = json.loads(lk.srv.cli("maintain", "remove-orphans", ident, "--older-than", "0", "--format", "json").stdout)
    removed = {key_of(f["location"]) for f in res["files"]}
    assert set(strays) <= removed, (strays, sorted(removed))
    assert not any(lk.exists(k) for k in strays), "remove-orphans reported strays removed; still in the bucket"
    assert lk.exists(outside), "remove-orphans deleted an object outside the table location"

    tbl = cat.load_table(ident)
    assert [s.snapshot_id for s in tbl.metadata.snapshots] == snaps_before[-2:]
    read_all(lk, ident, rows3, final, "after expire + remove-orphans", spark=spark, spark_catalog=vended)
    read_all(lk, ident, rows3, final, "retained pre-compaction snapshot", snapshot_id=s3_id)
    assert_files_in_bucket(lk, tbl, "after maintenance")
    _, named = referenced_files(tbl)
    unreferenced = sorted(lk.keys(f"{table_key}/data/") - named)
    assert not unreferenced, f"unreferenced objects left in data/: {unreferenced[:5]}"
    err = lk.srv.cli("sql", f"SELECT count(*) FROM {ident} AT (VERSION => {s1})", check=False)
    assert err.returncode != 0 and str(s1) in err.stderr, err.stderr


def test_load_spanning_partitions_in_s3(lake):
    """One `frazil load` whose rows fall into many partitions: one object per data file, each
    of the size its manifest entry records, and every reader returns exactly the rows.
    (On a local warehouse the small partitions are written by one DuckDB COPY ... PARTITION_BY
    into data/__pid=<n>/<prefix>_0.parquet; each data file must keep a key of its own.)"""
    schema = S.all_types_schema(with_time=False, with_fixed=False)
    data = S.make_table(schema, 40, seed=46)
    ident = "fw.spanning"
    lake.srv.cli("namespace", "create", "fw", check=False)
    lake.srv.cli("table", "create", ident, "--schema", S.write_json(lake.srv.tmpfile(".json"), schema),
                 "--partition-spec", S.write_json(lake.srv.tmpfile(".json"), S.partition_spec(schema, PART_SPEC)))
    lake.srv.load(ident, data)
    tbl = lake.sql_catalog().load_table(ident)
    partitions = {tuple(t.file.partition) for t in tbl.scan().plan_files()}
    assert len(partitions) > 4, partitions
    assert_files_in_bucket(lake, tbl, "after one load spanning partitions")
    read_all(lake, ident, data.to_pylist(), schema, "after one load spanning partitions")


def test_settings_from_environment_variables(lake):
    """The same warehouse configured only by FRAZIL_* variables, and with the secret in a
    variable named by s3.secret_access_key_env: frazil reads the table exactly."""
    schema = S.all_types_schema(with_time=True, with_fixed=False)
    expected = lake.srv.sql("SELECT * FROM fw.every_type")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAZIL_")}
    env.update(TZ="UTC", FRAZIL_WAREHOUSE=WAREHOUSE, FRAZIL_STATE_DIR=str(lake.state_dir), FRAZIL_S3_ENDPOINT=lake.s3.endpoint,
               FRAZIL_S3_REGION=lake.s3.region, FRAZIL_S3_ACCESS_KEY_ID=lake.s3.access_key,
               FRAZIL_S3_SECRET_ACCESS_KEY=lake.s3.secret_key)
    out = lake.srv.tmpfile(".parquet")
    cwd = lake.srv.tmpfile("-envdir")
    cwd.mkdir()
    p = subprocess.run([str(lake.srv.binary), "sql", f"COPY (SELECT * FROM fw.every_type) TO '{out}' (FORMAT parquet)"],
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    S.assert_same_rows(pq.read_table(out), expected, schema, "frazil configured by FRAZIL_S3_* variables")

    cfg = s3_config(lake.s3, WAREHOUSE, lake.state_dir)
    del cfg["s3"]["secret_access_key"]
    cfg["s3"]["secret_access_key_env"] = "LAKE_TEST_SECRET"
    cfg_path = lake.srv.tmpfile(".yaml")
    cfg_path.write_text(json.dumps(cfg))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAZIL_")}
    env.update(TZ="UTC", LAKE_TEST_SECRET=lake.s3.secret_key)
    out = lake.srv.tmpfile(".parquet")
    p = subprocess.run([str(lake.srv.binary), "--config", str(cfg_path), "sql",
                        f"COPY (SELECT * FROM fw.every_type) TO '{out}' (FORMAT parquet)"],
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    S.assert_same_rows(pq.read_table(out), expected, schema, "frazil with s3.secret_access_key_env")


# ---------------------------------------------------------------------------------------
# 2. Peers write through frazil's REST catalog into the bucket
# ---------------------------------------------------------------------------------------


def _identity_spec(ischema: Schema, col: str) -> PartitionSpec:
    # PyIceberg 0.12 writes only identity partitions without the optional pyiceberg-core.
    return PartitionSpec(PartitionField(source_id=ischema.find_field(col).field_id, field_id=1000,
                                        transform=IdentityTransform(), name=col))


def test_pyiceberg_writes_through_rest_frazil_reads(lake):
    """PyIceberg RestCatalog with vended credentials only: create (every type, fixed and time
    included), append, delete, overwrite, rename + add column, append; `frazil sql` reads
    exactly what PyIceberg reads after each step, and the files are objects in the bucket."""
    cat = lake.rest_catalog()
    schema = S.all_types_schema(with_time=True)
    ischema = Schema.model_validate(schema)
    ident = "py.t"
    cat.create_namespace("py")
    tbl = cat.create_table(ident, schema=ischema, partition_spec=_identity_spec(ischema, "c_bool"))
    assert tbl.metadata.location.startswith(f"{WAREHOUSE}/py/"), tbl.metadata.location
    b1 = S.make_table(schema, 50, seed=61)
    b2 = S.make_table(schema, 50, seed=62, id_start=1000)
    tbl.append(b1)
    tbl.append(b2)
    expected = S.pyiceberg_list_struct_nulls(b1, schema) + S.pyiceberg_list_struct_nulls(b2, schema)

    def check(label, exp, sch=schema):
        t = cat.load_table(ident)
        S.assert_same_rows(t.scan().to_arrow(), exp, sch, f"PyIceberg own read {label}")
        S.assert_same_rows(lake.srv.sql(f"SELECT * FROM {ident}"), exp, sch, f"frazil sql {label}")
        return t

    check("after two appends", expected)
    cat.load_table(ident).delete(delete_filter=LessThan("id", 20))
    expected = [r for r in expected if r["id"] >= 20]
    t = check("after delete", expected)
    snap_after_delete = t.current_snapshot().snapshot_id

    b3 = S.make_table(schema, 15, seed=63, id_start=2000)
    t.overwrite(b3, overwrite_filter=GreaterThanOrEqual("id", 1000))
    expected = [r for r in expected if r["id"] < 1000] + S.pyiceberg_list_struct_nulls(b3, schema)
    t = check("after overwrite", expected)

    with t.update_schema() as upd:
        upd.rename_column("c_string", "c_text")
        upd.add_column("c_extra", StringType())
    final = {"type": "struct", "schema-id": 0,
             "fields": [dict(f, name="c_text") if f["name"] == "c_string" else dict(f) for f in schema["fields"]]}
    final["fields"].append({"id": 9999, "name": "c_extra", "required": False, "type": "string"})
    b4 = S.make_table(final, 10, seed=64, id_start=3000)
    cat.load_table(ident).append(b4)
    expected = [dict({("c_text" if k == "c_string" else k): v for k, v in r.items()}, c_extra=None) for r in expected]
    expected += S.pyiceberg_list_struct_nulls(b4, final)
    t = check("after rename + add column", expected, final)

    old = t.scan(snapshot_id=snap_after_delete).to_arrow()
    S.assert_same_rows(lake.srv.sql(f"SELECT * FROM {ident} AT (VERSION => {snap_after_delete})"), old, schema,
                       "frazil AT VERSION (PyIceberg snapshot)")
    assert_files_in_bucket(lake, lake.sql_catalog().load_table(ident), "PyIceberg-written table")


def _spark_view(spark, data: pa.Table, schema: dict, path: Path, view: str) -> None:
    pq.write_table(S.spark_rows(data, schema), path)
    spark.read.parquet(str(path)).createOrReplaceTempView(view)


def test_spark_writes_through_rest_frazil_reads(lake, spark, spark_s3, tmp_path):
    """Spark (REST + S3FileIO with vended credentials): CREATE a partitioned merge-on-read
    table, INSERT, MERGE INTO, DELETE; `frazil sql` reads exactly what Spark reads."""
    vended, _ = spark_s3
    schema = S.all_types_schema(with_time=False)
    sschema = S.spark_schema(schema)
    cols = S.select_list(sschema)
    data = S.make_table(schema, 60, seed=71)
    upd = S.make_table(schema, 40, seed=72, id_start=40)
    _spark_view(spark, data, schema, tmp_path / "a.parquet", "s3_src_a")
    _spark_view(spark, upd, schema, tmp_path / "b.parquet", "s3_src_b")
    t = f"{vended}.sp.t"
    spark.sql(f"CREATE NAMESPACE {vended}.sp")
    spark.sql(f"CREATE TABLE {t} ({S.spark_ddl(schema)}) USING iceberg PARTITIONED BY (bucket(4, id), c_bool) "
              "TBLPROPERTIES ('format-version'='2', 'write.delete.mode'='merge-on-read', "
              "'write.update.mode'='merge-on-read', 'write.merge.mode'='merge-on-read')")
    spark.sql(f"INSERT INTO {t} SELECT {cols} FROM s3_src_a")
    spark.sql(f"MERGE INTO {t} t USING (SELECT {cols} FROM s3_src_b) s ON t.id = s.id "
              "WHEN MATCHED AND s.id % 2 = 0 THEN DELETE "
              "WHEN MATCHED THEN UPDATE SET t.c_string = s.c_string, t.c_long = s.c_long "
              "WHEN NOT MATCHED THEN INSERT *")
    spark.sql(f"DELETE FROM {t} WHERE id % 5 = 0")
    src_b = {r["id"]: r for r in S.spark_rows(upd, schema).to_pylist()}
    expected = []
    for r in S.spark_rows(data, schema).to_pylist():
        s = src_b.get(r["id"])
        if s is not None:
            if s["id"] % 2 == 0:
                continue
            r = dict(r, c_string=s["c_string"], c_long=s["c_long"])
        expected.append(r)
    expected += [r for i, r in src_b.items() if i >= 60]
    expected = [r for r in expected if r["id"] % 5 != 0]
    S.assert_same_rows(spark_collect(spark, f"SELECT * FROM {t}"), expected, sschema, "Spark own read")
    S.assert_same_rows(lake.srv.sql("SELECT * FROM sp.t"), expected, sschema, "frazil sql on Spark's table")
    tbl = lake.sql_catalog().load_table("sp.t")
    assert tbl.metadata.location.startswith(f"{WAREHOUSE}/sp/"), tbl.metadata.location
    contents = {d.content.name for task in tbl.scan().plan_files() for d in task.delete_files}
    assert contents == {"POSITION_DELETES"}, f"Spark's merge-on-read wrote {contents}"
    assert_files_in_bucket(lake, tbl, "Spark-written table")


def test_duckdb_writes_through_rest_frazil_reads(lake):
    """DuckDB's iceberg ATTACH with vended credentials only (no secret on the connection):
    CREATE SCHEMA / TABLE, INSERT into the bucket; `frazil sql` reads exactly those rows."""
    schema = S.simple_schema()
    rows = S.make_rows(schema, 25, seed=81)
    con = lake.duck_rest
    lake.duck_attach()
    con.execute("CREATE SCHEMA ice.dk")
    con.execute("CREATE TABLE ice.dk.t (id BIGINT, name VARCHAR, amount DECIMAL(18,6), day DATE, ts TIMESTAMPTZ)")
    con.register("duck_src", S.rows_to_arrow(rows, schema))
    try:
        con.execute("INSERT INTO ice.dk.t SELECT id, name, amount, day, ts FROM duck_src")
    finally:
        con.unregister("duck_src")
    dschema = {"type": "struct", "schema-id": 0, "fields": [dict(f, required=False) for f in schema["fields"]]}
    S.assert_same_rows(con.execute("SELECT * FROM ice.dk.t").to_arrow_table(), rows, dschema, "DuckDB own read")
    S.assert_same_rows(lake.srv.sql("SELECT * FROM dk.t"), rows, dschema, "frazil sql on DuckDB's table")
    tbl = lake.sql_catalog().load_table("dk.t")
    assert tbl.metadata.location.startswith(f"{WAREHOUSE}/dk/"), tbl.metadata.location
    assert_files_in_bucket(lake, tbl, "DuckDB-written table")


# ---------------------------------------------------------------------------------------
# 3. Bad input
# ---------------------------------------------------------------------------------------


def _frazil_with(cfg: dict, root: Path, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    root.mkdir(parents=True, exist_ok=True)
    cfg_path = root / "frazil.yaml"
    cfg_path.write_text(json.dumps(cfg))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAZIL_")}
    env.update(TZ="UTC", **(env_extra or {}))
    return subprocess.run([str(RS.frazil_binary()), "--config", str(cfg_path), *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def _catalog_tables(state_dir: Path) -> list:
    db = state_dir / "catalog.db"
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return con.execute("SELECT table_namespace, table_name FROM iceberg_tables").fetchall() if "iceberg_tables" in names else []
    finally:
        con.close()


def test_wrong_secret_fails_clearly_and_creates_nothing(lake, tmp_path):
    s3 = lake.s3
    src = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int64())}), src)
    wrong = "not-the-secret/+xyz"
    cases = {
        "config": ({}, s3_config(s3, f"s3://{BUCKET}/badsecret", tmp_path / "state1", secret=wrong)),
        "environment": ({"FRAZIL_S3_SECRET_ACCESS_KEY": wrong},
                        {k: v for k, v in s3_config(s3, f"s3://{BUCKET}/badsecret", tmp_path / "state2").items()}),
    }
    del cases["environment"][1]["s3"]["secret_access_key"]
    for label, (env_extra, cfg) in cases.items():
        p = _frazil_with(cfg, tmp_path / label, "load", "bad.t", str(src), "--format", "parquet", env_extra=env_extra)
        msg = p.stderr + p.stdout
        assert p.returncode != 0, f"{label}: load with a wrong secret exited 0: {msg[-2000:]}"
        assert re.search(r"credential", msg, re.I), f"{label}: the error does not mention credentials: {msg[-2000:]}"
        assert wrong not in msg and s3.secret_key not in msg, f"{label}: a secret key appears in the output"
        assert not lake.keys("badsecret/"), f"{label}: objects were created: {sorted(lake.keys('badsecret/'))[:5]}"
        assert _catalog_tables(Path(cfg["state_dir"])) == [], f"{label}: a table was created in the catalog"

    # Reading the real warehouse with a wrong secret: a clear error too, never a partial answer.
    cfg = s3_config(s3, WAREHOUSE, lake.state_dir, secret=wrong)
    p = _frazil_with(cfg, tmp_path / "read", "sql", "SELECT count(*) FROM fw.every_type")
    assert p.returncode != 0, f"read with a wrong secret exited 0: {p.stdout[-500:]}"
    assert re.search(r"credential", p.stderr, re.I), p.stderr[-2000:]
    assert wrong not in p.stderr


def test_missing_bucket_is_named(lake, tmp_path):
    bucket = "no-such-bucket-frazil"
    src = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int64())}), src)
    cfg = s3_config(lake.s3, f"s3://{bucket}/wh", tmp_path / "state")
    p = _frazil_with(cfg, tmp_path / "run", "load", "nb.t", str(src), "--format", "parquet")
    msg = p.stderr + p.stdout
    assert p.returncode != 0, f"load into a missing bucket exited 0: {msg[-2000:]}"
    assert bucket in p.stderr, f"the error does not name the bucket: {p.stderr[-2000:]}"
    assert _catalog_tables(tmp_path / "state") == [], "a table was created in the catalog"
    assert lake.s3.request("HEAD", f"/{bucket}")[0] == 404, "the bucket was created"


def test_rest_vends_credentials_only_on_request(lake):
    srv = lake.srv
    secret, access = lake.s3.secret_key, lake.s3.access_key
    location = lake.sql_catalog().load_table("fw.every_type").metadata.location

    r = srv.http("GET", "/v1/namespaces/fw/tables/every_type")
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    cfg = body.get("config") or {}
    assert "s3.secret-access-key" not in cfg and "s3.access-key-id" not in cfg, f"credentials vended unasked: {sorted(cfg)}"
    assert not body.get("storage-credentials"), body.get("storage-credentials")
    assert secret not in r.text, "the secret key is in a LoadTableResult nobody asked credentials for"
    # The storage settings are there for everyone (docs/s3.md).
    assert cfg.get("s3.endpoint") == lake.s3.endpoint and cfg.get("s3.path-style-access") == "true", cfg

    r = srv.http("GET", "/v1/namespaces/fw/tables/every_type", headers=DELEGATION)
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    cfg = body.get("config") or {}
    assert cfg.get("s3.access-key-id") == access and cfg.get("s3.secret-access-key") == secret, sorted(cfg)
    creds = body.get("storage-credentials") or []
    assert creds and all(location.startswith(c["prefix"]) for c in creds), creds
    assert any(c["config"].get("s3.secret-access-key") == secret and c["config"].get("s3.access-key-id") == access for c in creds)

    r = srv.http("GET", "/v1/namespaces/fw/tables/every_type/credentials", headers=DELEGATION)
    assert r.status_code == 200, r.text[:500]
    creds = r.json().get("storage-credentials") or []
    assert creds and all(location.startswith(c["prefix"]) for c in creds), creds
    assert any(c["config"].get("s3.secret-access-key") == secret and c["config"].get("s3.access-key-id") == access for c in creds)
    r = srv.http("GET", "/v1/namespaces/fw/tables/no_such_table/credentials", headers=DELEGATION)
    RS.assert_error_shape(r, 404)

    # rest.vend_credentials: false (a second server on the same catalog): nothing vended,
    # whatever the client asks.
    cfg = s3_config(lake.s3, WAREHOUSE, lake.state_dir)
    cfg["rest"] = {"vend_credentials": False}
    off = RS.FrazilServer(srv.root.parent / "srv-novend", extra=cfg)
    (off.root / "warehouse").rmdir()
    off.start()
    try:
        r = off.http("GET", "/v1/namespaces/fw/tables/every_type", headers=DELEGATION)
        assert r.status_code == 200, r.text[:500]
        assert secret not in r.text and "s3.secret-access-key" not in (r.json().get("config") or {}), r.text[:800]
        r = off.http("GET", "/v1/namespaces/fw/tables/every_type/credentials", headers=DELEGATION)
        assert r.status_code < 500 and secret not in r.text, f"{r.status_code} {r.text[:500]}"
        off.assert_alive("with vend_credentials false")
    finally:
        assert off.stop() == 0, off.logs()


# ---------------------------------------------------------------------------------------
# Last: every table in the catalog (frazil's and the peers') against the bucket
# ---------------------------------------------------------------------------------------


def test_every_referenced_file_is_in_the_bucket(lake):
    con = sqlite3.connect(f"file:{lake.state_dir}/catalog.db?mode=ro", uri=True)
    try:
        idents = [f"{ns}.{t}" for ns, t in con.execute(
            "SELECT table_namespace, table_name FROM iceberg_tables WHERE catalog_name='frazil'")]
    finally:
        con.close()
    assert idents, "no tables in the catalog"  # the module's: frazil's, PyIceberg's, Spark's, DuckDB's
    cat = lake.sql_catalog()
    total, problems = 0, []
    for ident in idents:  # every table checked, all problems reported together
        try:
            total += len(assert_files_in_bucket(lake, cat.load_table(ident), ident))
        except AssertionError as e:
            problems.append(f"{ident}: {str(e).splitlines()[0]}")
    assert not problems, "\n".join(problems)
    assert total > len(idents) * 3
    # Nothing of the warehouse was written to local disk outside state_dir.
    assert not (lake.srv.root / "warehouse").exists()


def test_state_dir_keeps_no_table_files(lake):
    """state_dir holds frazil's own state only (docs/s3.md): once the store has acknowledged
    an upload the local copy is gone, and the staging area is left empty (no files, no
    directories), so it cannot grow with every write."""
    left = [p for p in lake.state_dir.rglob("*") if p.is_file() and re.search(r"\.(parquet|avro|metadata\.json)$", p.name)]
    assert not left, f"table files left in state_dir: {left[:5]}"
    staging = lake.state_dir / ".frazil" / "staging"
    leftovers = sorted(str(p.relative_to(staging)) for p in staging.rglob("*")) if staging.exists() else []
    assert not leftovers, f"{len(leftovers)} entries left in {staging} after every write finished, e.g. {leftovers[:4]}"
