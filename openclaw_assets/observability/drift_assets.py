"""Drift of the model's inputs and outputs as assets with checks: each month's, and live traffic's.

``feature_drift`` scores each month's model inputs (its rows of the training set, the labelled flights
joined point in time by Feast) against the baseline: the months the model that scored the month was
trained on. ``live_drift`` scores the inputs the gateway logged for its latest requests against the
serving model's training months. Both score the model's probabilities too (the ``prediction`` family),
against that model's batch predictions of its training months. Statistics are in ``drift``.

Each materialization carries, per feature family, the worst feature's score of each statistic as a
float named ``<family>/<statistic>`` (the Dagster UI plots them over the months, and the metrics
exporter reads them), ``drifted_features`` and a table of every feature's scores. Two checks judge it:
``drift_below_warning`` (WARN severity) and ``drift_below_limit`` (ERROR, blocking).

A failed blocking check fails the step, so the run shows it and the alert sensors see it, but nothing
downstream waits on it: drift says the world moved away from what the model learned, not that the data
is broken (the feature tables' own blocking checks stop broken data before it is scored), and a month's
predictions are still the best there are until a retrained model replaces them. July 2013 is warmer
than the months the model trained on, and its flights should be scored all the same.

The plane imports only the kernel: it reads tables by path, refers to upstream assets by key, and the
feature families (family name -> columns) are handed to ``build_assets`` by the code location.
"""

import hashlib
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from openclaw_assets.kernel.automation import ON_NEW_DATA, ON_SCHEDULE
from openclaw_assets.kernel.months import format_range, month_keys
from openclaw_assets.kernel.outcomes import Outcome
from openclaw_assets.kernel.partitions import MONTHS, SINGLE_RUN, partition_months
from openclaw_assets.kernel.warehouse import Warehouse

if TYPE_CHECKING:
    import pandas as pd

    from openclaw_assets.observability.drift import Profile, Scores

DRIFT_WARNING = "drift_below_warning"
"""WARN severity: every feature's scores under the warning limits."""
DRIFT_LIMIT = "drift_below_limit"
"""ERROR severity, blocking: every feature's scores under the blocking limits."""
DRIFT_CHECKS = (DRIFT_WARNING, DRIFT_LIMIT)
PREDICTION = "prediction"
"""The family of the model's output: its probability."""
PROBABILITY = "probability"
TRAINING_SET = ("features", "training_set")
"""The model inputs of every month in the training window: ``warehouse/features/training_set/all.parquet``."""
PREDICTIONS = ("predictions", "flight_delay")
"""Batch predictions: ``warehouse/predictions/flight_delay/<YYYY-MM>.parquet``, one per flight, naming its model."""
PREDICTION_LOG = ("predictions", "log")
"""The gateway's prediction log under ``$OPENCLAW_HOME``: ``<UTC date>/gateway-<pid>[.<n>].jsonl``."""
TRAINED_MODEL = "trained_model"
"""The asset whose materializations name each model version and the months it was trained on."""
CODE_VERSION = "observability-1"


class Limits(dg.Config):
    """One level's limits: a feature drifts when any of its scores is past its limit."""

    psi: float = Field(
        ge=0, description="Population stability index over the baseline's deciles (or categories) and a null bin."
    )
    ks: float = Field(
        ge=0,
        le=1,
        description="Kolmogorov-Smirnov statistic, nulls counted below every value; the total variation distance "
        "for a categorical feature.",
    )
    js: float = Field(ge=0, le=1, description="Jensen-Shannon distance (base 2, 0 to 1) over PSI's bins.")
    null_rise: float = Field(
        ge=0, le=1, description="Rise of the feature's null share over the baseline's (0.1 = ten points)."
    )

    def as_dict(self) -> dict[str, float]:
        return {"psi": self.psi, "ks": self.ks, "js": self.js, "null_rise": self.null_rise}


