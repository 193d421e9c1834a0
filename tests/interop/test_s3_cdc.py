"""CDC exactly once with the warehouse in S3 (docs/s3.md): `frazil run` streams PostgreSQL into
raw changelog and mirror tables in `s3://lake/wh` on a real S3 server (versitygw, s3_support.py),
through a FaultProxy for the fault tests; its local state (SQLite catalog, mirror index, upload
staging) is in `state_dir`.

The checks are test_cdc_chaos.py's, reused, not copied: a trigger-kept audit trail in
PostgreSQL is the ground truth (`verify_exactly_once`: every change once, nothing invented,
commit order, one commit per source transaction across tables, PyIceberg reading the data
files), every mirror equals its source (`verify_mirrors`: DuckDB iceberg_scan, PyIceberg and
`frazil verify`). Those helpers read a local warehouse; here they are pointed at the store
(`s3_readers`): PyIceberg's SqlCatalog on `<state_dir>/catalog.db` with s3.* properties,
Parquet through pyarrow's S3FileSystem, DuckDB with httpfs and a secret, table metadata
by a signed GET.

Then, after each test, the store itself: every object the metadata references (current
metadata, metadata log, every snapshot's manifest list, its manifests, every file they name,
entries of any status) answers a HEAD; and after the kill points and the faults
`frazil maintain remove-orphans <t> --older-than 0s` deletes what the killed/failed commits
left (and a planted incomplete multipart upload), after which everything under the table is
referenced, ListMultipartUploads is empty and the table reads the same rows.

Tests:
  * test_s3_exactly_once_read_by_peers: initial snapshot, then a pgbench workload (multi-table
    transfers, updates, deletes, savepoints, rollbacks, TOASTed notes) plus a multi-table
    transaction with a TRUNCATE and a medium transaction.
  * test_s3_kill_points: FRAZIL_KILL_POINT at each commit window (after Parquet upload, after
    manifests, after the catalog commit, after the LSN confirm) under a workload, and a
    SIGKILL while a multipart upload's parts are held by the proxy; then remove-orphans,
    itself through the proxy with faults on DeleteObjects and AbortMultipartUpload.
  * test_s3_store_faults_during_ingest: through the FaultProxy, during the initial snapshot
    (503s, answers lost, a metadata PUT cut) and while frazil streams: bursts
    of 503 SlowDown (and 500/429), responses delayed by seconds, connections dropped before
    forwarding, after forwarding (the answer lost, metadata PUTs included), in the middle of
    a data upload and of a multipart upload part; then the store stopped for 3 s and
    SIGKILLed/restarted, and a 3 s outage with s3.max_attempts=2 (requests give up). The
    proxy's counters must show each fault happened; every error frazil logs names the object.
  * test_s3_remove_orphans_during_ingest: `remove-orphans --older-than 0s` on every table
    over and over while frazil commits, its manifest and metadata PUTs held 0.1 s by the
    proxy (the write lease must protect uploaded, not yet committed files).
"""

from __future__ import annotations

import collections
import json
import os
import re
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import cdc_support as C
import mirror_support as M
import test_cdc_chaos as X
from conftest import ROOT, Frazil
from pg_cluster import PgCluster, pg_cluster_fixture
from s3_support import FaultProxy, S3Server, start_s3_server
from test_cdc_chaos import frazil_exe  # noqa: F401  (fixture: the binary, copied once per module)

BUCKET = "lake"
PREFIX = "wh"
ALL = X.ALL  # accounts (replica identity full, TOASTed notes), transfers, events
EXT_DIR = ROOT / ".deps" / "duckdb" / "extensions"

pg = pg_cluster_fixture("function", name="pg")


# ---------------------------------------------------------------------------------------
# The lake: warehouse in the store, state on local disk
# ---------------------------------------------------------------------------------------


