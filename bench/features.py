"""Feature plane: training-set retrieval, online materialization, online reads and materialization memory.

A temporary OPENCLAW_HOME is prepared once, untimed: ``openclaw seed``, then the
``openclaw_main`` job narrowed to the lineage of the training set and the online store (or
``openclaw run`` itself with ``--full-run``), which writes the feature tables, applies the
Feast registry, fills the SQLite online store and writes the training set. Every measurement
then runs in a fresh child on its own scratch Feast directory holding a copy of that
registry, so the prepared home is only read.

1. Training set: ``get_historical_features(entity_df=labelled_flights(...), features=flight_delay_v1)
   .to_df()`` with the DuckDB offline store (ours) versus Feast's default file offline store
   (dask, the peer) on the same entity rows; only the retrieval is timed. The file store
   left-joins every entity row with every row of the entity's key across the whole source
   before filtering by time, so its memory grows with entity rows times a year of feature
   rows: the peer (and ours beside it) run on the labelled flights of the first
   ``--dask-days`` local days of January; ours also runs on the full year. Outputs are
   compared: rows produced, and on the flights both produced every column, cell by cell.
2. Online materialization: ``store.materialize(start, end, feature_views=<every registered
   view>)`` in Python (ours) versus ``feast -c <repo> materialize START END`` (the peer), each
   into a fresh SQLite online store. Rows are the feature-table rows inside the window.
3. Online reads: ``get_online_features(features=<service>, entity_rows=...)`` latency with
   1 and 100 entity rows, SQLite (embedded profile) versus Redis (scaleout's online store
   with a file registry, in a dedicated database that is flushed before and after).
4. Peak RSS of materializing 1, 3 and 12 months into a fresh SQLite store, and an
   imports-only floor.

Run alone: ``python -m bench.features [--dask-days N] [--requests N] [--prepared HOME] [--full-run]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from bench._harness import (
    PYTHON,
    BenchError,
    Child,
    finish,
    fmt_ratio,
    format_table,
    heading,
    load_average,
    ratio,
    run_process,
    run_task,
    versions,
)

NAME = "features"
TASKS = "bench._feature_tasks"
FEAST_CLI = str(Path(PYTHON).with_name("feast"))
YEAR = [f"2013-{month:02d}" for month in range(1, 13)]
TRAINING_ROWS = 327_346
"""Labelled (arrived) flights of 2013: the entity rows of the full-year training set."""
WINDOW = ("2013-01-01T00:00:00", "2014-01-02T00:00:00")
"""The materialization window given to the CLI (naive = UTC) and to ``store.materialize``."""
REDIS_FILL = ("2012-01-01T00:00:00+00:00", "2014-01-02T00:00:00+00:00")
"""Materialized into Redis before the reads (untimed): every view, aircraft rows (stamped 2012-12-31) included."""
DASK_DAYS = 1
DASK_TIMEOUT_S = 360.0
MEMORY_MONTHS = {1: YEAR[:1], 3: YEAR[:3], 12: YEAR}
PEERS = {
    "training_set": "the same call with Feast's default file offline store (dask), same entity rows",
    "materialize": "feast -c <repo> materialize 2013-01-01T00:00:00 2014-01-02T00:00:00 (CLI), same repository",
    "online_reads": "the same requests against Redis (scaleout online store, file registry)",
    "memory": "materializing one month (2013-01) and the imports-only floor",
}


def _task(task: str, spec: dict[str, Any], timeout_s: float = 600.0) -> Child:
    return run_task(task, spec, timeout_s=timeout_s, module=TASKS)


# ---------------------------------------------------------------- the prepared home and scratch Feast directories


@contextmanager
def prepared_home(seeded: Path | None = None, reuse: Path | None = None, full_run: bool = False) -> Iterator[Path]:
    """An OPENCLAW_HOME with the full year's feature tables, Feast registry, online store and training set.

    ``openclaw seed`` (or a copy of ``seeded``'s landing zone), then the ``openclaw_main`` job
    narrowed to the lineage of ``training_set`` and ``online_features`` or, with ``full_run``,
    ``openclaw run`` itself (the model plane too, minutes longer).
    """
    if reuse is not None:
        home = reuse.resolve()
        for needed in ("feast/registry.db", "feast/online.db", "warehouse/features/training_set/all.parquet"):
            if not (home / needed).exists():
                raise BenchError(f"{home} has no {needed}: run `openclaw seed` and `openclaw run` there first")
        print(f"reusing the prepared home {home}", flush=True)
        yield home
        return
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-features-") as scratch:
        home = Path(scratch)
        env = {**os.environ, "OPENCLAW_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
        cli = [PYTHON, "-m", "openclaw_assets.cli", "--home", str(home)]
        started = time.perf_counter()
        if seeded is not None:
            shutil.copytree(seeded / "landing", home / "landing")
        else:
            child = run_process([*cli, "seed"], env=env, timeout_s=300.0)
            if child.returncode != 0:
                raise BenchError(f"openclaw seed failed:\n{child.stderr.strip()}")
        if full_run:
            child = run_process([*cli, "run"], env=env, timeout_s=1200.0)
            if child.returncode != 0:
                tail = "\n".join((child.stderr or child.stdout).strip().splitlines()[-15:])
                raise BenchError(f"openclaw run failed:\n{tail}")
            how = "seed + openclaw run"
        else:
            _task("prepare", {"home": str(home), "months": YEAR}, timeout_s=900.0)
            how = "seed + the feature plane's lineage of openclaw_main"
        print(f"prepared {home} ({how}) in {time.perf_counter() - started:.0f}s (not part of any figure)")
        yield home


def _empty_copy(source_db: Path, target_db: Path) -> None:
    """A fresh SQLite online store: the prepared one's tables (as ``feast apply`` made them), emptied."""
    shutil.copyfile(source_db, target_db)
    with closing(sqlite3.connect(target_db)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            db.execute(f'DELETE FROM "{table}"')
        db.commit()
        db.execute("VACUUM")


@contextmanager
def scratch_feast(source: Path, online: str | None = None) -> Iterator[Path]:
    """A scratch OPENCLAW_HOME: ``feast/`` holds the prepared registry and an ``empty`` or ``copy`` online store."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-feast-") as scratch:
        home = Path(scratch)
        (home / "feast").mkdir()
        shutil.copyfile(source / "feast" / "registry.db", home / "feast" / "registry.db")
        if online == "empty":
            _empty_copy(source / "feast" / "online.db", home / "feast" / "online.db")
        elif online == "copy":
            shutil.copyfile(source / "feast" / "online.db", home / "feast" / "online.db")
        yield home


def _write_embedded_yaml(home: Path) -> Path:
    """The embedded profile's ``feature_store.yaml`` for ``home``, as ``FeastStore.open`` writes it."""
    import yaml

    from openclaw_assets.features.store import feature_store_config

    repo = home / "feast"
    config = feature_store_config(home, "embedded", registry_url="unused", redis_url="unused")
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
    return repo


# ---------------------------------------------------------------- 1. training set


def _retrieval(child: Child | None, error: str | None = None) -> dict[str, Any]:
    if child is None:
        return {"error": error}
    report = child.report
    return {
        "work_s": report["work_s"],
        "import_s": report["import_s"],
        "wall_s": child.wall_s,
        "max_rss_mib": child.max_rss_mib,
        "entity_rows": report["entity_rows"],
        "rows": report["rows"],
        "rows_dropped": report["entity_rows"] - report["rows"],
        "rows_per_s": report["entity_rows"] / report["work_s"],
        "rows_sharing_key_and_time": report["rows_sharing_key_and_time"],
    }


def measure_training(source: Path, days: int) -> dict[str, Any]:
    """Historical retrieval: ours over the year and over the subset, the peer over the subset, then the comparison."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-training-") as outputs:
        ours_out, peer_out = Path(outputs) / "ours.parquet", Path(outputs) / "peer.parquet"
        base = {"source": str(source), "months": YEAR}
        subset = {**base, "days": days} if days else base
        print(f"  ours: DuckDB offline store, full year ({TRAINING_ROWS:,} entity rows) ...", flush=True)
        with scratch_feast(source) as home:
            year = _task("historical", {**base, "home": str(home), "offline": "duckdb"})
        label = f"first {days} day(s) of 2013-01" if days else "full year"
        print(f"  ours: DuckDB offline store, {label} ...", flush=True)
        with scratch_feast(source) as home:
            ours = _task("historical", {**subset, "home": str(home), "offline": "duckdb", "out": str(ours_out)})
        print(f"  peer: file offline store (dask), {label} (timeout {DASK_TIMEOUT_S:.0f}s) ...", flush=True)
        peer: Child | None = None
        error = None
        try:
            with scratch_feast(source) as home:
                spec = {**subset, "home": str(home), "offline": "file", "out": str(peer_out)}
                peer = _task("historical", spec, timeout_s=DASK_TIMEOUT_S)
        except BenchError as exc:
            error = str(exc).splitlines()[0]
            print(f"  peer failed: {error}", flush=True)
        comparison = None
        if peer is not None:
            comparison = _task("compare_training", {"ours": str(ours_out), "peer": str(peer_out)}).report
    return {
        "peer": PEERS["training_set"],
        "subset": {"days": days or None, "months": YEAR, "entity_rows": ours.report["entity_rows"], "label": label},
        "ours_year": _retrieval(year),
        "ours_subset": _retrieval(ours),
        "peer_subset": _retrieval(peer, error),
        "comparison": comparison,
        "ratio": {
            "peer_vs_ours_time_subset": ratio(peer.report["work_s"], ours.report["work_s"]) if peer else None,
            "peer_vs_ours_process_subset": ratio(peer.wall_s, ours.wall_s) if peer else None,
        },
        "year_rows_expected": TRAINING_ROWS,
    }


def render_training(summary: dict[str, Any]) -> str:
    year, ours, peer = summary["ours_year"], summary["ours_subset"], summary["peer_subset"]
    label = summary["subset"]["label"]

    def row(name: str, part: dict[str, Any]) -> list[Any]:
        if "error" in part:
            return [name, "-", "-", "-", "-", "-", part["error"]]
        return [
            name,
            part["entity_rows"],
            part["rows"],
            part["work_s"],
            round(part["rows_per_s"]),
            part["wall_s"],
            round(part["max_rss_mib"]),
        ]

    table = format_table(
        ["retrieval", "entity rows", "rows out", "work s", "rows/s", "process s", "peak MiB"],
        [
            row("ours: DuckDB, full year", year),
            row(f"ours: DuckDB, {label}", ours),
            row(f"peer: file (dask), {label}", peer),
        ],
    )
    lines = [table]
    r = summary["ratio"]
    lines.append(
        f"ratio peer/ours time ({label}): {fmt_ratio(r['peer_vs_ours_time_subset'])} retrieval, "
        f"{fmt_ratio(r['peer_vs_ours_process_subset'])} whole process"
    )
    lines.append(f"full year: ours produced {year['rows']:,} of {summary['year_rows_expected']:,} rows")
    comparison = summary["comparison"]
    if comparison:
        by_view = ", ".join(f"{k} {v}" for k, v in sorted(comparison["dropped_no_value_within_ttl"].items()))
        lines.append(
            f"{label}: peer produced {peer['rows']:,} of {peer['entity_rows']:,} rows, ours {ours['rows']:,};"
            f" of the {comparison['dropped']:,} the peer dropped, {comparison['dropped_shares_carrier_and_time']:,}"
            f" share carrier + event time with another row, {comparison['dropped_with_no_value_within_ttl']:,}"
            f" more have no value within a view's TTL ({by_view or 'none'}),"
            f" {comparison['dropped_unexplained']:,} neither"
        )
        by_column = ", ".join(f"{k} {v}" for k, v in sorted(comparison["differing_by_column"].items()))
        lines.append(
            f"on the {comparison['rows_compared']:,} flights both produced: {comparison['differing_cells']:,} of"
            f" {comparison['cells_compared']:,} cells differ ({comparison['columns_compared']} columns)"
            + (f": {by_column}" if by_column else "")
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- 2. online materialization


def _online_rows(db_path: Path) -> dict[str, int]:
    with closing(sqlite3.connect(db_path)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {table: db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in tables}


def _online_differences(a: Path, b: Path) -> int:
    """Rows of either SQLite online store (values and event times; not write times) missing from the other."""
    columns = "entity_key, feature_name, value, value_text, event_ts"
    with closing(sqlite3.connect(a)) as db:
        db.execute("ATTACH DATABASE ? AS other", (str(b),))
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        total = 0
        for table in tables:
            for left, right in (("main", "other"), ("other", "main")):
                query = (
                    f'SELECT COUNT(*) FROM (SELECT {columns} FROM {left}."{table}"'
                    f' EXCEPT SELECT {columns} FROM {right}."{table}")'
                )
                total += db.execute(query).fetchone()[0]
        return total


def measure_materialization(source: Path) -> dict[str, Any]:
    """The Python API and the CLI, each into a fresh SQLite store, over the same window and views."""
    start, end = (f"{instant}+00:00" for instant in WINDOW)
    with scratch_feast(source, online="empty") as ours_home, scratch_feast(source, online="empty") as cli_home:
        print("  ours: store.materialize(...) in Python, full year ...", flush=True)
        ours = _task("materialize", {"source": str(source), "home": str(ours_home), "start": start, "end": end})
        repo = _write_embedded_yaml(cli_home)
        print("  peer: feast materialize (CLI), full year ...", flush=True)
        cli = run_process([FEAST_CLI, "-c", str(repo), "materialize", *WINDOW], env=dict(os.environ))
        if cli.returncode != 0:
            raise BenchError(f"feast materialize failed:\n{cli.stderr.strip()[-2000:]}")
        print("  peer floor: feast feature-views list (CLI start, config and registry, no work) ...", flush=True)
        floor = run_process([FEAST_CLI, "-c", str(repo), "feature-views", "list"], env=dict(os.environ))
        if floor.returncode != 0:
            raise BenchError(f"feast feature-views list failed:\n{floor.stderr.strip()[-2000:]}")
        ours_online = _online_rows(ours_home / "feast" / "online.db")
        cli_online = _online_rows(cli_home / "feast" / "online.db")
        differences = _online_differences(ours_home / "feast" / "online.db", cli_home / "feast" / "online.db")
    rows = ours.report["rows"]
    cli_work = cli.wall_s - floor.wall_s
    return {
        "peer": PEERS["materialize"],
        "window": list(WINDOW),
        "views": ours.report["views"],
        "rows": rows,
        "rows_by_view": ours.report["rows_by_view"],
        "ours": {
            "work_s": ours.report["work_s"],
            "import_s": ours.report["import_s"],
            "wall_s": ours.wall_s,
            "max_rss_mib": ours.max_rss_mib,
            "rows_per_s": rows / ours.report["work_s"],
            "rows_per_s_wall": rows / ours.wall_s,
            "online_rows": ours_online,
        },
        "cli": {
            "wall_s": cli.wall_s,
            "max_rss_mib": cli.max_rss_mib,
            "rows_per_s_wall": rows / cli.wall_s,
            "floor_wall_s": floor.wall_s,
            "work_s_estimated": cli_work,
            "rows_per_s_estimated": rows / cli_work if cli_work > 0 else None,
            "online_rows": cli_online,
        },
        "online_rows_differing": differences,
        "ratio": {
            "ours_vs_cli_rows_per_s_wall": ratio(rows / ours.wall_s, rows / cli.wall_s),
            "ours_vs_cli_rows_per_s_work_estimated": ratio(cli_work, ours.report["work_s"]) if cli_work > 0 else None,
        },
    }


def render_materialization(summary: dict[str, Any]) -> str:
    ours, cli = summary["ours"], summary["cli"]
    est = cli["rows_per_s_estimated"]
    table = format_table(
        ["materialize", "work s", "rows/s", "process s", "rows/s (process)", "peak MiB"],
        [
            [
                "ours: store.materialize (Python)",
                ours["work_s"],
                round(ours["rows_per_s"]),
                ours["wall_s"],
                round(ours["rows_per_s_wall"]),
                round(ours["max_rss_mib"]),
            ],
            [
                "peer: feast materialize (CLI)",
                f"~{cli['work_s_estimated']:.2f}",
                f"~{round(est):,}" if est else "?",
                cli["wall_s"],
                round(cli["rows_per_s_wall"]),
                round(cli["max_rss_mib"]),
            ],
        ],
    )
    r = summary["ratio"]
    same = "identical" if summary["online_rows_differing"] == 0 else f"{summary['online_rows_differing']:,} rows differ"
    return "\n".join(
        [
            f"{summary['rows']:,} feature-table rows in {summary['window'][0]} .. {summary['window'][1]} (UTC),"
            f" {len(summary['views'])} views",
            table,
            f"ratio ours/peer (rows/s): {fmt_ratio(r['ours_vs_cli_rows_per_s_wall'])} whole process,"
            f" {fmt_ratio(r['ours_vs_cli_rows_per_s_work_estimated'])} work (CLI work = its process time minus"
            f" `feast feature-views list`, {cli['floor_wall_s']:.1f}s)",
            f"online stores after ours and after the CLI: {same}"
            f" ({sum(ours['online_rows'].values()):,} entity-feature rows)",
        ]
    )


# ---------------------------------------------------------------- 3. online reads


def _redis_call(address: str, db: int, *commands: str) -> list[str]:
    """Send ``SELECT db`` and ``commands`` (no arguments with spaces) over RESP; the one-line replies."""
    host, _, port = address.partition(":")
    payload = b""
    for command in (f"SELECT {db}", *commands):
        parts = command.split()
        payload += f"*{len(parts)}\r\n".encode() + b"".join(f"${len(p)}\r\n{p}\r\n".encode() for p in parts)
    with socket.create_connection((host, int(port or 6379)), timeout=5) as connection:
        connection.sendall(payload)
        reader = connection.makefile("rb")
        replies = [reader.readline().decode().strip() for _ in range(len(commands) + 1)]
    if replies[0] != "+OK":
        raise BenchError(f"redis SELECT {db} failed: {replies[0]}")
    return replies[1:]


def _redis_flush(address: str, db: int) -> int:
    """Empty database ``db``; the number of keys it held."""
    size, flushed = _redis_call(address, db, "DBSIZE", "FLUSHDB")
    if flushed != "+OK":
        raise BenchError(f"redis FLUSHDB failed: {flushed}")
    return int(size.lstrip(":"))


def measure_online(source: Path, requests: int, redis: str | None, redis_db: int) -> dict[str, Any]:
    """The same seeded requests against the prepared SQLite store and against Redis filled from the same tables."""
    spec = {"source": str(source), "sizes": [1, 100], "warmup": 20, "requests": requests, "seed": 13}
    out: dict[str, Any] = {"peer": PEERS["online_reads"], "requests": requests, "warmup": 20, "sizes": [1, 100]}
    print(f"  SQLite (embedded): {requests} requests each of 1 and 100 entity rows ...", flush=True)
    with scratch_feast(source, online="copy") as home:
        out["sqlite"] = _task("online_reads", {**spec, "home": str(home), "store": "sqlite"}).report
    redis_skip = None
    if redis is None:
        redis_skip = "Redis not measured (--no-redis)"
    else:
        try:
            reply = _redis_call(redis, redis_db, "PING")[0]
            if reply != "+PONG":
                redis_skip = f"Redis at {redis} answered {reply!r} to PING; skipped"
        except (OSError, BenchError) as exc:
            redis_skip = f"Redis not reachable at {redis} ({exc}); skipped"
    if redis_skip:
        print(f"  {redis_skip}", flush=True)
        out["redis"] = {"skipped": redis_skip}
    else:
        assert redis is not None
        print(f"  Redis {redis} db {redis_db}: fill (untimed), then the same requests ...", flush=True)
        held = _redis_flush(redis, redis_db)
        try:
            with scratch_feast(source) as home:
                connection = f"{redis},db={redis_db}"
                spec_redis = {
                    **spec,
                    "home": str(home),
                    "store": "redis",
                    "redis": connection,
                    "fill_start": REDIS_FILL[0],
                    "fill_end": REDIS_FILL[1],
                }
                out["redis"] = _task("online_reads", spec_redis).report
        finally:
            _redis_flush(redis, redis_db)
        out["redis"]["keys_flushed_before"] = held
        out["same_values"] = out["redis"]["check_digest"] == out["sqlite"]["check_digest"]
        out["ratio"] = {
            f"redis_vs_sqlite_{stat}_{size}": ratio(
                out["redis"]["latency"][str(size)][f"{stat}_ms"], out["sqlite"]["latency"][str(size)][f"{stat}_ms"]
            )
            for size in (1, 100)
            for stat in ("p50", "p99")
        }
    return out


def render_online(summary: dict[str, Any]) -> str:
    rows = []
    for store in ("sqlite", "redis"):
        report = summary.get(store, {})
        if "latency" not in report:
            continue
        for size in ("1", "100"):
            stats = report["latency"][size]
            rows.append(
                [
                    f"{store}, {size} entity row(s)",
                    stats["requests"],
                    stats["p50_ms"],
                    stats["p99_ms"],
                    stats["mean_ms"],
                ]
            )
    lines = [format_table(["get_online_features", "requests", "p50 ms", "p99 ms", "mean ms"], rows)]
    if "skipped" in summary.get("redis", {}):
        lines.append(summary["redis"]["skipped"])
    else:
        r = summary["ratio"]
        lines.append(
            f"ratio Redis/SQLite p50: {fmt_ratio(r['redis_vs_sqlite_p50_1'])} (1 row),"
            f" {fmt_ratio(r['redis_vs_sqlite_p50_100'])} (100 rows);"
            f" same values for a 100-row check request: {'yes' if summary['same_values'] else 'NO'}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- 4. materialization memory


def measure_memory(source: Path) -> dict[str, Any]:
    children: dict[str, Child] = {}
    print("  imports only ...", flush=True)
    with scratch_feast(source) as home:
        children["floor"] = _task("materialize", {"source": str(source), "home": str(home), "imports_only": True})
    for count, months in MEMORY_MONTHS.items():
        print(f"  materialize {count} month(s) into a fresh SQLite store ...", flush=True)
        with scratch_feast(source, online="empty") as home:
            spec = {"source": str(source), "home": str(home), "months": months}
            children[f"months_{count}"] = _task("materialize", spec)
    floor = children["floor"].max_rss_mib
    figures = {
        key: {
            "max_rss_mib": child.max_rss_mib,
            "above_floor_mib": child.max_rss_mib - floor,
            "rows": child.report.get("rows"),
            "work_s": child.report.get("work_s"),
            "wall_s": child.wall_s,
        }
        for key, child in children.items()
    }
    year, month = figures["months_12"], figures["months_1"]
    return {
        "peer": PEERS["memory"],
        "floor_mib": floor,
        "figures": figures,
        "ratio": {
            "year_vs_month_peak": ratio(year["max_rss_mib"], month["max_rss_mib"]),
            "year_vs_month_above_floor": ratio(year["above_floor_mib"], month["above_floor_mib"]),
        },
    }


def render_memory(summary: dict[str, Any]) -> str:
    labels = {"floor": "imports only", "months_1": "1 month", "months_3": "3 months", "months_12": "12 months"}
    rows = [
        [labels[key], f["rows"] if f["rows"] is not None else "-", f["work_s"], f["max_rss_mib"], f["above_floor_mib"]]
        for key, f in summary["figures"].items()
    ]
    r = summary["ratio"]
    return "\n".join(
        [
            format_table(["materialize", "rows", "work s", "peak MiB", "above floor MiB"], rows),
            f"ratio 12 months / 1 month (peak): {fmt_ratio(r['year_vs_month_peak'])}"
            f" (above floor: {fmt_ratio(r['year_vs_month_above_floor'])})",
        ]
    )


# ---------------------------------------------------------------- together


def figures(summary: dict[str, Any]) -> list[list[Any]]:
    """The headline rows: measure, ours, its value, peer, its value, ratio (as each measure defines it)."""
    training, mat, online, memory = (summary[k] for k in ("training_set", "materialize", "online_reads", "memory"))
    label = training["subset"]["label"]
    peer = training["peer_subset"]
    rows = [
        [
            f"training set s ({label})",
            "DuckDB",
            f"{training['ours_subset']['work_s']:.2f}",
            "file (dask)",
            f"{peer['work_s']:.2f}" if "work_s" in peer else "failed",
            fmt_ratio(training["ratio"]["peer_vs_ours_time_subset"]) + " peer/ours",
        ],
        [
            "training set s (full year)",
            "DuckDB",
            f"{training['ours_year']['work_s']:.2f}",
            "file (dask)",
            "not run" if training["subset"]["days"] else "-",
            "-",
        ],
        [
            "materialize rows/s (process)",
            "Python API",
            f"{round(mat['ours']['rows_per_s_wall']):,}",
            "feast CLI",
            f"{round(mat['cli']['rows_per_s_wall']):,}",
            fmt_ratio(mat["ratio"]["ours_vs_cli_rows_per_s_wall"]),
        ],
        [
            "materialize rows/s (work)",
            "Python API",
            f"{round(mat['ours']['rows_per_s']):,}",
            "feast CLI (est.)",
            f"{round(mat['cli']['rows_per_s_estimated'] or 0):,}",
            fmt_ratio(mat["ratio"]["ours_vs_cli_rows_per_s_work_estimated"]),
        ],
    ]
    for size in ("1", "100"):
        sqlite = online["sqlite"]["latency"][size]
        redis = online.get("redis", {}).get("latency", {}).get(size)
        rows.append(
            [
                f"online p50 / p99 ms ({size} row{'s' if size != '1' else ''})",
                "SQLite",
                f"{sqlite['p50_ms']:.2f} / {sqlite['p99_ms']:.2f}",
                "Redis",
                f"{redis['p50_ms']:.2f} / {redis['p99_ms']:.2f}" if redis else "skipped",
                fmt_ratio(online["ratio"][f"redis_vs_sqlite_p50_{size}"]) + " Redis/SQLite p50" if redis else "-",
            ]
        )
    rows.append(
        [
            "materialize peak MiB",
            "12 months",
            round(memory["figures"]["months_12"]["max_rss_mib"]),
            "1 month",
            round(memory["figures"]["months_1"]["max_rss_mib"]),
            fmt_ratio(memory["ratio"]["year_vs_month_peak"]),
        ]
    )
    return rows


def run(
    seeded: Path | None = None,
    prepared: Path | None = None,
    full_run: bool = False,
    dask_days: int = DASK_DAYS,
    requests: int = 300,
    redis: str | None = "127.0.0.1:6379",
    redis_db: int = 13,
) -> dict[str, Any]:
    """Prepare (or reuse) a home, take every feature plane measurement, print and write ``results/features.json``."""
    heading("features: training set, online materialization, online reads, memory")
    started, load_before = time.perf_counter(), load_average()
    with prepared_home(seeded, prepared, full_run) as source:
        measured = time.perf_counter()
        summary: dict[str, Any] = {"training_set": measure_training(source, dask_days)}
        print(render_training(summary["training_set"]), flush=True)
        summary["materialize"] = measure_materialization(source)
        print(render_materialization(summary["materialize"]), flush=True)
        summary["online_reads"] = measure_online(source, requests, redis, redis_db)
        print(render_online(summary["online_reads"]), flush=True)
        summary["memory"] = measure_memory(source)
        print(render_memory(summary["memory"]), flush=True)
    summary["measuring_s"] = time.perf_counter() - measured
    summary["feature_libraries"] = versions(("feast", "dask", "duckdb", "ibis-framework", "redis"))
    heading("features: figures")
    print(format_table(["measure", "ours", "value", "peer", "value", "ratio"], figures(summary)))
    return finish(NAME, summary, started, load_before, f" ({summary['measuring_s']:.0f}s measuring)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.features", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dask-days",
        type=int,
        default=DASK_DAYS,
        help=f"entity rows of the first N local days of 2013 for the dask comparison; 0 = the full"
        f" year, which needs far more memory than a laptop has (default {DASK_DAYS})",
    )
    parser.add_argument("--requests", type=int, default=300, help="measured online requests per size (default 300)")
    parser.add_argument("--redis", default="127.0.0.1:6379", help="Redis host:port (default 127.0.0.1:6379)")
    parser.add_argument("--redis-db", type=int, default=13, help="Redis database to flush and use (default 13)")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis online reads")
    parser.add_argument("--prepared", type=Path, help="reuse an OPENCLAW_HOME where `openclaw seed` and `run` ran")
    parser.add_argument(
        "--full-run", action="store_true", help="prepare with `openclaw run` (model plane included) instead"
    )
    args = parser.parse_args(argv)
    run(
        prepared=args.prepared,
        full_run=args.full_run,
        dask_days=max(0, args.dask_days),
        requests=max(1, args.requests),
        redis=None if args.no_redis else args.redis,
        redis_db=args.redis_db,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
