"""The shared kernel: months, the storage profile, the warehouse resource and typed metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from openclaw_assets.kernel import months
from openclaw_assets.kernel.reporting import table
from openclaw_assets.kernel.settings import Profile, SettingError, parse_profile
from openclaw_assets.kernel.warehouse import Warehouse


def test_month_arithmetic_crosses_years():
    assert months.shift("2013-12", 1) == "2014-01"
    assert months.shift("2014-01", -2) == "2013-11"
    assert months.between("2013-11", "2014-02") == ["2013-11", "2013-12", "2014-01", "2014-02"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2013-01:2013-03", ["2013-01", "2013-02", "2013-03"]),
        ("2013-03", ["2013-03"]),
        ("2013-01,2013-05,2013-01", ["2013-01", "2013-05"]),
        ("2013-12:2014-01", ["2013-12", "2014-01"]),
    ],
)
def test_one_parser_for_every_range(text: str, expected: list[str]):
    assert months.parse_months(text) == expected
    if expected == months.between(expected[0], expected[-1]):
        assert months.parse_months(months.format_range(expected)) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("2013-13", "not a month"),
        ("13-01", "not a month"),
        ("2013-05:2013-02", "empty range"),
        ("2013-01,", "empty month"),
    ],
)
def test_bad_months_say_why(text: str, message: str):
    with pytest.raises(months.MonthError, match=message):
        months.parse_months(text)


def test_known_months_bound_a_range():
    known = months.between("2013-01", "2013-12")
    with pytest.raises(months.MonthError, match="unknown month '2014-01': months run from 2013-01 to 2013-12"):
        months.parse_months("2013-12:2014-01", known)
    with pytest.raises(months.MonthError, match="not a contiguous range"):
        months.format_range(["2013-01", "2013-03"])


def test_month_bounds_are_new_york_months_in_utc():
    start, end = months.month_bounds("2013-03")  # daylight saving time starts on 2013-03-10
    assert start == datetime(2013, 3, 1, 5, tzinfo=UTC)
    assert end == datetime(2013, 4, 1, 4, tzinfo=UTC)


def test_the_profile_is_exactly_one_of_two():
    assert parse_profile(None) is Profile.EMBEDDED
    assert parse_profile("scaleout") is Profile.SCALEOUT
    with pytest.raises(SettingError, match="OPENCLAW_PROFILE must be one of embedded, scaleout, not 'Scaleout'"):
        parse_profile("Scaleout")
    with pytest.raises(SettingError, match="profile"):
        Warehouse(home="/tmp", profile="cloud").storage_profile()


def test_the_resource_reads_the_profile_when_used(monkeypatch: pytest.MonkeyPatch):
    warehouse = Warehouse(home="/tmp")
    monkeypatch.setenv("OPENCLAW_PROFILE", "scaleout")
    assert warehouse.storage_profile() is Profile.SCALEOUT
    monkeypatch.setenv("OPENCLAW_PROFILE", "Scaleout")
    with pytest.raises(SettingError):
        warehouse.storage_profile()


def test_the_warehouse_names_what_to_materialize(tmp_path: Path):
    warehouse = Warehouse(home=str(tmp_path))
    with pytest.raises(dg.Failure, match="materialize validated_flights for 2013-02 first"):
        warehouse.read("validated", "flights", "2013-02", why="the features' windows")
    with pytest.raises(dg.Failure, match="materialize planes first"):
        warehouse.read("validated", "planes")
    with pytest.raises(dg.Failure, match="materialize carrier_stats for 2013-01 first"):
        warehouse.require("features", "carrier_stats", "2013-01")


def test_warehouse_writes_are_atomic_and_deterministic(tmp_path: Path):
    warehouse = Warehouse(home=str(tmp_path))
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"]})
    first = warehouse.write(frame, "features", "demo", "2013-01", footer={"k": "v"})
    second = warehouse.write(frame, "features", "demo", "2013-01", footer={"k": "v"})
    assert first == second and first.rows == 3
    assert first.path == tmp_path / "warehouse" / "features" / "demo" / "2013-01.parquet"
    assert [p.name for p in first.path.parent.iterdir()] == ["2013-01.parquet"]  # no temporary left behind
    assert first.metadata()["dagster/row_count"] == 3
    assert first.record("2013-01")["content_sha256"] == first.sha256[:16]
    pd.testing.assert_frame_equal(warehouse.read("features", "demo", "2013-01"), frame)


def test_tables_keep_numbers_as_numbers():
    value = table([{"partition": "2013-01", "rows": 3, "auc": 0.81}, {"partition": "2013-02", "rows": 4, "auc": None}])
    kinds = {column.name: column.type for column in value.schema.columns}
    assert kinds == {"partition": "string", "rows": "int", "auc": "float"}
    assert [record.data["rows"] for record in value.records] == [3, 4]