class Lake:
    def __init__(self, s3: S3Server, state_dir: Path) -> None:
        self.s3 = s3
        self.state_dir = state_dir
        self.warehouse = f"s3://{BUCKET}/{PREFIX}"
        self._fs = None
        self.manifest_files: dict[str, list[str]] = {}  # manifest -> the files it names

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """frazil's settings for the lake; `endpoint` (a proxy) instead of the server."""
        return {
            "FRAZIL_WAREHOUSE": self.warehouse,
            "FRAZIL_STATE_DIR": str(self.state_dir),
            "FRAZIL_S3_ENDPOINT": endpoint or self.s3.endpoint,
            "FRAZIL_S3_REGION": self.s3.region,
            "FRAZIL_S3_ACCESS_KEY_ID": self.s3.access_key,
            "FRAZIL_S3_SECRET_ACCESS_KEY": self.s3.secret_key,
            "FRAZIL_ENGINE_EXTENSION_DIRECTORY": str(EXT_DIR),
        }

    def catalog(self):
        from pyiceberg.catalog.sql import SqlCatalog

        return SqlCatalog("frazil", **{
            "uri": f"sqlite:///{self.state_dir}/catalog.db", "warehouse": self.warehouse,
            "s3.endpoint": self.s3.endpoint, "s3.access-key-id": self.s3.access_key,
            "s3.secret-access-key": self.s3.secret_key, "s3.region": self.s3.region,
            "s3.force-virtual-addressing": "false"})

    def fs(self):
        if self._fs is None:
            self._fs = self.s3.pyarrow_fs()
        return self._fs

    @staticmethod
    def split(loc: str) -> tuple[str, str]:
        assert loc.startswith("s3://"), f"not an S3 location: {loc}"
        bucket, _, key = loc[len("s3://"):].partition("/")
        return bucket, key

    def get(self, loc: str) -> bytes:
        bucket, key = self.split(loc)
        status, _, body = self.s3.request("GET", f"/{bucket}/{key}")
        assert status == 200, f"GET {loc}: HTTP {status} {body[:300]!r}"
        return body

    def head(self, loc: str) -> int:
        bucket, key = self.split(loc)
        return self.s3.request("HEAD", f"/{bucket}/{key}")[0]

    def list_objects(self, prefix: str) -> dict[str, int]:
        """ListObjectsV2 of `prefix` in the bucket, every page: key -> size."""
        out: dict[str, int] = {}
        token = None
        while True:
            q = f"list-type=2&prefix={urllib.parse.quote(prefix, safe='')}"
            if token:
                q += f"&continuation-token={urllib.parse.quote(token, safe='')}"
            status, _, body = self.s3.request("GET", f"/{BUCKET}?{q}")
            assert status == 200, f"ListObjectsV2 {prefix}: HTTP {status} {body[:300]!r}"
            root = ET.fromstring(body)
            for c in root.findall("{*}Contents"):
                out[c.findtext("{*}Key")] = int(c.findtext("{*}Size"))
            token = root.findtext("{*}NextContinuationToken")
            if root.findtext("{*}IsTruncated") != "true" or not token:
                return out

    def multipart_uploads(self, prefix: str) -> list[tuple[str, str]]:
        """ListMultipartUploads under `prefix`: (key, upload id)."""
        status, _, body = self.s3.request("GET", f"/{BUCKET}?uploads&prefix={urllib.parse.quote(prefix, safe='')}")
        assert status == 200, f"ListMultipartUploads {prefix}: HTTP {status} {body[:300]!r}"
        root = ET.fromstring(body)
        return [(u.findtext("{*}Key"), u.findtext("{*}UploadId")) for u in root.findall("{*}Upload")]


class S3Frazil(Frazil):
    """frazil CLI (sql, verify, maintain) on the lake, straight to the server (never through
    the proxy: its reads must not use up the faults meant for `frazil run`). `warehouse` is
    the state directory, where the helpers find catalog.db."""

    def __init__(self, binary: Path, lake: Lake, workdir: Path, endpoint: str | None = None) -> None:
        super().__init__(binary, lake.state_dir, workdir)
        self.lake = lake
        self.endpoint = endpoint

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRAZIL_")}
        env["TZ"] = "UTC"
        env.update(self.lake.env(self.endpoint))
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 300):
        import subprocess

        from conftest import FrazilResult

        cmd = [str(self.binary), *map(str, args)]
        p = subprocess.run(cmd, cwd=self.workdir, env=self._env(), capture_output=True, text=True, timeout=timeout)
        res = FrazilResult(cmd, p.returncode, p.stdout, p.stderr)
        if check and p.returncode != 0:
            raise AssertionError(f"frazil failed (exit {p.returncode}): {' '.join(cmd)}\n--- stderr ---\n"
                                 f"{p.stderr[-4000:]}\n--- stdout ---\n{p.stdout[-2000:]}")
        return res


class S3Runner(X.FrazilRunner):
    """test_cdc_chaos's `frazil run` launcher with the lake's settings (endpoint: the proxy)."""

    def __init__(self, binary: Path, lake: Lake, workdir: Path, pg: PgCluster, tables: list, endpoint: str,
                 extra: dict[str, str] | None = None) -> None:
        super().__init__(binary, lake.state_dir, workdir, pg, tables)
        self.lake = lake
        self.endpoint = endpoint
        self.extra = dict(extra or {})

    def env(self, kill_point: str | None) -> dict:
        env = super().env(kill_point)
        env.update(self.lake.env(self.endpoint))
        env.update(self.extra)
        return env


