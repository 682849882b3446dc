"""Model training measured inside child processes: ``python -m bench._training_tasks <task> <spec> <report>``.

``ours`` materializes the ``trained_model`` asset through Dagster; ``peer`` does the same
LightGBM fit in a plain script. Each imports what it needs first (``imports_s``, per group),
then does the measured work, and writes a JSON report; the parent takes whole-process wall
time and peak memory. ``init_mlflow`` (untimed setup) and ``holdout_predictions`` (a check
after the measurements) are not measured.
"""

from __future__ import annotations

import functools
import importlib
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from bench._harness import task_main

Report = dict[str, Any]

JOB = "bench_trained_model"
TRAIN_MONTHS = [f"2013-{month:02d}" for month in range(1, 11)]
HOLDOUT_MONTHS = ["2013-11", "2013-12"]
PARAMS = {
    "n_estimators": 400,
    "learning_rate": 0.05,
    "num_leaves": 63,
    "min_child_samples": 50,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
}
"""The peer's LightGBM parameters: ``TrainConfig`` defaults, written out so the peer never imports Dagster.

``ours`` reports ``TrainConfig().params()`` and the parent fails if the two differ."""
SEED = 7

CODE_LOCATION = ("dagster", "openclaw_assets.definitions")
DATA_LIBRARIES = (
    "pandas",
    "pyarrow",
    "pyarrow.parquet",
    "lightgbm",
    "sklearn.metrics",
    "openclaw_assets.models.training",
)
MLFLOW_LIBRARIES = ("mlflow", "mlflow.pyfunc", "mlflow.models", "mlflow.tracking", "openclaw_assets.models.pyfunc")

STEP_PHASES: dict[str, tuple[tuple[str, str], ...]] = {
    "read training set + sha256": (
        ("openclaw_assets.models.assets", "_training_frame"),
        ("openclaw_assets.kernel.atomic", "sha256_file"),
    ),
    "split + prepare": (("openclaw_assets.models.training", "split"), ("openclaw_assets.models.training", "prepare")),
    "fit": (("openclaw_assets.models.training", "fit"),),
    "holdout predict + metrics": (
        ("openclaw_assets.models.training", "predict"),
        ("openclaw_assets.models.training", "metrics"),
    ),
    "MLflow client + experiment": (("openclaw_assets.models.registry", "MlflowStore.client"),),
    "MLflow start_run + log params/metrics/dict": (
        ("mlflow", "start_run"),
        ("mlflow", "log_params"),
        ("mlflow", "log_metrics"),
        ("mlflow", "log_dict"),
    ),
    "MLflow infer_signature": (("mlflow.models", "infer_signature"),),
    "MLflow pyfunc.log_model + register": (("mlflow.pyfunc", "log_model"),),
    "MLflow version tags + alias": (
        ("mlflow.tracking", "MlflowClient.set_model_version_tag"),
        ("mlflow.tracking", "MlflowClient.set_registered_model_alias"),
    ),
}
"""Functions the ``trained_model`` step calls, grouped; each group's time is summed while the step runs.

Only the outermost timed call counts (a timed function called inside another is part of the
outer one), so the groups never overlap and the rest of the step is their difference."""


def _import_all(names: tuple[str, ...]) -> float:
    started = time.perf_counter()
    for name in names:
        importlib.import_module(name)
    return time.perf_counter() - started


def _instrument(phases: dict[str, tuple[tuple[str, str], ...]]) -> tuple[dict[str, float], dict[str, float]]:
    """Wrap each listed function so that its calls add their wall and CPU time to its group; return both totals."""
    wall, cpu = dict.fromkeys(phases, 0.0), dict.fromkeys(phases, 0.0)
    depth = [0]

    def timed(group: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if depth[0]:
                return function(*args, **kwargs)
            depth[0] += 1
            started, started_cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                wall[group] += time.perf_counter() - started
                cpu[group] += time.process_time() - started_cpu
                depth[0] -= 1

        return wrapper

    for group, targets in phases.items():
        for module_name, dotted in targets:
            owner: Any = importlib.import_module(module_name)
            *path, attribute = dotted.split(".")
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, attribute, timed(group, getattr(owner, attribute)))
    return wall, cpu


