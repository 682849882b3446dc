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
from openclaw_assets.kernel.months import LOCAL_TZ, month_keys

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


def feature_families() -> dict[str, list[str]]:
    """The model's inputs by family, for drift: the request's own fields, the entity keys, then each view's."""
    return {
        "request": list(REQUEST_FIELDS),
        "entity": ["carrier", "origin", "route"],
        **{view.name: list(view.features) for view in VIEWS},
    }


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


def calibration_standard_error(labels, scores, clusters=None, bins: int = CALIBRATION_BINS) -> float:
    """How far the calibration error can move by sampling alone: its bins' standard errors, weighted as it weighs them.

    Each bin's gap is its rows' mean of ``label - score``; its standard error is that mean's, cluster-robust
    over ``clusters`` (one key per row: flights of one local day move together, as a storm delays hundreds
    of them at once), from the residuals centred on the bin's own gap. Without clusters every row is its own,
    and a bin's standard error is about ``sqrt(p (1 - p) / n_bin)``. The result is
    ``sum(n_bin / n * se_bin)``: the calibration error a model off by nothing but sampling would show at
    about ``sqrt(2 / pi)`` times it.
    """
    import numpy as np
    import pandas as pd

    labels = np.asarray(labels, dtype="float64")
    scores = np.asarray(scores, dtype="float64")
    if not len(scores):
        return float("nan")
    in_bin = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], scores)  # binned as calibration_curve bins
    residuals = labels - scores
    keys = np.arange(len(scores)) if clusters is None else np.asarray(clusters)
    frame = pd.DataFrame({"bin": in_bin, "key": keys, "residual": residuals})
    frame["centred"] = frame["residual"] - frame.groupby("bin")["residual"].transform("mean")
    per_cluster = frame.groupby(["bin", "key"], sort=False)["centred"].sum()
    spread = np.sqrt((per_cluster**2).groupby(level="bin").sum())  # sqrt(sum over clusters of their sums squared)
    return float(spread.sum() / len(scores))  # sum(n_bin / n * spread_bin / n_bin)


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's (1982) standard error of an AUC measured on ``positives`` and ``negatives`` rows."""
    import math

    if positives < 1 or negatives < 1 or math.isnan(auc):
        return float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    return math.sqrt(max(variance, 0.0) / (positives * negatives))


def auc_difference(labels, scores, other) -> tuple[float, float]:
    """``AUC(scores) - AUC(other)`` on the same rows, and DeLong's (1988) standard error of that difference.

    Both models score the same flights, so their AUCs move together: the paired standard error is far
    smaller than either AUC's own.
    """
    import numpy as np
    from scipy.stats import rankdata

    positive = np.asarray(labels).astype(bool)
    m, n = int(positive.sum()), int((~positive).sum())
    if m < 2 or n < 2:
        return float("nan"), float("nan")
    placements = []
    for values in (np.asarray(scores, dtype="float64"), np.asarray(other, dtype="float64")):
        ranks = rankdata(values)
        # each positive's share of negatives scored below it (ties count half), and each negative's of positives above
        v10 = (ranks[positive] - rankdata(values[positive])) / n
        v01 = 1.0 - (ranks[~positive] - rankdata(values[~positive])) / m
        placements.append((v10, v01))
    (a10, a01), (b10, b01) = placements
    difference = float(a10.mean() - b10.mean())
    variance = np.var(a10 - b10, ddof=1) / m + np.var(a01 - b01, ddof=1) / n
    return difference, float(np.sqrt(max(variance, 0.0)))


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


def baseline_scores(train: pd.DataFrame, holdout: pd.DataFrame, seed: int):
    """The raw-columns baseline: LightGBM on the schedule alone, fit on ``train``, scoring ``holdout``."""
    prepared = prepare(train, BASELINE_FEATURES)
    return predict(fit(train, prepared, {"n_estimators": 200}, seed), prepared, holdout)


def evaluation_figures(holdout: pd.DataFrame, scores, baseline, champion=None, min_slice_rows: int = 500):
    """What the evaluation gates judge, each figure with its standard error on this holdout.

    ``scores``, ``baseline`` and ``champion`` are the three models' probabilities for the holdout's rows
    (``champion`` None when there is none). Returns the challenger's metrics with ``auc_se`` (Hanley-McNeil),
    ``calibration_se`` (flights clustered by local day) and ``days``; the baseline's metrics with the
    challenger's ``lift`` over it and its paired (DeLong) ``lift_se``; the champion's with ``difference``
    and ``difference_se`` likewise (or None); and the slice table.
    """
    import numpy as np

    labels = holdout[LABEL].to_numpy()
    found = metrics(labels, scores)
    positives = int(np.sum(labels))
    days = day_keys(holdout).to_numpy()
    found |= {
        "auc_se": auc_standard_error(found["auc"], positives, len(labels) - positives),
        "calibration_se": calibration_standard_error(labels, scores, days),
        "days": float(len(np.unique(days))),
    }
    base = metrics(labels, baseline)
    base["lift"], base["lift_se"] = auc_difference(labels, scores, baseline)
    against = None
    if champion is not None:
        against = metrics(labels, champion)
        against["difference"], against["difference_se"] = auc_difference(labels, scores, champion)
    return found, base, against, slice_metrics(holdout, scores, min_slice_rows)


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
            positives = int(group[LABEL].sum())
            rows.append(
                {
                    "slice": f"{column}={value}",
                    "rows": len(group),
                    "auc": found["auc"],
                    "auc_se": auc_standard_error(found["auc"], positives, len(group) - positives),
                    "calibration_error": found["calibration_error"],
                }
            )
    return pd.DataFrame(rows, columns=SLICE_COLUMNS)


SLICE_COLUMNS = ["slice", "rows", "auc", "auc_se", "calibration_error"]


def day_keys(frame: pd.DataFrame) -> pd.Series:
    """Each flight's local day (``YYYY-MM-DD`` in New York): the clusters its delays come in."""
    import pandas as pd

    times = pd.to_datetime(frame["event_timestamp"])
    if times.dt.tz is None:
        times = times.dt.tz_localize("UTC")
    return times.dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d")


def split(frame: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    """The rows whose local month is one of ``months`` (``YYYY-MM`` keys)."""
    return frame[month_keys(frame).isin(set(months)).to_numpy()].reset_index(drop=True)
