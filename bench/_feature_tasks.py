"""Feature plane work measured inside child processes: ``python -m bench._feature_tasks <task> <spec> <report>``.

``prepare`` builds that OPENCLAW_HOME (``source``) once. Every other task reads its feature
tables and registry and writes only under its own scratch home (``home``), whose ``feast/``
holds a copy of the prepared registry. A task imports what it needs first (``import_s``),
times only the work (``work_s``), then checks its output outside the clock and writes a
JSON report.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench._harness import task_main

Report = dict[str, Any]

FEAST_IMPORTS = (
    "feast",
    "openclaw_assets.features.store",
    "openclaw_assets.features.repo",
    "openclaw_assets.features.feast_assets",
    "pandas",
    "pyarrow",
    "pyarrow.parquet",
)
OFFLINE_IMPORTS = ("feast.infra.offline_stores.duckdb", "feast.infra.offline_stores.dask", "dask.dataframe")
ONLINE_IMPORTS = ("feast.infra.online_stores.sqlite", "feast.infra.online_stores.redis")
FLOAT_TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}


def _import_all(names: tuple[str, ...]) -> float:
    started = time.perf_counter()
    for name in names:
        importlib.import_module(name)
    return time.perf_counter() - started


# ---------------------------------------------------------------- preparation (untimed)

FEATURE_PLANE_ROOTS = ("training_set", "online_features")
"""Everything upstream of these (and they) is what the measurements read."""


def prepare(spec: dict[str, Any]) -> Report:
    """Run the ``openclaw_main`` job narrowed to the lineage of the training set and the online store.

    Like ``openclaw run`` (same code location, in-process executor, DAGSTER_HOME under the
    home, the same partition-range tags, every blocking check), without the model plane.
    """
    home = Path(spec["home"])
    os.environ["OPENCLAW_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    import dagster as dg

    from openclaw_assets.cli import prepare_dagster_home
    from openclaw_assets.definitions import defs

    prepare_dagster_home(home)
    months = spec["months"]
    name = "bench_feature_plane"
    job = dg.define_asset_job(
        name, selection=dg.AssetSelection.assets(*FEATURE_PLANE_ROOTS).upstream().required_multi_asset_neighbors()
    )
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = (
            dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
            .resolve_job_def(name)
            .execute_in_process(
                instance=instance,
                raise_on_error=False,
                tags={
                    "dagster/asset_partition_range_start": months[0],
                    "dagster/asset_partition_range_end": months[-1],
                },
            )
        )
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        raise SystemExit(f"the feature plane run failed: {', '.join(failed) or 'a blocking check failed'}")
    return {"import_s": 0.0, "work_s": time.perf_counter() - started, "steps": len(result.get_step_success_events())}


def _open_store(home: Path, offline: str = "duckdb"):
    from openclaw_assets.features.store import FeastStore

    return FeastStore.at(home, "embedded", offline=offline).open()


# ---------------------------------------------------------------- training set: historical retrieval


def entity_rows(source: Path, months: list[str], days: int | None):
    """Labelled flights of ``months``; with ``days``, only those scheduled in the first ``days`` local days."""
    import pandas as pd

    from openclaw_assets.data.contracts import LOCAL_TZ
    from openclaw_assets.features.feast_assets import labelled_flights

    entities = labelled_flights(source, months)
    if days:
        cutoff = pd.Timestamp(f"{months[0]}-01", tz=LOCAL_TZ) + pd.Timedelta(days=days)
        entities = entities[entities["event_timestamp"] < cutoff].reset_index(drop=True)
    return entities


def historical(spec: dict[str, Any]) -> Report:
    """``get_historical_features(...).to_df()`` for the feature service with the ``offline`` store; only it is timed."""
    import_s = _import_all((*FEAST_IMPORTS, *OFFLINE_IMPORTS))
    from openclaw_assets.features.repo import ENTITY_KEYS, FEATURE_SERVICE

    source, home = Path(spec["source"]), Path(spec["home"])
    entities = entity_rows(source, spec["months"], spec.get("days"))
    store = _open_store(home, spec["offline"])
    service = store.get_feature_service(FEATURE_SERVICE)

    started = time.perf_counter()
    joined = store.get_historical_features(entity_df=entities, features=service).to_df()
    work_s = time.perf_counter() - started

    if spec.get("out"):
        joined.to_parquet(spec["out"], index=False)
    # Rows another row shares its key and event time with, per entity key (what a dedup on them would drop).
    shared = {key: int(len(entities) - len(entities.drop_duplicates([key, "event_timestamp"]))) for key in ENTITY_KEYS}
    return {
        "import_s": import_s,
        "work_s": work_s,
        "offline": spec["offline"],
        "entity_rows": len(entities),
        "rows": len(joined),
        "distinct_flights": int(joined["flight_id"].nunique()),
        "columns": len(joined.columns),
        "rows_sharing_key_and_time": shared,
    }


def _differing(ours, peer) -> int:
    """Cells that differ between two aligned columns: nulls equal nulls, floats within a tiny tolerance."""
    import numpy as np
    import pandas as pd

    ours_na, peer_na = ours.isna().to_numpy(), peer.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(ours) or pd.api.types.is_datetime64_any_dtype(peer):
        a = pd.to_datetime(ours, utc=True).astype("datetime64[ns, UTC]").to_numpy()
        b = pd.to_datetime(peer, utc=True).astype("datetime64[ns, UTC]").to_numpy()
        equal = a == b
    elif pd.api.types.is_numeric_dtype(ours) and pd.api.types.is_numeric_dtype(peer):
        a, b = ours.to_numpy(dtype="float64", na_value=np.nan), peer.to_numpy(dtype="float64", na_value=np.nan)
        equal = np.isclose(a, b, equal_nan=True, **FLOAT_TOLERANCE)
    else:
        equal = (ours.astype(object).to_numpy() == peer.astype(object).to_numpy()).astype(bool)
    same = (ours_na & peer_na) | (~ours_na & ~peer_na & equal)
    return int((~same).sum())


def _dropped(ours, peer_ids: set[str]) -> Report:
    """Classify the flights ours produced and the peer did not.

    ``shares_carrier_and_time``: another entity row has the same carrier and event time.
    ``no_value_within_ttl``: of the others, those for which ours found no row within a view's
    TTL (its known-at column is null), per view; ``unexplained``: neither.
    """
    shared = ours.duplicated(["carrier", "event_timestamp"], keep=False)
    dropped = ~ours["flight_id"].isin(peer_ids)
    rest = ours[dropped & ~shared]
    known = [c for c in ours.columns if c.endswith("__known_at")]
    missing = rest[known].isna()
    return {
        "dropped": int(dropped.sum()),
        "dropped_shares_carrier_and_time": int((dropped & shared).sum()),
        "dropped_no_value_within_ttl": {
            column.removesuffix("__known_at"): int(count) for column, count in missing.sum().items() if count
        },
        "dropped_with_no_value_within_ttl": int(missing.any(axis=1).sum()),
        "dropped_unexplained": int((~missing.any(axis=1)).sum()),
    }


def compare_training(spec: dict[str, Any]) -> Report:
    """Join two training sets on ``flight_id`` and count differing cells in every column both have."""
    import_s = _import_all(("pandas", "pyarrow.parquet"))
    import pandas as pd

    started = time.perf_counter()
    ours, peer = pd.read_parquet(spec["ours"]), pd.read_parquet(spec["peer"])
    columns = [c for c in ours.columns if c in set(peer.columns) and c != "flight_id"]
    ours_ids, peer_ids = set(ours["flight_id"]), set(peer["flight_id"])
    both = ours.drop_duplicates("flight_id").merge(
        peer.drop_duplicates("flight_id"), on="flight_id", suffixes=("", "__peer"), validate="one_to_one"
    )
    differing = {}
    for column in columns:
        count = _differing(both[column], both[f"{column}__peer"])
        if count:
            differing[column] = count
    return {
        **_dropped(ours, peer_ids),
        "import_s": import_s,
        "work_s": time.perf_counter() - started,
        "ours_rows": len(ours),
        "peer_rows": len(peer),
        "rows_compared": len(both),
        "only_in_ours": len(ours_ids - peer_ids),
        "only_in_peer": len(peer_ids - ours_ids),
        "columns_compared": len(columns),
        "columns_in_one_only": sorted(set(ours.columns) ^ set(peer.columns)),
        "cells_compared": len(both) * len(columns),
        "differing_cells": sum(differing.values()),
        "differing_by_column": differing,
    }


# ---------------------------------------------------------------- online materialization


def registered_views(store) -> list[str]:
    """The names of the registry's feature views, in registry order."""
    return [view.name for view in store.list_feature_views()]


