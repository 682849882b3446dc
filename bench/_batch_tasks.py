"""Batch scoring measured inside child processes: ``python -m bench._batch_tasks <task> <spec> <report>``.

``ours`` materializes the ``batch_predictions`` asset through Dagster for a range of months;
``peer`` scores the same months' rows of the training set with the same champion model in a
plain script. Each imports what it needs first (``imports_s``, per group), then does the
measured work, and writes a JSON report; the parent takes whole-process wall time and peak
memory. ``prepare`` (untimed setup: re-apply the Feast registry in a scratch copy) and
``check`` (a comparison after the measurements) are not measured.
"""

from __future__ import annotations

import functools
import importlib
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._harness import task_main

Report = dict[str, Any]

JOB = "bench_batch_predictions"
PREPARE_JOB = "bench_feast_registry"
ASSET = "batch_predictions"
MODEL_URI = "models:/flight_delay@champion"
TRAINING_SET = "warehouse/features/training_set/all.parquet"

CODE_LOCATION = ("dagster", "openclaw_assets.definitions")
DATA_LIBRARIES = ("pandas", "pyarrow", "pyarrow.parquet", "lightgbm")
FEAST_LIBRARIES = (
    "feast",
    "feast.infra.offline_stores.duckdb",
    "openclaw_assets.features.store",
    "openclaw_assets.features.repo",
)
MLFLOW_LIBRARIES = (
    "mlflow",
    "mlflow.pyfunc",
    "mlflow.tracking",
    "openclaw_assets.models.pyfunc",
    "openclaw_assets.models.registry",
    "openclaw_assets.models.training",
)
PEER_MLFLOW_LIBRARIES = ("mlflow", "mlflow.pyfunc", "openclaw_assets.models.pyfunc", "openclaw_assets.models.training")

RETRIEVAL = "feature retrieval (get_historical_features + to_df)"
PREDICT = "predict (model.predict)"
WRITE = "write Parquet (ParquetWriter.write_table)"
STEP_PHASES: dict[str, tuple[tuple[str, str], ...]] = {
    "MLflow: champion alias + load_model": (
        ("openclaw_assets.models.registry", "MlflowStore.version_for"),
        ("openclaw_assets.models.registry", "MlflowStore.client"),
        ("mlflow.pyfunc", "load_model"),
    ),
    "Feast: open store + feature service": (
        ("openclaw_assets.features.store", "FeastStore.open"),
        ("feast", "FeatureStore.get_feature_service"),
    ),
    "read Parquet (validated flights, completeness check)": (("pandas", "read_parquet"),),
    "entity rows (scoring_rows)": (("openclaw_assets.compute.batch", "scoring_rows"),),
    RETRIEVAL: (("feast", "FeatureStore.get_historical_features"),),
    PREDICT: (("openclaw_assets.models.pyfunc", "FlightDelayModel.predict"),),
    WRITE: (("pyarrow.parquet", "ParquetWriter.write_table"),),
    "sha256 of the output": (("openclaw_assets.kernel.atomic", "sha256_file"),),
}
"""Functions the ``batch_predictions`` step calls, grouped; each group's time is summed while the step runs.

Only the outermost timed call counts (a timed function called inside another is part of the
outer one), so the groups never overlap and the rest of the step is their difference. The
retrieval job that ``get_historical_features`` returns has its ``to_df`` timed in the same
group: that is where Feast and DuckDB do the join."""
SCORE_MONTH = ("openclaw_assets.compute.batch", "score_month")
"""Timed on its own clock (it contains retrieval, predict and write): the asset's chunked scoring loop."""


def _import_all(names: tuple[str, ...]) -> float:
    started = time.perf_counter()
    for name in names:
        importlib.import_module(name)
    return time.perf_counter() - started


