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

from bench import _project as p
from bench.models import TRAINING_SET, default_home, needs
from bench.runner import BenchError, Case, imports, run_task

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


def month_keys(frame):
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

    from openclaw_assets.kernel.months import month_keys
    from openclaw_assets.observability import drift
    from openclaw_assets.observability.drift_assets import DriftConfig, categorical_columns, limits_for

    config = DriftConfig(**spec["config"])
    families: dict[str, list[str]] = spec["families"]
    columns = [c for names in families.values() for c in names]
    frame = pd.read_parquet(spec["training_set"])
    months = month_keys(frame).to_numpy()
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

    timed = frame[months == spec["timed_month"]].reset_index(drop=True)
    peer = peer_month(baseline, timed, columns, categorical)
    started = time.perf_counter()
    ours = drift.compare_frame(profiles, timed, config.chance_level)
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    drift.compare_frame(profiles, frame, config.chance_level)
    whole_s = time.perf_counter() - started
    numeric = [o for o in ours if o.feature not in categorical]
    complete = [o for o in numeric if not o.null_share and not o.baseline_null_share]
    agreement = {
        "ks_no_nulls": max(abs(o.ks - peer["scores"][o.feature]["ks"]) for o in complete) if complete else None,
        "psi": max(abs(o.psi - peer["scores"][o.feature]["psi"]) for o in numeric),
        "js": max(abs(o.js - peer["scores"][o.feature]["js"]) for o in numeric),
        "numeric_columns": len(numeric),
        "no_null_columns": len(complete),
    }
    return {
        "import_s": import_s,
        "records": records,
        "profile_s": profile_s,
        "month_s": month_s,
        "timed_month_s": ours_s,
        "whole_s": whole_s,
        "whole_rows": len(frame),
        "baseline_rows": len(baseline),
        "timed_month_rows": len(timed),
        "columns": len(columns),
        "peer_s": peer["seconds"],
        "peer_import_s": peer["import_s"],
        "agreement": agreement,
        "limits": limits,
    }


def peer_month(baseline, current, columns: list[str], categorical: set[str]) -> dict[str, Any]:
    """The same month scored column by column: ``scipy.stats.ks_2samp``, a plain pandas PSI and scipy's JS.

    PSI's bins are ``pd.qcut``'s deciles of the baseline (duplicate edges dropped), nulls a bin of their
    own, categories every category the baseline has; KS is on the non-null values, as ``ks_2samp`` takes them.
    """
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
            p = b.astype(object).fillna("<null>").astype(str).value_counts(normalize=True)
            q = c.astype(object).fillna("<null>").astype(str).value_counts(normalize=True)
            p, q = p.align(q, fill_value=0.0)
            statistic = 0.5 * float(np.abs(p - q).sum())
        else:
            b, c = pd.to_numeric(b), pd.to_numeric(c)
            cuts = pd.qcut(b, 10, retbins=True, duplicates="drop")[1]
            cuts[0], cuts[-1] = -np.inf, np.inf
            p = pd.cut(b, cuts, right=False).value_counts(normalize=True, sort=False, dropna=False)
            q = pd.cut(c, cuts, right=False).value_counts(normalize=True, sort=False, dropna=False)
            p, q = p.align(q, fill_value=0.0)
            statistic = float(ks_2samp(b.dropna().to_numpy(), c.dropna().to_numpy()).statistic)
        p, q = np.maximum(p.to_numpy(), 1e-4), np.maximum(q.to_numpy(), 1e-4)
        scores[column] = {
            "psi": float(np.sum((q - p) * np.log(q / p))),
            "ks": statistic,
            "js": float(jensenshannon(p, q, base=2)),
        }
    return {"seconds": time.perf_counter() - started, "import_s": import_s, "scores": scores}


# ---------------------------------------------------------------- tables


def _rate(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)}" if flags else "–"