def rows_in_window(source: Path, views: list[str], start: datetime, end: datetime) -> dict[str, int]:
    """Rows of each view's feature table with ``start <= event_timestamp <= end`` (Feast's materialization window)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from openclaw_assets.features.repo import source_dir

    counts = {}
    for view in views:
        total = 0
        for path in sorted(source_dir(source, view).glob("*.parquet")):
            if path.name.startswith("."):
                continue
            stamps = pq.read_table(path, columns=["event_timestamp"])["event_timestamp"]
            low = pa.scalar(start, type=stamps.type)
            high = pa.scalar(end, type=stamps.type)
            inside = pc.and_(pc.greater_equal(stamps, low), pc.less_equal(stamps, high))
            total += int(pc.sum(inside).as_py() or 0)
        counts[view] = total
    return counts


def materialize(spec: dict[str, Any]) -> Report:
    """``store.materialize(start, end, feature_views=...)`` into the scratch home's SQLite online store.

    The window is ``start``..``end`` (ISO instants) or the local calendar ``months`` [first, last]; the
    views are ``views`` or, by default, every feature view in the registry (what the CLI materializes).
    """
    import_s = _import_all((*FEAST_IMPORTS, *ONLINE_IMPORTS))
    if spec.get("imports_only"):
        return {"import_s": import_s, "work_s": 0.0}

    source, home = Path(spec["source"]), Path(spec["home"])
    if spec.get("months"):
        from openclaw_assets.features.assets import month_bounds

        start, end = month_bounds(spec["months"][0])[0], month_bounds(spec["months"][-1])[1]
    else:
        start, end = datetime.fromisoformat(spec["start"]), datetime.fromisoformat(spec["end"])
    store = _open_store(home)
    views = spec.get("views") or registered_views(store)

    started = time.perf_counter()
    store.materialize(start_date=start, end_date=end, feature_views=views)
    work_s = time.perf_counter() - started

    counts = rows_in_window(source, views, start, end)
    return {
        "import_s": import_s,
        "work_s": work_s,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "views": views,
        "rows": sum(counts.values()),
        "rows_by_view": counts,
    }


# ---------------------------------------------------------------- online reads


def _redis_config(home: Path, connection: str) -> dict[str, Any]:
    """The scaleout profile's config (Redis online store) with the embedded profile's file registry."""
    from openclaw_assets.features.store import feature_store_config

    config = feature_store_config(home, "scaleout", registry_url="unused", redis_url=connection)
    config["registry"] = feature_store_config(home, "embedded", registry_url="unused", redis_url=connection)["registry"]
    return config


def _open_redis_store(home: Path, connection: str):
    import yaml
    from feast import FeatureStore

    repo = home / "feast"
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(_redis_config(home, connection), sort_keys=True))
    return FeatureStore(repo_path=str(repo))


def _requests(source: Path, sizes: list[int], count: int, seed: int) -> dict[int, list[list[dict[str, str]]]]:
    """``count`` requests of each size, rows drawn (seeded) from the training set's entity keys."""
    import numpy as np
    import pandas as pd

    from openclaw_assets.features.repo import ENTITY_KEYS
    from openclaw_assets.kernel.paths import warehouse_file

    keys = pd.read_parquet(warehouse_file(source, "features", "training_set", None), columns=list(ENTITY_KEYS))
    records = keys.astype(str).to_dict("records")
    rng = np.random.default_rng(seed)
    return {size: [[records[i] for i in rng.integers(0, len(records), size)] for _ in range(count)] for size in sizes}


