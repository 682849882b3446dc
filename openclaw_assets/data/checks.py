"""The data plane's quality gates as pure functions: each returns (passed, metadata).

Assets call them on the tables they just wrote, read back from disk, and report the
results as blocking asset checks; tests call them directly on crafted frames.
"""

from __future__ import annotations

import calendar
from typing import TYPE_CHECKING

from openclaw_assets.kernel.outcomes import Outcome

if TYPE_CHECKING:
    import pandas as pd

ROW_ACCOUNTING = "row_accounting"
QUARANTINE_RATE = "quarantine_rate"
KEY_UNIQUENESS = "key_uniqueness"
PARTITION_COMPLETENESS = "partition_completeness"
DEST_COVERAGE = "dest_reference_coverage"


def row_accounting(raw_rows: int, valid_rows: int, quarantine_rows: int) -> Outcome:
    """Every raw row is either validated or quarantined, exactly once."""
    delta = raw_rows - valid_rows - quarantine_rows
    return Outcome(
        delta == 0,
        f"raw {raw_rows} = validated {valid_rows} + quarantined {quarantine_rows}"
        if delta == 0
        else f"raw {raw_rows} != validated {valid_rows} + quarantined {quarantine_rows} (off by {delta})",
        {"raw_rows": raw_rows, "validated_rows": valid_rows, "quarantined_rows": quarantine_rows, "unaccounted": delta},
    )


def quarantine_rate(raw_rows: int, quarantine_rows: int, ceiling: float) -> Outcome:
    """The share of quarantined rows stays under the configured ceiling."""
    rate = quarantine_rows / raw_rows if raw_rows else 1.0
    return Outcome(
        rate <= ceiling,
        f"{quarantine_rows} of {raw_rows} rows quarantined ({rate:.3%}, ceiling {ceiling:.3%})",
        {"quarantine_rate": rate, "ceiling": ceiling},
    )


def key_uniqueness(frame: pd.DataFrame, key: tuple[str, ...]) -> Outcome:
    """No two validated rows share a key."""
    duplicated = frame.duplicated(list(key), keep=False)
    count = int(duplicated.sum())
    examples = frame.loc[duplicated, list(key)].head(3).astype(str).to_dict("records")
    return Outcome(
        count == 0,
        f"key ({', '.join(key)}) is unique" if count == 0 else f"{count} rows share a key, e.g. {examples}",
        {"duplicated_rows": count},
    )


def _days_in(partition: str) -> int:
    year, month = (int(part) for part in partition.split("-"))
    return calendar.monthrange(year, month)[1]


def flights_completeness(frame: pd.DataFrame, partition: str, min_day_coverage: float) -> Outcome:
    """Flights cover (at least the configured share of) every day of the month."""
    days = _days_in(partition)
    present = int(frame["day"].nunique()) if len(frame) else 0
    coverage = present / days
    missing = sorted(set(range(1, days + 1)) - set(int(d) for d in frame["day"].unique())) if len(frame) else []
    return Outcome(
        coverage >= min_day_coverage,
        f"{present} of {days} days have flights" + (f"; missing days {missing[:10]}" if missing else ""),
        {
            "days_present": present,
            "days_in_month": days,
            "day_coverage": coverage,
            "min_day_coverage": min_day_coverage,
        },
    )


def weather_completeness(frame: pd.DataFrame, partition: str, origins: list[str], min_hour_coverage: float) -> Outcome:
    """Each origin airport has hourly observations for the configured share of the month's hours."""
    hours = _days_in(partition) * 24
    counts = frame.groupby("origin")["time_hour"].nunique() if len(frame) else None
    per_origin = {origin: (int(counts.get(origin, 0)) if counts is not None else 0) / hours for origin in origins}
    worst = min(per_origin.values()) if per_origin else 0.0
    return Outcome(
        worst >= min_hour_coverage,
        "hourly coverage "
        + ", ".join(f"{o} {c:.1%}" for o, c in per_origin.items())
        + f" (floor {min_hour_coverage:.0%})",
        {"worst_hour_coverage": worst, "min_hour_coverage": min_hour_coverage},
    )


def dest_coverage(frame: pd.DataFrame, airports: set[str], ceiling: float) -> Outcome:
    """Destinations not in the airports table stay rare (a warning, not a gate)."""
    unknown = ~frame["dest"].isin(airports)
    share = float(unknown.mean()) if len(frame) else 0.0
    codes = sorted(frame.loc[unknown, "dest"].unique().tolist())
    return Outcome(
        share <= ceiling,
        f"{int(unknown.sum())} flights ({share:.2%}) go to airports missing from the airports table: {codes[:10]}",
        {"unknown_dest_share": share, "unknown_dest_codes": ", ".join(codes), "ceiling": ceiling},
    )
