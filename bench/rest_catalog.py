#!/usr/bin/env python3
"""REST catalog benchmark: `frazil serve` vs the Java reference REST fixture, same run, same
machine, same workload.

Workloads, each with 32 concurrent keep-alive clients on loopback (one asyncio process, raw
HTTP/1.1 over persistent sockets, so the client costs little next to the servers):
  load-table  GET /v1/namespaces/bench/tables/t      (a table with 20 commits of history)
  commit      POST /v1/namespaces/bench/tables/c<k>  (client k commits set-properties to its
              own table, with an assert-table-uuid requirement: the commit path without
              conflicts)
For each: requests/s, p50 and p99 latency, errors (non-2xx), the ratio to the Java fixture, and
the server's CPU-seconds (user+sys from /proc) per 1000 requests. The physical floor is the
raw SQLite store round trip done in-process, one client: a pointer lookup plus reading the
metadata file (load), writing a metadata file plus the compare-and-swap UPDATE (commit).

The Java fixture is org.apache.iceberg.rest.RESTCatalogServer from the iceberg-open-api
1.10.0 jar (fetched with mvn into ~/.m2 if absent), on a JdbcCatalog in SQLite. It is a test
fixture, not a production server: the comparison says how far frazil is from the reference
implementation on the same store, nothing more.

Usage: bench/rest_catalog.py [--quick] [--seconds S] [--clients N] [--no-java]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "interop"))

import rest_support as RS  # noqa: E402

SCHEMA = {"type": "struct", "schema-id": 0, "fields": [
    {"id": 1, "name": "id", "required": True, "type": "long"},
    {"id": 2, "name": "name", "required": False, "type": "string"},
    {"id": 3, "name": "amount", "required": False, "type": "decimal(18,6)"},
    {"id": 4, "name": "ts", "required": False, "type": "timestamptz"}]}


# ---------------------------------------------------------------------------------------
# a small keep-alive HTTP/1.1 client
# ---------------------------------------------------------------------------------------


class Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.r = self.w = None

    async def open(self) -> None:
        self.r, self.w = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: application/json\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.w.write(head.encode() + b"\r\n" + (body or b""))
        status_line = await self.r.readline()
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.r.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            k = k.strip().lower()
            if k == "content-length":
                length = int(v)
            elif k == "transfer-encoding" and "chunked" in v.lower():
                chunked = True
            elif k == "connection" and "close" in v.lower():
                close = True
        if chunked:
            data = b""
            while True:
                size = int((await self.r.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.r.readline()
                    break
                data += await self.r.readexactly(size)
                await self.r.readline()
        else:
            data = await self.r.readexactly(length) if length else b""
        if close:
            self.w.close()
            await self.open()
        return status, data

    def close(self) -> None:
        if self.w:
            self.w.close()


async def _drive(url: str, clients: int, seconds: float, warmup: float, make_request) -> dict:
    host, port = url.split("//", 1)[1].split(":")
    conns = [Conn(host, int(port)) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in conns))
    lat: list[float] = []
    errors = 0
    err_sample = ""
    measuring = False
    stop = False
    count = [0] * clients

    async def worker(k: int, c: Conn) -> None:
        nonlocal errors, err_sample
        i = 0
        while not stop:
            method, path, body = make_request(k, i)
            i += 1
            t0 = time.perf_counter()
            try:
                status, data = await c.request(method, path, body)
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                status, data = 599, str(e).encode()
                c.close()
                await c.open()
            dt = time.perf_counter() - t0
            if measuring:
                lat.append(dt)
                count[k] += 1
                if status >= 300:
                    errors += 1
                    err_sample = err_sample or f"{status} {data[:200]!r}"

    tasks = [asyncio.create_task(worker(k, c)) for k, c in enumerate(conns)]
    await asyncio.sleep(warmup)
    measuring = True
    t_start = time.perf_counter()
    await asyncio.sleep(seconds)
    measuring = False
    elapsed = time.perf_counter() - t_start
    stop = True
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in conns:
        c.close()
    lat.sort()
    n = len(lat)
    return {"n": n, "rps": n / elapsed, "p50": lat[n // 2] * 1000 if n else float("nan"),
            "p99": lat[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"), "errors": errors, "err_sample": err_sample,
            "elapsed": elapsed}


def drive(srv, clients, seconds, warmup, make_request) -> dict:
    # CPU of the server over warm-up + measurement, scaled to the measured requests.
    cpu0 = srv.cpu_seconds()
    t0 = time.perf_counter()
    res = asyncio.run(_drive(srv.url, clients, seconds, warmup, make_request))
    wall = time.perf_counter() - t0
    cpu = srv.cpu_seconds() - cpu0
    res["cpu_per_1000"] = cpu / (res["n"] * wall / res["elapsed"]) * 1000 if res["n"] else float("nan")
    return res


# ---------------------------------------------------------------------------------------
# setup through the REST API (identical for both servers)
# ---------------------------------------------------------------------------------------


def setup(srv, clients: int) -> dict:
    def ok(r):
        assert r.status_code in (200, 204), f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:500]}"
        return r.json() if r.content else None

    ok(srv.http("POST", "/v1/namespaces", json_body={"namespace": ["bench"], "properties": {}}))
    ok(srv.http("POST", "/v1/namespaces/bench/tables", json_body={"name": "t", "schema": SCHEMA, "properties": {"format-version": "2"}}))
    for i in range(20):  # some history in the loaded table's metadata
        ok(srv.http("POST", "/v1/namespaces/bench/tables/t",
                    json_body={"requirements": [], "updates": [{"action": "set-properties", "updates": {f"history.{i}": "x" * 40}}]}))
    uuids = {}
    for k in range(clients):
        res = ok(srv.http("POST", "/v1/namespaces/bench/tables", json_body={"name": f"c{k}", "schema": SCHEMA}))
        uuids[k] = res["metadata"]["table-uuid"]
    return uuids


def run_server(srv, clients, seconds, warmup) -> dict:
    uuids = setup(srv, clients)
    out = {}
    out["load-table"] = drive(srv, clients, seconds, warmup, lambda k, i: ("GET", "/v1/namespaces/bench/tables/t", None))

    def commit(k, i):
        body = json.dumps({"requirements": [{"type": "assert-table-uuid", "uuid": uuids[k]}],
                           "updates": [{"action": "set-properties", "updates": {"bench.n": str(i)}}]}).encode()
        return "POST", f"/v1/namespaces/bench/tables/c{k}", body

    out["commit"] = drive(srv, clients, seconds, warmup, commit)
    return out


# ---------------------------------------------------------------------------------------
# the physical floor: the SQLite store round trip, in-process
# ---------------------------------------------------------------------------------------


def _local(uri: str) -> str:
    for prefix in ("file://", "file:"):
        if uri.startswith(prefix):
            return uri[len(prefix):]
    return uri


def sqlite_floor(warehouse: Path, seconds: float) -> dict:
    db = warehouse / "catalog.db"
    con = sqlite3.connect(db, isolation_level=None, timeout=30)
    row = con.execute("SELECT catalog_name, metadata_location FROM iceberg_tables WHERE table_namespace='bench' AND table_name='t'").fetchone()
    assert row, f"no bench.t in {db}"
    cat, loc = row
    path = _local(loc)
    content = Path(path).read_bytes()
    out = {}

    lat = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        (m,) = con.execute("SELECT metadata_location FROM iceberg_tables WHERE catalog_name=? AND table_namespace='bench' AND table_name='t'", (cat,)).fetchone()
        with open(_local(m), "rb") as fh:
            json.loads(fh.read())
        lat.append(time.perf_counter() - t0)
    out["load-table"] = lat

    lat = []
    meta_dir = Path(path).parent
    cur = loc
    t_end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        new = meta_dir / f"floor-{n:06d}-{uuid.uuid4()}.metadata.json"
        n += 1
        with open(new, "wb") as fh:
            fh.write(content)
        con.execute("BEGIN IMMEDIATE")
        changed = con.execute("UPDATE iceberg_tables SET metadata_location=?, previous_metadata_location=? "
                              "WHERE catalog_name=? AND table_namespace='bench' AND table_name='t' AND metadata_location=?",
                              (f"file://{new}", cur, cat, cur)).rowcount
        con.execute("COMMIT")
        assert changed == 1
        cur = f"file://{new}"
        lat.append(time.perf_counter() - t0)
    out["commit"] = lat
    con.close()
    res = {}
    for op, l in out.items():
        l.sort()
        res[op] = {"rps": len(l) / sum(l), "p50": l[len(l) // 2] * 1000, "p99": l[int(len(l) * 0.99)] * 1000, "n": len(l)}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 s per measurement, 1 s warm-up")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--no-java", action="store_true")
    args = ap.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    warmup = 1.0 if args.quick else 3.0
    clients = args.clients

    print(f"## REST catalog: {clients} concurrent keep-alive clients on loopback, {seconds:g} s per measurement "
          f"after {warmup:g} s warm-up, {os.cpu_count()} cores")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="frazil-rest-bench.") as tmp:
        tmp = Path(tmp)
        with RS.FrazilServer(tmp / "frazil") as srv:
            results["frazil"] = run_server(srv, clients, seconds, warmup)
            srv.assert_alive("after the benchmark")
            floor = sqlite_floor(srv.warehouse, min(seconds, 3.0))
        if not args.no_java:
            try:
                RS.JavaRestServer.fetch_jar()
                with RS.JavaRestServer(tmp / "java") as jsrv:
                    results["java"] = run_server(jsrv, clients, seconds, warmup)
            except Exception as e:  # report it, keep frazil's figures
                print(f"(Java reference fixture unavailable: {e})")

    hdr = f"{'operation':<12} {'server':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs Java':>8} {'CPU-s/1000 req':>15}"
    print(hdr)
    print("-" * len(hdr))
    for op in ("load-table", "commit"):
        j = results.get("java", {}).get(op)
        for name, label in (("frazil", "frazil serve"), ("java", "Java RESTCatalogServer")):
            r = results.get(name, {}).get(op)
            if r is None:
                continue
            ratio = f"{r['rps'] / j['rps']:.2f}x" if j and j["rps"] else "-"
            print(f"{op:<12} {label:<22} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>7} {ratio:>8} {r['cpu_per_1000']:>15.3f}")
            if r["errors"]:
                print(f"{'':<12} first error: {r['err_sample']}")
        f = floor[op]
        print(f"{op:<12} {'SQLite floor (1 client)':<22} {f['rps']:>9.0f} {f['p50']:>8.3f} {f['p99']:>8.3f} {'':>7} {'':>8} {'':>15}")
    print("SQLite floor: in-process pointer SELECT + metadata file read (load), metadata file write + BEGIN IMMEDIATE / "
          "CAS UPDATE / COMMIT (commit); one client, no HTTP, no JSON (de)serialisation of the request")
    bad = [f"{n} {op}: {r['errors']} errors" for n, ops in results.items() for op, r in ops.items() if r["errors"] and n == "frazil"]
    if bad:
        print("FAILED: " + "; ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
