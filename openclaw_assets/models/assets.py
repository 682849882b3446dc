"""Model plane assets: train and register a challenger, evaluate it, gate it.

MLflow's registry is the system of record: every version is tagged with its lineage (Dagster
run, training-set hash and months, feature service, code version) and ``challenger`` points at
the newest trained version. Promotion to ``champion`` belongs to the deployment step.
"""

import json
from typing import Any

import dagster as dg
from pydantic import Field

from openclaw_assets import __version__
from openclaw_assets.features.repo import FEATURE_SERVICE
from openclaw_assets.kernel.partitions import partition_months
from openclaw_assets.kernel.warehouse import Warehouse
from openclaw_assets.models.registry import CHALLENGER, CHAMPION, MlflowStore

QUALITY_FLOOR = "quality_floor"
NO_REGRESSION = "no_regression_vs_champion"
SLICE_FLOOR = "slice_floor"
CALIBRATION = "calibration"
TRAINING_DATA_GATES = "training_data_gates_passed"


class TrainConfig(dg.Config):
    """Time-based split and LightGBM hyperparameters."""

    train_months: str = Field(default="2013-01:2013-10", description="Months to fit on (A:B).")
    holdout_months: str = Field(default="2013-11:2013-12", description="Later months held out for evaluation.")
    n_estimators: int = Field(default=400, ge=1, description="Boosting rounds.")
    learning_rate: float = Field(default=0.05, gt=0, description="Shrinkage per round.")
    num_leaves: int = Field(default=63, ge=2, description="Leaves per tree.")
    min_child_samples: int = Field(default=50, ge=1, description="Minimum rows in a leaf.")
    subsample: float = Field(default=0.8, gt=0, le=1, description="Row sample per tree.")
    colsample_bytree: float = Field(default=0.8, gt=0, le=1, description="Feature sample per tree.")
    seed: int = Field(default=7, description="Random seed: the same data and seed give the same model.")

    def params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "subsample": self.subsample,
            "subsample_freq": 1,
            "colsample_bytree": self.colsample_bytree,
        }


class GateConfig(dg.Config):
    """Thresholds of the model gates."""

    min_auc: float = Field(default=0.72, description="Holdout AUC floor; the model must also beat the raw baseline.")
    regression_tolerance: float = Field(default=0.005, ge=0, description="Largest AUC drop allowed vs champion.")
    min_slice_auc: float = Field(default=0.6, description="AUC floor for every carrier, origin and month slice.")
    min_slice_rows: int = Field(default=500, ge=10, description="Slices with fewer rows are not gated.")
    max_calibration_error: float = Field(default=0.03, gt=0, description="Expected calibration error ceiling.")


def _training_frame(warehouse: Warehouse):
    return warehouse.read("features", "training_set"), warehouse.path("features", "training_set")


@dg.asset(
    group_name="models",
    deps=["training_set"],
    kinds={"lightgbm", "mlflow"},
    code_version="models-1",
    description="A LightGBM delay model trained on the earlier months, registered in MLflow as `challenger`.",
)
def trained_model(
    context: dg.AssetExecutionContext, config: TrainConfig, warehouse: Warehouse, mlflow_store: MlflowStore
) -> dg.MaterializeResult:
    import time
    from importlib.metadata import version

    import mlflow

    from openclaw_assets.kernel.atomic import sha256_file
    from openclaw_assets.models import training
    from openclaw_assets.models.pyfunc import FlightDelayModel, log_model

    frame, path = _training_frame(warehouse)
    train_months, holdout_months = partition_months(config.train_months), partition_months(config.holdout_months)
    train = training.split(frame, train_months)
    holdout = training.split(frame, holdout_months)
    if not len(train) or not len(holdout):
        raise dg.Failure(
            description=f"empty split: {len(train)} training and {len(holdout)} holdout rows "
            f"({config.train_months} / {config.holdout_months})",
            allow_retries=False,
        )
    prepared = training.prepare(train, training.FEATURES)
    started = time.perf_counter()
    model = training.fit(train, prepared, config.params(), config.seed)
    fit_seconds = time.perf_counter() - started
    found = training.metrics(holdout[training.LABEL], training.predict(model, prepared, holdout))
    importance = dict(
        sorted(
            zip(training.FEATURES, model.booster_.feature_importance("gain").tolist(), strict=True),
            key=lambda kv: -kv[1],
        )
    )
    lineage = {
        "dagster_run_id": context.run.run_id,
        "training_set_sha256": sha256_file(path),
        "training_months": f"{train_months[0]}..{train_months[-1]}",
        "holdout_months": f"{holdout_months[0]}..{holdout_months[-1]}",
        "feature_service": FEATURE_SERVICE,
        "feature_service_version": FEATURE_SERVICE.rsplit("_v", 1)[-1],
        "code_version": __version__,
    }
    client = mlflow_store.client()
    wrapper = FlightDelayModel(model.booster_, prepared)
    requirements = [f"{p}=={version(p)}" for p in ("lightgbm", "pandas", "numpy", "scikit-learn", "mlflow")]
    with mlflow.start_run(run_name=f"dagster-{context.run.run_id[:8]}", tags=lineage) as run:
        mlflow.log_params({**config.params(), "seed": config.seed, "features": len(training.FEATURES)})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in found.items()} | {"fit_seconds": fit_seconds})
        mlflow.log_dict(importance, "feature_importance.json")
        info = log_model(wrapper, requirements, input_example=holdout[training.FEATURES].head(5))
    # the version and its lineage tags are created together: a version is never without them
    registered = mlflow.register_model(info.model_uri, mlflow_store.model_name, tags=lineage)
    model_version = str(registered.version)
    client.set_registered_model_alias(mlflow_store.model_name, CHALLENGER, model_version)
    context.log.info(
        f"registered {mlflow_store.model_name} v{model_version} as {CHALLENGER}: "
        f"holdout AUC {found['auc']:.4f}, fit {fit_seconds:.1f}s"
    )
    top = "\n".join(f"| {name} | {gain:,.0f} |" for name, gain in list(importance.items())[:15])
    return dg.MaterializeResult(
        metadata={
            "model_name": mlflow_store.model_name,
            "model_version": model_version,
            "mlflow_run_id": run.info.run_id,
            "holdout_auc": found["auc"],
            "fit_seconds": fit_seconds,
            "training_rows": len(train),
            "seed": config.seed,
            "feature_importance": dg.MetadataValue.md("| feature | gain |\n|---|---|\n" + top),
            **lineage,
        }
    )


