"""The tables of the data plane and the paths the contracts promise (see README)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DROP_FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class TableSpec:
    """A landed table: its name, the columns its drops must carry, and its key."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    partitioned: bool


FLIGHTS = TableSpec(
    "flights",
    (
        "year",
        "month",
        "day",
        "dep_time",
        "sched_dep_time",
        "dep_delay",
        "arr_time",
        "sched_arr_time",
        "arr_delay",
        "carrier",
        "flight",
        "tailnum",
        "origin",
        "dest",
        "air_time",
        "distance",
        "hour",
        "minute",
        "time_hour",
    ),
    key=("year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"),
    partitioned=True,
)
WEATHER = TableSpec(
    "weather",
    (
        "origin",
        "year",
        "month",
        "day",
        "hour",
        "temp",
        "dewp",
        "humid",
        "wind_dir",
        "wind_speed",
        "wind_gust",
        "precip",
        "pressure",
        "visib",
        "time_hour",
    ),
    key=("origin", "time_hour"),
    partitioned=True,
)
AIRLINES = TableSpec("airlines", ("carrier", "name"), key=("carrier",), partitioned=False)
AIRPORTS = TableSpec(
    "airports",
    ("faa", "name", "lat", "lon", "alt", "tz", "dst", "tzone"),
    key=("faa",),
    partitioned=False,
)
PLANES = TableSpec(
    "planes",
    ("tailnum", "year", "type", "manufacturer", "model", "engines", "seats", "speed", "engine"),
    key=("tailnum",),
    partitioned=False,
)

PARTITIONED_TABLES = (FLIGHTS, WEATHER)
REFERENCE_TABLES = (AIRLINES, AIRPORTS, PLANES)
TABLES = {spec.name: spec for spec in (*PARTITIONED_TABLES, *REFERENCE_TABLES)}


def landing_dir(home: Path, table: str) -> Path:
    return home / "landing" / table


def landing_file(home: Path, table: str, partition: str | None, fmt: str) -> Path:
    """``landing/<table>/<table>_<YYYY-MM>.<fmt>``, or ``landing/<table>/<table>.<fmt>``."""
    stem = f"{table}_{partition}" if partition else table
    return landing_dir(home, table) / f"{stem}.{fmt}"


def parse_landing_name(path: Path) -> tuple[str, str | None, str] | None:
    """``flights_2013-01.csv`` -> (``flights``, ``2013-01``, ``csv``); None if not a drop name."""
    name = path.name
    if name.startswith("."):
        return None
    stem, _, fmt = name.rpartition(".")
    if fmt not in DROP_FORMATS or not stem:
        return None
    for spec in TABLES.values():
        if spec.partitioned and stem.startswith(spec.name + "_"):
            partition = stem[len(spec.name) + 1 :]
            if len(partition) == 7 and partition[4] == "-" and partition.replace("-", "").isdigit():
                return spec.name, partition, fmt
        elif not spec.partitioned and stem == spec.name:
            return spec.name, None, fmt
    return None
