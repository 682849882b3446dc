"""Training and evaluating the delay model as pure functions of the training set.

The model is LightGBM (gradient-boosted trees): a single-row prediction costs about 0.1 ms
against about 4 ms for scikit-learn's HistGradientBoosting, and the serving gateway pays that
on every request. Deterministic settings make the same data and seed give the same model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openclaw_assets.features.repo import VIEWS
from openclaw_assets.kernel.months import LOCAL_TZ

if TYPE_CHECKING:
    import pandas as pd

LABEL = "delayed"
DECISION_THRESHOLD = 0.5
"""The probability at which a flight's decision is ``delayed``: the gateway's and batch scoring's default."""
REQUEST_FIELDS = ["day_of_week", "hour", "minute", "distance"]
CATEGORICAL = ["carrier", "origin", "route", "plane_engine_type"]
FEATURES = [*REQUEST_FIELDS, "carrier", "origin", "route", *[name for view in VIEWS for name in view.features]]
BASELINE_FEATURES = [*REQUEST_FIELDS, "carrier", "origin", "route"]
"""Raw columns only: what a flight's schedule says, no joined features."""
SLICES = ["carrier", "origin", "month"]
"""Slices the evaluation gates; ``month`` is the flight's local month key (``month_keys``)."""


@dataclass
class Prepared:
    """Model inputs with categories fixed at training time, and the ranges seen in training."""

    features: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    def frame(self, data: pd.DataFrame) -> pd.DataFrame:
        """The frame LightGBM fits on: categories as pandas categoricals, numbers as floats.

        Scoring does not go through here but through ``pyfunc.FlightDelayModel``, which maps
        categories to the same codes (their position in ``categories``).
        """
        import pandas as pd

        out = data[self.features].copy()
        for column in self.features:
            if column in self.categories:
                out[column] = pd.Categorical(out[column].astype(object), categories=self.categories[column])
            else:
                out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
        return out

    def to_json(self) -> str:
        """The prepared inputs as JSON, saved beside the booster when the model is logged."""
        import json

        ranges = {column: list(bounds) for column, bounds in self.ranges.items()}
        return json.dumps({"features": self.features, "categories": self.categories, "ranges": ranges}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Prepared:
        import json

        data = json.loads(text)
        ranges = {column: (float(low), float(high)) for column, (low, high) in data["ranges"].items()}
        return cls(features=list(data["features"]), categories=dict(data["categories"]), ranges=ranges)


def prepare(train: pd.DataFrame, features: list[str]) -> Prepared:
    import pandas as pd

    prepared = Prepared(features=list(features))
    for column in features:
        if column in CATEGORICAL:
            prepared.categories[column] = sorted(train[column].dropna().astype(str).unique().tolist())
        else:
            values = pd.to_numeric(train[column], errors="coerce").dropna()
            if len(values):
                prepared.ranges[column] = (float(values.min()), float(values.max()))
    return prepared


def fit_threads() -> int:
    """Threads for the fit: the CPUs this process may run on, less those other tasks are running on now.

    LightGBM's OpenMP threads meet at a barrier many times per tree, and libgomp spins there before it
    sleeps. A thread per CPU while other processes want those CPUs too means each barrier waits for a
    descheduled thread while its siblings burn their time slices spinning. On 2 shared cores beside
    two busy loops, the delay model's fit (400 trees) took 423 s (140 CPU seconds) with a fixed 2
    threads and 40 s (17 CPU seconds) with the one thread this chooses there; 2 threads started with
    ``OMP_WAIT_POLICY=PASSIVE``, which libgomp reads only when it loads, took 64 s: without spinning,
    a barrier still waits for the descheduled thread (bench's ``contention`` case). ``/proc/loadavg``
    counts the whole machine, so in a container on a busy host this errs towards one thread. The
    model does not depend on the thread count (``deterministic``, ``force_row_wise``: the same
    holdout AUC with 1 and 2 threads).
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:  # the fourth field of /proc/loadavg: tasks runnable right now / all tasks; this one is runnable
        others = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError):
        others = 0
    return max(1, usable - max(0, others))


def fit(train: pd.DataFrame, prepared: Prepared, params: dict[str, Any], seed: int):
    import lightgbm as lgb

    model = lgb.LGBMClassifier(
        **params, random_state=seed, deterministic=True, force_row_wise=True, n_jobs=fit_threads(), verbose=-1
    )
    model.fit(prepared.frame(train), train[LABEL].astype("int64"))
    return model


def predict(model, prepared: Prepared, data: pd.DataFrame):
    """Probabilities from a fitted model through the registered model's own scoring code."""
    from openclaw_assets.models.pyfunc import FlightDelayModel

    return FlightDelayModel(model.booster_, prepared).predict(None, data)["probability"].to_numpy()


CALIBRATION_BINS = 10


def expected_calibration_error(labels, scores, bins: int = CALIBRATION_BINS) -> float:
    """The row-weighted gap between predicted and observed rates over equal-width bins.

    The per-bin rates are ``sklearn.calibration.calibration_curve(strategy="uniform")``'s, the
    points the calibration plot shows; each non-empty bin weighs its share of the rows.
    """
    import numpy as np
    from sklearn.calibration import calibration_curve

    labels = np.asarray(labels, dtype="float64")
    scores = np.asarray(scores, dtype="float64")
    if not len(scores):
        return float("nan")
    observed, predicted = calibration_curve(labels, scores, n_bins=bins, strategy="uniform", pos_label=1)
    # the rows in each of those bins, binned as calibration_curve bins them (an edge value goes below)
    counts = np.bincount(np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], scores), minlength=bins)
    shares = counts[counts > 0] / len(scores)
    return float(np.sum(shares * np.abs(observed - predicted)))