WARN = Limits(psi=0.1, ks=0.1, js=0.15, null_rise=0.1)
BLOCK = Limits(psi=0.25, ks=0.2, js=0.25, null_rise=0.12)
SEASONAL_WARN = Limits(psi=7.5, ks=0.8, js=0.8, null_rise=0.1)
SEASONAL_BLOCK = Limits(psi=10.0, ks=0.9, js=0.9, null_rise=0.12)
SEASONAL = ("carrier_stats", "origin_stats", "route_stats", "weather_hourly")
"""Families whose monthly distributions move with the season and the year's events (weather; delay and
cancellation rates and traffic over rolling windows): against the training months pooled, 2013's own months
reach PSI 4.9, KS 0.68 and JS 0.68 on them (July's storms, February's cold). Their limits sit above that, so
they catch unit changes and nulls, not a shift of 0.2 standard deviations (README, "Drift")."""


def _family_warn() -> dict[str, Limits]:
    weather = Limits(psi=7.5, ks=0.8, js=0.8, null_rise=0.12)  # wind_gust's null share moves 10 points by season
    prediction = Limits(psi=0.5, ks=0.3, js=0.3, null_rise=0.1)  # the model predicts more delays in July
    return {**dict.fromkeys(SEASONAL, SEASONAL_WARN), "weather_hourly": weather, PREDICTION: prediction}


def _family_block() -> dict[str, Limits]:
    weather = Limits(psi=10.0, ks=0.9, js=0.9, null_rise=0.15)
    prediction = Limits(psi=1.0, ks=0.4, js=0.4, null_rise=0.12)
    return {**dict.fromkeys(SEASONAL, SEASONAL_BLOCK), "weather_hourly": weather, PREDICTION: prediction}


class DriftConfig(dg.Config):
    """Limits of the drift checks, calibrated on 2013 (README, "Drift"), and the baseline they judge against."""

    warn: Limits = Field(default=WARN, description="Warning limits (WARN-severity check), for every family not listed.")
    block: Limits = Field(
        default=BLOCK, description="Blocking limits (ERROR-severity, blocking check), for every family not listed."
    )
    family_warn: dict[str, Limits] = Field(
        default_factory=_family_warn,
        description="Warning limits of particular families (``prediction`` is the model's probability); "
        "entries given here replace the shipped ones of those families, the others keep theirs.",
    )
    family_block: dict[str, Limits] = Field(
        default_factory=_family_block,
        description="Blocking limits of particular families; entries given here replace the shipped ones of "
        "those families, the others keep theirs.",
    )
    chance_level: float = Field(
        default=0.01,
        ge=0,
        lt=1,
        description="Each limit rises by the score a sample of this size reaches by chance with this probability "
        "(negligible for a month, large for a few hundred requests); 0 applies the limits as fixed numbers.",
    )
    min_rows: int = Field(
        default=200, ge=1, description="Fewer current rows than this are reported but not judged (the checks pass)."
    )
    baseline_months: str | None = Field(
        default=None,
        description="Months to judge against (A:B); default: the months the model that scored the month was "
        "trained on (its `trained_model` materialization).",
    )


class LiveDriftConfig(DriftConfig):
    """The drift checks' limits, applied to the gateway's latest logged requests."""

    window_lines: int = Field(default=20_000, ge=1, description="How many of the newest logged predictions are judged.")


def limits_for(config: DriftConfig, level: str, family: str) -> dict[str, float]:
    """The limits one family is held to at ``level`` (``warn`` or ``block``)."""
    if level == "warn":
        return {**_family_warn(), **config.family_warn}.get(family, config.warn).as_dict()
    return {**_family_block(), **config.family_block}.get(family, config.block).as_dict()


