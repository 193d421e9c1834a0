"""Helpers for test_models.py: `frazil models` projects written by the tests, `frazil models`
as a (killable) subprocess, a model table's snapshots and what each one recorded, and rows
read by every peer reduced to comparable multisets.

Nothing here computes a model's expected content: the tests do that from PostgreSQL or from
the raw changelog tables read with PyIceberg."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa

import cdc_support as C
import readers as R
from cdc_support import CliResult, FrazilCdc
from conftest import duck_read, pyiceberg_catalog, spark_read


# ---------------------------------------------------------------------------------------
# Projects
# ---------------------------------------------------------------------------------------


def write_project(root: Path, name: str, schema: str, files: dict[str, str]) -> Path:
    """A dbt-style project in `root`: dbt_project.yml putting every model into namespace
    `schema`, plus `files` (relative path -> text, dedented)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            version: '1.0'
            config-version: 2
            model-paths: ["models"]
            models:
              {name}:
                +schema: {schema}
            """
        )
    )
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


# ---------------------------------------------------------------------------------------
# frazil models
# ---------------------------------------------------------------------------------------


def models(cdc: FrazilCdc, *args: str, check: bool = True, timeout: float = 300) -> CliResult:
    """`frazil models <args>` on the cdc's warehouse."""
    return cdc.cli("models", *args, check=check, timeout=timeout)


def models_json(cdc: FrazilCdc, *args: str, check: bool = True) -> tuple[CliResult, Any]:
    res = models(cdc, *args, "--format", "json", check=check)
    return res, json_doc(res.stdout)


def json_doc(text: str) -> Any:
    """One JSON document, or JSON lines (a list of their documents)."""
    text = text.strip()
    if not text:
        return []
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass
class ModelsProc:
    proc: subprocess.Popen
    out: Path
    err: Path
    started: float

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")


def models_popen(cdc: FrazilCdc, tag: str, *args: str) -> ModelsProc:
    """`frazil models <args>` as a subprocess of its own session (SIGKILL reaches only it),
    output to files."""
    out, err = cdc.workdir / f"{tag}.stdout", cdc.workdir / f"{tag}.stderr"
    with open(out, "w") as o, open(err, "w") as e:
        p = subprocess.Popen([str(cdc.binary), "models", *args], cwd=cdc.workdir, env=cdc.env(), stdout=o, stderr=e, start_new_session=True)
    cdc._procs.append(p)  # killed by cdc.close() if a test fails mid-way
    return ModelsProc(p, out, err, time.monotonic())


def kill_after(mp: ModelsProc, delay: float) -> bool:
    """SIGKILLs the process `delay` seconds after it started; True when it was still running
    (a real kill), False when it had already exited."""
    deadline = mp.started + delay
    while time.monotonic() < deadline:
        if mp.proc.poll() is not None:
            return False
        time.sleep(min(0.005, max(0.0, deadline - time.monotonic())))
    alive = mp.proc.poll() is None
    if alive:
        os.killpg(mp.proc.pid, signal.SIGKILL)
    mp.proc.wait(timeout=30)
    return alive


# ---------------------------------------------------------------------------------------
# Tables, snapshots, summaries
# ---------------------------------------------------------------------------------------


def metadata(warehouse: Path, ident: str) -> dict:
    md = C.table_metadata(warehouse, ident)
    assert md is not None, f"{ident} is not in the catalog of {warehouse}"
    return md


def snapshots(warehouse: Path, ident: str) -> list[dict]:
    """The table's snapshots in commit order (sequence number)."""
    return sorted(metadata(warehouse, ident).get("snapshots", []), key=lambda s: s["sequence-number"])


def current_snapshot_id(warehouse: Path, ident: str) -> int | None:
    sid = metadata(warehouse, ident).get("current-snapshot-id")
    return None if sid in (None, -1) else int(sid)


