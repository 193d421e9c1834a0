"""Fixtures for the interop suite: the frazil CLI, warehouses, and the three reference peers
(PyIceberg's SqlCatalog, Spark with Iceberg's JdbcCatalog, DuckDB's iceberg extension), all
opening the same SQLite catalog file `<warehouse>/catalog.db` under the catalog name `frazil`.

One SparkSession serves the whole test session. Iceberg's JdbcCatalog stores the Spark catalog
name in `iceberg_tables.catalog_name`, so the Spark catalog must be called `frazil`, which
pins Spark to one warehouse per session: tests that involve Spark use the session-wide
`shared_wh` warehouse and a namespace of their own (`ns` fixture); other tests get a fresh
warehouse each.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
JARS_DIR = ROOT / ".deps" / "jars"
CATALOG_NAME = "frazil"

# Every process of the suite (frazil, Spark's JVM, Python) runs in UTC so that timestamps and
# time-travel literals mean one thing.
os.environ["TZ"] = "UTC"
time.tzset()


# ---------------------------------------------------------------------------------------
# frazil CLI
# ---------------------------------------------------------------------------------------


def frazil_binary() -> Path:
    return Path(os.environ.get("FRAZIL_BIN", ROOT / "build" / "frazil"))


@dataclass
class FrazilResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


class Frazil:
    """Runs `frazil --warehouse <wh> ...` as a subprocess."""

    def __init__(self, binary: Path, warehouse: Path, workdir: Path) -> None:
        self.binary = binary
        self.warehouse = Path(warehouse)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._n = itertools.count()

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "FRAZIL_WAREHOUSE"}
        env["TZ"] = "UTC"
        return env

    def popen(self, *args: str) -> subprocess.Popen:
        cmd = [str(self.binary), "--warehouse", str(self.warehouse), *map(str, args)]
        return subprocess.Popen(cmd, cwd=self.workdir, env=self._env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> FrazilResult:
        cmd = [str(self.binary), "--warehouse", str(self.warehouse), *map(str, args)]
        if not self.binary.exists():
            pytest.fail(f"frazil binary not found at {self.binary} (build it with `make build` or set FRAZIL_BIN)")
        p = subprocess.run(cmd, cwd=self.workdir, env=self._env(), capture_output=True, text=True, timeout=timeout)
        res = FrazilResult(cmd, p.returncode, p.stdout, p.stderr)
        if check and p.returncode != 0:
            raise AssertionError(f"frazil failed (exit {p.returncode}): {' '.join(cmd)}\n--- stderr ---\n{p.stderr[-4000:]}\n--- stdout ---\n{p.stdout[-2000:]}")
        return res

    def fail(self, *args: str, timeout: float = 300) -> FrazilResult:
        """Runs a command that must fail: nonzero exit and a message on stderr."""
        res = self.run(*args, check=False, timeout=timeout)
        assert res.returncode != 0, f"expected failure but frazil exited 0: {' '.join(res.args)}\nstdout: {res.stdout[-2000:]}"
        assert res.stderr.strip(), f"frazil failed (exit {res.returncode}) without a message on stderr: {' '.join(res.args)}"
        return res

    def tmpfile(self, suffix: str) -> Path:
        return self.workdir / f"f{next(self._n)}{suffix}"

    def export(self, select_sql: str) -> pa.Table:
        """Runs `frazil sql "COPY (<select>) TO '<file>' (FORMAT parquet)"`, returns the rows."""
        out = self.tmpfile(".parquet")
        self.run("sql", f"COPY ({select_sql}) TO '{out}' (FORMAT parquet)")
        assert out.exists(), f"frazil sql COPY did not write {out}"
        return pq.read_table(out)

    def create_table(self, ident: str, schema: dict, spec: dict | None = None) -> None:
        from interop_support import write_json

        args = ["table", "create", ident, "--schema", write_json(self.tmpfile(".schema.json"), schema)]
        if spec is not None:
            args += ["--partition-spec", write_json(self.tmpfile(".spec.json"), spec)]
        self.run(*args)

    def load(self, ident: str, data: pa.Table | Path, fmt: str = "parquet", mode: str | None = None) -> None:
        if isinstance(data, pa.Table):
            path = self.tmpfile(".parquet")
            pq.write_table(data, path)
        else:
            path = data
        args = ["load", ident, str(path), "--format", fmt]
        if mode:
            args += ["--mode", mode]
        self.run(*args)


@pytest.fixture(scope="session")
def frazil_bin() -> Path:
    return frazil_binary()


@pytest.fixture
def wh(tmp_path: Path) -> Path:
    """A fresh, empty warehouse directory (frazil creates the catalog in it)."""
    d = tmp_path / "warehouse"
    d.mkdir()
    return d


@pytest.fixture
def frazil(frazil_bin: Path, wh: Path, tmp_path: Path) -> Frazil:
    """frazil on the per-test warehouse."""
    return Frazil(frazil_bin, wh, tmp_path / "work")


@pytest.fixture
def shared_frazil(frazil_bin: Path, shared_wh: Path, tmp_path: Path) -> Frazil:
    """frazil on the session warehouse that Spark sees."""
    return Frazil(frazil_bin, shared_wh, tmp_path / "work")


_ns_counter = itertools.count()


@pytest.fixture
def ns(request) -> str:
    """A namespace name unique to this test (tests on shared_wh never collide)."""
    base = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    return f"{base}_{next(_ns_counter)}"


# ---------------------------------------------------------------------------------------
# PyIceberg
# ---------------------------------------------------------------------------------------


def pyiceberg_catalog(warehouse: Path):
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog(CATALOG_NAME, uri=f"sqlite:///{warehouse}/catalog.db", warehouse=f"file://{warehouse}")


@pytest.fixture(scope="session")
def shared_wh(tmp_path_factory) -> Path:
    """Session warehouse shared with Spark. Its catalog tables are created by PyIceberg's
    SqlCatalog (so frazil must also open a catalog created by a peer); Spark's JdbcCatalog
    is told not to create them (see the spark fixture)."""
    d = tmp_path_factory.mktemp("shared") / "warehouse"
    d.mkdir()
    pyiceberg_catalog(d)  # creates iceberg_tables / iceberg_namespace_properties
    return d


def pyiceberg_read(warehouse: Path, ident: str, snapshot_id: int | None = None, row_filter=None) -> pa.Table:
    tbl = pyiceberg_catalog(warehouse).load_table(ident)
    kwargs = {}
    if snapshot_id is not None:
        kwargs["snapshot_id"] = snapshot_id
    if row_filter is not None:
        kwargs["row_filter"] = row_filter
    return tbl.scan(**kwargs).to_arrow()


# ---------------------------------------------------------------------------------------
# DuckDB with the iceberg extension from the PyPI packages (no network)
# ---------------------------------------------------------------------------------------


def _duckdb_extension_path(module_name: str, ext: str) -> str:
    import importlib

    import duckdb

    mod = importlib.import_module(module_name)
    path = Path(mod.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{ext}.duckdb_extension"
    if not path.exists():
        pytest.fail(f"DuckDB extension {ext} not found at {path}: install the PyPI package {module_name.replace('_', '-')}=={duckdb.__version__}")
    return str(path)


@pytest.fixture(scope="session")
def duck(tmp_path_factory):
    import duckdb

    home = tmp_path_factory.mktemp("duckhome")
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute(f"SET home_directory='{home}'")
    # iceberg depends on avro; the PyPI package duckdb-extension-avro ships it.
    con.execute(f"LOAD '{_duckdb_extension_path('duckdb_extension_avro', 'avro')}'")
    con.execute(f"LOAD '{_duckdb_extension_path('duckdb_extension_iceberg', 'iceberg')}'")
    con.execute("SET TimeZone='UTC'")
    yield con
    con.close()


def duck_read(duck, metadata_location: str, where: str | None = None, params: list | None = None, snapshot_id: int | None = None) -> pa.Table:
    opts = f", snapshot_from_id => {int(snapshot_id)}" if snapshot_id is not None else ""
    sql = f"SELECT * FROM iceberg_scan('{metadata_location}'{opts})"
    if where:
        sql += f" WHERE {where}"
    return duck.execute(sql, params or []).to_arrow_table()


# ---------------------------------------------------------------------------------------
# Spark
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def spark(shared_wh: Path):
    os.environ.setdefault("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    jars = sorted(glob.glob(str(JARS_DIR / "*.jar")))
    names = " ".join(Path(j).name for j in jars)
    if "iceberg-spark-runtime" not in names or "sqlite-jdbc" not in names:
        pytest.fail(f"Spark jars missing in {JARS_DIR} (run `make deps`): found {names or 'nothing'}")
    from pyspark.sql import SparkSession

    c = f"spark.sql.catalog.{CATALOG_NAME}"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("frazil-interop")
        .config("spark.jars", ",".join(jars))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        # Only for Spark's own Parquet reader (the source files the tests hand to Spark): read
        # pre-1582 dates as written. Iceberg's reader never rebases.
        .config("spark.sql.parquet.datetimeRebaseModeInRead", "CORRECTED")
        .config("spark.sql.parquet.int96RebaseModeInRead", "CORRECTED")
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config(c, "org.apache.iceberg.spark.SparkCatalog")
        .config(f"{c}.catalog-impl", "org.apache.iceberg.jdbc.JdbcCatalog")
        .config(f"{c}.uri", f"jdbc:sqlite:{shared_wh}/catalog.db")
        .config(f"{c}.warehouse", f"file://{shared_wh}")
        .config(f"{c}.jdbc.schema-version", "V1")
        # The catalog tables already exist (frazil or PyIceberg made them). Left on, this
        # check runs DatabaseMetaData.getTables() and never closes the ResultSet, so the
        # pooled sqlite-jdbc connection keeps a read transaction open for the whole session:
        # in rollback-journal mode every other writer (frazil, PyIceberg) then gets
        # "database is locked", in WAL mode Spark never sees their later commits.
        .config(f"{c}.jdbc.init-catalog-tables", "false")
        # frazil and PyIceberg commit behind Spark's back: never serve cached metadata.
        .config(f"{c}.cache-enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def spark_collect(spark, sql: str) -> pa.Table:
    """Runs a Spark SQL query and returns its rows as Arrow (exact types, no pandas)."""
    df = spark.sql(sql)
    batches = df._collect_as_arrow()
    if batches:
        return pa.Table.from_batches(batches)
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(df.schema).empty_table()


def spark_read(spark, ident: str, where: str | None = None, version: int | None = None) -> pa.Table:
    sql = f"SELECT * FROM {CATALOG_NAME}.{ident}"
    if version is not None:
        sql += f" VERSION AS OF {int(version)}"
    if where:
        sql += f" WHERE {where}"
    return spark_collect(spark, sql)