def _digest(response) -> str:
    frame = response.to_df()
    frame = frame[sorted(frame.columns)]
    return hashlib.sha256(frame.to_json(orient="split", double_precision=15).encode()).hexdigest()


def online_reads(spec: dict[str, Any]) -> Report:
    """Latency of ``get_online_features`` for the feature service, per request size, on SQLite or Redis."""
    import_s = _import_all((*FEAST_IMPORTS, *ONLINE_IMPORTS))
    import numpy as np

    from openclaw_assets.features.repo import FEATURE_SERVICE

    source, home = Path(spec["source"]), Path(spec["home"])
    fill_s = None
    if spec["store"] == "redis":
        store = _open_redis_store(home, spec["redis"])
        start, end = datetime.fromisoformat(spec["fill_start"]), datetime.fromisoformat(spec["fill_end"])
        started = time.perf_counter()
        store.materialize(start_date=start, end_date=end, feature_views=registered_views(store))
        fill_s = time.perf_counter() - started
    else:
        store = _open_store(home)
    service = store.get_feature_service(FEATURE_SERVICE)
    sizes, warmup, count = spec["sizes"], spec["warmup"], spec["requests"]
    requests = _requests(source, sizes, warmup + count, spec["seed"])

    latencies: dict[str, Any] = {}
    started_all = time.perf_counter()
    for size in sizes:
        clock = []
        for index, rows in enumerate(requests[size]):
            started = time.perf_counter()
            store.get_online_features(features=service, entity_rows=rows)
            if index >= warmup:
                clock.append(time.perf_counter() - started)
        ms = np.asarray(clock) * 1000.0
        latencies[str(size)] = {
            "requests": len(ms),
            "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()),
            "max_ms": float(ms.max()),
        }
    work_s = time.perf_counter() - started_all

    check = store.get_online_features(features=service, entity_rows=requests[max(sizes)][0])
    values = check.to_df()
    features = [c for c in values.columns if c not in {"carrier", "origin", "route", "tailnum"}]
    return {
        "import_s": import_s,
        "work_s": work_s,
        "store": spec["store"],
        "fill_s": fill_s,
        "latency": latencies,
        "check_digest": _digest(check),
        "check_rows": len(values),
        "check_null_share": float(values[features].isna().to_numpy().mean()) if features else None,
    }


TASKS: dict[str, Callable[[dict[str, Any]], Report]] = {
    "prepare": prepare,
    "historical": historical,
    "compare_training": compare_training,
    "materialize": materialize,
    "online_reads": online_reads,
}


if __name__ == "__main__":
    sys.exit(task_main("bench._feature_tasks", TASKS, sys.argv[1:]))
