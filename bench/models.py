"""Model plane cases: the ``trained_model`` asset against a plain LightGBM script, and the fit under contention."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from bench import _project as p
from bench.runner import PYTHON, ROOT, BenchError, Case, cpu_s, failures, imports, instrument, ratio, run_task, x

TRAINING_SET = Path("warehouse/features/training_set/all.parquet")
TRAINING_ROWS = 327_346
"""Labelled (arrived) flights of 2013: the full-year training set."""
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
"""``TrainConfig``'s defaults, written out so the peer never imports Dagster; ``ours`` fails if they differ."""
SEED = 7
DATA_LIBRARIES = ("pandas", "pyarrow.parquet", "lightgbm", "sklearn.metrics", p.TRAINING)


def default_home() -> str:
    """A home where ``openclaw run`` finished: ``$OPENCLAW_HOME`` (``make`` sets it), else ./.openclaw."""
    return os.environ.get("OPENCLAW_HOME", str(ROOT / ".openclaw"))


def needs(home: Path, *names: str) -> Path:
    home = home.resolve()
    missing = [name for name in names if not (home / name).exists()]
    if missing:
        raise BenchError(f"{home} has no {', '.join(missing)}: run `openclaw seed` and `openclaw run` there first")
    return home


def _holdout_auc(frame, scores) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(frame[p.LABEL].to_numpy(), scores))


# ---------------------------------------------------------------- children


def run_asset(home: str, dagster_home: str, asset: str, tags: dict[str, str] | None = None):
    """Materialize ``asset`` alone with ``execute_in_process`` on a fresh ``local_temp`` instance: (result, step s)."""
    import dagster as dg

    job = dg.define_asset_job(f"bench_{asset}", selection=[asset])
    job_def = dg.Definitions.merge(p.defs, dg.Definitions(jobs=[job])).resolve_job_def(f"bench_{asset}")
    instance = dg.DagsterInstance.local_temp(tempdir=dagster_home)
    p.register_for_run(instance, None, tags)
    resources = {
        "warehouse": (warehouse := p.Warehouse(home=home, profile="embedded")),
        "feast": p.FeastStore(warehouse=warehouse),
        "mlflow_store": p.MlflowStore(warehouse=warehouse),
        "ledger": p.ProvenanceLedger(warehouse=warehouse),
    }
    result = job_def.execute_in_process(instance=instance, resources=resources, tags=tags, raise_on_error=False)
    if not result.success:
        raise BenchError(f"{asset} failed: {failures(result)}")
    for event in result.asset_materializations_for_node(asset):
        reused = event.metadata.get("reused_version")
        if reused is not None and reused.value:  # an idempotent rerun fits nothing: not what this times
            raise BenchError(f"{asset} reused a registered version instead of fitting: the store was not empty")
    (step,) = [s for s in instance.get_run_step_stats(result.run_id) if s.step_key == asset]
    return result, step.end_time - step.start_time


def init_mlflow(spec: dict[str, Any]) -> dict[str, Any]:
    """Create the embedded MLflow store under ``home`` (its SQLite schema is a first-run cost, not a figure)."""
    p.MlflowStore.at(spec["home"], "embedded").client()
    return {}


def train_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """``trained_model`` alone, materialized with ``execute_in_process`` on a fresh ``local_temp`` instance."""
    imports_s = {
        "dagster + code location": imports(*p.CODE_LOCATION),
        "data + LightGBM": imports(*DATA_LIBRARIES),
        "mlflow": imports(*p.MLFLOW),
    }
    config = p.TrainConfig()
    if config.params() != PARAMS or config.seed != SEED:
        raise BenchError(f"TrainConfig {config.params()}, seed {config.seed} differ from the peer's {PARAMS}, {SEED}")
    phases = instrument(p.TRAINING_PHASES)
    result, step_s = run_asset(spec["home"], spec["dagster_home"], "trained_model")
    (materialization,) = result.asset_materializations_for_node("trained_model")
    meta = {key: value.value for key, value in materialization.metadata.items()}
    return {
        "imports_s": imports_s,
        "step_s": step_s,
        "phases_s": phases,
        "fit_s": meta["fit_seconds"],
        "holdout_auc": meta["holdout_auc"],
        "training_rows": meta["training_rows"],
        "model_version": meta["model_version"],
    }