def check_families(config: DriftConfig, families: Sequence[str]) -> None:
    """A Failure naming them if the configured limits name families that do not exist.

    The shipped limits name this pipeline's families; a code location whose families differ ignores them.
    """
    known = {*families, PREDICTION}
    for name, shipped in (("family_warn", _family_warn()), ("family_block", _family_block())):
        given = getattr(config, name)
        unknown = sorted(set(given) - known)
        if unknown and given != shipped:
            raise dg.Failure(
                description=f"{name} names unknown feature families {', '.join(unknown)}; "
                f"the families are {', '.join(sorted(known))}",
                allow_retries=False,
            )


def categorical_columns(frame: "pd.DataFrame", columns: Sequence[str]) -> set[str]:
    """The columns of ``frame`` that hold categories (not numbers): judged by category frequencies."""
    import pandas as pd

    return {c for c in columns if c in frame.columns and not pd.api.types.is_numeric_dtype(frame[c].dtype)}


# --- what the model was trained on ----------------------------------------------------------------


def trained_months(instance: dg.DagsterInstance, version: str | None) -> tuple[str, list[str]] | None:
    """(model version, its training months) from ``trained_model``'s materializations; the newest if no version."""
    cursor = None
    while True:
        found = instance.fetch_materializations(dg.AssetKey(TRAINED_MODEL), limit=100, cursor=cursor)
        for record in found.records:
            event = record.asset_materialization
            if event is None:
                continue
            meta = {key: value.value for key, value in event.metadata.items()}
            if "training_months" in meta and (version is None or str(meta.get("model_version")) == version):
                try:
                    return str(meta.get("model_version")), partition_months(str(meta["training_months"]))
                except dg.Failure:
                    continue
        if not found.has_more:
            return None
        cursor = found.cursor


def baseline_for(
    instance: dg.DagsterInstance, config: DriftConfig, version: str | None
) -> tuple[str | None, list[str]]:
    """The model version judged and the baseline months: configured, else the model's training months."""
    if config.baseline_months:
        return version, partition_months(config.baseline_months)
    found = trained_months(instance, version) or (trained_months(instance, None) if version is None else None)
    if found is None:
        which = f"version {version}" if version else "any model"
        raise dg.Failure(
            description=f"no {TRAINED_MODEL} materialization names the training months of {which}: "
            "materialize trained_model, or set baseline_months",
            allow_retries=False,
        )
    return found


# --- scoring -------------------------------------------------------------------------------------


class Baselines:
    """Profiles of the baseline months, built once per set of months and model version."""

    def __init__(self, warehouse: Warehouse, frame: "pd.DataFrame", months: "pd.Series", columns: list[str]):
        self.warehouse, self.frame, self.months, self.columns = warehouse, frame, months, columns
        self.categorical = categorical_columns(frame, columns)
        self._features: dict[tuple[str, ...], tuple[dict[str, Profile], int]] = {}
        self._predictions: dict[tuple[str, tuple[str, ...]], Profile | None] = {}

    def features(self, baseline: list[str]) -> "tuple[dict[str, Profile], int]":
        from openclaw_assets.observability import drift

        key = tuple(baseline)
        if key not in self._features:
            rows = self.frame[self.months.isin(set(baseline)).to_numpy()]
            if not len(rows):
                held = sorted(self.months.unique())
                span = f"{held[0]}..{held[-1]}" if held else "no month"
                raise dg.Failure(
                    description=f"the training set holds no rows of the baseline months {format_range(baseline)} "
                    f"(it holds {span}): set baseline_months to months it holds",
                    allow_retries=False,
                )
            self._features[key] = (drift.profile_frame(rows, self.columns, self.categorical), len(rows))
        return self._features[key]

    def prediction(self, version: str, baseline: list[str]) -> "Profile | None":
        """The model's batch predictions of the baseline months, profiled (None where there are none)."""
        from openclaw_assets.observability import drift

        key = (version, tuple(baseline))
        if key not in self._predictions:
            scores = [p for p in (predictions_of(self.warehouse, m, version) for m in baseline) if p is not None]
            profile = None
            if scores:
                import numpy as np

                profile = drift.profile(PROBABILITY, np.concatenate(scores), False)
            self._predictions[key] = profile
        return self._predictions[key]


