"""Model plane assets: train and register a challenger, evaluate it, gate it.

MLflow's registry is the system of record: every version is tagged with its lineage (Dagster
run, training-set hash and months, feature service, code version, a digest of the training
parameters) and ``challenger`` points at the newest trained version. Registration is
idempotent: the same training set, code version and parameters find the version they already
registered (after a crash, say) instead of registering another. Promotion to ``champion``
belongs to the deployment step.
"""

import json
from typing import Any

import dagster as dg
from pydantic import Field

from openclaw_assets import __version__
from openclaw_assets.control import subjects
from openclaw_assets.control.resource import ProvenanceLedger
from openclaw_assets.features.repo import FEATURE_SERVICE
from openclaw_assets.features.window import TrainingWindow
from openclaw_assets.kernel.automation import ON_NEW_DATA
from openclaw_assets.kernel.concurrency import MLFLOW_POOL
from openclaw_assets.kernel.months import format_range
from openclaw_assets.kernel.partitions import partition_months
from openclaw_assets.kernel.warehouse import Warehouse
from openclaw_assets.models.registry import CHALLENGER, CHAMPION, MlflowStore
from openclaw_assets.observability.resource import Tracing, traced

QUALITY_FLOOR = "quality_floor"
NO_REGRESSION = "no_regression_vs_champion"
SLICE_FLOOR = "slice_floor"
CALIBRATION = "calibration"
TRAINING_DATA_GATES = "training_data_gates_passed"
EVALUATION_CHECKS = (QUALITY_FLOOR, NO_REGRESSION, SLICE_FLOOR, CALIBRATION, TRAINING_DATA_GATES)
"""The gates of ``model_evaluation``, in the order they are declared."""

REGISTRATION_KEY = ("training_set_sha256", "code_version", "params_sha256")
"""Version tags that identify a training: the same values mean the same model."""


class TrainConfig(dg.Config):
    """Time-based split and LightGBM hyperparameters."""

    train_months: str | None = Field(
        default=None, description="Months to fit on (A:B); default: the training window's, before the holdout."
    )
    holdout_months: str | None = Field(
        default=None, description="Later months held out (A:B); default: the training window's newest months."
    )
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

    def digest(self, train_months: list[str], holdout_months: list[str]) -> str:
        """SHA-256 of everything that decides the model besides the data and the code."""
        import hashlib

        fields = {
            **self.params(),
            "seed": self.seed,
            "train_months": format_range(train_months),
            "holdout_months": format_range(holdout_months),
        }
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


class GateConfig(dg.Config):
    """Thresholds of the model gates, each widened by the sampling error of the figure it judges.

    A gate fails only when its figure is past its threshold by more than ``z`` standard errors of that
    figure on this holdout: the thresholds are what a holdout measured without error would have to meet,
    and the same ones judge a one-month holdout and a two-month one. Every check reports the threshold it
    applied, the standard error and the sample behind it.
    """

    min_auc: float = Field(
        default=0.72, description="Holdout AUC floor, lowered by z standard errors of the AUC (Hanley-McNeil)."
    )
    min_baseline_lift: float = Field(
        default=0.12,
        description="AUC the model must gain over the raw-columns baseline on the same rows, lowered by z paired "
        "(DeLong) standard errors of that gain.",
    )
    regression_tolerance: float = Field(
        default=0.005,
        ge=0,
        description="Largest AUC drop allowed vs champion on the same rows, widened by z paired (DeLong) standard "
        "errors of the difference.",
    )
    min_slice_auc: float = Field(
        default=0.6,
        description="AUC floor for every carrier, origin and month slice, lowered by z standard errors of the "
        "slice's AUC.",
    )
    min_slice_rows: int = Field(default=500, ge=10, description="Slices with fewer rows are not gated.")
    max_calibration_error: float = Field(
        default=0.03,
        gt=0,
        description="Expected calibration error ceiling, raised by z standard errors of it, flights clustered by "
        "local day (one day's delays move together).",
    )
    z: float = Field(
        default=3.0,
        ge=0,
        description="Standard errors of sampling noise each threshold allows; 0 applies the thresholds as fixed "
        "numbers.",
    )


def _training_frame(warehouse: Warehouse):
    return warehouse.read("features", "training_set"), warehouse.path("features", "training_set")


