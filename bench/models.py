#!/usr/bin/env python3
"""SQL model figures next to peers measured in the same run (`make bench`).

An incremental model over BENCH_MODEL_ROWS (default 1 M) new raw rows, after a first run over
as many rows:
  - frazil models run (new_rows(): only the appended files are read; result committed to Iceberg)
  - the same SQL straight in DuckDB (python duckdb, fresh process) over the same new rows'
    Parquet file, written to Parquet (zstd): the engine's own cost, the floor frazil adds to
  - dbt-duckdb running the same project (source = a DuckDB table holding the same rows,
    incremental filter `id > max(id)`), writing a DuckDB table: the tool frazil replaces
Two models: `parsed` (incremental append: typed columns, a hash key, a derived flag) and
`latest` (incremental merge on user_id: one row per user, the latest event).
Wall seconds, CPU seconds (user+sys) and peak RSS from GNU time; median of 3 repetitions.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAZIL = os.environ.get("FRAZIL_BIN", os.path.join(ROOT, "build", "frazil"))
PY = os.path.join(ROOT, ".venv", "bin", "python")
DBT = os.path.join(ROOT, ".venv-dbt", "bin", "dbt")
ROWS = int(os.environ.get("BENCH_MODEL_ROWS", 1_000_000))
REPS = int(os.environ.get("BENCH_MODEL_REPS", 3))

PARSED_BODY = """SELECT id, user_id, CAST(amount AS DECIMAL(15,2)) AS amount, ts, upper(kind) AS kind,
       md5(upper(trim(CAST(user_id AS VARCHAR)))) AS user_hk, amount > 500 AS large
FROM {src}"""
LATEST_BODY = """SELECT user_id, arg_max(id, id) AS last_id, arg_max(amount, id) AS last_amount, max(ts) AS last_ts,
       count(*) AS events
FROM {src} GROUP BY user_id"""


def sh(*args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(str(a) for a in args)[:300]}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return r.stdout


def timed(args, cwd=None, env=None):
    tf = tempfile.mktemp()
    r = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf] + args, capture_output=True, text=True, cwd=cwd, env=env)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    wall, user, sys_, rss = open(tf).read().split()
    os.unlink(tf)
    return float(wall), float(user) + float(sys_), int(rss) / 1024


def gen(path, start):
    sql = (f"COPY (SELECT i AS id, i % 50000 AS user_id, (i * 7919 % 100000) / 100.0 AS amount, "
           f"TIMESTAMP '2026-01-01' + to_seconds(i % 31536000) AS ts, ['card','wire','sepa','cash'][1 + (i % 4)::INT] AS kind "
           f"FROM range({start}, {start + ROWS}) t(i)) TO '{path}' (FORMAT parquet)")
    sh(PY, "-c", f"import duckdb; duckdb.sql(\"{sql}\")")


def write_project(d, frazil):
    os.makedirs(os.path.join(d, "models"), exist_ok=True)
    with open(os.path.join(d, "dbt_project.yml"), "w") as f:
        f.write("name: bench\nprofile: bench\nconfig-version: 2\nmodels:\n  bench:\n    +materialized: incremental\n")
    with open(os.path.join(d, "models", "sources.yml"), "w") as f:
        f.write("version: 2\nsources:\n  - name: raw\n    schema: raw\n    tables:\n      - name: events\n")
    if frazil:
        src = "{{ new_rows(source('raw', 'events')) }}"
        parsed = "{{ config(incremental_strategy='append') }}\n" + PARSED_BODY.format(src=src)
        latest = ("{{ config(unique_key='user_id', incremental_strategy='merge') }}\n"
                  "WITH n AS (" + LATEST_BODY.format(src=src) + ")\n"
                  "SELECT n.user_id, n.last_id, n.last_amount, n.last_ts, n.events\n"
                  "{% if is_incremental() %} + coalesce(t.events_total, 0) AS events_total FROM n LEFT JOIN {{ this }} t USING (user_id)"
                  "{% else %} AS events_total FROM n{% endif %}")
    else:
        src = "{{ source('raw', 'events') }}"
        filt = "\n{% if is_incremental() %} WHERE id > (SELECT max(id) FROM {{ this }}) {% endif %}"
        parsed = "{{ config(incremental_strategy='append') }}\n" + PARSED_BODY.format(src=src) + filt
        latest = ("{{ config(unique_key='user_id', incremental_strategy='delete+insert') }}\n"
                  "WITH n AS (" + LATEST_BODY.format(src=src + "\n{% if is_incremental() %} WHERE id > (SELECT max(last_id) FROM {{ this }}) {% endif %}\n") + ")\n"
                  "SELECT n.user_id, n.last_id, n.last_amount, n.last_ts, n.events\n"
                  "{% if is_incremental() %} + coalesce(t.events_total, 0) AS events_total FROM n LEFT JOIN {{ this }} t USING (user_id)"
                  "{% else %} AS events_total FROM n{% endif %}")
    with open(os.path.join(d, "models", "parsed.sql"), "w") as f:
        f.write(parsed)
    with open(os.path.join(d, "models", "latest.sql"), "w") as f:
        f.write(latest)


def line(name, wall, cpu, rss):
    print(f"{name:<44} wall {wall:7.2f} s  cpu {cpu:7.2f} s  peak {rss:7.0f} MB")


def median(runs):
    return tuple(statistics.median(r[i] for r in runs) for i in range(3))


def main():
    w = tempfile.mkdtemp(prefix="frazil-bench-models-", dir="/tmp")
    try:
        b1, b2 = os.path.join(w, "batch1.parquet"), os.path.join(w, "batch2.parquet")
        gen(b1, 0)
        gen(b2, ROWS)
        print(f"## SQL models: an incremental run over {ROWS:,} new rows (after a first run over {ROWS:,})")
        fr_runs = []
        for rep in range(REPS):
            proj, wh = os.path.join(w, f"fp{rep}"), os.path.join(w, f"wh{rep}")
            write_project(proj, frazil=True)
            sh(FRAZIL, "--warehouse", wh, "load", "raw.events", b1)
            sh(FRAZIL, "--warehouse", wh, "models", "run", "--project", proj)
            sh(FRAZIL, "--warehouse", wh, "load", "raw.events", b2, "--mode", "append")
            fr_runs.append(timed([FRAZIL, "--warehouse", wh, "models", "run", "--project", proj]))
            got = sh(FRAZIL, "--warehouse", wh, "sql", "SELECT count(*), sum(events_total) FROM bench.latest", "--format", "csv").split()[-1]
            assert got == f"50000,{2 * ROWS}", f"frazil's latest model is wrong: {got}"
            assert sh(FRAZIL, "--warehouse", wh, "sql", "SELECT count(*) FROM bench.parsed", "--format", "csv").split()[-1] == str(2 * ROWS)
        fr = median(fr_runs)
        line("frazil models run (Iceberg, incremental)", *fr)

        # DuckDB direct: the same two statements over the new rows' file, results to Parquet;
        # `latest` as it stood after the first run is a Parquet file made beforehand (as
        # frazil's is a table), so both sides do the same work.
        prev = os.path.join(w, "prev.parquet")
        sh(PY, "-c", f"import duckdb; duckdb.sql(\"COPY (SELECT user_id, arg_max(id, id) AS last_id, arg_max(amount, id) AS last_amount, "
                     f"max(ts) AS last_ts, count(*) AS events_total FROM read_parquet('{b1}') GROUP BY user_id) TO '{prev}' (FORMAT parquet)\")")
        direct = f"""
