"""The S3 test harness itself (s3_support.py): versitygw on loopback and the FaultProxy,
checked with independent clients (pyarrow's S3FileSystem, raw http.client). Fast: a few
seconds in all."""

from __future__ import annotations

import http.client
import http.server
import os
import socket
import threading
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from s3_support import (ACCESS_KEY, REGION, SECRET_KEY, FaultProxy, S3Server, S3ServerError, s3_request,
                        s3_server, sign_v4, start_s3_server)  # s3_server: a fixture


def _keys(fs, bucket: str) -> list[str]:
    return sorted(i.path for i in fs.get_file_info(pafs.FileSelector(bucket, recursive=True)) if i.type == pafs.FileType.File)


def _put(fs, path: str, data: bytes) -> None:
    with fs.open_output_stream(path) as f:
        f.write(data)


def _get(fs, path: str) -> bytes:
    with fs.open_input_stream(path) as f:
        return f.read()


def test_server_serves_pyarrow_and_raw_clients(tmp_path: Path):
    with start_s3_server(tmp_path, buckets=("warehouse", "second")) as s3:
        assert s3.endpoint == f"http://127.0.0.1:{s3.port}"
        assert (s3.access_key, s3.region) == (ACCESS_KEY, REGION) and s3.secret_key == SECRET_KEY
        assert "/" in s3.secret_key and "+" in s3.secret_key
        fs = s3.pyarrow_fs()
        assert {i.path for i in fs.get_file_info(pafs.FileSelector("/", recursive=False))} == {"warehouse", "second"}

        blob = os.urandom(12 * 1024 * 1024 + 17)  # pyarrow uploads this in parts (multipart upload)
        _put(fs, "warehouse/ns/t/data/big.parquet", blob)
        _put(fs, "warehouse/ns/t/metadata/v1 with space+plus.json", b'{"a": 1}')
        _put(fs, "second/x", b"")
        assert _get(fs, "warehouse/ns/t/data/big.parquet") == blob
        assert _keys(fs, "warehouse") == ["warehouse/ns/t/data/big.parquet", "warehouse/ns/t/metadata/v1 with space+plus.json"]
        assert _keys(fs, "second") == ["second/x"]
        # Objects are plain files under root_dir.
        assert (s3.root_dir / "warehouse/ns/t/data/big.parquet").read_bytes() == blob
        assert (s3.root_dir / "warehouse/ns/t/metadata/v1 with space+plus.json").read_bytes() == b'{"a": 1}'

        # Raw signed requests (sign_v4 + http.client) see the same objects.
        status, headers, body = s3.request("GET", "/warehouse/ns/t/metadata/v1 with space+plus.json")
        assert (status, body) == (200, b'{"a": 1}') and headers["etag"]
        assert headers.get("connection", "").lower() != "close"  # --keep-alive
        status, _, body = s3.request("GET", "/warehouse?list-type=2&prefix=ns%2Ft%2Fdata")
        assert status == 200 and b"<Key>ns/t/data/big.parquet</Key>" in body
        # A bucket made by CreateBucket answers bucket-level requests (a mkdir'd one would 500).
        assert s3.request("PUT", "/warehouse")[0] == 409
        # Wrong secret, no signature: refused.
        assert s3_request_with_secret(s3, "wrong")[0] == 403
        assert s3.request("GET", "/warehouse/ns/t/data/big.parquet", sign=False)[0] == 403
        assert "GET" in s3.logs()
        if not s3.uses_sidecar:  # metadata in xattrs
            assert "user.etag" in os.listxattr(s3.root_dir / "warehouse/ns/t/data/big.parquet")


def s3_request_with_secret(s3: S3Server, secret: str):
    return s3_request(s3.endpoint, "GET", "/warehouse", secret_key=secret)


def test_restart_keeps_objects_and_port(s3_server: S3Server):
    s3 = s3_server
    fs = s3.pyarrow_fs()
    _put(fs, "warehouse/k1", b"v1")
    port, pid = s3.port, s3.pid
    s3.restart()
    assert s3.port == port and s3.pid != pid and s3.alive()
    assert _get(fs, "warehouse/k1") == b"v1"  # the same client, across the restart
    _put(fs, "warehouse/k2", b"v2")
    s3.restart(crash=True)
    assert _get(s3.pyarrow_fs(), "warehouse/k2") == b"v2"

    s3.stop()
    with pytest.raises(ConnectionRefusedError):
        s3.request("GET", "/warehouse/k1")
    s3.start()
    assert s3.request("GET", "/warehouse/k1")[2] == b"v1"
    assert _keys(fs, "warehouse") == ["warehouse/k1", "warehouse/k2"]