def registered_version(client, model_name: str, key: dict[str, str]):
    """The first version registered with these ``REGISTRATION_KEY`` tags, or None."""
    clauses = [f"name = '{model_name}'", *(f"tags.{name} = '{key[name]}'" for name in REGISTRATION_KEY)]
    found = client.search_model_versions(" and ".join(clauses))
    return min(found, key=lambda v: int(v.version)) if found else None


def _importance_table(importance: dict[str, float]) -> dg.MetadataValue:
    from openclaw_assets.kernel.reporting import table

    return table([{"feature": name, "gain": float(gain)} for name, gain in list(importance.items())[:15]])


@dg.asset(
    group_name="models",
    deps=["training_set"],
    kinds={"lightgbm", "mlflow"},
    automation_condition=ON_NEW_DATA,
    pool=MLFLOW_POOL,
    code_version="models-1",
    description="A LightGBM delay model trained on the earlier months, registered in MLflow as `challenger`.",
)
@traced
def trained_model(
    context: dg.AssetExecutionContext,
    config: TrainConfig,
    warehouse: Warehouse,
    mlflow_store: MlflowStore,
    training_window: TrainingWindow,
    ledger: ProvenanceLedger,
    tracing: Tracing,
) -> dg.MaterializeResult:
    import time
    from importlib.metadata import version

    import mlflow
    from mlflow.exceptions import MlflowException

    from openclaw_assets.kernel.atomic import sha256_file
    from openclaw_assets.models import training
    from openclaw_assets.models.pyfunc import FlightDelayModel, log_model

    frame, path = _training_frame(warehouse)
    in_set = sorted(training.month_keys(frame).unique()) if len(frame) else []
    window = training_window.split(in_set)
    train_months = partition_months(config.train_months) if config.train_months else window[0]
    holdout_months = partition_months(config.holdout_months) if config.holdout_months else window[1]
    train = training.split(frame, train_months)
    holdout = training.split(frame, holdout_months)
    if not len(train) or not len(holdout):
        described = " / ".join(format_range(m) if m else "none" for m in (train_months, holdout_months))
        raise dg.Failure(
            description=f"empty split: {len(train)} training and {len(holdout)} holdout rows ({described}); "
            f"the training set holds {', '.join(in_set) or 'no month'}",
            allow_retries=False,
        )
    lineage = {
        "dagster_run_id": context.run.run_id,
        "training_set_sha256": sha256_file(path),
        "training_months": format_range(train_months),
        "holdout_months": format_range(holdout_months),
        "feature_service": FEATURE_SERVICE,
        "feature_service_version": FEATURE_SERVICE.rsplit("_v", 1)[-1],
        "code_version": __version__,
        "params_sha256": config.digest(train_months, holdout_months),
    }
    client = mlflow_store.client()
    name = mlflow_store.model_name
    existing = registered_version(client, name, lineage)
    if existing is not None:
        # trained and registered before (a rerun after a crash, say): the same model, not a new version
        model_version = str(existing.version)
        client.set_registered_model_alias(name, CHALLENGER, model_version)
        run_id = existing.run_id
        recorded = client.get_run(run_id).data.metrics
        found = {k.removeprefix("holdout_"): v for k, v in recorded.items() if k.startswith("holdout_")}
        fit_seconds = float(recorded.get("fit_seconds", float("nan")))
        try:
            importance = mlflow.artifacts.load_dict(f"runs:/{run_id}/feature_importance.json")
        except MlflowException:
            importance = {}  # the run never got as far as logging it
        lineage = {key: str(existing.tags.get(key, value)) for key, value in lineage.items()}
        context.log.info(
            f"{name} v{model_version} was registered from the same data, code and parameters: reused",
            extra={"model_version": model_version},  # a field of its JSON line (observability.logs)
        )
    else:
        prepared = training.prepare(train, training.FEATURES)
        started = time.perf_counter()
        model = training.fit(train, prepared, config.params(), config.seed)
        fit_seconds = time.perf_counter() - started
        found = training.metrics(holdout[training.LABEL], training.predict(model, prepared, holdout))
        gains = model.booster_.feature_importance("gain").tolist()
        importance = dict(sorted(zip(training.FEATURES, gains, strict=True), key=lambda kv: -kv[1]))
        wrapper = FlightDelayModel(model.booster_, prepared)
        requirements = [f"{p}=={version(p)}" for p in ("lightgbm", "pandas", "numpy", "scikit-learn", "mlflow")]
        ledger.require(
            context,
            "register_model",
            registration_document(ledger, name, lineage, train_months + holdout_months),
            f"{name}/{lineage['training_set_sha256'][:12]}",
            inputs=[TRAINING_SET_SUBJECT],
        )
        with mlflow.start_run(run_name=f"dagster-{context.run.run_id[:8]}", tags=lineage) as run:
            mlflow.log_params({**config.params(), "seed": config.seed, "features": len(training.FEATURES)})
            mlflow.log_metrics({f"holdout_{k}": v for k, v in found.items()} | {"fit_seconds": fit_seconds})
            mlflow.log_dict(importance, "feature_importance.json")
            info = log_model(wrapper, requirements, input_example=holdout[training.FEATURES].head(5))
        run_id = run.info.run_id
        # the version and its lineage tags are created together: a version is never without them
        model_version = str(mlflow.register_model(info.model_uri, name, tags=lineage).version)
        client.set_registered_model_alias(name, CHALLENGER, model_version)
        context.log.info(
            f"registered {name} v{model_version} as {CHALLENGER}: "
            f"holdout AUC {found['auc']:.4f}, fit {fit_seconds:.1f}s",
            extra={"model_version": model_version},
        )
    subject = subjects.model(name, model_version)
    if ledger.open().latest(subject) is None:  # a rerun after a crash records a version registered before
        ledger.record(
            context,
            "model",
            subject,
            digest=artifact_digest(client, name, model_version),
            inputs=[TRAINING_SET_SUBJECT],
            facts={"mlflow_run_id": run_id, "version": model_version, **lineage},
        )
    return dg.MaterializeResult(
        metadata={
            "model_name": name,
            "model_version": model_version,
            "reused_version": existing is not None,
            "mlflow_run_id": run_id,
            "holdout_auc": float(found["auc"]),
            "holdout_log_loss": float(found["log_loss"]),
            "holdout_calibration_error": float(found["calibration_error"]),
            "fit_seconds": fit_seconds,
            "training_rows": len(train),
            "seed": config.seed,
            "feature_importance": _importance_table(importance),
            **lineage,
        }
    )