class _S3Parquet:
    """Stands in for pyarrow.parquet in test_cdc_chaos: data file paths are s3:// here."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def read_table(self, path, columns=None, **kw):
        if isinstance(path, str) and path.startswith("s3://"):
            return pq.read_table(path[len("s3://"):], columns=columns, filesystem=self.lake.fs(), **kw)
        return pq.read_table(path, columns=columns, **kw)


@pytest.fixture
def lake(tmp_path: Path):
    s3 = start_s3_server(tmp_path, buckets=(BUCKET,))
    try:
        yield Lake(s3, tmp_path / "state")
    finally:
        s3.stop(crash=True)


@pytest.fixture
def s3_readers(lake: Lake, monkeypatch):
    """Points test_cdc_chaos's and mirror_support's readers at the store."""
    import conftest

    plain_catalog = conftest.pyiceberg_catalog

    def catalog(warehouse):
        return lake.catalog() if Path(warehouse) == lake.state_dir else plain_catalog(warehouse)

    monkeypatch.setattr(X, "pyiceberg_catalog", catalog)
    monkeypatch.setattr(conftest, "pyiceberg_catalog", catalog)  # mirror_support imports it when called
    monkeypatch.setattr(X, "pq", _S3Parquet(lake))
    plain_duck = M.duck_connect

    def duck_connect():
        con = plain_duck()
        con.execute(f"LOAD '{EXT_DIR}/v1.5.5/linux_amd64/httpfs.duckdb_extension'")
        con.execute(lake.s3.duckdb_secret_sql())
        return con

    monkeypatch.setattr(M, "duck_connect", duck_connect)
    plain_metadata = C.table_metadata

    def table_metadata(warehouse, ident):
        loc = M.R.catalog_pointer(warehouse, ident)
        if loc is None or not loc.startswith("s3://"):
            return plain_metadata(warehouse, ident)
        return json.loads(lake.get(loc))

    monkeypatch.setattr(C, "table_metadata", table_metadata)
    return lake


@pytest.fixture
def proxy(lake: Lake):
    with FaultProxy(lake.s3.host, lake.s3.port) as p:
        yield p


@pytest.fixture
def fz(frazil_exe: Path, lake: Lake, tmp_path: Path) -> S3Frazil:
    return S3Frazil(frazil_exe, lake, tmp_path / "work")


@pytest.fixture
def runners():
    made: list[S3Runner] = []
    yield made
    for r in made:
        r.cleanup()


@pytest.fixture
def workloads():
    made: list[X.Workload] = []
    yield made
    for w in made:
        w.stop()


def wait_started(runner: S3Runner) -> None:
    """test_cdc_chaos's wait, once frazil has made its catalog (PyIceberg must not make it)."""
    C.wait_for(lambda: (runner.lake.state_dir / "catalog.db").exists(), 60, "frazil's catalog in state_dir")
    X.wait_started(runner, ALL, timeout=60)


def prepare_source(pg: PgCluster) -> tuple[dict, dict]:
    """test_cdc_chaos's source (tables, audit triggers, seed rows); the expected snapshot."""
    X.create_source(pg, ALL)
    X.seed_source(pg, accounts=2000, transfers=1000, events=1000)
    X.add_audit_triggers(pg, ALL)
    return {t.name: X.table_state(pg, t) for t in ALL}, {t.name: X.audit_max_seq(pg) for t in ALL}


# ---------------------------------------------------------------------------------------
# The store: referenced objects, orphans
# ---------------------------------------------------------------------------------------


def catalog_tables(lake: Lake) -> dict[str, str]:
    import sqlite3

    con = sqlite3.connect(f"file:{lake.state_dir}/catalog.db?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT table_namespace, table_name, metadata_location FROM iceberg_tables").fetchall()
    finally:
        con.close()
    return {f"{ns}.{name}": loc for ns, name, loc in rows}


def referenced_objects(lake: Lake, ident: str) -> tuple[str, set[str]]:
    """(table location, every object its metadata references): the current metadata file
    and its metadata log, every snapshot's manifest list, manifests and the files they name
    (entries of any status), statistics files. Walked with PyIceberg over S3."""
    tbl = lake.catalog().load_table(ident)
    md = tbl.metadata
    refs = {tbl.metadata_location} | {e.metadata_file for e in md.metadata_log}
    for snap in md.snapshots:
        refs.add(snap.manifest_list)
        for manifest in snap.manifests(tbl.io):
            refs.add(manifest.manifest_path)
            named = lake.manifest_files.get(manifest.manifest_path)  # manifests never change: read once
            if named is None:
                named = lake.manifest_files[manifest.manifest_path] = [
                    e.data_file.file_path for e in manifest.fetch_manifest_entry(tbl.io, discard_deleted=False)]
            refs.update(named)
    for st in list(getattr(md, "statistics", []) or []) + list(getattr(md, "partition_statistics", []) or []):
        refs.add(st.statistics_path)
    return md.location.rstrip("/"), refs


def check_nothing_missing(lake: Lake, head: bool = True) -> dict[str, tuple[str, set[str], set[str]]]:
    """Every object any table's metadata references exists: listed by ListObjectsV2, and
    (head=True) answering a HEAD. Returns ident -> (location, referenced, objects under data/
    and metadata/)."""
    out = {}
    problems = []
    for ident in sorted(catalog_tables(lake)):
        loc, refs = referenced_objects(lake, ident)
        _, key = lake.split(loc)
        listed = {f"s3://{BUCKET}/{k}" for k in lake.list_objects(key + "/")}
        for r in sorted(refs):
            if not r.startswith(loc + "/"):
                problems.append(f"{ident}: references {r} outside its location {loc}")
            st = lake.head(r) if head else 200
            if st != 200 or r not in listed:
                problems.append(f"{ident}: references {r}, which is missing (HEAD {st}, listed {r in listed})")
        out[ident] = (loc, refs, {o for o in listed if o.startswith((loc + "/data/", loc + "/metadata/"))})
    assert not problems, "metadata references missing objects:\n" + "\n".join(problems[:30])
    return out