def predictions_of(warehouse: Warehouse, month: str, version: str | None = None):
    """The probabilities one model version gave a month's flights in batch (all versions if None), or None."""
    import pandas as pd

    path = warehouse.path(*PREDICTIONS, month)
    if not path.exists():
        return None
    frame = pd.read_parquet(path, columns=["probability", "model_version"])
    if version is not None:
        frame = frame[frame["model_version"].astype(str) == version]
    return frame["probability"].to_numpy() if len(frame) else None


def month_version(warehouse: Warehouse, month: str) -> str | None:
    """The model version that scored most of a month's flights in batch (None if it was not scored)."""
    import pandas as pd

    path = warehouse.path(*PREDICTIONS, month)
    if not path.exists():
        return None
    versions = pd.read_parquet(path, columns=["model_version"])["model_version"].astype(str)
    return str(versions.mode().iloc[0]) if len(versions) else None


def judge(
    config: DriftConfig, scores: "list[Scores]", family_of: Mapping[str, str], rows: int
) -> tuple[dict[str, Outcome], list[dict[str, Any]]]:
    """Both checks' outcomes for one sample, and a record per feature with its scores and verdict."""
    records: list[dict[str, Any]] = []
    over: dict[str, list[tuple[Any, str, list[str]]]] = {"warn": [], "block": []}
    judged = rows >= config.min_rows
    for score in scores:
        family = family_of[score.feature]
        level = "ok"
        for name in ("warn", "block"):
            past = score.over(limits_for(config, name, family)) if judged else []
            if past:
                level = name
                over[name].append((score, family, past))
        records.append({"family": family, **score.as_record(), "level": level if judged else "not judged"})

    def outcome(name: str, label: str) -> Outcome:
        found = over[name]
        if not judged:
            return Outcome(True, f"not judged: {rows} rows, fewer than min_rows {config.min_rows}", {"rows": rows})
        described = []
        for score, family, past in found[:8]:
            limits = limits_for(config, name, family)
            parts = ", ".join(
                f"{s} {score.value(s):.3f} > {limits[s]:g} + {score.allowance.get(s, 0.0):.3f}" for s in past
            )
            described.append(f"{score.feature} ({family}: {parts})")
        summary = (
            f"{len(found)} of {len(scores)} features past the {label} limits: " + "; ".join(described)
            if found
            else f"no feature of {len(scores)} past the {label} limits ({rows:,} rows)"
        )
        return Outcome(not found, summary, {"features_past": len(found), "rows": rows})

    return {DRIFT_WARNING: outcome("warn", "warning"), DRIFT_LIMIT: outcome("block", "blocking")}, records


FEATURE_COLUMNS = [
    "family",
    "feature",
    "psi",
    "ks",
    "js",
    "null_rise",
    "null_share",
    "baseline_null_share",
    "rows",
    "baseline_rows",
    "level",
]


def drift_metadata(records: list[dict[str, Any]], families: Sequence[str]) -> dict[str, Any]:
    """``<family>/<statistic>`` (the family's worst feature), ``drifted_features`` and the table of every feature."""
    import math

    from openclaw_assets.kernel.reporting import table
    from openclaw_assets.observability.drift import STATISTICS

    out: dict[str, Any] = {}
    for family in [*families, PREDICTION]:
        mine = [r for r in records if r["family"] == family]
        for statistic in STATISTICS:
            values = [float(r[statistic]) for r in mine if not math.isnan(float(r[statistic]))]
            if values:
                out[f"{family}/{statistic}"] = max(values)
    out["drifted_features"] = sum(r["level"] in ("warn", "block") for r in records)
    out["blocking_features"] = sum(r["level"] == "block" for r in records)
    digest = hashlib.sha256(json.dumps(records, sort_keys=True, default=str).encode()).hexdigest()
    out["content_sha256"] = digest
    out["features"] = table(records, FEATURE_COLUMNS)
    return out