def train_peer(spec: dict[str, Any]) -> dict[str, Any]:
    """Read, split Jan-Oct, ``prepare``, and the same LightGBM fit as the asset's, in a plain script."""
    import_s = imports(*DATA_LIBRARIES)
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_parquet(spec["training_set"])
    train = p.split(frame, TRAIN_MONTHS)
    prepared = p.prepare(train, p.FEATURES)
    fit_started = time.perf_counter()
    model = lgb.LGBMClassifier(
        **PARAMS, random_state=SEED, deterministic=True, force_row_wise=True, n_jobs=p.fit_threads(), verbose=-1
    )
    model.fit(prepared.frame(train), train[p.LABEL].astype("int64"))
    ended = time.perf_counter()
    holdout = p.split(frame, HOLDOUT_MONTHS)
    scores = model.predict_proba(prepared.frame(holdout))[:, 1]
    np.save(spec["predictions"], scores)
    return {
        "import_s": import_s,
        "fit_s": ended - fit_started,
        "work_s": ended - started,
        "rows": len(frame),
        "training_rows": len(train),
        "holdout_auc": _holdout_auc(holdout, scores),
    }


def reloaded(spec: dict[str, Any]) -> dict[str, Any]:
    """The version ``train_ours`` registered, loaded back from MLflow, scoring the holdout months."""
    import mlflow
    import numpy as np
    import pandas as pd

    store = p.MlflowStore.at(spec["home"], "embedded")
    store.client()
    model = mlflow.pyfunc.load_model(f"models:/{store.model_name}/{spec['version']}")
    holdout = p.split(pd.read_parquet(spec["training_set"]), HOLDOUT_MONTHS)
    scores = model.predict(holdout[p.FEATURES])["probability"].to_numpy()
    same = bool(np.array_equal(scores, np.load(spec["peer_predictions"])))
    return {"holdout_auc": _holdout_auc(holdout, scores), "same_scores_as_peer": same}


def contention_fit(spec: dict[str, Any]) -> dict[str, Any]:
    """One fit of the training set: ``old`` = the former fixed 2 threads, ``new`` = the project's ``fit``."""
    imports(*DATA_LIBRARIES)
    import lightgbm as lgb
    import pandas as pd

    frame = pd.read_parquet(spec["training_set"])
    train, holdout = p.split(frame, TRAIN_MONTHS), p.split(frame, HOLDOUT_MONTHS)
    prepared = p.prepare(train, p.FEATURES)
    params = {**PARAMS, "n_estimators": spec["trees"]}
    runnable = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])  # tasks running now, this one too
    started, started_cpu = time.perf_counter(), cpu_s()
    if spec["settings"] == "new":
        threads = p.fit_threads()  # what the fit below will take
        model = p.fit(train, prepared, params, SEED)
    else:
        threads = 2
        model = lgb.LGBMClassifier(
            **params, random_state=SEED, deterministic=True, force_row_wise=True, n_jobs=threads, verbose=-1
        )
        model.fit(prepared.frame(train), train[p.LABEL].astype("int64"))
    fit_s, fit_cpu_s = time.perf_counter() - started, cpu_s() - started_cpu
    auc = _holdout_auc(holdout, model.predict_proba(prepared.frame(holdout))[:, 1])
    return {"fit_s": fit_s, "fit_cpu_s": fit_cpu_s, "threads": threads, "holdout_auc": auc, "runnable": runnable}


# ---------------------------------------------------------------- cases