def table_rows(fz: S3Frazil, ident: str) -> collections.Counter:
    t = fz.export(f"SELECT * FROM {ident}")
    return collections.Counter(tuple(sorted((k, repr(v)) for k, v in r.items())) for r in t.to_pylist())


def remove_orphans_and_check(fz: S3Frazil, lake: Lake, plant_upload: bool, expect_orphans: bool,
                             via: S3Frazil | None = None) -> dict:
    """Plants an incomplete multipart upload under one table's data/, runs remove-orphans
    with a zero window on every table (with `via`: e.g. through the proxy); then nothing
    unreferenced is left, no multipart upload is pending, every reference still resolves and
    each table reads the same rows."""
    before = check_nothing_missing(lake, head=False)
    planted = None
    if plant_upload:
        ident = f"{X.NS}.{ALL[0].name}"
        loc = before[ident][0]
        _, key = lake.split(loc)
        status, _, body = lake.s3.request("POST", f"/{BUCKET}/{key}/data/x.parquet?uploads")
        assert status == 200, f"CreateMultipartUpload: HTTP {status} {body[:300]!r}"
        upload_id = ET.fromstring(body).findtext("{*}UploadId")
        part = os.urandom(64 * 1024)
        status, _, body = lake.s3.request("PUT", f"/{BUCKET}/{key}/data/x.parquet?partNumber=1&uploadId="
                                                 f"{urllib.parse.quote(upload_id, safe='')}", part)
        assert status == 200, f"UploadPart: HTTP {status} {body[:300]!r}"
        planted = (f"{key}/data/x.parquet", upload_id)
        assert planted in lake.multipart_uploads(key + "/"), lake.multipart_uploads(key + "/")
    unreferenced = {i: sorted(objs - refs) for i, (_, refs, objs) in before.items()}
    rows_before = {i: table_rows(fz, i) for i in before}
    uploads_before = lake.multipart_uploads(PREFIX + "/")
    reports = {}
    for ident in sorted(before):
        res = (via or fz).run("maintain", "remove-orphans", ident, "--older-than", "0s", "--format", "json")
        reports[ident] = json.loads(res.stdout)
        assert reports[ident].get("failed", 0) == 0, reports[ident]
    after = check_nothing_missing(lake)
    problems = []
    for ident, (loc, refs, objs) in after.items():
        left = objs - refs
        if left:
            problems.append(f"{ident}: unreferenced objects left after remove-orphans: {sorted(left)[:5]}")
        gone = set(unreferenced[ident]) - objs
        if gone != set(unreferenced[ident]):
            problems.append(f"{ident}: orphans not removed: {sorted(set(unreferenced[ident]) - gone)[:5]}")
        _, key = lake.split(loc)
        ups = lake.multipart_uploads(key + "/")
        if ups:
            problems.append(f"{ident}: multipart uploads still pending after remove-orphans: {ups}")
        if table_rows(fz, ident) != rows_before[ident]:
            problems.append(f"{ident}: reads different rows after remove-orphans")
    ups = lake.multipart_uploads(PREFIX + "/")
    if ups:
        problems.append(f"multipart uploads still pending in the warehouse after remove-orphans: {ups}")
    assert not problems, "\n".join(problems) + f"\nreports: {json.dumps(reports)[:3000]}"
    n_orphans = sum(len(v) for v in unreferenced.values())
    if expect_orphans:
        assert n_orphans > 0, f"killed commits left no unreferenced object at all: {reports}"
    return {"orphans_removed": n_orphans, "uploads_aborted": len(uploads_before),
            "referenced": sum(len(r) for _, r, _ in after.values())}


def verify_all(fz: S3Frazil, pg: PgCluster, runner: S3Runner, r_expected: dict, boundary: dict) -> dict:
    try:
        t = time.monotonic()
        stats = X.verify_exactly_once(fz, pg, ALL, r_expected, boundary)
        t1 = time.monotonic()
        stats["mirror_rows"] = X.verify_mirrors(fz, pg, ALL, runner)
        stats["check_seconds"] = (round(t1 - t, 1), round(time.monotonic() - t1, 1))
    except AssertionError as e:
        raise AssertionError(f"{e}\n\n{X.slot_state(pg)}\n{runner.diagnostics()}") from None
    return stats


def duck_counts(lake: Lake) -> dict[str, int]:
    """Row counts of every table read by DuckDB's iceberg_scan over httpfs (independent of frazil)."""
    con = M.duck_connect()
    try:
        return {i: con.execute(f"SELECT count(*) FROM iceberg_scan('{loc}')").fetchone()[0]
                for i, loc in sorted(catalog_tables(lake).items())}
    finally:
        con.close()


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------

SPECIAL = [
    # A multi-table transaction with a TRUNCATE in the middle of it.
    """BEGIN;
INSERT INTO transfers (src, dst, amount, memo) VALUES (1, 2, 3, 'with the truncate');
UPDATE accounts SET balance = balance + 1 WHERE id IN (5, 6, 7);
INSERT INTO events (kind, body) VALUES ('before truncate', '1');
TRUNCATE events;
INSERT INTO events (kind, body) SELECT 'after truncate', 'a' || g FROM generate_series(1, 40) g;
DELETE FROM accounts WHERE id = 8;
COMMIT;""",
    """BEGIN;
INSERT INTO events (kind, body) SELECT 'medium', 'm' || g FROM generate_series(1, 3000) g;
UPDATE accounts SET balance = balance + 7 WHERE id % 13 = 0;
DELETE FROM transfers WHERE id % 9 = 0 AND id < 1000;
COMMIT;""",
]


