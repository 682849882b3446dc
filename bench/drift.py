"""Drift case: the drift checks' false alarms over the twelve 2013 months and their detection of injected shifts.

Every month of a home's training set (its model inputs, point-in-time joined) is scored against the
baseline ``feature_drift`` takes, the months the champion trained on, with the project's own statistics
(``observability.drift``) and judged at the thresholds ``DriftConfig`` ships, per feature family. The
champion's batch predictions of each month are scored against its predictions of those months
(the ``prediction`` family). Then each feature of each month is broken one way at a time and judged
again:

- ``shift``: its values moved by 0.2 standard deviations of the baseline's;
- ``scale``: spread 1.3 times wider about the baseline's median;
- ``unit``: the same quantity in another unit, where it has one (degrees F to C, miles to km, a rate
  as a percentage, minutes to hours...), or a category recoded (codes in lower case);
- ``nulls``: a fifth of the rows null.

A month's real score counts as a false alarm when it crosses a threshold; an injected shift counts as
detected when the broken feature crosses one, among the (month, feature) pairs that did not cross it
unbroken. The peer, in the same child, is ``scipy.stats.ks_2samp`` per column and a plain pandas PSI
(``pd.qcut`` deciles of the baseline, ``value_counts``) with scipy's Jensen-Shannon distance: its time
for the same month, and how far its figures are from ours.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from bench.runner import imports

PREDICTIONS = Path("warehouse/predictions/flight_delay")
INJECTIONS = ("shift", "scale", "unit", "nulls")
INJECTION_NAMES = {
    "shift": "mean +0.2 sd",
    "scale": "spread x1.3",
    "unit": "unit change",
    "nulls": "20% nulls",
}
LEVELS = ("warn", "block")
PREDICTION = "prediction"
PROBABILITY = "probability"

MILES_TO_KM = 1.609344
UNITS: dict[str, tuple[str, Any]] = {
    "distance": ("miles to km", lambda x: x * MILES_TO_KM),
    "hour": ("local to UTC hours", lambda x: (x + 5) % 24),
    "day_of_week": ("Monday=0 to Sunday=0", lambda x: (x + 1) % 7),
    "temp": ("F to C", lambda x: (x - 32) * 5 / 9),
    "dewp": ("F to C", lambda x: (x - 32) * 5 / 9),
    "humid": ("percent to fraction", lambda x: x / 100),
    "wind_dir": ("degrees to radians", lambda x: x * math.pi / 180),
    "wind_speed": ("mph to m/s", lambda x: x * 0.44704),
    "wind_gust": ("mph to m/s", lambda x: x * 0.44704),
    "precip": ("inches to mm", lambda x: x * 25.4),
    "pressure": ("millibars to inches of mercury", lambda x: x * 0.0295300),
    "visib": ("miles to km", lambda x: x * MILES_TO_KM),
    "plane_age": ("years to months", lambda x: x * 12),
    "tail_last_dep_delay": ("minutes to hours", lambda x: x / 60),
    "route_mean_arr_delay_30d": ("minutes to hours", lambda x: x / 60),
    PROBABILITY: ("probability to percent", lambda x: x * 100),
}
"""The unit change of each feature that has a unit; rates (``*_rate_*``) become percentages. Counts, minutes
past the hour, seats and engines have no unit to change."""


def unit_change(feature: str):
    """(what changed, function) for a feature, or None when it has no unit."""
    if feature in UNITS:
        return UNITS[feature]
    if "_rate_" in feature:
        return "fraction to percent", lambda x: x * 100
    return None


def inject(kind: str, feature: str, values, reference: dict[str, float], categorical: bool, rng):
    """``values`` broken one way (a new array), or None when the injection does not apply to the feature."""
    import numpy as np
    import pandas as pd

    if kind == "nulls":
        out = pd.Series(values).astype(object if categorical else "float64").to_numpy(copy=True)
        out[rng.random(len(out)) < 0.2] = None if categorical else np.nan
        return out
    if categorical:
        if kind != "unit":
            return None
        series = pd.Series(values, dtype="object")
        return series.where(series.isna(), series.astype(str).str.lower()).to_numpy()
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64")
    if kind == "shift":
        return numbers + 0.2 * reference["sd"]
    if kind == "scale":
        return (numbers - reference["median"]) * 1.3 + reference["median"]
    change = unit_change(feature)
    return None if change is None else change[1](numbers)


# ---------------------------------------------------------------- the child


def local_months(frame):
    """Each row's New York month (``YYYY-MM``) from its event time, as the pipeline keys months."""
    import pandas as pd

    times = pd.to_datetime(frame["event_timestamp"])
    if times.dt.tz is None:
        times = times.dt.tz_localize("UTC")
    return times.dt.tz_convert("America/New_York").dt.strftime("%Y-%m")