TRAINING_SET_SUBJECT = subjects.table("features", "training_set", None)


def registration_document(
    ledger: ProvenanceLedger, name: str, lineage: dict[str, str], months: list[str]
) -> dict[str, Any]:
    """What the ``register_model`` policy judges: complete lineage, and training data the ledger holds."""
    recorded = ledger.open().latest(TRAINING_SET_SUBJECT)
    return {
        "model": name,
        "run_id": lineage["dagster_run_id"],
        "code_version": lineage["code_version"],
        "feature_service": lineage["feature_service"],
        "partitions": months,
        "training_set": {
            "digest": lineage["training_set_sha256"],
            "ledger_digest": recorded.digest if recorded is not None else None,
        },
        "missing_tags": sorted(k for k, v in lineage.items() if not v),
    }


def artifact_digest(client, name: str, version: str) -> str:
    """SHA-256 over the registered version's artifact files (relative path and content, in path order)."""
    import hashlib
    import tempfile
    from pathlib import Path

    import mlflow

    from openclaw_assets.kernel.atomic import sha256_file

    source = client.get_model_version_download_uri(name, version)
    with tempfile.TemporaryDirectory() as temp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=temp))
        digest = hashlib.sha256()
        for file in sorted(p for p in local.rglob("*") if p.is_file()):
            digest.update(file.relative_to(local).as_posix().encode() + b"\0" + bytes.fromhex(sha256_file(file)))
        return digest.hexdigest()


def _run_and_parents(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """This run's id, then those of the runs it re-executes (a retry of evaluation alone)."""
    ids = [run.run_id]
    while run.parent_run_id:
        parent = instance.get_run_by_id(run.parent_run_id)
        if parent is None:
            break
        ids.append(parent.run_id)
        run = parent
    return ids


def trained_in_this_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, Any] | None:
    """The metadata of ``trained_model``'s materialization in this run (or the run it re-executes)."""
    runs = _run_and_parents(instance, run)
    oldest = instance.get_run_record_by_id(runs[-1])
    since = oldest.create_timestamp.timestamp() if oldest is not None else None
    records_filter = dg.AssetRecordsFilter(asset_key=dg.AssetKey("trained_model"), after_timestamp=since)
    cursor = None
    while True:
        found = instance.fetch_materializations(records_filter, limit=100, cursor=cursor)
        for record in found.records:
            if record.run_id in runs and record.asset_materialization is not None:
                return {key: value.value for key, value in record.asset_materialization.metadata.items()}
        if not found.has_more:
            return None
        cursor = found.cursor


