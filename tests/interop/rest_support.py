"""Fixtures and helpers for the REST catalog suite (test_rest_catalog.py) and its benchmark
(bench/rest_catalog.py): a `frazil serve` process on a config file of its own, the
Iceberg REST clients pointed at it (PyIceberg's RestCatalog, Spark's RESTCatalog, DuckDB's
iceberg ATTACH), raw HTTP with the spec's error shape checked, and the frazil CLI on the same
config (so it commits to the tables the server serves through the shared SQLite store).

`JavaRestServer` runs the Java reference fixture (org.apache.iceberg.rest.RESTCatalogServer
from the iceberg-open-api jar) with the same interface: the benchmark compares against it,
and `FRAZIL_REST_SERVER=java` runs the client scenarios against it to check the harness."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import requests

ROOT = Path(__file__).resolve().parents[2]
URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)")
ERROR_TYPES_4XX = {400, 401, 403, 404, 405, 406, 409, 413, 414, 415, 422, 429, 431}

JAVA_FIXTURE_VERSION = "1.10.0"
JAVA_FIXTURE_JAR = (
    Path.home() / ".m2/repository/org/apache/iceberg/iceberg-open-api" / JAVA_FIXTURE_VERSION / f"iceberg-open-api-{JAVA_FIXTURE_VERSION}.jar"
)


def frazil_binary() -> Path:
    return Path(os.environ.get("FRAZIL_BIN", ROOT / "build" / "frazil"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAZIL_") or k == "FRAZIL_BIN"}
    env["TZ"] = "UTC"
    return env


def assert_error_shape(resp: requests.Response, status: int | tuple[int, ...] | None = None, err_type: str | None = None) -> dict:
    """The spec's IcebergErrorResponse: {"error": {"message": str, "type": str, "code": int}}
    with code equal to the HTTP status. Returns the inner error object."""
    desc = f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text[:600]!r}"
    if status is not None:
        wanted = status if isinstance(status, tuple) else (status,)
        assert resp.status_code in wanted, f"expected HTTP {wanted}: {desc}"
    assert 400 <= resp.status_code < 500, f"expected a 4xx: {desc}"
    try:
        body = resp.json()
    except ValueError as e:
        raise AssertionError(f"error body is not JSON: {desc}") from e
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"no error object: {desc}"
    err = body["error"]
    assert isinstance(err.get("message"), str) and err["message"], f"error.message missing: {desc}"
    assert isinstance(err.get("type"), str) and err["type"], f"error.type missing: {desc}"
    assert err.get("code") == resp.status_code, f"error.code {err.get('code')!r} != HTTP status: {desc}"
    if err_type is not None:
        assert err["type"] == err_type, f"error.type {err['type']!r}, expected {err_type!r}: {desc}"
    return err


class _ServerBase:
    url: str
    proc: subprocess.Popen | None

    def __init__(self) -> None:
        self.session = requests.Session()
        self.headers: dict[str, str] = {}

    # --- HTTP -----------------------------------------------------------------------
    def http(self, method: str, path: str, *, json_body: Any = None, data: bytes | str | None = None,
             headers: dict | None = None, auth: bool = True, timeout: float = 30) -> requests.Response:
        h = dict(self.headers) if auth else {}
        h.update(headers or {})
        if json_body is not None:
            data = json.dumps(json_body)
            h.setdefault("Content-Type", "application/json")
        return self.session.request(method, self.url + path, data=data, headers=h, timeout=timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """user+system CPU of the server process so far (from /proc)."""
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def pyiceberg(self, **props):
        from pyiceberg.catalog.rest import RestCatalog

        return RestCatalog("rest", **{"uri": self.url, **props})

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class FrazilServer(_ServerBase):
    """`frazil --config <root>/frazil.yaml serve --listen 127.0.0.1:0` with stdout/stderr in
    files; the URL is read from its stdout line `... http://127.0.0.1:PORT ...`."""

    def __init__(self, root: Path, *, auth: str = "none", clients: list[dict] | None = None,
                 token_ttl: str | None = None, binary: Path | None = None, warehouse: Path | None = None,
                 extra: dict | None = None) -> None:
        super().__init__()
        self.binary = binary or frazil_binary()
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.warehouse = Path(warehouse or self.root / "warehouse")
        self.warehouse.mkdir(parents=True, exist_ok=True)
        self.config = self.root / "frazil.yaml"
        rest: dict[str, Any] = {"auth": auth}
        if clients:
            rest["clients"] = clients
        if token_ttl:
            rest["token_ttl"] = token_ttl
        cfg = {"warehouse": str(self.warehouse), "http": {"listen": "127.0.0.1:0"}, "rest": rest}
        cfg.update(extra or {})
        self.config.write_text(json.dumps(cfg, indent=2))  # JSON is YAML
        self.proc = None
        self.url = ""
        self.stdout_path = self.root / "serve.stdout"
        self.stderr_path = self.root / "serve.stderr"
        self._n = 0

    def start(self, timeout: float = 60) -> "FrazilServer":
        assert self.binary.exists(), f"frazil binary not found at {self.binary} (make build, or FRAZIL_BIN)"
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        cmd = [str(self.binary), "--config", str(self.config), "serve", "--listen", "127.0.0.1:0"]
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=_env(), stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        out.close()
        err.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"`{' '.join(cmd)}` exited {self.proc.returncode} before serving:\n{self.logs()}")
            m = URL_RE.search(self.stdout_path.read_text(errors="replace"))
            if m:
                self.url = f"http://127.0.0.1:{m.group(1)}"
                try:
                    if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                        return self
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"`{' '.join(cmd)}` did not serve /healthz within {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        def tail(p: Path) -> str:
            return p.read_text(errors="replace")[-4000:] if p.exists() else ""

        return f"--- stdout ---\n{tail(self.stdout_path)}\n--- stderr ---\n{tail(self.stderr_path)}"

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                return None
        return p.returncode

    def assert_alive(self, context: str = "") -> None:
        assert self.alive(), f"frazil serve died {context} (exit {self.proc.returncode if self.proc else '?'}):\n{self.logs()}"
        r = requests.get(self.url + "/healthz", timeout=5)
        assert r.status_code == 200, f"/healthz answered {r.status_code} {context}: {r.text[:300]}"

    # --- frazil CLI on the same config ------------------------------------------------
    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        cmd = [str(self.binary), "--config", str(self.config), *map(str, args)]
        p = subprocess.run(cmd, cwd=self.root, env=_env(), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"frazil failed (exit {p.returncode}): {' '.join(cmd)}\n--- stderr ---\n{p.stderr[-4000:]}\n--- stdout ---\n{p.stdout[-2000:]}")
        return p

    def tmpfile(self, suffix: str) -> Path:
        self._n += 1
        d = self.root / "work"
        d.mkdir(exist_ok=True)
        return d / f"f{self._n}{suffix}"

    def sql(self, select_sql: str) -> pa.Table:
        """`frazil sql "COPY (<select>) TO '<file>' (FORMAT parquet)"`, the rows as Arrow."""
        out = self.tmpfile(".parquet")
        self.cli("sql", f"COPY ({select_sql}) TO '{out}' (FORMAT parquet)")
        assert out.exists(), f"frazil sql COPY did not write {out}"
        return pq.read_table(out)

    def load(self, ident: str, data: pa.Table, mode: str | None = None) -> None:
        path = self.tmpfile(".parquet")
        pq.write_table(data, path)
        args = ["load", ident, str(path), "--format", "parquet"]
        if mode:
            args += ["--mode", mode]
        self.cli(*args)

    def snapshots(self, ident: str) -> list[dict]:
        out = self.cli("table", "snapshots", ident, "--format", "json").stdout
        try:
            val = json.loads(out)
        except ValueError:
            val = [json.loads(line) for line in out.splitlines() if line.strip()]
        return val if isinstance(val, list) else val.get("snapshots", val)

    # --- auth -------------------------------------------------------------------------
    def token(self, client_id: str, secret: str) -> str:
        r = self.session.post(self.url + "/v1/oauth/tokens",
                              data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": "catalog"},
                              timeout=10)
        assert r.status_code == 200, f"POST /v1/oauth/tokens for {client_id}: {r.status_code} {r.text[:500]}"
        body = r.json()
        assert body.get("token_type", "").lower() == "bearer" and body.get("access_token"), body
        return body["access_token"]

    def metrics(self) -> str:
        r = requests.get(self.url + "/metrics", timeout=10)
        assert r.status_code == 200, f"/metrics: {r.status_code}"
        return r.text


class JavaRestServer(_ServerBase):
    """The Java reference REST fixture (iceberg-open-api's RESTCatalogServer) on a JdbcCatalog
    in `<root>/warehouse/catalog.db`. Its backend catalog is named `rest_backend`, so a frazil
    config for the same warehouse needs catalog.name rest_backend (done here)."""

    def __init__(self, root: Path, jar: Path | None = None, heap: str = "1g") -> None:
        super().__init__()
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.warehouse = self.root / "warehouse"
        self.warehouse.mkdir(exist_ok=True)
        self.jar = Path(jar or JAVA_FIXTURE_JAR)
        self.heap = heap
        self.proc = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.root / "frazil.yaml"
        self.config.write_text(json.dumps({"warehouse": str(self.warehouse), "catalog": {"name": "rest_backend"}}))

    @staticmethod
    def fetch_jar() -> Path:
        if not JAVA_FIXTURE_JAR.exists():
            subprocess.run(["mvn", "-q", "dependency:get", "-Dtransitive=false",
                            f"-Dartifact=org.apache.iceberg:iceberg-open-api:{JAVA_FIXTURE_VERSION}"], check=True, timeout=900)
        return JAVA_FIXTURE_JAR

    def start(self, timeout: float = 90) -> "JavaRestServer":
        env = _env()
        env.update({
            "CATALOG_REST_PORT": str(self.port),
            "CATALOG_URI": f"jdbc:sqlite:{self.warehouse}/catalog.db",
            "CATALOG_WAREHOUSE": f"file://{self.warehouse}",
            "CATALOG_JDBC_SCHEMA__VERSION": "V1",
        })
        log = open(self.root / "java.log", "ab")
        self.proc = subprocess.Popen(["java", f"-Xmx{self.heap}", "-jar", str(self.jar)], cwd=self.root, env=env,
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"Java REST fixture exited {self.proc.returncode}: {(self.root / 'java.log').read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/v1/config", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError("Java REST fixture did not answer /v1/config")

    def stop(self, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        return p.returncode

    def logs(self) -> str:
        p = self.root / "java.log"
        return p.read_text(errors="replace")[-4000:] if p.exists() else ""

    def assert_alive(self, context: str = "") -> None:
        assert self.alive(), f"Java fixture died {context}"

    # The frazil CLI against the Java fixture's warehouse (harness check).
    cli = FrazilServer.cli
    tmpfile = FrazilServer.tmpfile
    sql = FrazilServer.sql
    load = FrazilServer.load
    snapshots = FrazilServer.snapshots

    @property
    def binary(self) -> Path:
        return frazil_binary()

    _n = 0


# ---------------------------------------------------------------------------------------
# DuckDB
# ---------------------------------------------------------------------------------------


def duckdb_connect(home: Path):
    """DuckDB with avro, httpfs and iceberg loaded from their PyPI packages (no network)."""
    import importlib

    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute(f"SET home_directory='{home}'")
    for mod, ext in (("duckdb_extension_avro", "avro"), ("duckdb_extension_httpfs", "httpfs"), ("duckdb_extension_iceberg", "iceberg")):
        m = importlib.import_module(mod)
        path = Path(m.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{ext}.duckdb_extension"
        assert path.exists(), f"DuckDB extension {ext} missing at {path} (pip install {mod.replace('_', '-')}=={duckdb.__version__})"
        con.execute(f"LOAD '{path}'")
    con.execute("SET TimeZone='UTC'")
    return con


# ---------------------------------------------------------------------------------------
# schemathesis: a check loaded with SCHEMATHESIS_HOOKS=rest_support (FRAZIL_REST_FUZZ=1)
# ---------------------------------------------------------------------------------------

if os.environ.get("FRAZIL_REST_FUZZ") == "1":
    import schemathesis

    @schemathesis.check
    def iceberg_error_shape(ctx, response, case):
        """Every 4xx/5xx answer (but HEAD's) carries the spec's error body: the OAuth2 shape
        {"error": "<code>", ...} from the token endpoint, {"error": {message, type, code}}
        everywhere else, with code equal to the HTTP status."""
        marker = os.environ.get("FRAZIL_REST_FUZZ_MARKER")
        if marker and not os.path.exists(marker):
            Path(marker).touch()  # proves the check ran
        if response.status_code < 400 or case.method.upper() == "HEAD":
            return
        try:
            body = json.loads(response.content)
        except ValueError:
            raise AssertionError(f"{response.status_code} answer is not JSON: {response.content[:200]!r}")
        if case.path.endswith("/oauth/tokens") and case.method.upper() == "POST":
            if not (isinstance(body, dict) and isinstance(body.get("error"), str)):
                raise AssertionError(f"OAuth2 error without the RFC 6749 shape: {body!r}")
            return
        err = body.get("error") if isinstance(body, dict) else None
        if not (isinstance(err, dict) and isinstance(err.get("message"), str) and isinstance(err.get("type"), str)
                and err.get("code") == response.status_code):
            raise AssertionError(f"{response.status_code} without the Iceberg error shape: {body!r}")