import duckdb
con = duckdb.connect()
con.execute("CREATE VIEW prev AS SELECT * FROM read_parquet('{prev}')")
src = "read_parquet('{b2}')"
con.execute("COPY (" + {PARSED_BODY!r}.format(src=src) + ") TO '{w}/direct_parsed.parquet' (FORMAT parquet, COMPRESSION zstd)")
con.execute("COPY (WITH n AS (" + {LATEST_BODY!r}.format(src=src) + ") SELECT n.*, n.events + coalesce(t.events_total, 0) AS events_total FROM n LEFT JOIN prev t USING (user_id)) TO '{w}/direct_latest.parquet' (FORMAT parquet, COMPRESSION zstd)")
"""
        dd = median([timed([PY, "-c", direct]) for _ in range(REPS)])
        line("DuckDB, same SQL on the same Parquet", *dd)

        if os.path.exists(DBT):
            dbt_runs = []
            for rep in range(REPS):
                proj = os.path.join(w, f"dbt{rep}")
                write_project(proj, frazil=False)
                db = os.path.join(w, f"dbt{rep}.duckdb")
                with open(os.path.join(proj, "profiles.yml"), "w") as f:
                    f.write(f"bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {db}\n      threads: 2\n")
                dpy = os.path.join(ROOT, ".venv-dbt", "bin", "python")
                sh(dpy, "-c", f"import duckdb; c = duckdb.connect('{db}'); c.execute('CREATE SCHEMA raw'); c.execute(\"CREATE TABLE raw.events AS SELECT * FROM read_parquet('{b1}')\")")
                args = [DBT, "run", "--project-dir", proj, "--profiles-dir", proj]
                sh(*args, cwd=proj)
                sh(dpy, "-c", f"import duckdb; c = duckdb.connect('{db}'); c.execute(\"INSERT INTO raw.events SELECT * FROM read_parquet('{b2}')\")")
                dbt_runs.append(timed(args, cwd=proj))
            dbt = median(dbt_runs)
            line("dbt-duckdb run (DuckDB tables, incremental)", *dbt)
        else:
            dbt = None
            print("dbt-duckdb: not measured (.venv-dbt missing; make deps installs it)")

        print(f"frazil vs DuckDB direct: time {fr[0] / dd[0]:.2f}x, CPU {fr[1] / dd[1]:.2f}x (goal <= 1.2x)")
        if dbt:
            print(f"frazil vs dbt-duckdb: time {fr[0] / dbt[0]:.2f}x, CPU {fr[1] / dbt[1]:.2f}x (goal < 1x: faster)")
        print(f"frazil CPU-seconds per million new rows: {fr[1] * 1_000_000 / ROWS:.2f}")
    finally:
        shutil.rmtree(w, ignore_errors=True)


if __name__ == "__main__":
    main()