# 12,000 rows of 1,280 hex characters: a ~8 MB Parquet file, uploaded in parts of 5 MiB.
BIG_TXN = """BEGIN;
INSERT INTO events (kind, body) SELECT 'big', string_agg(md5(g::text || '-' || i), '') FROM generate_series(1, 12000) g,
  generate_series(1, 40) i GROUP BY g;
COMMIT;"""


@pytest.mark.timeout(240)
def test_s3_exactly_once_read_by_peers(fz: S3Frazil, pg: PgCluster, s3_readers: Lake, runners, workloads, tmp_path):
    t0 = time.monotonic()
    lake = s3_readers
    r_expected, boundary = prepare_source(pg)
    runner = S3Runner(fz.binary, lake, tmp_path / "cdc", pg, ALL, lake.s3.endpoint)
    runners.append(runner)
    runner.start()
    wait_started(runner)

    work = X.Workload(pg, tmp_path / "workload", duration=10, rate=80, clients=2, bulk=False)
    workloads.append(work)
    work.start()
    for sql in SPECIAL:
        time.sleep(2.5)
        pg.exec(sql)
    work.wait()
    catch_up = X.finish_and_stop(fz, pg, runner)
    assert not runner.unexpected_exits(), "\n\n".join(runner.unexpected_exits())
    stats = verify_all(fz, pg, runner, r_expected, boundary)
    assert stats["ops"].get("t") == 1 and stats["transactions"] > 200, stats

    # DuckDB's iceberg_scan over httpfs reads the same number of rows as frazil sql.
    counts = duck_counts(lake)
    for t in ALL:
        assert counts[f"{X.NS}.{t.name}"] == stats["raw_rows"][t.name], (counts, stats["raw_rows"])
        assert counts[f"mirror.{t.name}"] == stats["mirror_rows"][t.name], (counts, stats["mirror_rows"])
    # Everything is in the bucket; nothing but frazil's state is on local disk.
    objs = lake.list_objects(PREFIX + "/")
    assert any(k.endswith(".parquet") for k in objs) and any(k.endswith(".metadata.json") for k in objs)
    assert not list(lake.state_dir.rglob("*.parquet")), list(lake.state_dir.rglob("*.parquet"))[:5]
    check_nothing_missing(lake)
    print(f"\nS3 exactly once: catch-up {catch_up:.1f}s, total {time.monotonic() - t0:.0f}s; {stats}; "
          f"{len(objs)} objects")


@pytest.mark.timeout(300)
def test_s3_kill_points(fz: S3Frazil, pg: PgCluster, s3_readers: Lake, proxy: FaultProxy, runners, workloads,
                        tmp_path):
    t0 = time.monotonic()
    lake = s3_readers
    r_expected, boundary = prepare_source(pg)
    runner = S3Runner(fz.binary, lake, tmp_path / "cdc", pg, ALL, proxy.endpoint, {"FRAZIL_S3_PART_SIZE": "5MiB"})
    runners.append(runner)
    runner.start()
    wait_started(runner)
    assert runner.sigterm() == 0, runner.diagnostics()

    work = X.Workload(pg, tmp_path / "workload", duration=30, rate=80, clients=2, bulk=False)
    workloads.append(work)
    work.start()
    log = []
    for i, point in enumerate(["cdc.after_parquet:1", "cdc.after_manifests:1", "cdc.after_commit:1",
                               "cdc.after_confirm:1", "cdc.after_parquet:2"]):
        if i == 2:
            X.between_runs_changes(pg, 3)  # a multi-table transaction among the changes
        run = runner.start(kill_point=point)
        rc = runner.wait_exit(60)
        if rc is None:
            runner.sigkill()
            raise AssertionError(f"frazil never reached kill point {point} within 60 s\n{runner.diagnostics()}")
        text = runner.log_text(run)
        assert rc == 137 and f"kill point {point.split(':')[0]} reached" in text, (
            f"frazil run with FRAZIL_KILL_POINT={point} exited {rc} without reaching it\n{runner.diagnostics()}")
        log.append(point)
        time.sleep(0.5)
    work.stop()
    # SIGKILL in the middle of a multipart upload: the proxy holds the parts of the big
    # transaction's Parquet file; frazil dies with the upload started, never completed.
    proxy.delay_next(8, 5.0, method="PUT", path="partNumber=")
    run = runner.start()
    big = threading.Thread(target=lambda: pg.exec(BIG_TXN), daemon=True)
    big.start()
    C.wait_for(lambda: proxy.pending() < 8 or run.proc.poll() is not None, 90, "a multipart part upload")
    assert run.proc.poll() is None, runner.diagnostics()
    runner.sigkill()
    proxy.clear()
    big.join(60)
    left = {k for k, _ in lake.multipart_uploads(PREFIX + "/")}
    assert left, "frazil was killed during a multipart upload, but none is pending in the store"
    log.append(f"SIGKILL during a multipart upload ({len(left)} left pending)")

    catch_up = X.finish_and_stop(fz, pg, runner)
    assert not [u for u in runner.unexpected_exits()], "\n\n".join(runner.unexpected_exits())
    stats = verify_all(fz, pg, runner, r_expected, boundary)
    # remove-orphans through the proxy, with faults on its DeleteObjects and AbortMultipartUpload
    # requests: refused, and carried out with the answer lost (the retry finds them done).
    proxy.reset_counters()
    proxy.fail_next(2, status=503, method="POST", path="?delete")
    proxy.drop_next(1, after_bytes=0, forward=True, method="POST", path="?delete")
    proxy.fail_next(1, status=503, method="DELETE", path="uploadId=")
    proxy.drop_next(1, after_bytes=0, forward=True, method="DELETE", path="uploadId=")
    via_proxy = S3Frazil(fz.binary, lake, fz.workdir, endpoint=proxy.endpoint)
    orphans = remove_orphans_and_check(fz, lake, plant_upload=True, expect_orphans=True, via=via_proxy)
    faults = [(e.method, e.target.split("?")[-1][:30], e.action) for e in proxy.events if e.action != "forwarded"]
    assert proxy.pending() == 0, f"faults not all hit by remove-orphans: {proxy.pending()} left; {faults}"
    orphans["faults"] = len(faults)
    # And still exactly once after the clean-up.
    stats = verify_all(fz, pg, runner, r_expected, boundary)
    print(f"\nS3 kill points {log}: catch-up {catch_up:.1f}s, total {time.monotonic() - t0:.0f}s; {stats}; {orphans}")