def tables(report: dict[str, Any], families: list[str], spec: dict[str, Any]) -> dict[str, Any]:
    """The calibration table (false alarms, detection per injection, warn and block) and the timing rows."""
    records = report["records"]
    real = {(r["month"], r["feature"]): r for r in records if r["injection"] == "none"}
    header = [
        "family",
        "features",
        f"false alarms (months of {len(spec['months'])})",
        *(INJECTION_NAMES[i] for i in INJECTIONS),
    ]
    rows: list[list[str]] = []
    misses: dict[str, dict[str, list[str]]] = {}
    for family in [*families, PREDICTION]:
        mine = [r for r in records if r["family"] == family]
        features = sorted({r["feature"] for r in mine})
        cells = [f"`{family}`", str(len(features))]
        alarms = []
        for level in LEVELS:
            by_month: dict[str, bool] = {}
            for r in mine:
                if r["injection"] == "none":
                    by_month[r["month"]] = by_month.get(r["month"], False) or bool(r[f"over_{level}"])
            alarms.append(f"{sum(by_month.values())}")
        cells.append(" / ".join(alarms))
        for injection in INJECTIONS:
            broken = [r for r in mine if r["injection"] == injection]
            if not broken:
                cells.append("n/a")
                continue
            parts = []
            for level in LEVELS:
                clean = [r for r in broken if not real[(r["month"], r["feature"])][f"over_{level}"]]
                parts.append(_rate([bool(r[f"over_{level}"]) for r in clean]))
            cells.append(" / ".join(parts))
            applicable = sorted({r["feature"] for r in broken})
            for feature in applicable:
                caught = [bool(r["over_warn"]) for r in broken if r["feature"] == feature]
                if sum(caught) < len(caught) / 2:
                    missed = misses.setdefault(family, {}).setdefault(INJECTION_NAMES[injection], [])
                    missed.append(feature)
            missed = misses.get(family, {}).get(INJECTION_NAMES[injection])
            if missed is not None and len(missed) == len(applicable) > 1:
                misses[family][INJECTION_NAMES[injection]] = [f"all {len(applicable)}"]
        rows.append(cells)
    agreement = report["agreement"]
    month_rows = report["timed_month_rows"]
    ours, peer = report["timed_month_s"], report["peer_s"]
    timing = [
        [
            f"{spec['timed_month']} ({month_rows:,} rows x {report['columns']} columns) against the baseline's profile",
            f"{ours:.2f} s",
            f"{peer:.2f} s",
            f"{ours / peer:.3f}x" if peer else "n/a",
        ],
        [
            f"profile of the baseline ({report['baseline_rows']:,} rows), once per run",
            f"{report['profile_s']:.2f} s",
            "–",
            "–",
        ],
        [
            f"every month at once ({report['whole_rows']:,} rows) against the profile",
            f"{report['whole_s']:.2f} s",
            "–",
            "–",
        ],
        [
            "each month, median (max)",
            f"{_median(report['month_s']):.2f} s ({max(report['month_s']):.2f} s)",
            "–",
            "–",
        ],
    ]
    limits = report["limits"]
    shipped = []
    statistics = ("psi", "ks", "js", "null_rise")
    for family in [*families, PREDICTION]:
        warn, block = limits["warn"][family], limits["block"][family]
        mine = [r for r in records if r["family"] == family and r["injection"] == "none"]
        largest = " / ".join(f"{max(r[s] for r in mine):.3f}" for s in statistics) if mine else "–"
        shipped.append([f"`{family}`", *(f"{warn[s]:g} / {block[s]:g}" for s in statistics), largest])
    markdown = [
        f"Every 2013 month of the training set against the champion's training months ({spec['baseline_span']},"
        f" {report['baseline_rows']:,} rows), at the limits `DriftConfig` ships (warn / block). A false alarm is a"
        " month whose real data crosses a limit in that family; detection counts the (month, feature) pairs whose"
        " injected change crosses one, among the pairs that did not cross it unchanged:",
        "",
        *_table(header, rows),
        "",
        "The limits (warn / block; each rises by the score a sample of that size reaches by chance at"
        f" `chance_level` {spec['config'].get('chance_level', 0.01)}), and the largest score of any feature of the"
        " family in any of these months, unbroken. The limits were set above those: the false alarms above are"
        " in-sample, and the headroom is what a new year has before it alarms:",
        "",
        *_table(["family", "PSI", "KS", "JS", "null rise", "largest real PSI / KS / JS / null rise"], shipped),
        "",
        "Not caught at the warning limits in most months, by family:",
        "",
        *(
            f"- `{family}`: " + "; ".join(f"{what}: {', '.join(features)}" for what, features in found.items())
            for family, found in misses.items()
        ),
        "",
        "Drift computation time (the statistics alone; the peer is `scipy.stats.ks_2samp` and a pandas PSI, column"
        " by column, on the same month):",
        "",
        *_table(["measure", "ours", "peer", "ours / peer"], timing),
        "",
        f"KS agrees with `ks_2samp` to {agreement['ks_no_nulls']:.1e} on the {agreement['no_null_columns']} numeric"
        f" columns without nulls (ours counts a null below every value, `ks_2samp` drops nulls); PSI and JS differ"
        f" from the peer's by at most {agreement['psi']:.3f} and {agreement['js']:.3f} (its quantiles interpolate,"
        " ours are the baseline's own values).",
    ]
    return {"rows": [header, *rows], "markdown": markdown, "misses": misses}


