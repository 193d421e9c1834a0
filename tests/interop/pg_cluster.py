"""Throwaway PostgreSQL 15 clusters for the Python tests, run by scripts/pg_cluster.sh (the
script the C++ tests, `make demo` and the benchmarks use too; its header lists the settings:
wal_level=logical, trust auth, superuser `postgres`, fsync on).

    from pg_cluster import PgCluster, pg_cluster_fixture, pg_cluster_factory_fixture

    pg = pg_cluster_fixture(scope="session")          # in conftest.py: a fixture named `pg`
    make_pg = pg_cluster_factory_fixture()            # `make_pg()` -> a new cluster per call

    def test_x(pg):
        pg.exec("CREATE TABLE t (x int)")
        assert pg.exec("SHOW wal_level") == "logical"
        pg.restart(crash=True)                        # stop -m immediate + start, same port
        libpq_conninfo = pg.conninfo                  # host=<dir> port=<port> user=postgres dbname=postgres

Cluster directories are made with mkdtemp under /tmp, never under pytest's tmp_path: when
the tests run as root the server runs as the OS user `postgres`, who cannot enter
/tmp/pytest-of-root (mode 0700).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pg_cluster.sh"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


class PgClusterError(RuntimeError):
    pass


class PgCluster:
    """One cluster in its own directory (socket, data/, postgres.log) on its own port."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self._made_dir = directory is None
        self.dir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="frazil-pg-", dir="/tmp"))
        self.conninfo = ""
        self.running = False

    # --- lifecycle ----------------------------------------------------------------------

    @classmethod
    def start_new(cls, directory: Path | str | None = None, port: int | None = None) -> "PgCluster":
        pg = cls(directory)
        try:
            pg.start(port)
        except BaseException:
            pg.destroy()
            raise
        return pg

    def start(self, port: int | None = None) -> str:
        """Creates the cluster if needed and starts it (idempotent); returns the conninfo."""
        args = ["start", str(self.dir)] + ([str(port)] if port else [])
        self.conninfo = self._script(*args).strip()
        self.running = True
        return self.conninfo

    def stop(self, crash: bool = False) -> None:
        """Fast shutdown, or `pg_ctl stop -m immediate` (a crash: recovery on next start)."""
        self._script("stop", str(self.dir), "immediate" if crash else "fast")
        self.running = False

    def restart(self, crash: bool = False) -> None:
        """Stops (crash=True: immediate, no checkpoint) and starts again on the same port."""
        self.conninfo = self._script("restart", str(self.dir), "immediate" if crash else "fast").strip()
        self.running = True

    def destroy(self) -> None:
        """Stops the server and removes the directory. Safe to call twice."""
        if self.dir.exists():
            try:
                self._script("destroy", str(self.dir))
            finally:
                if self._made_dir:  # our mkdtemp directory, even if start failed early
                    shutil.rmtree(self.dir, ignore_errors=True)
        self.running = False

    def __enter__(self) -> "PgCluster":
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    # --- connection details -------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._field("port"))

    @property
    def host(self) -> str:
        return self._field("host")

    def dsn(self, dbname: str = "postgres", tcp: bool = False) -> str:
        """The conninfo for another database, or over TCP (127.0.0.1) instead of the socket."""
        host = "127.0.0.1" if tcp else self.host
        return f"host={host} port={self.port} user=postgres dbname={dbname}"

    @property
    def log_path(self) -> Path:
        return self.dir / "postgres.log"

    def server_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- SQL ----------------------------------------------------------------------------

    def exec(self, sql: str, dbname: str = "postgres", timeout: float = 300) -> str:
        """Runs SQL as a psql script (`psql -X -q -v ON_ERROR_STOP=1 -A -t`, the SQL on
        stdin): each statement in its own transaction unless the SQL says BEGIN. Returns the
        output unaligned and tuples-only ('|' between columns, '\\n' between rows) without
        the final newline. Raises PgClusterError with psql's message if anything fails."""
        cmd = [str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-f", "-", "-d", self.dsn(dbname)]
        p = subprocess.run(cmd, input=sql, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise PgClusterError(f"psql failed (exit {p.returncode}): {p.stderr.strip()}\nSQL: {sql[:2000]}")
        return p.stdout.rstrip("\n")

    def rows(self, sql: str, dbname: str = "postgres") -> list[list[str]]:
        """exec() split into rows of text cells (NULL reads as '')."""
        out = self.exec(sql, dbname)
        return [line.split("|") for line in out.split("\n")] if out else []

    def psql_file(self, path: Path | str, dbname: str = "postgres", variables: dict | None = None) -> str:
        """Runs a .sql file with psql (e.g. examples/bank/schema.sql), -v name=value for each variable."""
        cmd = [str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-f", str(path), "-d", self.dsn(dbname)]
        for k, v in (variables or {}).items():
            cmd[1:1] = ["-v", f"{k}={v}"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise PgClusterError(f"psql -f {path} failed (exit {p.returncode}): {p.stderr.strip()}")
        return p.stdout.rstrip("\n")

    # --- internals ----------------------------------------------------------------------

    def _field(self, name: str) -> str:
        for part in self.conninfo.split():
            k, _, v = part.partition("=")
            if k == name:
                return v
        raise PgClusterError(f"cluster in {self.dir} is not started (no conninfo)")

    def _script(self, *args: str) -> str:
        p = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise PgClusterError(f"pg_cluster.sh {' '.join(args)} failed (exit {p.returncode}): {p.stderr.strip()}")
        return p.stdout

    def __repr__(self) -> str:
        return f"PgCluster({self.conninfo or self.dir})"


def pg_cluster_fixture(scope: str = "function", name: str | None = None):
    """A pytest fixture yielding a started PgCluster, destroyed at the end of its scope.
    Assign it in conftest.py: `pg = pg_cluster_fixture("session")`."""

    def _fixture() -> Iterator[PgCluster]:
        pg = PgCluster.start_new()
        try:
            yield pg
        finally:
            pg.destroy()

    return pytest.fixture(scope=scope, name=name)(_fixture) if name else pytest.fixture(scope=scope)(_fixture)


def pg_cluster_factory_fixture(scope: str = "function", name: str | None = None):
    """A pytest fixture yielding `make(port=None) -> PgCluster`: any number of clusters,
    all destroyed at the end of the scope. `make_pg = pg_cluster_factory_fixture()`."""

    def _fixture() -> Iterator[Callable[..., PgCluster]]:
        made: list[PgCluster] = []

        def make(port: int | None = None) -> PgCluster:
            pg = PgCluster.start_new(port=port)
            made.append(pg)
            return pg

        try:
            yield make
        finally:
            for pg in made:
                pg.destroy()

    return pytest.fixture(scope=scope, name=name)(_fixture) if name else pytest.fixture(scope=scope)(_fixture)