def _wait_faults_used(proxy: FaultProxy, runner: S3Runner, restarts: list[str], timeout: float, what: str) -> None:
    """Until every pending fault rule has hit a request of `frazil run`. A run that gives up
    must have said which store failed; it is started again."""
    deadline = time.monotonic() + timeout
    while proxy.pending() > 0:
        _restart_if_gave_up(runner, restarts, what)
        assert time.monotonic() < deadline, (f"{what}: {proxy.pending()} faults still unused after {timeout} s "
                                             f"(frazil issued no matching request)\n{runner.diagnostics()}")
        time.sleep(0.1)


def _restart_if_gave_up(runner: S3Runner, restarts: list[str], what: str) -> None:
    run = runner.current
    rc = run.proc.poll()
    if rc is None:
        return
    text = runner.log_text(run)
    tail = "\n".join(text.splitlines()[-10:])
    # A clear error: names the store (the object s3://..., or the endpoint) and why.
    assert rc != 0 and re.search(r"s3://|127\.0\.0\.1:\d+", tail), (
        f"{what}: frazil run #{run.n} exited {rc} without an error naming the store:\n{tail}")
    restarts.append(f"{what}: run #{run.n} gave up (exit {rc}): {tail.splitlines()[-1][:300]}")
    runner.start()


def _wait_commits(fz: S3Frazil, runner: S3Runner, restarts: list[str], n: int, what: str, timeout: float = 60) -> None:
    """Until frazil has committed `n` more batches of events (frazil.lsn moved n times)."""
    seen = set()
    deadline = time.monotonic() + timeout
    while len(seen) < n + 1:
        _restart_if_gave_up(runner, restarts, what)
        md = C.table_metadata(runner.warehouse, f"{X.NS}.events")
        seen.add(md["properties"].get("frazil.lsn"))
        assert time.monotonic() < deadline, f"{what}: frazil made no progress in {timeout} s\n{runner.diagnostics()}"
        time.sleep(0.2)