def score_all(spec: dict[str, Any]) -> dict[str, Any]:
    """Every month's real and injected scores, judged at the shipped thresholds; and the peer's time."""
    import_s = imports("numpy", "pandas", "pyarrow.parquet", "scipy.special", "openclaw_assets.observability.drift")
    import numpy as np
    import pandas as pd

    from openclaw_assets.observability import drift
    from openclaw_assets.observability.drift_assets import DriftConfig, categorical_columns, limits_for

    config = DriftConfig(**spec["config"])
    families: dict[str, list[str]] = spec["families"]
    columns = [c for names in families.values() for c in names]
    frame = pd.read_parquet(spec["training_set"])
    months = local_months(frame).to_numpy()
    baseline_months = spec["baseline_months"]
    baseline = frame[np.isin(months, baseline_months)].reset_index(drop=True)
    categorical = categorical_columns(baseline, columns)

    started = time.perf_counter()
    profiles = drift.profile_frame(baseline, columns, categorical)
    profile_s = time.perf_counter() - started
    predictions = {m: pd.read_parquet(Path(spec["predictions"]) / f"{m}.parquet") for m in spec["months"]}
    version = spec["model_version"]
    scored_baseline = pd.concat(
        [predictions[m][predictions[m]["model_version"] == version] for m in baseline_months if m in predictions]
    )
    profiles_prediction = {PROBABILITY: drift.profile(PROBABILITY, scored_baseline[PROBABILITY], False)}
    family_of = {c: f for f, names in families.items() for c in names} | {PROBABILITY: PREDICTION}
    limits = {level: {f: limits_for(config, level, f) for f in [*families, PREDICTION]} for level in LEVELS}
    references = {
        c: {
            "sd": float(np.nanstd(pd.to_numeric(baseline[c]))),
            "median": float(np.nanmedian(pd.to_numeric(baseline[c]))),
        }
        for c in columns
        if c not in categorical
    }
    probabilities = pd.to_numeric(scored_baseline[PROBABILITY])
    references[PROBABILITY] = {"sd": float(probabilities.std()), "median": float(probabilities.median())}
    rng = np.random.default_rng(spec["seed"])

    def judged(scores, injection: str, month: str) -> dict[str, Any]:
        family = family_of[scores.feature]
        return {
            "month": month,
            "family": family,
            "feature": scores.feature,
            "injection": injection,
            **{name: scores.value(name) for name in drift.STATISTICS},
            **{f"chance_{name}": scores.allowance.get(name, 0.0) for name in drift.STATISTICS},
            **{f"over_{level}": scores.over(limits[level][family]) for level in LEVELS},
        }

    records, month_s = [], []
    for month in spec["months"]:
        current = frame[months == month].reset_index(drop=True)
        started = time.perf_counter()
        real = drift.compare_frame(profiles, current, config.chance_level)
        month_s.append(time.perf_counter() - started)
        scored = predictions[month][predictions[month]["model_version"] == version][PROBABILITY].to_numpy()
        real.append(drift.compare(profiles_prediction[PROBABILITY], scored, config.chance_level))
        records += [judged(s, "none", month) for s in real]
        for feature, reference in [*profiles.items(), *profiles_prediction.items()]:
            values = scored if feature == PROBABILITY else current[feature].to_numpy()
            for injection in INJECTIONS:
                broken = inject(injection, feature, values, references.get(feature, {}), reference.categorical, rng)
                if broken is not None:
                    records.append(judged(drift.compare(reference, broken, config.chance_level), injection, month))

    peer = peer_month(baseline, frame[months == spec["timed_month"]].reset_index(drop=True), columns, categorical)
    started = time.perf_counter()
    ours_month = drift.compare_frame(profiles, frame[months == spec["timed_month"]].reset_index(drop=True), 0.01)
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    whole = drift.compare_frame(profiles, frame, config.chance_level)
    whole_s = time.perf_counter() - started
    agreement = {
        stat: max(
            abs(getattr(o, stat) - peer["scores"][o.feature][stat]) for o in ours_month if o.feature in peer["scores"]
        )
        for stat in ("psi", "ks", "js")
    }
    ks_exact = max(
        abs(o.ks - peer["scores"][o.feature]["ks"])
        for o in ours_month
        if o.feature not in categorical and o.null_share == 0 and o.baseline_null_share == 0
    )
    return {
        "import_s": import_s,
        "records": records,
        "profile_s": profile_s,
        "month_s": month_s,
        "timed_month_s": ours_s,
        "whole_s": whole_s,
        "whole_rows": len(frame),
        "baseline_rows": len(baseline),
        "timed_month_rows": int((months == spec["timed_month"]).sum()),
        "columns": len(columns),
        "peer_s": peer["seconds"],
        "peer_import_s": peer["import_s"],
        "agreement": agreement,
        "ks_exact_difference": ks_exact,
        "limits": limits,
    }


def peer_month(baseline, current, columns: list[str], categorical: set[str]) -> dict[str, Any]:
    """The same month scored by ``scipy.stats.ks_2samp`` and a plain pandas PSI / scipy JS, columns one by one."""
    started = time.perf_counter()
    import numpy as np
    import pandas as pd
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import ks_2samp

    import_s = time.perf_counter() - started
    scores: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for column in columns:
        b, c = baseline[column], current[column]
        if column in categorical:
            p = b.fillna("<null>").astype(str).value_counts(normalize=True)
            q = c.fillna("<null>").astype(str).value_counts(normalize=True).reindex(p.index, fill_value=0.0)
            p, q = p.to_numpy(), q.to_numpy()
            distance = float("nan")
        else:
            b, c = pd.to_numeric(b), pd.to_numeric(c)
            cuts = pd.qcut(b, 10, retbins=True, duplicates="drop")[1]
            cuts[0], cuts[-1] = -np.inf, np.inf
            bp = pd.cut(b, cuts, right=False).value_counts(normalize=True, sort=False, dropna=False)
            cq = pd.cut(c, cuts, right=False).value_counts(normalize=True, sort=False, dropna=False)
            p, q = bp.to_numpy(), cq.reindex(bp.index, fill_value=0.0).to_numpy()
            distance = float(ks_2samp(b.dropna().to_numpy(), c.dropna().to_numpy()).statistic)
        p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
        scores[column] = {
            "psi": float(np.sum((q - p) * np.log(q / p))),
            "ks": distance,
            "js": float(jensenshannon(p, q, base=2)),
        }
    return {"seconds": time.perf_counter() - started, "import_s": import_s, "scores": scores}
