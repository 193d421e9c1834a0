#!/usr/bin/env python3
"""S3 figures (`make bench`, section 11): frazil's S3 FileIO next to curl, pyarrow and the disk,
and CDC with the warehouse in S3 vs a local directory, all against one versitygw on loopback.

1. Transfer of one random file (default 1 GiB; --size-mb N; --quick: 256 MiB) to and from the
   same object on the same server, each measurement repeated 3 times (the run with the median
   transfer time is shown):
     frazil      build/s3_io (S3FileIO::PutFile / GetFile), part size 16 MiB, concurrency 4 and 1 (--sweep:
                 8 / 64 MiB parts, concurrency 2 / 8)
     curl        curl --aws-sigv4 -T file / -o file, one stream (curl 7.88 does not add
                 x-amz-content-sha256 itself and versitygw requires it: UNSIGNED-PAYLOAD, so curl
                 sends no checksum at all, while frazil sends every body's CRC-32C for the server
                 to check)
     curl+sha    put: openssl dgst -sha256 of the file, then curl with that payload hash signed
                 (what s3.checksum: sha256 makes frazil and the server do)
     curl+sync   get: curl, then `sync <file>` (fsync): what a durable download would cost
     pyarrow     pyarrow.fs.S3FileSystem, open_output_stream / open_input_stream in 8 MiB chunks
     floor       dd of the same file into the server's data directory (a page-cache write, no
                 fsync, as versitygw does not fsync either) and dd of it back to /dev/null (a
                 page-cache read: the file was just written and RAM holds it)
   Columns: transfer seconds (inside the client, start-up excluded; dd: wall), MB/s (10^6 B/s),
   process wall, client CPU-seconds (user+sys, GNU time), client peak RSS, the server's CPU-seconds
   during the run (from /proc/<versitygw>/stat) and requests (frazil only).
2. CDC (bench/cdc.py's streaming and snapshot measurements, imported, not copied) twice on one
   throwaway PostgreSQL each: FRAZIL_WAREHOUSE=<local dir>, then FRAZIL_WAREHOUSE=s3://bench/cdc/...
   with FRAZIL_STATE_DIR and FRAZIL_S3_* set; rows/s of each and the ratio S3/local. cdc.py is used
   unchanged: its frazil_env() is wrapped to point the warehouse at S3, its row() to record figures.
   Sizes: --cdc-changes (default 1 M inserts + 1 M updates; --quick 100 K) and --snapshot-rows
   (default 5 M; --quick 500 K).

    .venv/bin/python bench/s3.py [--quick] [--size-mb N] [--sweep] [--cdc-changes N] [--snapshot-rows N]
                                 [--skip-cdc] [--skip-transfer]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
S3_IO = os.environ.get("S3_IO_BIN", os.path.join(ROOT, "build", "s3_io"))
PY = sys.executable
REPEATS = 3
BUCKET = "bench"
KEY = "transfer/object.bin"

PYARROW_COPY = r"""
import os, sys, time, urllib.parse
from pyarrow import fs
op, endpoint, key, path = sys.argv[1:5]
u = urllib.parse.urlsplit(endpoint)
s3 = fs.S3FileSystem(access_key=os.environ["AWS_ACCESS_KEY_ID"], secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                     region="us-east-1", scheme=u.scheme, endpoint_override=u.netloc, force_virtual_addressing=False)
chunk = 8 << 20
n = 0
t = time.perf_counter()
if op == "put":
    with open(path, "rb") as src, s3.open_output_stream(key) as dst:
        while b := src.read(chunk):
            dst.write(b); n += len(b)
else:
    with s3.open_input_stream(key) as src, open(path, "wb") as dst:
        while b := src.read(chunk):
            dst.write(b); n += len(b)
print('{"bytes": %d, "seconds": %.4f}' % (n, time.perf_counter() - t))
"""


def snapshot_binaries(work):
    """Copies of build/frazil and build/s3_io, so a rebuild during the run cannot swap or remove a
    binary under the benchmark. Taken under the build lock /tmp/frazil-build.lock when it is free
    within 30 s; otherwise copied anyway, and each copy is checked to start (a half-linked file
    does not)."""
    import fcntl
    import cdc

    bin_dir = os.path.join(work, "bin")
    os.makedirs(bin_dir)
    lock = "/tmp/frazil-build.lock"
    fd = os.open(lock, os.O_RDONLY) if os.path.exists(lock) else None
    try:
        deadline = time.monotonic() + 30
        while fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    print("(the build lock is busy: copying the binaries without it)", file=sys.stderr)
                    break
                time.sleep(0.5)
        copies = []
        for b in (S3_IO, cdc.FRAZIL):
            dst = os.path.join(bin_dir, os.path.basename(b))
            for attempt in range(20):
                try:
                    shutil.copy2(b, dst)
                    if subprocess.run([dst, "--help"], capture_output=True).returncode in (0, 2):
                        break
                except OSError:
                    pass
                time.sleep(3)
            else:
                sys.exit(f"{b} does not run")
            copies.append(dst)
    finally:
        if fd is not None:
            os.close(fd)
    return copies


def proc_cpu(pid):
    """user+sys CPU-seconds of process `pid` and its reaped children."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / tick


