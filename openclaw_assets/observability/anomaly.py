"""Anomalies in the pipeline's own metrics, judged by robust statistics: pure functions of plain numbers.

Every judgement compares a value with a history of like values: their median is the expectation
and 1.4826 x their median absolute deviation (MAD, the standard deviation's robust stand-in) the
spread. A value is anomalous when it is further from the median than ``max_z`` spreads AND than
``min_relative`` of the median (and ``min_absolute``): the z-score alone would alarm on a 1% wobble
when the history happens to be very regular (the weekday rhythm of flights is), the relative floor
alone would ignore how noisy a metric is. One odd value in the history moves a median, not a mean.

What "like values" are is what makes a judgement robust to the calendar:

- a month's row count: each day's count divided by what the other months hold on that weekday
  (median), summed into the month's *level* (1.0: as many rows as the other months' weekdays
  predict for its calendar); levels are compared across months, so a February with four
  Saturdays or a month with a holiday is not an outlier for its calendar;
- a quarantine rate: the other months' rates (high side only);
- a latency: the earlier versions' staging p99 (high side only);
- a prediction rate: the rows logged in the last ``window`` hours against the same hours of the
  week in each of the weeks before (same weekday, same time of day).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

MAD_TO_SIGMA = 1.4826
"""MAD x this estimates the standard deviation of a normal distribution."""


@dataclass(frozen=True)
class Bounds:
    """When a value is anomalous against its history."""

    max_z: float
    min_relative: float
    min_absolute: float = 0.0
    min_history: int = 4
    side: str = "both"  # "both", "low" (only too small is anomalous) or "high"


@dataclass(frozen=True)
class Judgement:
    """One value against its history: the figures and the verdict."""

    subject: str
    value: float
    expected: float
    spread: float
    allowed: float
    history: int
    anomalous: bool

    @property
    def deviation(self) -> float:
        return self.value - self.expected

    @property
    def relative(self) -> float:
        return self.deviation / self.expected if self.expected else (0.0 if not self.deviation else float("inf"))

    @property
    def z(self) -> float:
        if self.spread:
            return self.deviation / self.spread
        return 0.0 if not self.deviation else float("inf") if self.deviation > 0 else float("-inf")

    def row(self) -> dict[str, float | str | bool | int]:
        return {
            "subject": self.subject,
            "value": self.value,
            "expected": self.expected,
            "relative": self.relative,
            "z": self.z,
            "allowed": self.allowed,
            "history": self.history,
            "anomalous": self.anomalous,
        }


def robust(values: Sequence[float]) -> tuple[float, float]:
    """(median, 1.4826 x MAD) of ``values``."""
    centre = statistics.median(values)
    return centre, MAD_TO_SIGMA * statistics.median(abs(v - centre) for v in values)


def judge(subject: str, value: float, history: Sequence[float], bounds: Bounds) -> Judgement | None:
    """``value`` against ``history`` (None: fewer than ``bounds.min_history`` values to judge by)."""
    if len(history) < bounds.min_history:
        return None
    centre, spread = robust(history)
    allowed = max(bounds.max_z * spread, bounds.min_relative * abs(centre), bounds.min_absolute)
    deviation = value - centre
    outside = {"both": abs(deviation), "low": -deviation, "high": deviation}[bounds.side] > allowed
    return Judgement(subject, float(value), float(centre), float(spread), float(allowed), len(history), outside)


# --- row counts per month, weekday-adjusted -----------------------------------------------------
def weekday_medians(daily: Mapping[str, Mapping[date, int]], months: Sequence[str]) -> dict[int, float]:
    """Median rows per day for each weekday (0 = Monday) over ``months``."""
    per_weekday: dict[int, list[int]] = {}
    for month in months:
        for day, count in daily[month].items():
            per_weekday.setdefault(day.weekday(), []).append(count)
    return {weekday: statistics.median(counts) for weekday, counts in per_weekday.items()}


def month_level(days: Mapping[date, int], expected: Mapping[int, float]) -> float:
    """Rows held over rows expected by weekday, summed over the month's days."""
    wanted = sum(expected.get(day.weekday(), 0.0) for day in days)
    return sum(days.values()) / wanted if wanted else float("nan")


def month_levels(daily: Mapping[str, Mapping[date, int]]) -> dict[str, float]:
    """Each month's level against the weekday medians of the *other* months."""
    months = sorted(daily)
    return {m: month_level(daily[m], weekday_medians(daily, [o for o in months if o != m])) for m in months}


def row_counts(daily: Mapping[str, Mapping[date, int]], bounds: Bounds) -> list[Judgement]:
    """Each month's weekday-adjusted level against the other months' levels.

    ``daily`` maps a month to its rows per calendar day, every day of the month present (0 for a day
    without rows). Too few months to judge by: an empty list.
    """
    if len(daily) <= bounds.min_history:
        return []
    levels = month_levels(daily)
    out = []
    for month, level in levels.items():
        judged = judge(month, level, [v for m, v in levels.items() if m != month], bounds)
        if judged is not None:
            out.append(judged)
    return out


def calendar_days(month: str) -> list[date]:
    """Every day of a ``YYYY-MM`` month."""
    first = date(int(month[:4]), int(month[5:7]), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return [first + timedelta(days=i) for i in range((following - first).days)]


# --- rates per month ----------------------------------------------------------------------------
def rates(values: Mapping[str, float], bounds: Bounds) -> list[Judgement]:
    """Each month's rate against the other months' rates."""
    out = []
    for month, value in sorted(values.items()):
        judged = judge(month, value, [v for m, v in values.items() if m != month], bounds)
        if judged is not None:
            out.append(judged)
    return out


# --- latency per version ------------------------------------------------------------------------
def latest_against_earlier(series: Sequence[tuple[str, float]], bounds: Bounds, history: int) -> Judgement | None:
    """The last value of ``series`` (oldest first) against up to ``history`` values before it."""
    if not series:
        return None
    subject, value = series[-1]
    return judge(subject, value, [v for _, v in series[:-1]][-history:], bounds)


# --- prediction rate per hour of week -----------------------------------------------------------
def hour_of(stamp: datetime) -> datetime:
    return stamp.replace(minute=0, second=0, microsecond=0)


def window_rate(
    hourly: Mapping[datetime, int],
    end: datetime,
    bounds: Bounds,
    window_hours: int = 24,
    weeks: int = 8,
    first: datetime | None = None,
) -> Judgement | None:
    """Rows in the ``window_hours`` hours before ``end`` against the same hours in each earlier week.

    ``hourly`` maps the start of an hour (UTC) to its rows; a missing hour holds none. Earlier
    weeks count only from ``first`` (the first hour anything was logged): before it the source
    did not exist, which is not a drop in traffic.
    """
    end = hour_of(end)
    span = timedelta(hours=window_hours)

    def total(stop: datetime) -> int:
        return sum(hourly.get(stop - timedelta(hours=h), 0) for h in range(1, window_hours + 1))

    start = first if first is not None else min(hourly, default=end)
    earlier = [total(end - timedelta(weeks=k)) for k in range(1, weeks + 1) if end - timedelta(weeks=k) - span >= start]
    label = f"{(end - span).isoformat()}/{window_hours}h"
    return judge(label, total(end), earlier, bounds)