def _check_state_in_run(instance: dg.DagsterInstance, key: dg.AssetCheckKey, run_id: str) -> str:
    cursor = None
    while True:
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=100, cursor=cursor)
        for record in records:
            if record.run_id == run_id:
                return record.status.value
        if len(records) < 100:
            return "NOT_IN_THAT_RUN"
        cursor = records[-1].id


def training_set_gates(instance: dg.DagsterInstance, sha256: str) -> tuple[bool, str]:
    """Whether the training set's own checks passed in the run that wrote these bytes (by content hash)."""
    from openclaw_assets.features import checks as feature_checks

    producer, cursor = None, None
    while producer is None:
        found = instance.fetch_materializations(dg.AssetKey("training_set"), limit=100, cursor=cursor)
        for record in found.records:
            written = (
                record.asset_materialization.metadata.get("content_sha256") if record.asset_materialization else None
            )
            if written is not None and written.value == sha256:
                producer = record.run_id
                break
        if not found.has_more:
            break
        cursor = found.cursor
    if producer is None:
        return False, f"no training_set materialization wrote the bytes this model was trained on ({sha256[:12]})"
    names = [feature_checks.POINT_IN_TIME, feature_checks.TRAINING_ROWS]
    states = {
        name: _check_state_in_run(instance, dg.AssetCheckKey(dg.AssetKey("training_set"), name), producer)
        for name in names
    }
    summary = ", ".join(f"{k}: {v}" for k, v in states.items()) + f" (run {producer[:8]})"
    return all(state == "SUCCEEDED" for state in states.values()), summary