@pytest.mark.timeout(360)
def test_s3_store_faults_during_ingest(fz: S3Frazil, pg: PgCluster, s3_readers: Lake, proxy: FaultProxy, runners,
                                       workloads, tmp_path):
    t0 = time.monotonic()
    lake = s3_readers
    r_expected, boundary = prepare_source(pg)
    # Parts of 5 MiB: the big transaction's Parquet file (~7 MB) is a multipart upload.
    runner = S3Runner(fz.binary, lake, tmp_path / "cdc", pg, ALL, proxy.endpoint, {"FRAZIL_S3_PART_SIZE": "5MiB"})
    runners.append(runner)
    # 0. Faults during the set-up and the initial snapshot too.
    proxy.fail_next(3, status=503, method="PUT")
    proxy.drop_next(1, after_bytes=0, forward=True, method="PUT", path=".parquet")
    proxy.drop_next(1, forward=False, method="PUT", path=".metadata.json")
    runner.start()
    wait_started(runner)
    assert proxy.pending() == 0, f"faults left unused by the initial snapshot: {proxy.pending()}"

    work = X.Workload(pg, tmp_path / "workload", duration=300, rate=60, clients=2, bulk=False)
    workloads.append(work)
    work.start()
    restarts: list[str] = []
    phases: list[str] = []

    def phase(name: str, timeout: float = 60) -> None:
        t = time.monotonic()
        _wait_faults_used(proxy, runner, restarts, timeout, name)
        _wait_commits(fz, runner, restarts, 2, name)
        phases.append(f"{name} ({time.monotonic() - t:.1f}s)")

    # 1. Bursts of SlowDown / InternalError / 429.
    proxy.fail_next(6, status=503)
    phase("6 x 503 SlowDown")
    proxy.fail_next(4, status=503, method="PUT")
    proxy.fail_next(3, status=500)
    proxy.fail_next(3, status=429)
    phase("503 on PUTs, 500, 429")
    # 2. Slow answers: held before forwarding, and held after the store answered.
    proxy.delay_next(2, 3.0)
    proxy.delay_next(2, 2.0, before_response=True, method="PUT")
    phase("responses delayed 2-3 s")
    # 3. Dropped connections: before forwarding; after forwarding (the answer lost: the
    # store did it, the client does not know), a metadata file's PUT among them.
    proxy.drop_next(2, forward=False)
    proxy.drop_next(1, forward=False, reset=True)
    phase("3 connections dropped before forwarding (one with a TCP RST)")
    # A download cut in the middle of its body (frazil's FileIO or DuckDB's httpfs reading a
    # Parquet range for the mirror): a short answer must be retried, never read as a short file.
    proxy.drop_next(2, after_bytes=400, forward=True, method="GET")
    phase("2 GETs cut after 400 bytes")
    proxy.drop_next(1, after_bytes=0, forward=True)
    proxy.drop_next(1, after_bytes=0, forward=True, reset=True)
    proxy.drop_next(1, after_bytes=20, forward=True, method="PUT", path=".metadata.json")
    proxy.drop_next(1, after_bytes=0, forward=True, method="PUT", path="-m0.avro")
    phase("answers dropped after forwarding (metadata and manifest PUTs included)")
    # 4. In the middle of uploads: a data file's PUT cut after its head (body not sent), and
    # a part of a multipart upload (the big transaction's Parquet file) answered then cut.
    proxy.drop_next(1, forward=False, method="PUT", path=".parquet")
    proxy.drop_next(1, after_bytes=5, forward=True, method="PUT", path="partNumber=")
    proxy.drop_next(1, forward=False, method="PUT", path="partNumber=")
    # ... and the multipart upload's start refused once, its completion's answer lost (the
    # retry then finds no such upload: the object must be taken as written, once).
    proxy.fail_next(1, status=503, method="POST", path="?uploads")
    proxy.drop_next(1, after_bytes=0, forward=True, method="POST", path="uploadId=")
    big = threading.Thread(target=lambda: pg.exec(BIG_TXN), daemon=True)
    big.start()
    phase("uploads cut mid-way (PUT and multipart parts)", timeout=120)
    big.join(60)
    # 5. The store stopped for 3 s while frazil streams, then started again; 6. the store
    # SIGKILLed (requests in flight cut off) and started again a second later. Requests that
    # reached the proxy meanwhile found no store (the proxy closes their connection).
    unanswered = {}
    for name, crash, down in (("store stopped 3 s", False, 3.0), ("store SIGKILLed, restarted after 1 s", True, 1.0)):
        time.sleep(0.5)
        seen0, fwd0 = sum(proxy.seen.values()), sum(proxy.forwarded.values())
        lake.s3.stop(crash=crash)
        time.sleep(down)
        unanswered[name] = sum(proxy.seen.values()) - seen0 - (sum(proxy.forwarded.values()) - fwd0)
        lake.s3.start()
        t = time.monotonic()
        _wait_commits(fz, runner, restarts, 3, f"after: {name}")
        phases.append(f"{name} ({unanswered[name]} requests unanswered; 3 commits {time.monotonic() - t:.1f}s later)")
    # 7. A retry budget smaller than the outage (s3.max_attempts=2): requests give up while
    # the store is down for 3 s. frazil must recover by itself, or exit with an error naming
    # the store and continue when started again; exactly once either way (checked below).
    assert runner.sigterm() == 0, runner.diagnostics()
    runner.extra["FRAZIL_S3_MAX_ATTEMPTS"] = "2"
    small_budget_from = len(runner.runs)
    runner.start()
    _wait_commits(fz, runner, restarts, 2, "s3.max_attempts=2")
    lake.s3.stop()
    time.sleep(3.0)
    lake.s3.start()
    t = time.monotonic()
    _wait_commits(fz, runner, restarts, 3, "after a 3 s outage with s3.max_attempts=2")
    gave_up = [ln for r in runner.runs[small_budget_from:] for ln in runner.log_text(r).splitlines()
               if "gave up after" in ln]
    phases.append(f"store stopped 3 s with s3.max_attempts=2 ({len(gave_up)} requests gave up; 3 commits "
                  f"{time.monotonic() - t:.1f}s later)")
    assert gave_up or restarts, f"no request gave up during a 3 s outage with s3.max_attempts=2\n{runner.diagnostics()}"
    work.stop()
    t_verify = time.monotonic()

    ev = collections.Counter(re.sub(r"\d+", "N", e.action) for e in proxy.events)
    multipart = [e for e in proxy.events if e.method == "POST" and "uploads" in e.target]
    part_faults = [e for e in proxy.events if "partNumber=" in e.target and e.action != "forwarded"]
    catch_up = X.finish_and_stop(fz, pg, runner)
    stats = verify_all(fz, pg, runner, r_expected, boundary)
    orphans = remove_orphans_and_check(fz, lake, plant_upload=True, expect_orphans=False)
    print(f"\nS3 faults: {phases}; proxy events {dict(ev)}; multipart uploads {len(multipart)}; "
          f"frazil gave up {len(restarts)} times {restarts}; catch-up {catch_up:.1f}s, checks "
          f"{time.monotonic() - t_verify:.0f}s, total {time.monotonic() - t0:.0f}s; {stats}; {orphans}")
    # Whatever interrupted the stream was the store, and frazil said which object.
    for run in runner.runs:
        for line in runner.log_text(run).splitlines():
            if re.search(r"\b(warn|error)\b.*\berror=", line) and "s3://" not in line:
                raise AssertionError(f"run #{run.n}: an error that does not name the object: {line}")
    assert all(n > 0 for n in unanswered.values()), f"frazil sent no request while the store was down: {unanswered}"
    # The faults happened.
    assert ev["failed N"] >= 20 and ev["dropped before forwarding"] >= 6, ev
    assert sum(n for a, n in ev.items() if a.startswith("dropped after")) >= 9, ev
    cut_gets = [e for e in proxy.events if e.method == "GET" and e.action == "dropped after 400 bytes"]
    assert len(cut_gets) == 2 and all(e.status in (200, 206) for e in cut_gets), cut_gets
    assert multipart and len(part_faults) >= 2, (len(multipart), part_faults)
    completions = [e for e in proxy.events if e.method == "POST" and "uploadId=" in e.target]
    assert any(e.action.startswith("dropped after") for e in completions), completions
    # Runs that gave up are allowed (with a clear error naming the store, checked when
    # restarting them); no other exit.
    assert len(runner.unexpected_exits()) == len(restarts), (restarts, runner.unexpected_exits())



