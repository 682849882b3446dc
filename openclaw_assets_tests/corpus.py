"""A corpus of bad input, built from real January 2013 rows.

Row-level cases break one row each and name the reason the contract must give; table-level
cases produce a whole drop file and the error that must reject it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class RowCase:
    name: str
    mutate: Callable[[pd.DataFrame, int], pd.DataFrame]
    reason: str


def _set(column: str, value):
    def mutate(frame: pd.DataFrame, row: int) -> pd.DataFrame:
        frame.at[row, column] = value
        return frame

    return mutate


def _duplicate(frame: pd.DataFrame, row: int) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[[row]]], ignore_index=True)


def _other_month(frame: pd.DataFrame, row: int) -> pd.DataFrame:
    frame.at[row, "month"] = "2"
    return frame


def _cancelled_with_arrival(frame: pd.DataFrame, row: int) -> pd.DataFrame:
    frame.at[row, "dep_time"] = None
    return frame


def _shift_time_hour(frame: pd.DataFrame, row: int) -> pd.DataFrame:
    stamp = pd.Timestamp(frame.at[row, "time_hour"]) + pd.Timedelta(hours=1)
    frame.at[row, "time_hour"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame


FLIGHT_ROW_CASES = [
    RowCase("wrong type", _set("dep_delay", "abc"), "dep_delay='abc' is not a number"),
    RowCase("fractional integer", _set("flight", "12.5"), "flight='12.5' is not an integer"),
    RowCase("non-finite number", _set("arr_delay", "inf"), "arr_delay='inf' is not a number"),
    RowCase("bad timestamp", _set("time_hour", "yesterday"), "time_hour='yesterday' is not an ISO 8601 timestamp"),
    RowCase("null key", _set("carrier", None), "carrier is missing"),
    RowCase("duplicate row", _duplicate, "duplicate key (year, month, day, carrier, flight, origin, sched_dep_time)"),
    RowCase("out of range", _set("arr_delay", "99999"), "arr_delay=99999.0 must be within [-180, 1800] minutes"),
    RowCase("impossible clock time", _set("sched_dep_time", "1275"), "must be a clock time HHMM"),
    RowCase("row from another month", _other_month, "year/month outside partition 2013-01"),
    RowCase("unknown carrier", _set("carrier", "ZZ"), "carrier='ZZ' must be in airlines"),
    RowCase("unknown origin airport", _set("origin", "XXX"), "origin='XXX' must be in airports"),
    RowCase("malformed destination", _set("dest", "atl"), "dest='atl' must be a three-letter airport code"),
    RowCase("huge field", _set("tailnum", "N" * 2_000_000), "must be a tail number of 2 to 7 letters or digits"),
    RowCase("time_hour off by an hour", _shift_time_hour, "time_hour disagrees with year/month/day/hour"),
    RowCase("cancelled but arrived", _cancelled_with_arrival, "cancelled (no dep_time) but has departure or arrival"),
    RowCase("day beyond any month", _set("day", "32"), "day=32 must be within [1, 31]"),
]

WEATHER_ROW_CASES = [
    RowCase("humidity out of range", _set("humid", "140"), "humid=140.0 must be within [0, 100] %"),
    RowCase("duplicate observation", _duplicate, "duplicate key (origin, time_hour)"),
    RowCase("unknown origin", _set("origin", "QQQ"), "origin='QQQ' must be in airports"),
]


@dataclass(frozen=True)
class TableCase:
    name: str
    write: Callable[[Path, pd.DataFrame], Path]
    error: str


def _csv(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def _empty(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _header_only(path: Path, frame: pd.DataFrame) -> Path:
    return _csv(path, frame.iloc[0:0])


def _missing_column(path: Path, frame: pd.DataFrame) -> Path:
    return _csv(path, frame.drop(columns=["arr_delay"]))


def _renamed_column(path: Path, frame: pd.DataFrame) -> Path:
    return _csv(path, frame.rename(columns={"arr_delay": "arr_dly"}))


def _wrong_partition(path: Path, frame: pd.DataFrame) -> Path:
    return _csv(path, frame.assign(month="2"))


def _non_utf8(path: Path, frame: pd.DataFrame) -> Path:
    _csv(path, frame.head(50))
    data = path.read_bytes().replace(b"N14228", b"N\xff4228", 1)
    path.write_bytes(data)
    return path


def _ragged_csv(path: Path, frame: pd.DataFrame) -> Path:
    _csv(path, frame.head(50))
    lines = path.read_bytes().split(b"\n")
    lines[10] = lines[10] + b",surplus,fields"
    path.write_bytes(b"\n".join(lines))
    return path


def _truncated_parquet(path: Path, frame: pd.DataFrame) -> Path:
    target = path.with_suffix(".parquet")
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(target, index=False)
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def _garbage_parquet(path: Path, frame: pd.DataFrame) -> Path:
    target = path.with_suffix(".parquet")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"PAR1" + bytes(range(256)) * 8)
    return target


TABLE_CASES = [
    TableCase("empty file", _empty, "file is empty (0 bytes)"),
    TableCase("header only", _header_only, "file has a header but no rows"),
    TableCase("missing column", _missing_column, "missing required column(s): arr_delay"),
    TableCase(
        "renamed column",
        _renamed_column,
        "missing required column(s): arr_delay; unexpected column(s) present: arr_dly",
    ),
    TableCase("wrong partition", _wrong_partition, "no row belongs to partition 2013-01; rows are for 2013-02"),
    TableCase("non-UTF-8 bytes", _non_utf8, "not valid UTF-8: byte 0xff"),
    TableCase("ragged CSV", _ragged_csv, "not a readable CSV file"),
    TableCase("truncated Parquet", _truncated_parquet, "not a readable Parquet file"),
    TableCase("garbage Parquet", _garbage_parquet, "not a readable Parquet file"),
]