def _process_cpu_s() -> float:
    """CPU seconds (user + system, every thread) this process has used so far, interpreter start included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _resolve(module_name: str, dotted: str) -> tuple[Any, str]:
    owner: Any = importlib.import_module(module_name)
    *path, attribute = dotted.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, attribute


def _instrument(
    phases: dict[str, tuple[tuple[str, str], ...]],
) -> tuple[dict[str, float], dict[str, float], dict[str, int]]:
    """Wrap each listed function so that its calls add their wall and CPU time to its group.

    Returns the wall and CPU totals and the number of outermost calls, per group.
    """
    wall, cpu, calls = dict.fromkeys(phases, 0.0), dict.fromkeys(phases, 0.0), dict.fromkeys(phases, 0)
    depth = [0]

    def timed(group: str, function: Callable[..., Any], returns_job: bool = False) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if depth[0]:
                return function(*args, **kwargs)
            depth[0] += 1
            started, started_cpu = time.perf_counter(), time.process_time()
            try:
                result = function(*args, **kwargs)
            finally:
                wall[group] += time.perf_counter() - started
                cpu[group] += time.process_time() - started_cpu
                calls[group] += 1
                depth[0] -= 1
            if returns_job:
                # the join runs when the returned job is read: time that read in the same group
                result.to_df = timed(group, result.to_df)
            return result

        return wrapper

    for group, targets in phases.items():
        for module_name, dotted in targets:
            owner, attribute = _resolve(module_name, dotted)
            setattr(owner, attribute, timed(group, getattr(owner, attribute), group == RETRIEVAL))
    return wall, cpu, calls


def _clock(module_name: str, dotted: str) -> dict[str, float]:
    """Wrap one function with its own clock (independent of the phase groups); return its totals."""
    totals = {"wall_s": 0.0, "cpu_s": 0.0, "calls": 0}
    owner, attribute = _resolve(module_name, dotted)
    function = getattr(owner, attribute)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started, started_cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            totals["wall_s"] += time.perf_counter() - started
            totals["cpu_s"] += time.process_time() - started_cpu
            totals["calls"] += 1

    setattr(owner, attribute, wrapper)
    return totals


def _resources(home: str) -> dict[str, Any]:
    from openclaw_assets.features.store import FeastStore
    from openclaw_assets.kernel.warehouse import Warehouse
    from openclaw_assets.models.registry import MlflowStore

    return {
        "warehouse": Warehouse(home=home),
        "feast": FeastStore.at(home, "embedded"),
        "mlflow_store": MlflowStore.at(home, "embedded"),
    }


def _stamp(value: float | None) -> float:
    """A start or end time Dagster recorded for a finished run or step."""
    if value is None:
        raise SystemExit("Dagster recorded no start or end time for a finished run")
    return value


def _failures(result: Any) -> str:
    return "\n".join(
        str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    )


# ---------------------------------------------------------------- setup (untimed)


def prepare(spec: dict[str, Any]) -> Report:
    """Re-point the scratch copy's Feast registry at the copy: materialize ``feast_registry`` there.

    ``FeastStore(home=copy).open()`` rewrites ``feature_store.yaml`` for the copy, and
    applying the repository re-registers the offline sources with the copy's absolute paths.
    """
    home = spec["home"]
    os.environ["OPENCLAW_HOME"] = home
    os.environ["DAGSTER_HOME"] = spec["dagster_home"]
    import dagster as dg

    from openclaw_assets.definitions import defs

    started = time.perf_counter()
    job = dg.define_asset_job(PREPARE_JOB, selection=["feast_registry"])
    job_def = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(PREPARE_JOB)
    result = job_def.execute_in_process(
        instance=dg.DagsterInstance.local_temp(tempdir=spec["dagster_home"]),
        resources=_resources(home),
        raise_on_error=False,
    )
    if not result.success:
        raise SystemExit("feast_registry failed:\n" + _failures(result))
    from openclaw_assets.features.store import FeastStore

    store = FeastStore.at(home, "embedded").open()
    paths = sorted({view.batch_source.path for view in store.list_feature_views()})
    outside = [path for path in paths if not path.startswith(home)]
    if outside:
        raise SystemExit(f"offline sources still outside the copy: {outside}")
    return {"seconds": time.perf_counter() - started, "sources": paths}


# ---------------------------------------------------------------- ours: the batch_predictions asset through Dagster


def ours(spec: dict[str, Any]) -> Report:
    """Materialize ``batch_predictions`` for a partition range with ``execute_in_process`` on a fresh instance."""
    home = spec["home"]
    first, last = spec["months"][0], spec["months"][-1]
    os.environ["OPENCLAW_HOME"] = home
    os.environ["DAGSTER_HOME"] = spec["dagster_home"]
    imports = {
        "dagster + code location": _import_all(CODE_LOCATION),
        "pandas, pyarrow, lightgbm": _import_all(DATA_LIBRARIES),
        "feast + DuckDB offline store": _import_all(FEAST_LIBRARIES),
        "mlflow + model": _import_all(MLFLOW_LIBRARIES),
    }
    import dagster as dg

    from openclaw_assets.definitions import defs

    phases, phases_cpu, calls = _instrument(STEP_PHASES)
    score_month = _clock(*SCORE_MONTH)
    clock: dict[str, float] = {}
    started = time.perf_counter()
    job = dg.define_asset_job(JOB, selection=[ASSET])
    job_def = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(JOB)
    clock["build_job_s"] = time.perf_counter() - started

    started = time.perf_counter()
    instance = dg.DagsterInstance.local_temp(tempdir=spec["dagster_home"])
    clock["instance_s"] = time.perf_counter() - started

    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    started, started_at, started_cpu = time.perf_counter(), time.time(), time.process_time()
    result = job_def.execute_in_process(
        instance=instance,
        tags=tags,
        resources=_resources(home),
        raise_on_error=False,
    )
    clock["execute_s"], ended_at = time.perf_counter() - started, time.time()
    clock["execute_cpu_s"] = time.process_time() - started_cpu
    if not result.success:
        raise SystemExit("batch_predictions failed:\n" + _failures(result))
    if not calls[RETRIEVAL] or not calls[PREDICT] or not calls[WRITE] or not score_month["calls"]:
        raise SystemExit(f"an instrumented function was never called: {calls}, score_month {score_month}")

    materializations = result.asset_materializations_for_node(ASSET)
    import pyarrow.parquet as pq

    from openclaw_assets.compute.batch import TABLE
    from openclaw_assets.kernel.paths import warehouse_file

    written = {
        m: pq.ParquetFile(warehouse_file(Path(home), "predictions", TABLE, m)).metadata.num_rows for m in spec["months"]
    }
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    run = instance.get_run_stats(result.run_id)
    run_start, run_end = _stamp(run.start_time), _stamp(run.end_time)
    steps = {s.step_key: _stamp(s.end_time) - _stamp(s.start_time) for s in instance.get_run_step_stats(result.run_id)}
    step_s = steps[ASSET]
    return {
        "imports_s": imports,
        "import_s": sum(imports.values()),
        **clock,
        "before_run_s": run_start - started_at,
        "run_s": run_end - run_start,
        "after_run_s": ended_at - run_end,
        "step_s": step_s,
        "step_phases_s": {**phases, "rest of the step (Dagster, the asset's own code)": step_s - sum(phases.values())},
        "step_phases_cpu_s": phases_cpu,
        "step_phase_calls": calls,
        "score_month_s": score_month["wall_s"],
        "score_month_cpu_s": score_month["cpu_s"],
        "score_month_calls": score_month["calls"],
        "process_cpu_s": _process_cpu_s(),
        "rows": sum(written.values()),
        "rows_per_month": written,
        "materializations": [
            {"partition": m.partition, "model_version": str(m.metadata["model_version"].value)}
            for m in materializations
        ],
        "months": spec["months"],
        "partition_range": [first, last],
        "checks": checks,
    }


# ---------------------------------------------------------------- peer: bare model.predict on the training set's rows


def peer(spec: dict[str, Any]) -> Report:
    """Load the champion with MLflow, read the months' joined rows from the training set, ``predict`` per month."""
    imports = {
        "pandas, pyarrow, lightgbm": _import_all(DATA_LIBRARIES),
        "mlflow + model": _import_all(PEER_MLFLOW_LIBRARIES),
    }
    import mlflow
    import pandas as pd

    from openclaw_assets.models.training import FEATURES

    numbers = [int(month.split("-")[1]) for month in spec["months"]]
    tracking = f"sqlite:///{spec['home']}/mlflow/mlflow.db"
    parts: dict[str, float] = {}
    started, started_cpu = time.perf_counter(), time.process_time()
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(tracking)
    model = mlflow.pyfunc.load_model(MODEL_URI).unwrap_python_model()
    loaded = time.perf_counter()
    parts["load model (alias + pyfunc.load_model)"] = loaded - started
    frame = pd.read_parquet(f"{spec['home']}/{TRAINING_SET}", filters=[("month", "in", numbers)])
    read = time.perf_counter()
    parts["read training set rows (month filter)"] = read - loaded
    predict_cpu_started = time.process_time()
    scored = []
    for number in numbers:
        rows = frame[frame["month"] == number]
        scored.append(model.predict(None, rows[FEATURES])["probability"])
    ended, ended_cpu = time.perf_counter(), time.process_time()
    parts["predict (model.predict)"] = ended - read

    probability = pd.concat(scored)
    out = pd.DataFrame(
        {"flight_id": frame.loc[probability.index, "flight_id"].to_numpy(), "probability": probability.to_numpy()}
    )
    out.to_parquet(spec["predictions"], index=False)
    return {
        "imports_s": imports,
        "import_s": sum(imports.values()),
        "work_parts_s": parts,
        "predict_s": parts["predict (model.predict)"],
        "predict_cpu_s": ended_cpu - predict_cpu_started,
        "work_s": ended - started,
        "work_cpu_s": ended_cpu - started_cpu,
        "process_cpu_s": _process_cpu_s(),
        "rows": len(frame),
        "rows_per_month": {
            month: int((frame["month"] == number).sum()) for month, number in zip(spec["months"], numbers, strict=True)
        },
        "model_type": f"{type(model).__module__}.{type(model).__qualname__}",
    }