def _remove_orphans_while_streaming(fz: S3Frazil, pg: PgCluster, lake: Lake, proxy: FaultProxy, runners, workloads,
                                    tmp_path: Path, hold: float, duration: float) -> dict:
    """`remove-orphans --older-than 0s` on every table, again and again, while `frazil run`
    commits under a workload (docs/maintenance.md: the write lease protects the files of
    commits in flight). The proxy holds frazil's manifest and metadata PUTs for `hold`
    seconds (S3 latency), so data files sit uploaded and not yet referenced for a while.
    Afterwards nothing committed is missing and every change is there exactly once.
    Returns how long each remove-orphans took and whether the workload was still running."""
    t0 = time.monotonic()
    r_expected, boundary = prepare_source(pg)
    runner = S3Runner(fz.binary, lake, tmp_path / "cdc", pg, ALL, proxy.endpoint)
    runners.append(runner)
    runner.start()
    wait_started(runner)
    work = X.Workload(pg, tmp_path / "workload", duration=duration, rate=80, clients=2, bulk=False)
    workloads.append(work)
    work.start()
    proxy.delay_next(1000, hold, method="PUT", path="-m0.avro")
    proxy.delay_next(1000, hold, method="PUT", path=".metadata.json")
    calls = []  # (table, seconds, workload still running when it ended)
    removed = 0
    while work.remaining() > 0:
        for ident in sorted(catalog_tables(lake)):
            t = time.monotonic()
            res = fz.run("maintain", "remove-orphans", ident, "--older-than", "0s", "--format", "json", check=False)
            calls.append((ident, round(time.monotonic() - t, 1), work.remaining() > 0))
            assert res.returncode == 0, f"remove-orphans {ident} during ingestion: exit {res.returncode}\n{res.stderr[-2000:]}"
            removed += json.loads(res.stdout)["orphans"]
            runner.current.proc.poll() is None or pytest.fail(f"frazil run exited\n{runner.diagnostics()}")
    work.wait()
    held = 2000 - proxy.pending()
    proxy.clear()
    catch_up = X.finish_and_stop(fz, pg, runner)
    assert not runner.unexpected_exits(), "\n\n".join(runner.unexpected_exits())
    check_nothing_missing(lake)
    stats = verify_all(fz, pg, runner, r_expected, boundary)
    print(f"\nS3 remove-orphans during ingestion (PUTs held {hold}s): {len(calls)} calls, {removed} orphans removed, "
          f"{held} PUTs held; calls {[(c[1], c[2]) for c in calls]}; catch-up {catch_up:.1f}s, "
          f"total {time.monotonic() - t0:.0f}s; {stats}")
    return {"calls": calls, "held": held}


@pytest.mark.timeout(240)
def test_s3_remove_orphans_during_ingest(fz: S3Frazil, pg: PgCluster, s3_readers: Lake, proxy: FaultProxy, runners,
                                         workloads, tmp_path):
    got = _remove_orphans_while_streaming(fz, pg, s3_readers, proxy, runners, workloads, tmp_path, hold=0.1, duration=12)
    during = [c for c in got["calls"] if c[2]]
    assert len(during) >= 6 and got["held"] >= 20, got