def _check_specs(asset: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            DRIFT_WARNING,
            asset=asset,
            description="No feature or prediction drifted past the warning limits (a look is due, nothing stops).",
        ),
        dg.AssetCheckSpec(
            DRIFT_LIMIT,
            asset=asset,
            blocking=True,
            description="No feature or prediction drifted past the blocking limits (the model no longer sees what "
            "it learned from).",
        ),
    ]


# --- the assets ----------------------------------------------------------------------------------


def build_assets(families: Mapping[str, Sequence[str]]) -> list[dg.AssetsDefinition]:
    """``feature_drift`` and ``live_drift`` over the model's inputs, by family (family name -> column names)."""
    family_of = {column: family for family, columns in families.items() for column in columns}
    family_of[PROBABILITY] = PREDICTION
    columns = [column for names in families.values() for column in names]

    @dg.asset(
        partitions_def=MONTHS,
        backfill_policy=SINGLE_RUN,
        group_name="observability",
        deps=[TRAINING_SET[1], "batch_predictions"],
        kinds={"numpy"},
        automation_condition=ON_NEW_DATA,
        code_version=CODE_VERSION,
        output_required=False,
        check_specs=_check_specs("feature_drift"),
        description="Each month's model inputs and predictions against the months the model trained on: PSI, KS "
        "and Jensen-Shannon per feature, worst per family.",
    )
    def feature_drift(context: dg.AssetExecutionContext, config: DriftConfig, warehouse: Warehouse):
        """How far each month's model inputs and predictions moved from the model's training months."""
        from openclaw_assets.kernel.reporting import check_results
        from openclaw_assets.observability import drift

        check_families(config, list(families))
        frame = warehouse.read(*TRAINING_SET, columns=["event_timestamp", *columns], why="the model inputs")
        months = month_keys(frame)
        baselines = Baselines(warehouse, frame, months, columns)
        gates: dict[str | None, dict[str, Outcome]] = {}
        for month in context.partition_keys:
            current = frame[(months == month).to_numpy()]
            if not len(current):
                held = sorted(months.unique())
                context.log.warning(
                    f"{month}: not measured, the training set holds no rows of it "
                    f"({held[0] + '..' + held[-1] if held else 'no month'})"
                )
                continue
            started = time.perf_counter()
            version, baseline = baseline_for(context.instance, config, month_version(warehouse, month))
            profiles, baseline_rows = baselines.features(baseline)
            scores = drift.compare_frame(profiles, current, config.chance_level)
            note = "no batch predictions of this month"
            if version is not None:
                scored = predictions_of(warehouse, month, version)
                reference = baselines.prediction(version, baseline)
                if scored is not None and reference is not None:
                    scores.append(drift.compare(reference, scored, config.chance_level))
                    note = f"v{version}'s batch predictions against its predictions of the baseline months"
                else:
                    note = f"no batch predictions of the baseline months by v{version}"
            outcomes, records = judge(config, scores, family_of, len(current))
            seconds = time.perf_counter() - started
            gates[month] = outcomes
            metadata = drift_metadata(records, list(families)) | {
                "dagster/row_count": len(current),
                "baseline_months": format_range(baseline),
                "baseline_rows": baseline_rows,
                "model_version": version or "",
                "prediction_drift": note,
                "seconds": seconds,
            }
            context.log.info(
                f"{month}: {metadata['drifted_features']} features past the warning limits, "
                f"{metadata['blocking_features']} past the blocking ones, against {format_range(baseline)} "
                f"({seconds:.2f}s)"
            )
            yield dg.AssetMaterialization(asset_key=context.asset_key, partition=month, metadata=metadata)
        if not gates:
            gates[None] = dict.fromkeys(DRIFT_CHECKS, Outcome(True, "no month measured: none is in the training set"))
        yield from check_results("feature_drift", gates, warn_only=frozenset({DRIFT_WARNING}))

    @dg.asset(
        group_name="observability",
        deps=[TRAINING_SET[1], "batch_predictions"],
        kinds={"numpy"},
        automation_condition=ON_SCHEDULE,
        code_version=CODE_VERSION,
        check_specs=_check_specs("live_drift"),
        description="The gateway's latest logged requests against the serving model's training months: PSI, KS "
        "and Jensen-Shannon per feature and of the probabilities.",
    )
    def live_drift(context: dg.AssetExecutionContext, config: LiveDriftConfig, warehouse: Warehouse):
        """How far live traffic's inputs and predictions moved from what the serving model trained on."""
        from openclaw_assets.kernel.reporting import check_results
        from openclaw_assets.observability import drift

        check_families(config, list(families))
        started = time.perf_counter()
        lines, without_inputs, skipped = read_live(warehouse.root / Path(*PREDICTION_LOG), config.window_lines)
        base = {"live_rows": len(lines), "lines_without_inputs": without_inputs, "torn_lines_skipped": skipped}
        if not lines:
            outcome = Outcome(True, f"not judged: no logged prediction carries its inputs ({without_inputs} without)")
            yield dg.MaterializeResult(metadata=base | {"dagster/row_count": 0})
            yield from check_results("live_drift", {None: dict.fromkeys(DRIFT_CHECKS, outcome)})
            return
        import pandas as pd

        serving = Counter(str(line.get("model_version")) for line in lines).most_common(1)[0][0]
        version, baseline = baseline_for(context.instance, config, serving)
        frame = warehouse.read(*TRAINING_SET, columns=["event_timestamp", *columns], why="the training baseline")
        baselines = Baselines(warehouse, frame, month_keys(frame), columns)
        profiles, baseline_rows = baselines.features(baseline)
        current = pd.DataFrame.from_records([line["inputs"] for line in lines], columns=columns)
        scores = drift.compare_frame(profiles, current, config.chance_level)
        note = f"no batch predictions of the baseline months by v{version}"
        reference = baselines.prediction(str(version), baseline) if version is not None else None
        if reference is not None:
            served = [float(line["probability"]) for line in lines if str(line.get("model_version")) == version]
            scores.append(drift.compare(reference, served, config.chance_level))
            note = f"v{version}'s live probabilities against its batch predictions of the baseline months"
        outcomes, records = judge(config, scores, family_of, len(current))
        first, last = min(line.get("ts", "") for line in lines), max(line.get("ts", "") for line in lines)
        metadata = (
            drift_metadata(records, list(families))
            | base
            | {
                "dagster/row_count": len(current),
                "window": f"{first} to {last}",
                "baseline_months": format_range(baseline),
                "baseline_rows": baseline_rows,
                "model_version": version or "",
                "prediction_drift": note,
                "seconds": time.perf_counter() - started,
            }
        )
        context.log.info(
            f"{len(current)} live predictions: {metadata['drifted_features']} features past the warning limits"
        )
        yield dg.MaterializeResult(metadata=metadata)
        yield from check_results("live_drift", {None: outcomes}, warn_only=frozenset({DRIFT_WARNING}))

    return [feature_drift, live_drift]


def read_live(root: Path, window: int) -> tuple[list[dict[str, Any]], int, int]:
    """The newest ``window`` logged predictions that carry their inputs; lines without inputs; torn lines.

    Segments are read newest first (by UTC day, then by name and modification time) until the window is
    full; a torn last line (a write cut short) or an unreadable one is skipped and counted.
    """
    files = sorted(root.glob("*/*.jsonl"), key=lambda p: (p.parent.name, p.stat().st_mtime, p.name), reverse=True)
    found: list[dict[str, Any]] = []
    without = skipped = 0
    for path in files:
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        skipped += int(end < len(data))
        kept = []
        for line in data[:end].split(b"\n"):
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if isinstance(record, dict) and isinstance(record.get("inputs"), dict):
                kept.append(record)
            else:
                without += 1
        found = kept + found
        if len(found) >= window:
            break
    return found[-window:], without, skipped
