"""Whole-file failures: each bad drop is rejected with one message naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from openclaw_assets.data.landing import LandingError, check_partition, find_drop, read_drop
from openclaw_assets.data.tables import FLIGHTS, landing_file
from openclaw_assets_tests.conftest import MONTH
from openclaw_assets_tests.corpus import TABLE_CASES


@pytest.mark.parametrize("case", TABLE_CASES, ids=lambda c: c.name)
def test_table_case_is_rejected_with_a_clear_message(case, tmp_path: Path, january_flights):
    path = case.write(landing_file(tmp_path, "flights", MONTH, "csv"), january_flights)
    with pytest.raises(LandingError) as raised:
        drop = read_drop(find_drop(tmp_path, FLIGHTS, MONTH), FLIGHTS)
        check_partition(drop, MONTH)
    message = str(raised.value)
    assert str(path) in message
    assert case.error in message
    assert "Traceback" not in message


def test_non_utf8_error_names_the_line(tmp_path: Path, january_flights):
    from openclaw_assets_tests.corpus import _non_utf8

    path = _non_utf8(landing_file(tmp_path, "flights", MONTH, "csv"), january_flights)
    with pytest.raises(LandingError, match=r"\(line 2\)"):
        read_drop(path, FLIGHTS)


def test_missing_drop_and_two_drops(tmp_path: Path, january_flights):
    with pytest.raises(
        LandingError, match=r"no drop for flights 2013-01: expected flights_2013-01\.csv or flights_2013-01\.parquet"
    ):
        find_drop(tmp_path, FLIGHTS, MONTH)
    csv = landing_file(tmp_path, "flights", MONTH, "csv")
    csv.parent.mkdir(parents=True)
    january_flights.head(5).to_csv(csv, index=False)
    january_flights.head(5).to_parquet(csv.with_suffix(".parquet"))
    with pytest.raises(LandingError, match="two drops for the same table and partition"):
        find_drop(tmp_path, FLIGHTS, MONTH)


def test_extra_columns_are_kept_and_reported(tmp_path: Path, january_flights):
    path = landing_file(tmp_path, "flights", MONTH, "csv")
    path.parent.mkdir(parents=True)
    january_flights.head(20).assign(gate="B12").to_csv(path, index=False)
    drop = read_drop(path, FLIGHTS)
    assert drop.extra_columns == ["gate"]
    assert list(drop.frame["gate"].unique()) == ["B12"]
    assert len(drop.sha256) == 64 and drop.size == path.stat().st_size


def test_csv_values_are_kept_as_text(tmp_path: Path, january_flights):
    path = landing_file(tmp_path, "flights", MONTH, "csv")
    path.parent.mkdir(parents=True)
    january_flights.head(20).to_csv(path, index=False)
    frame = read_drop(path, FLIGHTS).frame
    assert frame.at[0, "time_hour"] == "2013-01-01T10:00:00Z"
    assert frame.at[0, "dep_time"] == "517"
    assert all(isinstance(v, str) or v is None for v in frame["arr_delay"])