# ---------------------------------------------------------------- check: same features, same probabilities?


def _same(left: Any, right: Any) -> Any:
    """Per row, whether two columns hold the identical value (nulls equal nulls; numbers as float64, exactly)."""
    import pandas as pd

    left_null, right_null = left.isna().to_numpy(), right.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(left) and pd.api.types.is_numeric_dtype(right):
        a = pd.to_numeric(left, errors="coerce").astype("float64").to_numpy()
        b = pd.to_numeric(right, errors="coerce").astype("float64").to_numpy()
        equal = a == b
    else:
        equal = left.astype(object).astype(str).to_numpy() == right.astype(object).astype(str).to_numpy()
    return (left_null & right_null) | (equal & ~left_null & ~right_null)


def check(spec: dict[str, Any]) -> Report:
    """Compare ours' written probabilities with the peer's, and the features each side scored, per flight.

    Ours' features are retrieved again here exactly as the asset does (``scoring_rows`` on the
    validated flights, ``get_historical_features`` with the feature service, on ours' scratch
    copy), since the asset keeps only its predictions.
    """
    import numpy as np
    import pandas as pd

    from openclaw_assets.compute.batch import TABLE, scoring_rows
    from openclaw_assets.features.repo import FEATURE_SERVICE
    from openclaw_assets.features.store import FeastStore
    from openclaw_assets.kernel.paths import warehouse_file
    from openclaw_assets.models.training import FEATURES

    home = Path(spec["home"])
    ours_scores = pd.concat(
        [pd.read_parquet(warehouse_file(home, "predictions", TABLE, month)) for month in spec["months"]],
        ignore_index=True,
    )
    peer_scores = pd.read_parquet(spec["peer_predictions"])
    flights = pd.concat(
        [pd.read_parquet(warehouse_file(home, "validated", "flights", month)) for month in spec["months"]],
        ignore_index=True,
    )
    store = FeastStore.at(home, "embedded").open()
    entities = scoring_rows(flights)
    ours_features = store.get_historical_features(
        entity_df=entities, features=store.get_feature_service(FEATURE_SERVICE)
    ).to_df()
    numbers = [int(month.split("-")[1]) for month in spec["months"]]
    training = pd.read_parquet(f"{home}/{TRAINING_SET}", filters=[("month", "in", numbers)])

    both = ours_scores[["flight_id", "probability", "status"]].merge(
        peer_scores, on="flight_id", suffixes=("_ours", "_peer"), validate="one_to_one"
    )
    left = ours_features.set_index("flight_id").loc[both["flight_id"], FEATURES].reset_index(drop=True)
    right = training.set_index("flight_id").loc[both["flight_id"], FEATURES].reset_index(drop=True)
    same_rows = np.ones(len(both), dtype=bool)
    differing_columns = {}
    for column in FEATURES:
        same = _same(left[column], right[column])
        same_rows &= same
        if not same.all():
            differing_columns[column] = int((~same).sum())
    difference = np.abs(both["probability_ours"].to_numpy() - both["probability_peer"].to_numpy())
    on_same = difference[same_rows]
    return {
        "ours_rows": len(ours_scores),
        "ours_status": {str(k): int(v) for k, v in ours_scores["status"].value_counts().items()},
        "ours_feature_rows": len(ours_features),
        "peer_rows": len(peer_scores),
        "overlap": len(both),
        "overlap_status": {str(k): int(v) for k, v in both["status"].value_counts().items()},
        "peer_only": int((~peer_scores["flight_id"].isin(ours_scores["flight_id"])).sum()),
        "overlap_identical_features": int(same_rows.sum()),
        "differing_feature_columns": differing_columns,
        "probability_max_abs_difference": float(difference.max()) if len(difference) else None,
        "probability_max_abs_difference_identical_features": float(on_same.max()) if len(on_same) else None,
        "probabilities_equal": int((difference == 0).sum()),
    }


TASKS: dict[str, Callable[[dict[str, Any]], Report]] = {
    "prepare": prepare,
    "ours": ours,
    "peer": peer,
    "check": check,
}


if __name__ == "__main__":
    sys.exit(task_main("bench._batch_tasks", TASKS, sys.argv[1:]))