def _median(values: list[float]) -> float:
    import statistics

    return float(statistics.median(values))


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    from bench.runner import _table as table

    return table(headers, rows)


def measure_drift(
    home: str | None = None,
    months: str = "2013-01:2013-12",
    timed_month: str = "2013-07",
    seed: int = 13,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    import pandas as pd

    root = needs(Path(home or default_home()), str(TRAINING_SET), str(PREDICTIONS))
    wanted = p.months_of(months)
    present = [m for m in wanted if (root / PREDICTIONS / f"{m}.parquet").exists()]
    if present != wanted:
        raise BenchError(f"{root / PREDICTIONS} lacks {sorted(set(wanted) - set(present))}: run `openclaw run` first")
    # the champion of a finished `openclaw run` was trained on the months its split keeps for training
    baseline_months, _ = p.split_months(wanted)
    versions = pd.concat(
        [pd.read_parquet(root / PREDICTIONS / f"{m}.parquet", columns=["model_version"]) for m in wanted]
    )["model_version"].astype(str)
    if versions.nunique() != 1:
        raise BenchError(f"the months were scored by versions {sorted(versions.unique())}: one champion is needed")
    families = p.feature_families()
    spec = {
        "training_set": str(root / TRAINING_SET),
        "predictions": str(root / PREDICTIONS),
        "families": families,
        "baseline_months": baseline_months,
        "baseline_span": f"{baseline_months[0]}..{baseline_months[-1]}",
        "months": wanted,
        "model_version": versions.iloc[0],
        "config": config or {},
        "seed": seed,
        "timed_month": timed_month,
    }
    child = run_task("bench.drift:score_all", spec, timeout_s=1800)
    report = child.report
    if report["agreement"]["ks_no_nulls"] is not None and report["agreement"]["ks_no_nulls"] > 1e-9:
        raise BenchError(
            f"KS differs from ks_2samp's by {report['agreement']['ks_no_nulls']} on a column without nulls"
        )
    built = tables(report, list(families), spec)
    notes = [
        f"child: {child.wall_s:.0f} s wall, {child.max_rss_mib:.0f} MiB peak; imports {report['import_s']:.1f} s"
        f" (the peer's scipy.stats {report['peer_import_s']:.1f} s more)"
    ]
    summary = {k: v for k, v in report.items() if k != "records"}
    return {**built, "notes": notes, "report": summary, "model_version": spec["model_version"]}


CASES = [
    Case(
        "drift",
        "Observability",
        "`observability.drift` (numpy, `scipy.special`) at `DriftConfig`'s limits: each 2013 month of the training"
        " set and its batch predictions against the champion's training months, and each feature broken four ways",
        "`scipy.stats.ks_2samp` per column and a plain pandas PSI (`pd.qcut` deciles) with scipy's JS, on the same"
        " month",
        "false alarms per family (months of 12), detection per family and injection (warn / block); seconds per"
        " month, for the baseline's profile and for the year",
        "ours ÷ peer time; KS must equal `ks_2samp`'s on columns without nulls",
        measure_drift,
        full={"home": None, "months": "2013-01:2013-12", "timed_month": "2013-07", "seed": 13, "config": {}},
        quick={"months": "2013-01:2013-04", "timed_month": "2013-02"},
        libraries=("scipy",),
        minutes="1 to 2",
        block="drift",
    ),
]