def run_timed(args, env=None):
    """(stdout, wall, cpu, peak_mb) of `args` under GNU time; exits on failure."""
    tf = tempfile.mktemp()
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf] + args, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(args)[:300]}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    _, user, sys_, rss = open(tf).read().split()
    os.unlink(tf)
    return r.stdout, wall, float(user) + float(sys_), int(rss) / 1024


class Transfers:
    def __init__(self, s3, work, src, size):
        self.s3, self.work, self.src, self.size = s3, work, src, size
        self.dst = os.path.join(work, "download.bin")
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key)
        self.url = f"{s3.endpoint}/{BUCKET}/{KEY}"
        self.floor_path = os.path.join(str(s3.root_dir), BUCKET, "floor.bin")  # the server's data directory

    def tool(self, name, op):
        """One run: dict(seconds, wall, cpu, rss, server_cpu, requests)."""
        if op == "get" and os.path.exists(self.dst):
            os.unlink(self.dst)
        local = self.src if op == "put" else self.dst
        requests = None
        before = proc_cpu(self.s3.pid)
        if name.startswith("frazil"):  # frazil_p<part MiB>_c<concurrency>
            _, part, conc = name.split("_")
            out, wall, cpu, rss = run_timed([S3_IO, op, self.s3.endpoint, f"{BUCKET}/{KEY}", local,
                                             "--part-size", part[1:], "--concurrency", conc[1:]]
                                            , self.env)
            j = json.loads(out)
            seconds, requests = j["seconds"], j["requests"]
            assert j["bytes"] == self.size and j["retries"] == 0, j
        elif name == "curl":
            args = ["curl", "-sS", "--fail", "--aws-sigv4", "aws:amz:us-east-1:s3",
                    "--user", f"{self.s3.access_key}:{self.s3.secret_key}",
                    "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-w", "%{time_total}"]
            args += ["-T", local, "-o", "/dev/null"] if op == "put" else ["-o", local]
            out, wall, cpu, rss = run_timed(args + [self.url])
            seconds = float(out.strip().splitlines()[-1])
        elif name == "curl_sha":  # put only: the payload's SHA-256 first, then curl signs it (as frazil does)
            script = ('h=$(openssl dgst -sha256 -r "$1" | cut -d" " -f1) && exec curl -sS --fail --aws-sigv4 '
                      '"aws:amz:us-east-1:s3" --user "$2" -H "x-amz-content-sha256: $h" -o /dev/null -T "$1" "$3"')
            _, wall, cpu, rss = run_timed(["sh", "-c", script, "sh", local,
                                           f"{self.s3.access_key}:{self.s3.secret_key}", self.url])
            seconds = wall
        elif name == "curl_sync":  # get only: curl, then fsync of the file (frazil's GetFile fsyncs before its rename)
            script = ('curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" --user "$2" '
                      '-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -o "$1" "$3" && exec sync "$1"')
            _, wall, cpu, rss = run_timed(["sh", "-c", script, "sh", local,
                                           f"{self.s3.access_key}:{self.s3.secret_key}", self.url])
            seconds = wall
        elif name == "pyarrow":
            out, wall, cpu, rss = run_timed([PY, "-c", PYARROW_COPY, op, self.s3.endpoint, f"{BUCKET}/{KEY}", local],
                                            self.env)
            j = json.loads(out)
            seconds = j["seconds"]
            assert j["bytes"] == self.size, j
        elif name == "floor":
            if op == "put":
                if os.path.exists(self.floor_path):
                    os.unlink(self.floor_path)
                args = ["dd", f"if={self.src}", f"of={self.floor_path}", "bs=8M"]
            else:
                args = ["dd", f"if={self.floor_path}", "of=/dev/null", "bs=8M"]
            _, wall, cpu, rss = run_timed(args)
            seconds = wall
        else:
            raise ValueError(name)
        server_cpu = proc_cpu(self.s3.pid) - before
        if op == "get" and name != "floor":
            assert os.path.getsize(self.dst) == self.size, name
        return dict(seconds=seconds, wall=wall, cpu=cpu, rss=rss, server_cpu=server_cpu, requests=requests)