@contextmanager
def scratch(source: Path) -> Iterator[Path]:
    """A scratch home holding a copy of ``source``'s training set and an empty MLflow store created beforehand."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-training-") as root:
        home = Path(root) / "home"
        (home / TRAINING_SET).parent.mkdir(parents=True)
        shutil.copyfile(source / TRAINING_SET, home / TRAINING_SET)
        (Path(root) / "dagster").mkdir()
        run_task("bench.models:init_mlflow", {"home": str(home)})
        yield home


def measure_training(home: str | None = None) -> dict[str, Any]:
    source = needs(Path(home or default_home()), str(TRAINING_SET))
    with scratch(source) as scratch_home:
        spec = {"home": str(scratch_home), "dagster_home": str(scratch_home.parent / "dagster")}
        ours = run_task("bench.models:train_ours", spec, {"OPENCLAW_HOME": spec["home"]}, timeout_s=1800)
        predictions = str(scratch_home.parent / "peer.npy")
        training_set = str(scratch_home / TRAINING_SET)
        peer = run_task("bench.models:train_peer", {"training_set": training_set, "predictions": predictions})
        spec |= {"version": ours.report["model_version"], "training_set": training_set, "peer_predictions": predictions}
        check = run_task("bench.models:reloaded", spec).report
    o, q = ours.report, peer.report
    if q["rows"] != TRAINING_ROWS or o["training_rows"] != q["training_rows"]:
        raise BenchError(f"rows: training set {q['rows']:,} (expected {TRAINING_ROWS:,}), fitted {o} vs {q}")
    aucs = [o["holdout_auc"], check["holdout_auc"], q["holdout_auc"]]
    ours_outside, peer_outside = o["step_s"] - o["fit_s"], q["work_s"] - q["fit_s"]
    phases = o["phases_s"]
    rows = [
        [
            "training: time outside the fit, inside the step / the work",
            f"{ours_outside:.1f} s (reading and hashing the training set {phases['read training set + sha256']:.1f}"
            f" s, holdout scoring and metrics {phases['holdout predict + metrics']:.1f} s, MLflow"
            f" {phases['MLflow']:.1f} s)",
            f"{peer_outside:.1f} s",
            x(ratio(ours_outside, peer_outside)),
        ],
        [
            "training: time outside the fit, whole process (imports, instance, run)",
            f"{ours.wall_s - o['fit_s']:.1f} s",
            f"{peer.wall_s - q['fit_s']:.1f} s",
            x(ratio(ours.wall_s - o["fit_s"], peer.wall_s - q["fit_s"])),
        ],
        [
            "holdout AUC, Nov–Dec (asset, reloaded from MLflow / plain script)",
            f"{aucs[0]:.4f} / {aucs[1]:.4f}",
            f"{aucs[2]:.4f}",
            "identical scores" if check["same_scores_as_peer"] and max(aucs) - min(aucs) < 1e-9 else "DIFFERENT",
        ],
        ["the fit itself", f"{o['fit_s']:.1f} s", f"{q['fit_s']:.1f} s", x(ratio(o["fit_s"], q["fit_s"]))],
        [
            "fit-normalised: our overhead plus the script's fit, over the script (step / process)",
            f"{ours_outside + q['fit_s']:.1f} s / {ours.wall_s - o['fit_s'] + q['fit_s']:.1f} s",
            f"{q['work_s']:.1f} s / {peer.wall_s:.1f} s",
            f"{x(ratio(ours_outside + q['fit_s'], q['work_s']))} /"
            f" {x(ratio(ours.wall_s - o['fit_s'] + q['fit_s'], peer.wall_s))}",
        ],
    ]
    return {"rows": rows, "ours": vars(ours), "peer": vars(peer), "check": check}


@contextmanager
def busy(count: int) -> Iterator[None]:
    """``count`` busy-loop processes, each in its own process group, ended however the block ends."""
    loads = [subprocess.Popen([PYTHON, "-c", "while True: pass"], start_new_session=True) for _ in range(count)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for load in loads:
            with suppress(ProcessLookupError):
                os.killpg(load.pid, signal.SIGKILL)
            load.wait()


VARIANTS = {
    "old": ("old", {}, "old fit (2 threads)"),
    "new": ("new", {}, "new `fit`"),
    "passive": ("old", {"OMP_WAIT_POLICY": "PASSIVE"}, "2 threads, started with `OMP_WAIT_POLICY=PASSIVE`"),
}
"""What ``contention`` compares: the fit it runs, the environment its process starts with, and its label."""


def measure_contention(
    home: str | None = None, trees: int = 400, loads: int = 2, variants: tuple[str, ...] = ("old", "new", "passive")
) -> dict[str, Any]:
    training_set = str(needs(Path(home or default_home()), str(TRAINING_SET)) / TRAINING_SET)
    fits: dict[tuple[str, int], dict[str, Any]] = {}
    for variant in variants:
        settings, env, _ = VARIANTS[variant]
        for loaded in (0, loads):
            with busy(loaded):
                spec = {"training_set": training_set, "settings": settings, "trees": trees}
                fits[variant, loaded] = run_task("bench.models:contention_fit", spec, env, timeout_s=3600).report
    aucs = {fit["holdout_auc"] for fit in fits.values()}
    if max(aucs) - min(aucs) > 1e-9:
        raise BenchError(f"the fits' holdout AUCs differ: {sorted(aucs)}")
    rows = contention_rows(fits, trees, loads, variants)
    return {"rows": rows, "fits": [{"variant": v, "busy": n, **fit} for (v, n), fit in fits.items()]}


def contention_rows(fits: dict[tuple[str, int], dict[str, Any]], trees: int, loads: int, variants) -> list[list[str]]:
    rows, old = [], (fits.get(("old", 0)), fits.get(("old", loads)))
    for variant in variants:
        free, loaded = fits[variant, 0], fits[variant, loads]
        versus = variant != "old" and old[1]
        rows.append(
            [
                f"LightGBM fit ({trees} trees), {VARIANTS[variant][2]}: alone → beside {loads} busy loops",
                f"{free['fit_s']:.1f} s → {loaded['fit_s']:.1f} s (CPU {free['fit_cpu_s']:.1f} →"
                f" {loaded['fit_cpu_s']:.1f} s; {free['threads']} → {loaded['threads']} threads; runnable tasks at the"
                f" start, itself included, {free['runnable']} → {loaded['runnable']})",
                f"old fit {old[0]['fit_s']:.1f} s → {old[1]['fit_s']:.1f} s" if versus else "–",
                f"{x(ratio(loaded['fit_s'], free['fit_s']))} slower under load"
                + (f"; {x(ratio(loaded['fit_s'], old[1]['fit_s']))} the old fit's time there" if versus else "")
                + f"; AUC {free['holdout_auc']:.4f}",
            ]
        )
    return rows


CASES = [
    Case(
        "training",
        "Model plane",
        "`trained_model` alone through Dagster (`execute_in_process`, fresh instance, embedded resources) on a copy"
        " of a home's training set; the step split by timing the functions it calls",
        "a plain script: read, split 2013-01..10, `prepare`, the same `LGBMClassifier` fit",
        "step and fit seconds; time outside the fit; holdout AUC of the asset, the reloaded model and the script",
        "ours ÷ peer outside the fit, and fit-normalised; AUCs must agree",
        measure_training,
        full={"home": None},
        libraries=("lightgbm", "mlflow", "scikit-learn"),
        minutes="2 to 10 (the fits follow the machine's load)",
    ),
    Case(
        "contention",
        "Model plane",
        "the project's `fit` (threads = usable CPUs not busy at the start)",
        "the former fit with a fixed 2 threads; and 2 threads started with `OMP_WAIT_POLICY=PASSIVE`",
        "fit seconds and CPU seconds on free cores and beside busy-loop processes",
        "new ÷ old under load; loaded ÷ free per variant; the AUC must be the same in every fit",
        measure_contention,
        full={"home": None, "trees": 400, "loads": 2, "variants": ["old", "new", "passive"]},
        quick={"trees": 50},
        libraries=("lightgbm",),
        minutes="3 to 13 (the old fit beside the load is the slowest)",
    ),
]