def _process_cpu_s() -> float:
    """CPU seconds (user + system, every thread) this process has used so far, interpreter start included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- setup (untimed)


def init_mlflow(spec: dict[str, Any]) -> Report:
    """Create the embedded MLflow store (SQLite schema, experiment) under ``home``, as a first run would."""
    from openclaw_assets.models.registry import MlflowStore

    MlflowStore.at(spec["home"], "embedded").client()
    return {}


# ---------------------------------------------------------------- ours: the trained_model asset through Dagster


def ours(spec: dict[str, Any]) -> Report:
    """Materialize ``trained_model`` alone with ``execute_in_process`` on a fresh local_temp instance."""
    home = spec["home"]
    os.environ["OPENCLAW_HOME"] = home
    os.environ["DAGSTER_HOME"] = spec["dagster_home"]
    imports = {
        "dagster + code location": _import_all(CODE_LOCATION),
        "pandas, pyarrow, lightgbm, sklearn": _import_all(DATA_LIBRARIES),
        "mlflow": _import_all(MLFLOW_LIBRARIES),
    }
    import dagster as dg

    from openclaw_assets.definitions import defs
    from openclaw_assets.features.store import FeastStore
    from openclaw_assets.kernel.warehouse import Warehouse
    from openclaw_assets.models.assets import TrainConfig
    from openclaw_assets.models.registry import MlflowStore

    phases, phases_cpu = _instrument(STEP_PHASES)
    clock = {}
    started = time.perf_counter()
    job = dg.define_asset_job(JOB, selection=["trained_model"])
    job_def = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(JOB)
    clock["build_job_s"] = time.perf_counter() - started

    started = time.perf_counter()
    instance = dg.DagsterInstance.local_temp(tempdir=spec["dagster_home"])
    clock["instance_s"] = time.perf_counter() - started

    started, started_at, started_cpu = time.perf_counter(), time.time(), time.process_time()
    result = job_def.execute_in_process(
        instance=instance,
        resources={
            "warehouse": Warehouse(home=home),
            "feast": FeastStore.at(home, "embedded"),
            "mlflow_store": MlflowStore.at(home, "embedded"),
        },
        raise_on_error=False,
    )
    clock["execute_s"], ended_at = time.perf_counter() - started, time.time()
    clock["execute_cpu_s"] = time.process_time() - started_cpu
    if not result.success:
        failures = [str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        raise SystemExit("trained_model failed:\n" + "\n".join(failures))

    (materialization,) = result.asset_materializations_for_node("trained_model")
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    run = instance.get_run_stats(result.run_id)
    steps = {s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(result.run_id)}
    step_s = steps["trained_model"]
    config = TrainConfig()
    return {
        "imports_s": imports,
        "import_s": sum(imports.values()),
        **clock,
        "before_run_s": run.start_time - started_at,
        "run_s": run.end_time - run.start_time,
        "after_run_s": ended_at - run.end_time,
        "step_s": step_s,
        "step_phases_s": {**phases, "rest of the step (Dagster, lineage, logging)": step_s - sum(phases.values())},
        "step_phases_cpu_s": phases_cpu,
        "fit_s": metadata["fit_seconds"],
        "fit_cpu_s": phases_cpu["fit"],
        "process_cpu_s": _process_cpu_s(),
        "holdout_auc": metadata["holdout_auc"],
        "training_rows": metadata["training_rows"],
        "model_version": metadata["model_version"],
        "config": {
            "params": config.params(),
            "seed": config.seed,
            "train_months": config.train_months,
            "holdout_months": config.holdout_months,
        },
    }


# ---------------------------------------------------------------- peer: the same fit in a plain script


def peer(spec: dict[str, Any]) -> Report:
    """Read the training set, split Jan-Oct, ``prepare``, and fit LightGBM exactly as the asset does."""
    imports = {"pandas, pyarrow, lightgbm, sklearn": _import_all(DATA_LIBRARIES)}
    import lightgbm as lgb
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from openclaw_assets.models.training import FEATURES, LABEL, prepare, split

    started, started_cpu = time.perf_counter(), time.process_time()
    frame = pd.read_parquet(spec["training_set"])
    train = split(frame, TRAIN_MONTHS)
    prepared = prepare(train, FEATURES)
    fit_started, fit_started_cpu = time.perf_counter(), time.process_time()
    # the span the asset reports as fit_seconds: model inputs from the prepared categories, then the fit
    model = lgb.LGBMClassifier(
        **PARAMS, random_state=SEED, deterministic=True, force_row_wise=True, n_jobs=2, verbose=-1
    )
    model.fit(prepared.frame(train), train[LABEL].astype("int64"))
    ended, ended_cpu = time.perf_counter(), time.process_time()

    holdout = split(frame, HOLDOUT_MONTHS)
    scores = model.predict_proba(prepared.frame(holdout))[:, 1]
    np.save(spec["predictions"], scores)
    return {
        "imports_s": imports,
        "import_s": sum(imports.values()),
        "read_prepare_s": fit_started - started,
        "fit_s": ended - fit_started,
        "work_s": ended - started,
        "fit_cpu_s": ended_cpu - fit_started_cpu,
        "work_cpu_s": ended_cpu - started_cpu,
        "process_cpu_s": _process_cpu_s(),
        "rows": len(frame),
        "training_rows": len(train),
        "holdout_rows": len(holdout),
        "holdout_auc": float(roc_auc_score(holdout[LABEL].to_numpy(), scores)),
        "params": PARAMS,
        "seed": SEED,
    }


# ---------------------------------------------------------------- check: the registered model, reloaded


def holdout_predictions(spec: dict[str, Any]) -> Report:
    """Load the version ``ours`` registered from MLflow and score the holdout months with it."""
    import mlflow
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from openclaw_assets.models.registry import MlflowStore
    from openclaw_assets.models.training import FEATURES, LABEL, split

    store = MlflowStore.at(spec["home"], "embedded")
    store.client()
    model = mlflow.pyfunc.load_model(f"models:/{store.model_name}/{spec['version']}")
    holdout = split(pd.read_parquet(spec["training_set"]), HOLDOUT_MONTHS)
    scores = model.predict(holdout[FEATURES])["probability"].to_numpy()
    np.save(spec["out"], scores)
    return {"holdout_rows": len(holdout), "holdout_auc": float(roc_auc_score(holdout[LABEL].to_numpy(), scores))}


TASKS: dict[str, Callable[[dict[str, Any]], Report]] = {
    "init_mlflow": init_mlflow,
    "ours": ours,
    "peer": peer,
    "holdout_predictions": holdout_predictions,
}


if __name__ == "__main__":
    sys.exit(task_main("bench._training_tasks", TASKS, sys.argv[1:]))