def current_summary(warehouse: Path, ident: str) -> dict:
    snap = C.current_snapshot(metadata(warehouse, ident))
    assert snap is not None, f"{ident} has no current snapshot"
    return snap.get("summary", {})


def metadata_location_from_show(cdc: FrazilCdc, ident: str) -> str:
    """The metadata location `frazil table show` prints (checked against the catalog row)."""
    out = cdc.cli("table", "show", ident).stdout
    locs = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("metadata:")]
    assert len(locs) == 1, f"`frazil table show {ident}` printed no single metadata line:\n{out}"
    assert locs[0] == R.catalog_pointer(cdc.warehouse, ident), f"{ident}: table show says {locs[0]}, the catalog {R.catalog_pointer(cdc.warehouse, ident)}"
    return locs[0]


# ---------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------


def _is_uuid_type(t: pa.DataType) -> bool:
    return "uuid" in str(t).lower() or (pa.types.is_fixed_size_binary(t) and t.byte_width == 16)


def columns_as_lists(table: pa.Table, columns: Iterable[str] | None = None) -> dict[str, list]:
    """Plain values per column: timestamps as UTC microseconds, dates as days, uuids as
    lower-case strings whatever the reader gives; flat columns only (model tables)."""
    out = {}
    for c in list(columns) if columns is not None else table.column_names:
        col = table.column(c)
        if _is_uuid_type(col.type):
            out[c] = [None if v is None else str(C.as_uuid(v)) for v in col.to_pylist()]
        elif pa.types.is_struct(col.type) or pa.types.is_list(col.type) or pa.types.is_map(col.type):
            out[c] = [C._norm_value(v) for v in col.to_pylist()]
        else:
            vals = C._temporal_to_ints(col).to_pylist()
            out[c] = [str(v) if isinstance(v, uuid.UUID) else v for v in vals]
    return out


def norm_rows(table: pa.Table, columns: Iterable[str] | None = None) -> list[dict]:
    """Rows as dicts of the values of columns_as_lists()."""
    lists = columns_as_lists(table, columns)
    names = list(lists)
    return [dict(zip(names, vals)) for vals in zip(*(lists[c] for c in names))] if names else []


def multiset(rows: Iterable[dict], columns: Iterable[str]) -> collections.Counter:
    cols = list(columns)
    return collections.Counter(tuple(r[c] for c in cols) for r in rows)


def diff_text(got: collections.Counter, want: collections.Counter, limit: int = 8) -> str:
    extra = list((got - want).elements())
    missing = list((want - got).elements())
    return (
        f"{sum(got.values())} rows vs {sum(want.values())} expected; "
        f"{len(extra)} unexpected, e.g. {sorted(extra, key=repr)[:limit]}; "
        f"{len(missing)} missing, e.g. {sorted(missing, key=repr)[:limit]}"
    )


def assert_same(got: collections.Counter, want: collections.Counter, what: str) -> None:
    if got != want:
        raise AssertionError(f"{what}: {diff_text(got, want)}")


def read_frazil(cdc: FrazilCdc, ident: str, snapshot_id: int | None = None) -> pa.Table:
    at = f" AT (VERSION => {int(snapshot_id)})" if snapshot_id is not None else ""
    return cdc.export(f"SELECT * FROM {ident}{at}")


def read_pyiceberg(warehouse: Path, ident: str, snapshot_id: int | None = None, columns: Iterable[str] | None = None) -> pa.Table:
    tbl = pyiceberg_catalog(warehouse).load_table(ident)
    kwargs: dict = {}
    if snapshot_id is not None:
        kwargs["snapshot_id"] = snapshot_id
    if columns is not None:
        kwargs["selected_fields"] = tuple(columns)
    return tbl.scan(**kwargs).to_arrow()


def read_duckdb(duck, metadata_location: str) -> pa.Table:
    return duck_read(duck, metadata_location)


def read_spark(spark, ident: str) -> pa.Table:
    return spark_read(spark, ident)