def _training_gates_passed(instance) -> tuple[bool, str]:
    """Whether the training set's own checks passed at their latest execution."""
    from dagster import AssetCheckKey, AssetKey

    from openclaw_assets.features import checks as feature_checks

    names = [feature_checks.POINT_IN_TIME, feature_checks.TRAINING_ROWS]
    states = {}
    for name in names:
        records = instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(AssetKey("training_set"), name), limit=1
        )
        states[name] = records[0].status.value if records else "NEVER_RAN"
    return all(state == "SUCCEEDED" for state in states.values()), ", ".join(f"{k}: {v}" for k, v in states.items())


def _plot_calibration(labels, scores, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    edges = np.linspace(0, 1, 11)
    index = np.clip(np.digitize(scores, edges[1:-1]), 0, 9)
    mean_score = [scores[index == b].mean() for b in range(10) if (index == b).any()]
    mean_label = [labels[index == b].mean() for b in range(10) if (index == b).any()]
    figure, axis = plt.subplots(figsize=(4, 4))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axis.plot(mean_score, mean_label, marker="o")
    axis.set_xlabel("predicted delay probability")
    axis.set_ylabel("observed delay rate")
    axis.set_title("holdout calibration")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


@dg.asset(
    group_name="models",
    deps=["trained_model"],
    kinds={"mlflow"},
    code_version="models-1",
    check_specs=[
        dg.AssetCheckSpec(
            QUALITY_FLOOR,
            asset="model_evaluation",
            blocking=True,
            description="Holdout AUC above the floor and above the raw-columns baseline.",
        ),
        dg.AssetCheckSpec(
            NO_REGRESSION,
            asset="model_evaluation",
            blocking=True,
            description="No worse than the current champion on the same rows, within tolerance.",
        ),
        dg.AssetCheckSpec(
            SLICE_FLOOR,
            asset="model_evaluation",
            blocking=True,
            description="No carrier, origin or month slice below the AUC floor.",
        ),
        dg.AssetCheckSpec(
            CALIBRATION,
            asset="model_evaluation",
            blocking=True,
            description="Expected calibration error under the ceiling.",
        ),
        dg.AssetCheckSpec(
            TRAINING_DATA_GATES,
            asset="model_evaluation",
            blocking=True,
            description="The training set's own gates passed.",
        ),
    ],
    description="The challenger on the held-out months against a raw-columns baseline and the champion.",
)
def model_evaluation(
    context: dg.AssetExecutionContext,
    config: GateConfig,
    warehouse: Warehouse,
    mlflow_store: MlflowStore,
):
    import mlflow
    import numpy as np

    from openclaw_assets.kernel.outcomes import Outcome
    from openclaw_assets.kernel.reporting import check_results
    from openclaw_assets.models import training

    event = context.instance.get_latest_materialization_event(dg.AssetKey("trained_model"))
    if event is None or event.asset_materialization is None:
        raise dg.Failure(description="trained_model has not been materialized", allow_retries=False)
    trained = {key: value.value for key, value in event.asset_materialization.metadata.items()}
    version = str(trained["model_version"])
    name = mlflow_store.model_name
    mlflow_store.client()
    challenger = mlflow.pyfunc.load_model(f"models:/{name}/{version}")

    frame, _ = _training_frame(warehouse)
    # the same split and seed the challenger was trained with, from its own record
    train = training.split(frame, partition_months(str(trained["training_months"]).replace("..", ":")))
    holdout = training.split(frame, partition_months(str(trained["holdout_months"]).replace("..", ":")))
    labels = holdout[training.LABEL].to_numpy()
    scored = challenger.predict(holdout[training.FEATURES])
    scores = scored["probability"].to_numpy()
    found = training.metrics(labels, scores)
    out_of_range = float((scored["out_of_range"] != "").mean())

    base_prepared = training.prepare(train, training.BASELINE_FEATURES)
    base_model = training.fit(train, base_prepared, {"n_estimators": 200}, int(trained["seed"]))
    baseline = training.metrics(labels, training.predict(base_model, base_prepared, holdout))

    champion_version = mlflow_store.version_for(CHAMPION)
    champion = None
    if champion_version is not None and str(champion_version.version) != version:
        champion_model = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
        champion = training.metrics(labels, champion_model.predict(holdout[training.FEATURES])["probability"])
    slices = training.slice_metrics(holdout, scores, config.min_slice_rows)
    worst = slices.sort_values("auc").head(5)

    gates_ok, gates_state = _training_gates_passed(context.instance)
    outcomes = {
        QUALITY_FLOOR: Outcome(
            found["auc"] >= config.min_auc and found["auc"] > baseline["auc"],
            f"AUC {found['auc']:.4f} (floor {config.min_auc}, raw baseline {baseline['auc']:.4f})",
            {"auc": found["auc"], "baseline_auc": baseline["auc"], "min_auc": config.min_auc},
        ),
        NO_REGRESSION: Outcome(
            champion is None or found["auc"] >= champion["auc"] - config.regression_tolerance,
            "no champion yet"
            if champion is None
            else f"AUC {found['auc']:.4f} vs champion v{champion_version.version} {champion['auc']:.4f}",
            {"champion_auc": champion["auc"] if champion else float("nan"), "tolerance": config.regression_tolerance},
        ),
        SLICE_FLOOR: Outcome(
            bool(len(slices)) and float(slices["auc"].min()) >= config.min_slice_auc,
            f"worst slice {worst.iloc[0]['slice']} AUC {worst.iloc[0]['auc']:.4f} (floor {config.min_slice_auc})"
            if len(slices)
            else "no slice has enough rows",
            {"slices": len(slices), "min_slice_auc": float(slices["auc"].min()) if len(slices) else float("nan")},
        ),
        CALIBRATION: Outcome(
            found["calibration_error"] <= config.max_calibration_error,
            f"expected calibration error {found['calibration_error']:.4f} (ceiling {config.max_calibration_error})",
            {"calibration_error": found["calibration_error"]},
        ),
        TRAINING_DATA_GATES: Outcome(gates_ok, gates_state, {}),
    }

    plot = warehouse.root / "mlflow" / "evaluations" / f"v{version}-calibration.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    _plot_calibration(labels, scores, plot)
    run_id = challenger.metadata.run_id
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({f"eval_{k}": v for k, v in found.items() if not np.isnan(v)})
        mlflow.log_metrics({"eval_baseline_auc": baseline["auc"], "eval_out_of_range_share": out_of_range})
        mlflow.log_artifact(str(plot), "evaluation")
        mlflow.log_dict(json.loads(slices.to_json(orient="records")), "evaluation/slices.json")

    table = "| model | AUC | log loss | Brier | calibration error |\n|---|---|---|---|---|\n"
    for label, m in (
        ("challenger v" + version, found),
        ("raw-columns baseline", baseline),
        (f"champion v{champion_version.version}" if champion else "champion (none)", champion),
    ):
        if m:
            figures = " | ".join(f"{m[key]:.4f}" for key in ("auc", "log_loss", "brier", "calibration_error"))
            table += f"| {label} | {figures} |\n"
    slice_table = "| slice | rows | AUC | calibration error |\n|---|---|---|---|\n" + "\n".join(
        f"| {r.slice} | {r.rows} | {r.auc:.4f} | {r.calibration_error:.4f} |" for r in slices.itertuples()
    )
    yield dg.MaterializeResult(
        metadata={
            "model_version": version,
            "holdout_auc": found["auc"],
            "baseline_auc": baseline["auc"],
            "out_of_range_share": out_of_range,
            "comparison": dg.MetadataValue.md(table),
            "slices": dg.MetadataValue.md(slice_table),
            "calibration_plot": dg.MetadataValue.path(str(plot)),
        }
    )
    yield from check_results("model_evaluation", {None: outcomes})