def test_sidecar_metadata_when_forced(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FRAZIL_VERSITYGW_SIDECAR", "1")
    with start_s3_server(tmp_path, buckets=("warehouse",)) as s3:
        assert s3.uses_sidecar
        fs = s3.pyarrow_fs()
        _put(fs, "warehouse/a/b", b"sidecar")
        s3.restart()
        assert _get(fs, "warehouse/a/b") == b"sidecar"
        assert s3.request("HEAD", "/warehouse/a/b")[1]["etag"]
        assert (s3.dir / "meta" / "warehouse" / "a" / "b").is_dir()
        assert s3.request("PUT", "/warehouse")[0] == 409  # bucket ACL kept in the sidecar


def test_missing_binary_says_make_deps(tmp_path: Path):
    s3 = S3Server(tmp_path / "s3", binary=tmp_path / "no-such-versitygw")
    with pytest.raises(S3ServerError, match="make deps"):
        s3.start()


def test_proxy_forwards_keepalive_and_large_bodies(s3_server: S3Server):
    s3 = s3_server
    with FaultProxy("127.0.0.1", s3.port) as proxy:
        fs = s3.pyarrow_fs(endpoint=proxy.endpoint)
        blob = os.urandom(23 * 1024 * 1024 + 5)
        _put(fs, "warehouse/big", blob)
        assert _get(fs, "warehouse/big") == blob
        assert (s3.root_dir / "warehouse/big").read_bytes() == blob
        assert proxy.seen["PUT"] >= 2 and proxy.seen["POST"] >= 2  # multipart: create, parts, complete
        assert proxy.forwarded == proxy.seen

        # Several requests on one keep-alive connection, signed for the proxy's address.
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        for i in range(5):
            body = f"object {i}".encode() * 1000
            h = sign_v4("PUT", f"{proxy.endpoint}/warehouse/ka/{i}", {}, body)
            conn.request("PUT", f"/warehouse/ka/{i}", body=body, headers=h)
            r = conn.getresponse()
            r.read()
            assert r.status == 200
            conn.request("GET", f"/warehouse/ka/{i}", headers=sign_v4("GET", f"{proxy.endpoint}/warehouse/ka/{i}", {}))
            r = conn.getresponse()
            assert (r.status, r.read()) == (200, body)
            conn.request("HEAD", f"/warehouse/ka/{i}", headers=sign_v4("HEAD", f"{proxy.endpoint}/warehouse/ka/{i}", {}))
            r = conn.getresponse()
            r.read()
            assert r.status == 200 and int(r.getheader("Content-Length")) == len(body)
        conn.close()
        assert [e.action for e in proxy.events[-15:]] == ["forwarded"] * 15


def test_proxy_fail_next_answers_s3_errors(s3_server: S3Server):
    s3 = s3_server
    with FaultProxy("127.0.0.1", s3.port) as proxy:
        proxy.fail_next(2, status=503)
        proxy.fail_next(1, status=500)
        for expected in (503, 503, 500):
            status, headers, body = s3.request("PUT", "/warehouse/f", b"data", endpoint=proxy.endpoint)
            code = b"SlowDown" if expected == 503 else b"InternalError"
            assert status == expected and b"<Error><Code>" + code + b"</Code><Message>" in body, body
            assert headers["content-type"] == "application/xml"
        assert not (s3.root_dir / "warehouse/f").exists()  # never forwarded
        assert proxy.seen["PUT"] == 3 and proxy.forwarded["PUT"] == 0
        assert s3.request("PUT", "/warehouse/f", b"data", endpoint=proxy.endpoint)[0] == 200
        assert (s3.root_dir / "warehouse/f").read_bytes() == b"data"
        assert [e.action for e in proxy.events] == ["failed 503", "failed 503", "failed 500", "forwarded"]

        # Errors on a keep-alive connection: the connection stays usable (body drained).
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        proxy.fail_next(1, 503, method="GET", path="/warehouse/f")
        for want in (503, 200):
            conn.request("GET", "/warehouse/f", headers=sign_v4("GET", f"{proxy.endpoint}/warehouse/f", {}))
            r = conn.getresponse()
            assert (r.status, r.read()[:4]) == (want, b"<?xm" if want == 503 else b"data")
        conn.close()

        # An SDK takes them for S3's own: pyarrow (AWS SDK) retries both and succeeds.
        fs = s3.pyarrow_fs(endpoint=proxy.endpoint)
        proxy.reset_counters()
        proxy.fail_next(1, 503, method="PUT")
        proxy.fail_next(1, 500, method="PUT")
        _put(fs, "warehouse/retried", b"after two errors")
        assert (s3.root_dir / "warehouse/retried").read_bytes() == b"after two errors"
        assert [e.action for e in proxy.events if e.method == "PUT"] == ["failed 503", "failed 500", "forwarded"]


def test_proxy_drop_and_delay(s3_server: S3Server):
    s3 = s3_server
    with FaultProxy("127.0.0.1", s3.port) as proxy:
        # Forwarded, then the connection cut before any answer: the server did it anyway.
        proxy.drop_next(1)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            s3.request("PUT", "/warehouse/d1", b"was written", endpoint=proxy.endpoint)
        assert (s3.root_dir / "warehouse/d1").read_bytes() == b"was written"
        # Cut before forwarding: the server never saw it.
        proxy.drop_next(1, forward=False)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
            s3.request("PUT", "/warehouse/d2", b"x" * 100_000, endpoint=proxy.endpoint)
        assert not (s3.root_dir / "warehouse/d2").exists()
        assert proxy.forwarded["PUT"] == 1
        # A truncated answer: the head and part of the body, then EOF.
        payload = os.urandom(200_000)
        assert s3.request("PUT", "/warehouse/d3", payload)[0] == 200
        proxy.drop_next(1, after_bytes=50_000, method="GET")
        with pytest.raises(http.client.IncompleteRead):
            s3.request("GET", "/warehouse/d3", endpoint=proxy.endpoint)
        assert proxy.events[-1].action == "dropped after 50000 bytes"
        # A reset instead of a FIN.
        proxy.drop_next(1, reset=True)
        with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
            s3.request("GET", "/warehouse/d3", endpoint=proxy.endpoint)
        assert s3.request("GET", "/warehouse/d3", endpoint=proxy.endpoint)[2] == payload

        # Delays: before forwarding, and after the server acted (the client times out).
        proxy.delay_next(1, 0.6)
        t0 = time.monotonic()
        assert s3.request("GET", "/warehouse/d1", endpoint=proxy.endpoint)[2] == b"was written"
        assert time.monotonic() - t0 >= 0.6
        proxy.delay_next(1, 1.5, before_response=True)
        with pytest.raises((TimeoutError, socket.timeout)):
            s3.request("PUT", "/warehouse/d4", b"slow answer", endpoint=proxy.endpoint, timeout=0.5)
        assert (s3.root_dir / "warehouse/d4").read_bytes() == b"slow answer"
        assert proxy.pending() == 0


def _expect_put(proxy: FaultProxy, key: str, body: bytes) -> tuple[bytes, bytes]:
    """PUT with `Expect: 100-continue` on a raw socket, as libcurl does for bodies over
    1 MiB: the head, then the body only after "100 Continue". Returns (interim, final)
    status lines (interim empty when the answer came without one)."""
    h = sign_v4("PUT", f"{proxy.endpoint}/warehouse/{key}", {"Expect": "100-continue", "Content-Length": str(len(body))}, body)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(f"PUT /warehouse/{key} HTTP/1.1\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in h.items()).encode() + b"\r\n")
        f = s.makefile("rb")
        first = f.readline()
        interim = b""
        if b" 100 " in first:
            interim = first
            assert f.readline() == b"\r\n"
            s.sendall(body)
            first = f.readline()
        return interim.strip(), first.strip()


def test_proxy_relays_expect_100_continue(s3_server: S3Server):
    s3 = s3_server
    body = os.urandom(2 * 1024 * 1024)
    with FaultProxy("127.0.0.1", s3.port) as proxy:
        assert _expect_put(proxy, "e1", body) == (b"HTTP/1.1 100 Continue", b"HTTP/1.1 200 OK")
        assert (s3.root_dir / "warehouse/e1").read_bytes() == body
        proxy.fail_next(1, 503)  # answered at once: the body is never sent
        assert _expect_put(proxy, "e2", body) == (b"", b"HTTP/1.1 503 Service Unavailable")
        assert not (s3.root_dir / "warehouse/e2").exists()
        proxy.drop_next(1)  # 100 Continue still relayed, the body forwarded, then the cut
        assert _expect_put(proxy, "e3", body) == (b"HTTP/1.1 100 Continue", b"")  # b"": EOF
        assert (s3.root_dir / "warehouse/e3").read_bytes() == body


class _ChunkedUpstream(http.server.BaseHTTPRequestHandler):
    """An upstream that reads chunked request bodies and answers in chunks (versitygw
    itself always sends Content-Length)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(body), 70_000):
            part = body[i:i + 70_000][::-1]
            self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")


def test_proxy_streams_chunked_bodies_both_ways():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ChunkedUpstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with FaultProxy("127.0.0.1", server.server_address[1]) as proxy:
            conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
            for n in (0, 1, 300_000):
                data = os.urandom(n)
                conn.request("POST", "/echo", body=iter([data[:1000], data[1000:]]), encode_chunked=True,
                             headers={"Transfer-Encoding": "chunked"})
                r = conn.getresponse()
                assert (r.status, r.read()) == (200, b"".join(data[i:i + 70_000][::-1] for i in range(0, n, 70_000)))
            conn.close()
            assert proxy.seen["POST"] == 3 and proxy.forwarded["POST"] == 3
    finally:
        server.shutdown()
        server.server_close()