def metrics(labels, scores) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    labels = np.asarray(labels)
    scores = np.clip(np.asarray(scores, dtype="float64"), 1e-7, 1 - 1e-7)
    both = len(np.unique(labels)) == 2
    return {
        "auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
        "log_loss": float(log_loss(labels, scores, labels=[0, 1])),
        "brier": float(brier_score_loss(labels, scores)),
        "calibration_error": expected_calibration_error(labels, scores),
        "rows": float(len(labels)),
        "positive_rate": float(labels.mean()) if len(labels) else float("nan"),
    }


def slice_metrics(data: pd.DataFrame, scores, min_rows: int) -> pd.DataFrame:
    """AUC and calibration per carrier, origin and month, for slices with enough rows."""
    import pandas as pd

    frame = data[["carrier", "origin", LABEL]].assign(month=month_keys(data).to_numpy(), score=scores)
    rows = []
    for column in SLICES:
        for value, group in frame.groupby(column, sort=True):
            if len(group) < min_rows or group[LABEL].nunique() < 2:
                continue
            found = metrics(group[LABEL], group["score"])
            rows.append(
                {
                    "slice": f"{column}={value}",
                    "rows": len(group),
                    "auc": found["auc"],
                    "calibration_error": found["calibration_error"],
                }
            )
    return pd.DataFrame(rows, columns=["slice", "rows", "auc", "calibration_error"])


def month_keys(frame: pd.DataFrame) -> pd.Series:
    """Each flight's month (``YYYY-MM``), from its event time in New York: years never mix."""
    import pandas as pd

    times = pd.to_datetime(frame["event_timestamp"])
    if times.dt.tz is None:
        times = times.dt.tz_localize("UTC")
    local = times.dt.tz_convert(LOCAL_TZ)
    number = local.dt.year * 100 + local.dt.month
    return number.map({n: f"{n // 100:04d}-{n % 100:02d}" for n in number.unique()})


def split(frame: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    """The rows whose local month is one of ``months`` (``YYYY-MM`` keys)."""
    return frame[month_keys(frame).isin(set(months)).to_numpy()].reset_index(drop=True)