def _plot_calibration(labels, scores, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    from openclaw_assets.models.training import CALIBRATION_BINS

    observed, predicted = calibration_curve(labels, scores, n_bins=CALIBRATION_BINS, strategy="uniform", pos_label=1)
    figure, axis = plt.subplots(figsize=(4, 4))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axis.plot(predicted, observed, marker="o")
    axis.set_xlabel("predicted delay probability")
    axis.set_ylabel("observed delay rate")
    axis.set_title("holdout calibration")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _signed(value: float) -> str:
    return f"{value:+.4f}"


def _slice_outcome(config: GateConfig, slices):
    """Every slice's AUC against its own floor: ``min_slice_auc`` less z of that slice's standard errors."""
    from openclaw_assets.kernel.outcomes import Outcome

    if not len(slices):
        return Outcome(False, "no slice has enough rows", {"slices": 0, "min_slice_auc": float("nan")})
    z = config.z
    floors = config.min_slice_auc - z * slices["auc_se"]
    below = int((slices["auc"] < floors).sum())
    worst = slices.assign(floor=floors).loc[(slices["auc"] - floors).idxmin()]
    return Outcome(
        below == 0,
        f"{below} of {len(slices)} slices below their floors; closest: {worst['slice']} AUC {worst['auc']:.4f} on "
        f"{int(worst['rows']):,} rows (floor {worst['floor']:.4f} = {config.min_slice_auc} - {z:g} x "
        f"{worst['auc_se']:.4f})",
        {
            "slices": len(slices),
            "slices_below": below,
            "min_slice_auc": float(slices["auc"].min()),
            "worst_slice": str(worst["slice"]),
            "worst_slice_auc": float(worst["auc"]),
            "worst_slice_rows": int(worst["rows"]),
            "worst_slice_auc_se": float(worst["auc_se"]),
            "worst_slice_floor": float(worst["floor"]),
            "z": z,
        },
    )


def judge(config: GateConfig, found, baseline, champion, champion_name, slices, gates) -> dict:
    """The gates' outcomes from the figures (a pure function of them: ``training.evaluation_figures``'s).

    Each threshold moves by ``config.z`` standard errors of the figure it judges, towards passing: a
    figure fails only when it is past the threshold by more than sampling noise on this holdout.
    """
    from openclaw_assets.kernel.outcomes import Outcome

    z, rows, days = config.z, int(found["rows"]), int(found["days"])
    auc_floor = config.min_auc - z * found["auc_se"]
    lift_floor = config.min_baseline_lift - z * baseline["lift_se"]
    quality = found["auc"] >= auc_floor and baseline["lift"] >= lift_floor
    allowed_drop = float("nan")
    if champion is not None:
        allowed_drop = config.regression_tolerance + z * champion["difference_se"]
    ceiling = config.max_calibration_error + z * found["calibration_se"]
    sample = {"rows": rows, "days": days, "z": z}
    return {
        QUALITY_FLOOR: Outcome(
            bool(quality),
            f"AUC {found['auc']:.4f} (floor {auc_floor:.4f} = {config.min_auc} - {z:g} x {found['auc_se']:.4f} on "
            f"{rows:,} rows); gain over the raw baseline's {baseline['auc']:.4f} {_signed(baseline['lift'])} "
            f"(floor {lift_floor:.4f} = {config.min_baseline_lift} - {z:g} x {baseline['lift_se']:.4f})",
            {
                "auc": found["auc"],
                "auc_se": found["auc_se"],
                "auc_floor": auc_floor,
                "min_auc": config.min_auc,
                "baseline_auc": baseline["auc"],
                "baseline_lift": baseline["lift"],
                "baseline_lift_se": baseline["lift_se"],
                "baseline_lift_floor": lift_floor,
                "min_baseline_lift": config.min_baseline_lift,
                **sample,
            },
        ),
        NO_REGRESSION: Outcome(
            champion is None or champion["difference"] >= -allowed_drop,
            "no champion yet"
            if champion is None
            else f"AUC {found['auc']:.4f} vs champion {champion_name} {champion['auc']:.4f}: "
            f"{_signed(champion['difference'])} (largest drop allowed {allowed_drop:.4f} = "
            f"{config.regression_tolerance} + {z:g} x {champion['difference_se']:.4f} on {rows:,} rows)",
            {
                "champion_auc": champion["auc"] if champion else float("nan"),
                "difference": champion["difference"] if champion else float("nan"),
                "difference_se": champion["difference_se"] if champion else float("nan"),
                "allowed_drop": allowed_drop,
                "tolerance": config.regression_tolerance,
                **sample,
            },
        ),
        SLICE_FLOOR: _slice_outcome(config, slices),
        CALIBRATION: Outcome(
            found["calibration_error"] <= ceiling,
            f"expected calibration error {found['calibration_error']:.4f} (ceiling {ceiling:.4f} = "
            f"{config.max_calibration_error} + {z:g} x {found['calibration_se']:.4f}, its standard error over "
            f"{rows:,} flights on {days} days)",
            {
                "calibration_error": found["calibration_error"],
                "calibration_se": found["calibration_se"],
                "ceiling": ceiling,
                "max_calibration_error": config.max_calibration_error,
                **sample,
            },
        ),
        TRAINING_DATA_GATES: Outcome(gates[0], gates[1], {}),
    }


@dg.asset(
    group_name="models",
    deps=["trained_model"],
    kinds={"mlflow"},
    automation_condition=ON_NEW_DATA,
    pool=MLFLOW_POOL,
    code_version="models-1",
    check_specs=[
        dg.AssetCheckSpec(
            QUALITY_FLOOR,
            asset="model_evaluation",
            blocking=True,
            description="Holdout AUC and its gain over the raw-columns baseline above their floors, less noise.",
        ),
        dg.AssetCheckSpec(
            NO_REGRESSION,
            asset="model_evaluation",
            blocking=True,
            description="No worse than the current champion on the same rows, within tolerance and sampling noise.",
        ),
        dg.AssetCheckSpec(
            SLICE_FLOOR,
            asset="model_evaluation",
            blocking=True,
            description="No carrier, origin or month slice below the AUC floor less its sampling noise.",
        ),
        dg.AssetCheckSpec(
            CALIBRATION,
            asset="model_evaluation",
            blocking=True,
            description="Expected calibration error under the ceiling plus its sampling noise over the holdout's days.",
        ),
        dg.AssetCheckSpec(
            TRAINING_DATA_GATES,
            asset="model_evaluation",
            blocking=True,
            description="The training set's own gates passed, in the run that wrote the rows the model saw.",
        ),
    ],
    description="The challenger trained in this run on the held-out months, against a raw-columns baseline "
    "and the champion.",
)
@traced
def model_evaluation(
    context: dg.AssetExecutionContext,
    config: GateConfig,
    warehouse: Warehouse,
    mlflow_store: MlflowStore,
    ledger: ProvenanceLedger,
    tracing: Tracing,
):
    import mlflow
    import numpy as np

    from openclaw_assets.kernel.reporting import check_results, table
    from openclaw_assets.models import training

    trained = trained_in_this_run(context.instance, context.run)
    if trained is None:
        raise dg.Failure(
            description="model_evaluation judges the version trained_model registered in the same run, and this run "
            f"({context.run.run_id[:8]}) has none: materialize trained_model and model_evaluation together",
            allow_retries=False,
        )
    version = str(trained["model_version"])
    name = mlflow_store.model_name
    client = mlflow_store.client()
    tags = client.get_model_version(name, version).tags
    challenger = mlflow.pyfunc.load_model(f"models:/{name}/{version}")

    frame, _ = _training_frame(warehouse)
    # the same split and seed the challenger was trained with, from its own record
    train = training.split(frame, partition_months(tags["training_months"]))
    holdout = training.split(frame, partition_months(tags["holdout_months"]))
    labels = holdout[training.LABEL].to_numpy()
    scored = challenger.predict(holdout[training.FEATURES])
    scores = scored["probability"].to_numpy()
    out_of_range = float((scored["out_of_range"] != "").mean())
    baseline_scores = training.baseline_scores(train, holdout, int(trained["seed"]))

    champion_version = mlflow_store.version_for(CHAMPION)
    champion_scores = None
    if champion_version is not None and str(champion_version.version) != version:
        champion_model = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
        champion_scores = champion_model.predict(holdout[training.FEATURES])["probability"].to_numpy()
    found, baseline, champion, slices = training.evaluation_figures(
        holdout, scores, baseline_scores, champion_scores, config.min_slice_rows
    )
    gates = training_set_gates(context.instance, tags["training_set_sha256"])
    champion_name = f"v{champion_version.version}" if champion else None
    outcomes = judge(config, found, baseline, champion, champion_name, slices, gates)

    plot = warehouse.root / "mlflow" / "evaluations" / f"v{version}-calibration.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    _plot_calibration(labels, scores, plot)
    with mlflow.start_run(run_id=challenger.metadata.run_id):
        mlflow.log_metrics({f"eval_{k}": v for k, v in found.items() if not np.isnan(v)})
        mlflow.log_metrics({"eval_baseline_auc": baseline["auc"], "eval_out_of_range_share": out_of_range})
        mlflow.log_artifact(str(plot), "evaluation")
        mlflow.log_dict(json.loads(slices.to_json(orient="records")), "evaluation/slices.json")

    ledger.record(
        context,
        "evaluation",
        f"evaluation:{name}/{version}",
        inputs=[subjects.model(name, version), TRAINING_SET_SUBJECT],
        facts={
            "version": version,
            "passed": all(o.passed for o in outcomes.values()),
            "gates": {gate: o.passed for gate, o in outcomes.items()},
            "auc": float(found["auc"]),
            "champion": champion_name,
        },
    )
    failed = sorted(gate for gate, o in outcomes.items() if not o.passed)
    context.log.info(
        f"evaluated {name} v{version}: holdout AUC {found['auc']:.4f}, "
        + (f"failed {', '.join(failed)}" if failed else "every gate passed"),
        extra={"model_version": version},  # a field of its JSON line (observability.logs)
    )
    figures = ("auc", "log_loss", "brier", "calibration_error")
    compared = [("challenger v" + version, found), ("raw-columns baseline", baseline)]
    if champion is not None:
        compared.append((f"champion v{champion_version.version}", champion))
    yield dg.MaterializeResult(
        metadata={
            "model_version": version,
            "holdout_auc": float(found["auc"]),
            "baseline_auc": float(baseline["auc"]),
            "champion_auc": float(champion["auc"]) if champion else float("nan"),
            "calibration_error": float(found["calibration_error"]),
            "calibration_se": float(found["calibration_se"]),
            "auc_floor": float(outcomes[QUALITY_FLOOR].metadata.get("auc_floor", config.min_auc)),
            "holdout_rows": int(found["rows"]),
            "holdout_days": int(found["days"]),
            "worst_slice_auc": float(slices["auc"].min()) if len(slices) else float("nan"),
            "out_of_range_share": out_of_range,
            "comparison": table([{"model": label, **{k: float(m[k]) for k in figures}} for label, m in compared]),
            "slices": table(slices.to_dict("records"), training.SLICE_COLUMNS),
            "calibration_plot": dg.MetadataValue.path(str(plot)),
        }
    )
    yield from check_results("model_evaluation", {None: outcomes})
