"""The feature plane's gates as pure functions of frames (see openclaw_assets.data.checks.Outcome)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from openclaw_assets.kernel.outcomes import Outcome

if TYPE_CHECKING:
    import pandas as pd

POINT_IN_TIME = "point_in_time"
TRAINING_ROWS = "training_row_accounting"
ONLINE_PARITY = "online_offline_parity"
ONLINE_FRESHNESS = "online_freshness"
BASELINE = "null_rate_and_range"


def point_in_time(frame: pd.DataFrame, known_at: dict[str, str], ttls: dict[str, Any]) -> Outcome:
    """No joined value became known after the flight's event time, nor longer ago than its view's TTL."""
    leaks, stale = {}, {}
    for view, column in known_at.items():
        stamps = frame[column]
        leaks[view] = int((stamps > frame["event_timestamp"]).sum())
        stale[view] = int((stamps < frame["event_timestamp"] - ttls[view]).sum())
    bad = {v: n for v, n in leaks.items() if n} | {f"{v} (older than TTL)": n for v, n in stale.items() if n}
    return Outcome(
        not bad,
        "every joined value was known at the flight's event time" if not bad else f"violations per view: {bad}",
        {"future_values": sum(leaks.values()), "older_than_ttl": sum(stale.values())},
    )


def training_rows(labelled: int, produced: int) -> Outcome:
    """The training set has exactly one row per labelled flight: nothing dropped or duplicated."""
    return Outcome(
        labelled == produced,
        f"{produced} rows for {labelled} labelled flights",
        {"labelled_flights": labelled, "training_rows": produced},
    )


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def online_parity(expected: pd.DataFrame, online: pd.DataFrame, key: str, features: list[str]) -> Outcome:
    """For each sampled entity, the online value equals the latest offline value."""
    merged = expected.merge(online, on=key, suffixes=("_offline", "_online"), how="left")
    mismatches = []
    for row in merged.to_dict("records"):
        for feature in features:
            a, b = row[f"{feature}_offline"], row[f"{feature}_online"]
            a = None if a is not None and isinstance(a, float) and math.isnan(a) else a
            b = None if b is not None and isinstance(b, float) and math.isnan(b) else b
            if not _same(a, b):
                mismatches.append(f"{row[key]}.{feature}: offline {a!r}, online {b!r}")
    return Outcome(
        not mismatches,
        f"{len(merged)} entities match" if not mismatches else f"{len(mismatches)} mismatches, e.g. {mismatches[:3]}",
        {"entities_sampled": len(merged), "mismatches": len(mismatches)},
    )


def freshness(online_end: Any, newest_partition_end: Any) -> Outcome:
    """The online store holds values up to the end of the newest partition it was asked to hold."""
    ok = online_end is not None and online_end >= newest_partition_end
    return Outcome(
        bool(ok),
        f"online store materialized up to {online_end}; the newest month materialized ends {newest_partition_end}",
        {"online_until": str(online_end), "validated_until": str(newest_partition_end)},
    )


def baseline_profile(frame: pd.DataFrame, features: list[str]) -> dict[str, dict[str, float]]:
    """Null rate and 1st/99th percentiles of each numeric feature (the stored baseline's format)."""
    import pandas as pd

    out = {}
    for feature in features:
        column = frame[feature]
        if not pd.api.types.is_numeric_dtype(column):
            continue
        values = column.astype("float64").dropna()
        out[feature] = {
            "null_rate": float(column.isna().mean()) if len(column) else 0.0,
            "p01": float(values.quantile(0.01)) if len(values) else 0.0,
            "p99": float(values.quantile(0.99)) if len(values) else 0.0,
        }
    return out


def against_baseline(
    frame: pd.DataFrame, baseline: dict[str, dict[str, float]], null_tolerance: float, outside_ceiling: float
) -> Outcome:
    """Null rates within ``null_tolerance`` of the baseline; few values outside its widened 1–99% range."""
    problems, worst = [], {}
    for feature, base in baseline.items():
        if feature not in frame:
            problems.append(f"{feature}: missing")
            continue
        column = frame[feature].astype("float64")
        null_rate = float(column.isna().mean()) if len(column) else 0.0
        if null_rate > base["null_rate"] + null_tolerance:
            problems.append(f"{feature}: null rate {null_rate:.1%} vs baseline {base['null_rate']:.1%}")
        spread = max(base["p99"] - base["p01"], 1e-9)
        low, high = base["p01"] - 0.5 * spread, base["p99"] + 0.5 * spread
        values = column.dropna()
        outside = float(((values < low) | (values > high)).mean()) if len(values) else 0.0
        worst[feature] = outside
        if outside > outside_ceiling:
            problems.append(f"{feature}: {outside:.1%} of values outside [{low:.4g}, {high:.4g}]")
    return Outcome(
        not problems,
        "every feature within its baseline" if not problems else "; ".join(problems[:6]),
        {
            "features_checked": len(baseline),
            "features_failing": len(problems),
            "worst_outside_share": max(worst.values()) if worst else 0.0,
        },
    )