def transfer_bench(s3, work, size_mb, sweep=False):
    size = size_mb << 20
    src = os.path.join(work, "source.bin")
    with open(src, "wb") as f:  # random: nothing compresses or dedups
        for _ in range(size_mb):
            f.write(os.urandom(1 << 20))
    print(f"## 11a. S3 transfer of one {size_mb} MiB random file to / from versitygw on loopback "
          f"(median of {REPEATS}; data dir and local file on the same disk, both in page cache)")
    t = Transfers(s3, work, src, size)
    tools = ["frazil_p16_c4", "frazil_p16_c1", "curl", "curl_sha", "curl_sync", "pyarrow", "floor"]
    if sweep:  # part size at concurrency 4, concurrency at 16 MiB
        tools[2:2] = ["frazil_p8_c4", "frazil_p64_c4", "frazil_p16_c2", "frazil_p16_c8"]
    labels = {name: f"frazil S3FileIO ({name.split('_')[1][1:]} MiB parts, conc {name.split('_')[2][1:]}"
                    ")"
              for name in tools if name.startswith("frazil")}
    labels |= {
              "curl": "curl --aws-sigv4 (1 stream, UNSIGNED-PAYLOAD)",
              "curl_sha": "openssl sha256 + curl (1 stream, signed payload)",
              "curl_sync": "curl + sync of the file (1 stream, fsync'd)", "pyarrow": "pyarrow S3FileSystem (8 MiB)",
              "floor": "dd (put: page-cache write, get: page-cache read)"}
    results = {}
    for op in ("put", "get"):
        op_tools = [n for n in tools if not (op == "get" and n == "curl_sha") and not (op == "put" and n == "curl_sync")]
        runs = {name: [] for name in op_tools}
        for _ in range(REPEATS):  # interleaved, so a drift hits every tool alike
            for name in op_tools:
                runs[name].append(t.tool(name, op))
        for name in op_tools:
            rs = sorted(runs[name], key=lambda r: r["seconds"])
            results[(op, name)] = rs[len(rs) // 2]
            results[(op, name)]["all"] = [r["seconds"] for r in runs[name]]
    print(f"  {'op':<4}{'tool':<50}{'transfer s':>11}{'MB/s':>9}{'wall s':>8}{'cpu s':>8}{'peak MB':>9}"
          f"{'server cpu s':>13}{'requests':>9}   runs (s)")
    for op in ("put", "get"):
        for name in tools:
            if (op, name) not in results:
                continue
            r = results[(op, name)]
            req = "" if r["requests"] is None else str(r["requests"])
            print(f"  {op:<4}{labels[name]:<50}{r['seconds']:>11.3f}{size / r['seconds'] / 1e6:>9.0f}{r['wall']:>8.2f}"
                  f"{r['cpu']:>8.2f}{r['rss']:>9.0f}{r['server_cpu']:>13.2f}{req:>9}   "
                  + " ".join(f"{s:.2f}" for s in r["all"]))
    for op in ("put", "get"):
        fz = results[(op, "frazil_p16_c4")]["seconds"]
        print(f"  {op}: frazil/curl throughput {results[(op, 'curl')]['seconds'] / fz:.2f}x, "
              f"frazil/pyarrow {results[(op, 'pyarrow')]['seconds'] / fz:.2f}x (goal >= 0.9x); "
              f"frazil conc 1 / conc 4 {fz / results[(op, 'frazil_p16_c1')]['seconds']:.2f}x; "
              f"frazil/floor {results[(op, 'floor')]['seconds'] / fz:.2f}x")
    # what signing the payload would cost (s3.checksum: sha256); frazil's default CRC-32C is ~10x cheaper
    _, wall, cpu, _ = run_timed(["openssl", "dgst", "-sha256", src])
    print(f"  SHA-256 of the file (openssl dgst, one core, the least s3.checksum: sha256 costs): {wall:.2f} s, "
          f"{size / wall / 1e6:.0f} MB/s")
    for p in (src, t.dst, t.floor_path):
        if os.path.exists(p):
            os.unlink(p)
    return results


def cdc_bench(s3, work, changes, snap_rows):
    import cdc

    cdc.CHANGES, cdc.SNAP_ROWS = changes, snap_rows  # read at call time (the env vars only at import)

    base_env, base_row = cdc.frazil_env, cdc.row
    figures = {}
    mode = {}

    def frazil_env(wh, pg, **source):
        env = base_env(wh, pg, **source)
        if mode["s3"]:
            name = os.path.basename(wh)  # wh-s, wh-snap, ...
            env.update(FRAZIL_WAREHOUSE=f"s3://{BUCKET}/cdc/{mode['run']}/{name}",
                       FRAZIL_STATE_DIR=os.path.join(work, f"state-{mode['run']}-{name}"),
                       FRAZIL_S3_ENDPOINT=s3.endpoint, FRAZIL_S3_ACCESS_KEY_ID=s3.access_key,
                       FRAZIL_S3_SECRET_ACCESS_KEY=s3.secret_key, FRAZIL_S3_REGION=s3.region)
        return env

    def row(name, wall, cpu, rss, n):
        base_row(name, wall, cpu, rss, n)
        figures[(mode["run"], name)] = (wall, cpu, rss, n)

    cdc.frazil_env, cdc.row = frazil_env, row
    for run, use_s3 in (("local", False), ("s3", True)):
        mode.update(run=run, s3=use_s3)
        print(f"\n# 11b. CDC (bench/cdc.py) with the warehouse {'in S3 (versitygw, s3://bench/cdc)' if use_s3 else 'in a local directory'}")
        pg = cdc.Cluster()
        d = tempfile.mkdtemp(prefix=f"cdc-{run}-", dir=work)
        try:
            cdc.streaming(pg, d)
            cdc.snapshot(pg, d)
        finally:
            pg.destroy()
            shutil.rmtree(d, ignore_errors=True)
    print(f"\n## 11b. CDC: warehouse in S3 vs a local directory ({changes:,} inserts + {changes:,} updates; "
          f"snapshot of {snap_rows:,} rows)")
    print(f"  {'measurement':<38}{'local K rows/s':>15}{'S3 K rows/s':>13}{'S3/local':>10}"
          f"{'local cpu s':>12}{'S3 cpu s':>10}{'local MB':>10}{'S3 MB':>8}")
    for name in ("frazil run -> committed Iceberg", "frazil snapshot -> committed Iceberg"):
        lw, lc, lr, n = figures[("local", name)]
        sw, sc, sr, _ = figures[("s3", name)]
        print(f"  {name:<38}{n / lw / 1000:>15.1f}{n / sw / 1000:>13.1f}{lw / sw:>10.2f}{lc:>12.2f}{sc:>10.2f}"
              f"{lr:>10.0f}{sr:>8.0f}")
    return figures


def main():
    global S3_IO
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="256 MiB file, 100 K CDC changes, 500 K snapshot rows")
    ap.add_argument("--size-mb", type=int, help="size of the transferred file in MiB (default 1024)")
    ap.add_argument("--cdc-changes", type=int, help="inserts (and as many updates) streamed (default 1 M)")
    ap.add_argument("--snapshot-rows", type=int, help="rows of the initial snapshot (default 5 M)")
    ap.add_argument("--sweep", action="store_true", help="also frazil with 8 and 64 MiB parts, concurrency 2 and 8")
    ap.add_argument("--skip-transfer", action="store_true")
    ap.add_argument("--skip-cdc", action="store_true")
    a = ap.parse_args()
    size_mb = a.size_mb or (256 if a.quick else 1024)
    changes = a.cdc_changes or (100_000 if a.quick else int(os.environ.get("BENCH_CDC_CHANGES", 1_000_000)))
    snap_rows = a.snapshot_rows or (500_000 if a.quick else int(os.environ.get("BENCH_SNAPSHOT_ROWS", 5_000_000)))
    if not os.path.exists(S3_IO):
        sys.exit(f"{S3_IO} missing: flock /tmp/frazil-build.lock ninja -C build s3_io")
    from s3_support import start_s3_server

    work = tempfile.mkdtemp(prefix="frazil-bench-s3-", dir="/tmp")  # server data dir and local files: one disk
    import cdc
    S3_IO, cdc.FRAZIL = snapshot_binaries(work)
    s3 = start_s3_server(work, buckets=[BUCKET])
    start = time.monotonic()
    try:
        print(f"S3 benchmarks, {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, {os.cpu_count()} cores, "
              f"versitygw {s3.endpoint} (posix backend{', sidecar metadata' if s3.uses_sidecar else ''}) in {work}")
        if not a.skip_transfer:
            transfer_bench(s3, work, size_mb, a.sweep)
        if not a.skip_cdc:
            cdc_bench(s3, work, changes, snap_rows)
        print(f"\n(s3.py took {time.monotonic() - start:.0f} s)")
    finally:
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
