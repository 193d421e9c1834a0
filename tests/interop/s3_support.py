"""A real S3 server on loopback for the Python tests, and a fault-injecting HTTP proxy in
front of it.

The server is Versity S3 Gateway (versitygw, Apache-2.0; MinIO's server is AGPL) with its
posix backend, built by `make deps` into .deps/bin/versitygw (scripts/deps.sh pins the
version; FRAZIL_VERSITYGW overrides the path). The C++ tests use the same server through
src/frazil/io/test_s3_server.h, with the same flags and credentials.

    from s3_support import FaultProxy, start_s3_server, s3_server   # s3_server: a fixture

    with start_s3_server(tmp_path) as s3:                  # bucket "warehouse"
        s3.endpoint                                        # "http://127.0.0.1:NNNNN"
        s3.access_key, s3.secret_key, s3.region            # secret has '/' and '+'
        fs = s3.pyarrow_fs()                               # pyarrow.fs.S3FileSystem on it
        status, headers, body = s3.request("PUT", "/warehouse/a/b", b"x")   # signed, http.client
        s3.restart()                                       # SIGTERM + start: same port, same data
        s3.stop(crash=True); s3.start()                    # SIGKILL, later start again
        (s3.root_dir / "warehouse" / "a" / "b").read_bytes()                # objects are files

    with FaultProxy("127.0.0.1", s3.port) as proxy:
        fs = s3.pyarrow_fs(endpoint=proxy.endpoint)        # clients talk to the proxy
        proxy.fail_next(2, status=503)                     # S3-style SlowDown, not forwarded
        proxy.delay_next(1, 5.0)                           # the next request waits 5 s
        proxy.drop_next(1, after_bytes=100)                # forwarded; the client sees 100 bytes, then EOF
        proxy.seen["PUT"], proxy.forwarded["GET"]          # counters per method

Server directory (`start_s3_server(tmp_path)`: tmp_path / "s3"):
    root/            the gateway's root: bucket b is root/b, object k of b the file root/b/k
    meta/            object and bucket metadata, only when the file system has no user xattrs
    versitygw.log    the server's stdout and stderr (one access-log line per request)

The server runs as `versitygw --port 127.0.0.1:<port> --region us-east-1 --keep-alive posix
<root>`, root credentials in ROOT_ACCESS_KEY / ROOT_SECRET_KEY, in its own process group.
Without --keep-alive versitygw closes the connection after every response, which real S3
never does. Buckets are made with a signed CreateBucket request, not a mkdir: a mkdir'd
directory serves objects, but bucket-level requests on it fail (versitygw finds no ACL
xattr: a PUT /bucket answers 500 InternalError). versitygw keeps ETags, content types,
checksums and bucket ACLs in user.* xattrs; where the file system refuses them (tmpfs
before Linux 6.6, some overlay setups), or with FRAZIL_VERSITYGW_SIDECAR=1, it runs with
`posix --sidecar <dir>/meta` (same metadata, in files; never --nometa, which drops ETags).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import http.client
import itertools
import os
import select
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "frazil-test"
SECRET_KEY = "frazil-test-secret/with+chars="  # '/' and '+' catch secrets that get URL-encoded
REGION = "us-east-1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0  # versitygw's graceful shutdown waits up to 10 s for open requests


def versitygw_binary() -> Path:
    return Path(os.environ.get("FRAZIL_VERSITYGW") or ROOT / ".deps" / "bin" / "versitygw")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3ServerError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------
# AWS Signature Version 4 (stdlib), for raw requests independent of any SDK
# ---------------------------------------------------------------------------------------

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _uri_encode(s: str, encode_slash: bool) -> str:
    return urllib.parse.quote(s, safe="-_.~" if encode_slash else "-_.~/")


def sign_v4(method: str, url: str, headers: dict[str, str], body: bytes = b"", *, access_key: str = ACCESS_KEY,
            secret_key: str = SECRET_KEY, region: str = REGION, service: str = "s3", now: dt.datetime | None = None,
            payload_hash: str | None = None) -> dict[str, str]:
    """`headers` plus Host, x-amz-date, x-amz-content-sha256 and Authorization for
    `method url` (the URL's path and query as they will be sent: already percent-encoded)."""
    u = urllib.parse.urlsplit(url)
    now = now or dt.datetime.now(dt.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    payload_hash = payload_hash or hashlib.sha256(body).hexdigest()
    h = {k: v for k, v in headers.items()}
    h.setdefault("Host", u.netloc)
    h["x-amz-date"] = amz_date
    h["x-amz-content-sha256"] = payload_hash
    signed = {k.lower(): " ".join(str(v).split()) for k, v in h.items() if k.lower() not in ("authorization", "user-agent", "expect", "connection", "transfer-encoding")}
    names = sorted(signed)
    path = _uri_encode(urllib.parse.unquote(u.path or "/"), encode_slash=False)
    pairs = [p.partition("=") for p in u.query.split("&") if p]  # '+' is a plus, not a space
    query = "&".join(sorted(f"{_uri_encode(urllib.parse.unquote(k), True)}={_uri_encode(urllib.parse.unquote(v), True)}"
                            for k, _, v in pairs))
    canonical = "\n".join([method, path, query, "".join(f"{n}:{signed[n]}\n" for n in names), ";".join(names), payload_hash])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    h["Authorization"] = f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={sig}"
    return h


def s3_request(endpoint: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, *,
               access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, region: str = REGION, sign: bool = True,
               timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: (status, headers with lower-case names, body).
    `path` is "/bucket/key?query" (the key is percent-encoded here; the query is sent as given)."""
    p, _, q = path.partition("?")
    target = _uri_encode(p, encode_slash=False) + (f"?{q}" if q else "")
    h = dict(headers or {})
    if sign:
        h = sign_v4(method, endpoint + target, h, body, access_key=access_key, secret_key=secret_key, region=region)
    u = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, target, body=body if body or method in ("PUT", "POST") else None, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------


def _xattrs_work(path: Path) -> bool:
    try:
        os.setxattr(path, "user.frazil-probe", b"1")
        os.removexattr(path, "user.frazil-probe")
        return True
    except OSError:
        return False


def _listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` itself has a listening socket on 127.0.0.1:port. A connect is
    no proof: another server may have taken the port between the probe and the bind."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return False
    wanted = {f"0100007F:{port:04X}", f"0000000000000000FFFF00000100007F:{port:04X}"}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh)
                for line in fh:
                    f = line.split()
                    if len(f) > 9 and f[1] in wanted and f[3] == "0A" and f[9] in inodes:  # 0A: LISTEN
                        return True
        except OSError:
            pass
    return False


class S3Server:
    """versitygw on 127.0.0.1:<port> serving `<directory>/root`; see the module docstring."""

    def __init__(self, directory: Path | str, buckets: tuple[str, ...] | list[str] = ("warehouse",),
                 binary: Path | None = None) -> None:
        self.dir = Path(directory)
        self.root_dir = self.dir / "root"
        self.log_path = self.dir / "versitygw.log"
        self.binary = Path(binary or versitygw_binary())
        self.buckets = list(buckets)
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.region = REGION
        self.host = "127.0.0.1"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.sidecar_dir: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def uses_sidecar(self) -> bool:
        return self.sidecar_dir is not None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> "S3Server":
        """First call: makes the directories, picks a free port, starts, creates the buckets.
        Later calls (after stop()): starts again on the same port with the same data."""
        if self.alive():
            return self
        if not self.binary.exists():
            raise S3ServerError(f"versitygw not found at {self.binary}: run `make deps` (scripts/deps.sh builds it)")
        first = self.port == 0
        if first:
            self.root_dir.mkdir(parents=True, exist_ok=True)
            if not _xattrs_work(self.root_dir) or os.environ.get("FRAZIL_VERSITYGW_SIDECAR") == "1":
                self.sidecar_dir = self.dir / "meta"
                self.sidecar_dir.mkdir(parents=True, exist_ok=True)
            for attempt in range(5):  # a probed free port may be taken before versitygw binds it
                self.port = free_port()
                try:
                    self._launch()
                    break
                except S3ServerError as e:
                    if "address already in use" not in str(e) or attempt == 4:
                        raise
            for b in self.buckets:
                self.create_bucket(b)
        else:
            self._launch()
        return self

    def _launch(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VGW_", "ROOT_ACCESS_KEY", "ROOT_SECRET")) and k not in ("LOGFILE", "WEBHOOK")}
        env["ROOT_ACCESS_KEY"] = self.access_key
        env["ROOT_SECRET_KEY"] = self.secret_key
        cmd = [str(self.binary), "--port", f"{self.host}:{self.port}", "--region", self.region, "--keep-alive", "posix"]
        if self.sidecar_dir is not None:
            cmd += ["--sidecar", str(self.sidecar_dir)]
        cmd.append(str(self.root_dir))
        with open(self.log_path, "ab") as log:
            log.write(f"=== s3_support: starting on {self.host}:{self.port} ===\n".encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise S3ServerError(f"versitygw exited {code} before listening on {self.host}:{self.port}; "
                                    f"log {self.log_path}:\n{self.logs()}")
            if _listens_on(self.proc.pid, self.port):
                return
            if time.monotonic() > deadline:
                self._terminate(signal.SIGKILL)
                raise S3ServerError(f"versitygw did not listen on {self.host}:{self.port} within {START_TIMEOUT:.0f} s; "
                                    f"log {self.log_path}:\n{self.logs()}")
            time.sleep(0.02)

    def _terminate(self, sig: int) -> bool:
        """`sig` to the server's process group, SIGKILL after STOP_TIMEOUT; reaps it. The
        group is signalled only while the leader is unreaped (its zombie keeps the id ours)."""
        p, self.proc = self.proc, None
        if p is None:
            return True
        in_time = True
        if p.poll() is None:
            os.killpg(p.pid, sig)
            try:
                p.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                in_time = sig == signal.SIGKILL
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        return in_time

    def stop(self, crash: bool = False) -> None:
        """SIGTERM (crash=True: SIGKILL, cutting off requests in flight) and wait."""
        if not self._terminate(signal.SIGKILL if crash else signal.SIGTERM):
            raise S3ServerError(f"versitygw did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM (killed); log {self.log_path}")

    def restart(self, crash: bool = False) -> None:
        """stop(crash) and start again: same port, same objects, a new process."""
        self.stop(crash)
        self._launch()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def logs(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def __enter__(self) -> "S3Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- clients ------------------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, *,
                endpoint: str | None = None, sign: bool = True, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
        """A signed request ("/bucket/key?query") to the server, or to `endpoint` (a proxy)."""
        return s3_request(endpoint or self.endpoint, method, path, body, headers, access_key=self.access_key,
                          secret_key=self.secret_key, region=self.region, sign=sign, timeout=timeout)

    def create_bucket(self, bucket: str) -> None:
        status, _, body = self.request("PUT", f"/{bucket}")
        if status != 200:
            raise S3ServerError(f"CreateBucket {bucket} on {self.endpoint}: HTTP {status} {body[:1000]!r}; log {self.log_path}")

    def pyarrow_fs(self, endpoint: str | None = None, **kwargs):
        """pyarrow.fs.S3FileSystem on the server (or on `endpoint`, e.g. a FaultProxy's).
        Paths are "bucket/key". kwargs go to S3FileSystem (retry_strategy, timeouts...)."""
        from pyarrow import fs

        u = urllib.parse.urlsplit(endpoint or self.endpoint)
        opts = dict(access_key=self.access_key, secret_key=self.secret_key, region=self.region, scheme=u.scheme,
                    endpoint_override=u.netloc, force_virtual_addressing=False)
        opts.update(kwargs)
        return fs.S3FileSystem(**opts)

    def duckdb_secret_sql(self, endpoint: str | None = None, name: str = "frazil_s3") -> str:
        """CREATE SECRET for DuckDB's httpfs: path-style URLs s3://bucket/key on the server."""
        u = urllib.parse.urlsplit(endpoint or self.endpoint)
        return (f"CREATE OR REPLACE SECRET {name} (TYPE s3, KEY_ID '{self.access_key}', SECRET '{self.secret_key}', "
                f"REGION '{self.region}', ENDPOINT '{u.netloc}', URL_STYLE 'path', USE_SSL {str(u.scheme == 'https').lower()})")

    def __repr__(self) -> str:
        return f"S3Server({self.endpoint if self.port else 'not started'}, root={self.root_dir})"


def start_s3_server(tmp_path: Path | str, buckets: tuple[str, ...] | list[str] = ("warehouse",),
                    subdir: str = "s3") -> S3Server:
    """A started server in `tmp_path/subdir` with `buckets` created. Also a context manager
    (`with start_s3_server(tmp_path) as s3:` stops it at the end); otherwise call stop()."""
    d = Path(tmp_path) / subdir
    d.mkdir(parents=True, exist_ok=True)
    s3 = S3Server(d, buckets)
    try:
        return s3.start()
    except BaseException:
        s3._terminate(signal.SIGKILL)
        raise


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[S3Server]:
    """A started server with bucket "warehouse"; stopped after the test. Import it into a
    test module (`from s3_support import s3_server`) to use it."""
    s3 = start_s3_server(tmp_path)
    try:
        yield s3
    finally:
        s3.stop()


# ---------------------------------------------------------------------------------------
# The fault-injecting proxy
# ---------------------------------------------------------------------------------------

_ERROR_CODES = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
    502: ("BadGateway", "Bad gateway (injected by FaultProxy)."),
    504: ("GatewayTimeout", "Gateway timeout (injected by FaultProxy)."),
    429: ("SlowDown", "Please reduce your request rate."),
    400: ("BadRequest", "Bad request (injected by FaultProxy)."),
    403: ("AccessDenied", "Access Denied (injected by FaultProxy)."),
    404: ("NoSuchKey", "The specified key does not exist (injected by FaultProxy)."),
}
_REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
_MAX_HEAD = 256 * 1024
_CHUNK = 64 * 1024


@dataclass
class _Rule:
    kind: str                 # "fail" | "drop" | "delay"
    remaining: int
    method: str | None        # None: any
    path: str | None          # substring of the request target; None: any
    status: int = 503
    code: str | None = None
    seconds: float = 0.0
    before_response: bool = False  # delay: forward first, hold the response
    after_bytes: int = 0
    forward: bool = True
    reset: bool = False

    def matches(self, method: str, target: str) -> bool:
        return self.remaining > 0 and (self.method is None or self.method == method) and (self.path is None or self.path in target)


@dataclass
class ProxyEvent:
    """One request the proxy saw, and what it did: "forwarded", "failed 503", "dropped before
    forwarding", "dropped after N bytes" (just "dropped" while the response is relayed), "no
    answer from upstream". Recorded before the client gets the answer."""
    method: str
    target: str
    action: str
    status: int | None = None  # the status the client was sent (None: none, or cut off)


class _Closed(Exception):
    """A peer closed its connection (or the proxy is closing)."""


class _CutOff(Exception):
    """drop_next: the client connection was cut where the rule says."""


class _Reader:
    """Buffered reads from a socket: lines of a message head, exact byte counts."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(_CHUNK)
        except OSError:
            data = b""
        if not data:
            return False
        self.buf += data
        return True

    def at_eof(self) -> bool:
        """True when nothing more will come (used between requests: a clean close)."""
        return not self.buf and not self._fill()

    def head(self) -> bytes:
        """Up to and including the blank line that ends a message head."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                out = bytes(self.buf[:i + 4])
                del self.buf[:i + 4]
                return out
            if len(self.buf) > _MAX_HEAD:
                raise _Closed("message head too large")
            if not self._fill():
                raise _Closed("connection closed in a message head")

    def line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return out
            if len(self.buf) > _MAX_HEAD or not self._fill():
                raise _Closed("connection closed in a chunk header")

    def some(self, n: int) -> bytes:
        """1..n bytes (fewer when that is what has arrived)."""
        if not self.buf and not self._fill():
            raise _Closed("connection closed in a body")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def rest(self) -> Iterator[bytes]:
        """Everything until the peer closes."""
        while self.buf or self._fill():
            out = bytes(self.buf)
            self.buf.clear()
            yield out


class _Head:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        lines = raw[:-4].split(b"\r\n")
        self.start = lines[0].decode("latin-1")
        self.headers: list[tuple[str, str]] = []
        for ln in lines[1:]:
            k, _, v = ln.decode("latin-1").partition(":")
            self.headers.append((k.strip(), v.strip()))

    def get(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def has_token(self, name: str, token: str) -> bool:
        v = self.get(name)
        return v is not None and token in [t.strip().lower() for t in v.split(",")]


def _body_chunks(reader: _Reader, head: _Head, *, until_eof: bool) -> Iterator[bytes]:
    """The raw bytes of a message body as framed on the wire (chunked encoding kept as is)."""
    if head.has_token("Transfer-Encoding", "chunked"):
        while True:
            size_line = reader.line()
            yield size_line
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, then the final blank line
                    ln = reader.line()
                    yield ln
                    if ln == b"\r\n":
                        return
            left = size + 2  # the data and its CRLF
            while left:
                part = reader.some(min(left, _CHUNK))
                left -= len(part)
                yield part
    elif head.get("Content-Length") is not None:
        left = int(head.get("Content-Length"))
        while left:
            part = reader.some(min(left, _CHUNK))
            left -= len(part)
            yield part
    elif until_eof:
        yield from reader.rest()


class _Sender:
    """sendall to the client, cut off after `limit` bytes (None: no limit)."""

    def __init__(self, sock: socket.socket, limit: int | None) -> None:
        self.sock = sock
        self.limit = limit
        self.sent = 0

    def send(self, data: bytes) -> None:
        if self.limit is not None and self.sent + len(data) >= self.limit:
            data = data[:self.limit - self.sent]
            if data:
                self.sock.sendall(data)
            self.sent = self.limit
            raise _CutOff()
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise _Closed(f"client gone: {e}") from e
        self.sent += len(data)


class FaultProxy:
    """A threaded HTTP/1.1 proxy on 127.0.0.1:<free port> in front of one upstream server,
    with faults on demand. Forwards every request and response byte for byte (keep-alive,
    chunked and Content-Length bodies of any size, streamed; `Expect: 100-continue` relayed);
    the Host header is left alone, so SigV4 signatures made for the proxy's address still
    verify upstream. Each client connection gets its own upstream connection. When the
    upstream cannot be reached (server stopped), the client's connection is closed without
    an answer, after its request head was read: a client cannot tell that from a crash.

    Faults apply to the next n requests that match (method, and a substring of the request
    target, both optional), rules in the order they were added; a delay combines with a
    fail or drop rule:
      fail_next(n, status=503, code=None)   answered by the proxy, not forwarded: an S3 error
                                            body (503 SlowDown, 500 InternalError, ...)
      delay_next(n, seconds, before_response=False)
                                            wait before forwarding (or, before_response=True:
                                            forward at once, hold the response)
      drop_next(n, after_bytes=0, forward=True, reset=False)
                                            forward=True: forwarded, the upstream answer read,
                                            the client gets its first `after_bytes` bytes and
                                            then the connection closes; forward=False: closed
                                            right after the request head, nothing forwarded.
                                            reset=True closes with a TCP RST instead of a FIN.
    Counters: `seen` (every request, per method), `forwarded` (reached the upstream, per
    method), `events` (ProxyEvent list). clear() drops pending rules; close() stops it all.
    """

    def __init__(self, upstream_host: str, upstream_port: int, *, upstream_timeout: float = 300) -> None:
        self.upstream = (upstream_host, int(upstream_port))
        self.upstream_timeout = upstream_timeout
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._seen: collections.Counter = collections.Counter()
        self._forwarded: collections.Counter = collections.Counter()
        self._events: list[ProxyEvent] = []
        self._socks: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._ids = itertools.count(1)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.host = "127.0.0.1"
        self.port = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"faultproxy-{self.port}", daemon=True)
        self._accept_thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- controls -----------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 503, *, code: str | None = None, method: str | None = None,
                  path: str | None = None) -> None:
        self._add(_Rule("fail", n, method, path, status=status, code=code))

    def delay_next(self, n: int, seconds: float, *, before_response: bool = False, method: str | None = None,
                   path: str | None = None) -> None:
        self._add(_Rule("delay", n, method, path, seconds=seconds, before_response=before_response))

    def drop_next(self, n: int = 1, after_bytes: int = 0, *, forward: bool = True, reset: bool = False,
                  method: str | None = None, path: str | None = None) -> None:
        self._add(_Rule("drop", n, method, path, after_bytes=after_bytes, forward=forward, reset=reset))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> int:
        """Requests still to be affected by the rules added so far."""
        with self._lock:
            return sum(r.remaining for r in self._rules)

    @property
    def seen(self) -> collections.Counter:
        with self._lock:
            return collections.Counter(self._seen)

    @property
    def forwarded(self) -> collections.Counter:
        with self._lock:
            return collections.Counter(self._forwarded)

    @property
    def events(self) -> list[ProxyEvent]:
        with self._lock:
            return list(self._events)

    def reset_counters(self) -> None:
        with self._lock:
            self._seen.clear()
            self._forwarded.clear()
            self._events.clear()

    def close(self) -> None:
        """Stops accepting, cuts every open connection and joins the threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            socks = list(self._socks)
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._accept_thread.join(10)
        for t in list(self._threads):
            t.join(10)

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------

    def _add(self, rule: _Rule) -> None:
        if rule.remaining < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            self._rules.append(rule)

    def _take(self, method: str, target: str) -> tuple[_Rule | None, _Rule | None]:
        """The delay rule and the fail/drop rule for this request (each consumed once)."""
        delay = action = None
        with self._lock:
            self._seen[method] += 1
            for r in self._rules:
                if not r.matches(method, target):
                    continue
                if r.kind == "delay" and delay is None:
                    delay = r
                elif r.kind != "delay" and action is None:
                    action = r
            for r in (delay, action):
                if r is not None:
                    r.remaining -= 1
            self._rules = [r for r in self._rules if r.remaining > 0]
        return delay, action

    def _event(self, ev: ProxyEvent) -> None:
        with self._lock:
            self._events.append(ev)

    def _track(self, s: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._socks.add(s)
            return True

    def _untrack(self, s: socket.socket | None) -> None:
        if s is None:
            return
        with self._lock:
            self._socks.discard(s)
        try:
            s.close()
        except OSError:
            pass

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._track(client):
                client.close()
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = threading.Thread(target=self._serve, args=(client,), name=f"faultproxy-{self.port}-conn", daemon=True)
            with self._lock:
                self._threads = [x for x in self._threads if x.is_alive()]
                self._threads.append(t)
            t.start()

    def _connect_upstream(self) -> tuple[socket.socket, _Reader]:
        s = socket.create_connection(self.upstream, timeout=self.upstream_timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._track(s):
            s.close()
            raise _Closed("proxy closing")
        return s, _Reader(s)

    @staticmethod
    def _peer_closed(sock: socket.socket, reader: _Reader) -> bool:
        """An idle keep-alive connection the peer has closed (or sent something unasked on)."""
        if reader.buf:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)  # (recv would wait for the timeout)
        except (OSError, ValueError):
            return True
        return bool(readable)  # EOF, a reset, or bytes nobody asked for: start afresh

    @staticmethod
    def _abort(sock: socket.socket, reset: bool) -> None:
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _serve(self, client: socket.socket) -> None:
        creader = _Reader(client)
        up: socket.socket | None = None
        ureader: _Reader | None = None
        try:
            while not creader.at_eof():
                req = _Head(creader.head())
                method, target = (req.start.split(" ") + ["", ""])[:2]
                delay, action = self._take(method, target)
                if delay is not None and not delay.before_response:
                    time.sleep(delay.seconds)
                if action is not None and action.kind == "drop" and not action.forward:
                    self._event(ProxyEvent(method, target, "dropped before forwarding"))
                    self._abort(client, action.reset)
                    return
                if action is not None and action.kind == "fail":
                    keep = self._answer_error(client, creader, req, method, target, action)
                    if not keep:
                        return
                    continue
                # Forward, on a fresh upstream connection if the last one was closed meanwhile.
                if up is not None and self._peer_closed(up, ureader):
                    self._untrack(up)
                    up = ureader = None
                if up is None:
                    up, ureader = self._connect_upstream()
                if not self._forward(client, creader, req, up, ureader, method, target, delay, action):
                    return
        except (_Closed, OSError):
            return
        finally:
            self._untrack(up)
            self._untrack(client)

    def _answer_error(self, client: socket.socket, creader: _Reader, req: _Head, method: str, target: str,
                      rule: _Rule) -> bool:
        """The S3-style error for a fail rule; returns whether the connection stays open."""
        status = rule.status
        code, message = _ERROR_CODES.get(status, ("InternalError", "Injected by FaultProxy."))
        code = rule.code or code
        rid = f"FAULTPROXY{next(self._ids):06d}"
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<RequestId>{rid}</RequestId><HostId>faultproxy</HostId></Error>").encode()
        # A body the client is waiting to send (Expect: 100-continue) is never read: the
        # connection then closes after the answer. Any other body is read and discarded.
        expect = (req.get("Expect") or "").lower() == "100-continue"
        keep = not expect and not req.has_token("Connection", "close")
        if not expect:
            for _ in _body_chunks(creader, req, until_eof=False):
                pass
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", "Server: FaultProxy",
                f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}", f"x-amz-request-id: {rid}",
                "Content-Type: application/xml", f"Content-Length: {len(body)}"]
        if not keep:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + (b"" if method == "HEAD" else body)
        self._event(ProxyEvent(method, target, f"failed {status}", status))
        try:
            client.sendall(data)
        except OSError:
            return False
        return keep

    def _forward(self, client: socket.socket, creader: _Reader, req: _Head, up: socket.socket, ureader: _Reader,
                 method: str, target: str, delay: _Rule | None, action: _Rule | None) -> bool:
        """Relays one exchange. Returns whether both connections stay open for another."""
        drop = action if action is not None and action.kind == "drop" else None
        to_client = _Sender(client, drop.after_bytes if drop is not None else None)
        try:
            up.sendall(req.raw)
        except OSError as e:
            raise _Closed(f"upstream send failed: {e}") from e
        with self._lock:
            self._forwarded[method] += 1
        expect = (req.get("Expect") or "").lower() == "100-continue"
        body_sent = False
        if not expect:
            for part in _body_chunks(creader, req, until_eof=False):
                up.sendall(part)
            body_sent = True
        if delay is not None and delay.before_response:
            time.sleep(delay.seconds)
        while True:
            try:
                resp = _Head(ureader.head())
                status = int(resp.start.split(" ")[1])
            except (_Closed, ValueError, IndexError):
                self._event(ProxyEvent(method, target, "no answer from upstream"))
                raise _Closed("upstream closed before answering")
            if 100 <= status < 200:  # not counted by drop_next's after_bytes
                try:
                    client.sendall(resp.raw)
                except OSError as e:
                    raise _Closed(f"client gone: {e}") from e
                if status == 100 and not body_sent:  # 100 Continue: now the body goes up
                    for part in _body_chunks(creader, req, until_eof=False):
                        up.sendall(part)
                    body_sent = True
                continue
            break
        # Recorded before the client has the answer, so that a test that got it sees the event.
        ev = ProxyEvent(method, target, "dropped" if drop is not None else "forwarded", status)
        self._event(ev)
        try:
            to_client.send(resp.raw)
            no_body = method == "HEAD" or status in (204, 304)
            upstream_close = resp.has_token("Connection", "close") or (
                not no_body and resp.get("Content-Length") is None and not resp.has_token("Transfer-Encoding", "chunked"))
            if not no_body:
                for part in _body_chunks(ureader, resp, until_eof=True):
                    to_client.send(part)
            if drop is not None:
                raise _CutOff()
        except _CutOff:
            with self._lock:
                ev.action = f"dropped after {to_client.sent} bytes"
            self._abort(client, drop.reset if drop else False)
            return False
        if not body_sent or upstream_close or req.has_token("Connection", "close"):
            # The client's unsent body, or a connection either side asked to close.
            return False
        return True


def fault_proxy_for(s3: S3Server) -> FaultProxy:
    """A FaultProxy in front of `s3` (close() it, or use it as a context manager)."""
    return FaultProxy(s3.host, s3.port)
