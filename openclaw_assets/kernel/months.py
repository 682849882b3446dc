"""Months: the pipeline's partitions are local calendar months in New York, keyed ``YYYY-MM``.

One parser for every range a user or a tag writes (``2013-01:2013-12``, ``2013-03``,
``2013-01,2013-05``), one formatter, and month arithmetic that knows about years.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = "America/New_York"
"""The flights' local time zone: their dates, hours and months are New York time."""

RANGE_SEPARATOR = ":"
_KEY = re.compile(r"^(\d{4})-(\d{2})$")


class MonthError(ValueError):
    """A month or a range of months that cannot be read, or that names no known partition."""


def split_key(key: str) -> tuple[int, int]:
    """``2013-04`` -> (2013, 4); MonthError if it is not a ``YYYY-MM`` month."""
    found = _KEY.match(key.strip())
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise MonthError(f"not a month: {key!r} (months are written YYYY-MM)")
    return int(found.group(1)), int(found.group(2))


def shift(key: str, months: int) -> str:
    """The month ``months`` after ``key`` (before, if negative): ``shift("2013-12", 1) == "2014-01"``."""
    year, month = split_key(key)
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def between(start: str, end: str) -> list[str]:
    """Every month from ``start`` to ``end``, both included."""
    count = (split_key(end)[0] - split_key(start)[0]) * 12 + split_key(end)[1] - split_key(start)[1]
    if count < 0:
        raise MonthError(f"empty range {start}{RANGE_SEPARATOR}{end}: {start} is after {end}")
    return [shift(start, i) for i in range(count + 1)]


def parse_months(text: str, known: list[str] | None = None) -> list[str]:
    """``A:B``, ``A`` or ``A,B`` (and combinations) -> months in order, without repeats.

    With ``known``, every month must be one of them (the code location's partitions).
    """
    months: list[str] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            raise MonthError(f"empty month in {text!r}")
        if RANGE_SEPARATOR in part:
            start, _, end = part.partition(RANGE_SEPARATOR)
            months.extend(between(start.strip(), end.strip()))
        else:
            split_key(part)
            months.append(part)
    months = list(dict.fromkeys(months))
    if known is not None:
        unknown = [m for m in months if m not in known]
        if unknown:
            span = f"{known[0]} to {known[-1]}" if known else "(none)"
            raise MonthError(f"unknown month {unknown[0]!r}: months run from {span}")
    return months


def format_range(months: list[str]) -> str:
    """The one way a contiguous range is written: ``A:B`` (a single month is ``A:A``)."""
    if not months:
        raise MonthError("an empty range of months")
    if months != between(months[0], months[-1]):
        raise MonthError(f"not a contiguous range of months: {', '.join(months)}")
    return f"{months[0]}{RANGE_SEPARATOR}{months[-1]}"


def month_bounds(key: str) -> tuple[datetime, datetime]:
    """A month's [start, end) as UTC instants (the month is a New York calendar month)."""
    zone = ZoneInfo(LOCAL_TZ)
    year, month = split_key(key)
    next_year, next_month = split_key(shift(key, 1))
    start = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(next_year, next_month, 1, tzinfo=zone).astimezone(UTC)
    return start, end


def month_keys(frame):
    """Each row's month (``YYYY-MM``) from its ``event_timestamp`` in New York, as the pipeline keys months:
    years never mix. ``frame`` is a pandas DataFrame; the result a Series beside it."""
    import pandas as pd

    times = pd.to_datetime(frame["event_timestamp"])
    if times.dt.tz is None:
        times = times.dt.tz_localize("UTC")
    local = times.dt.tz_convert(LOCAL_TZ)
    number = local.dt.year * 100 + local.dt.month
    return number.map({n: f"{n // 100:04d}-{n % 100:02d}" for n in number.unique()})
