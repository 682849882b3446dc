"""Feature computations as pure functions: known-at times, half-open windows, local months."""

from __future__ import annotations

import pandas as pd
import pytest

from openclaw_assets.features import compute


def _flights(rows: list[dict]) -> pd.DataFrame:
    base = {
        "minute": 0,
        "dep_delay": 0.0,
        "air_time": 60.0,
        "arr_delay": 0.0,
        "status": "arrived",
        "carrier": "AA",
        "origin": "JFK",
        "dest": "BOS",
    }
    frame = pd.DataFrame([{**base, **row} for row in rows])
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    return frame


def test_outcome_times():
    flights = _flights(
        [
            {"time_hour": "2013-02-01T10:00:00Z", "minute": 30, "dep_delay": 20.0, "air_time": 60.0},
            {
                "time_hour": "2013-02-01T10:00:00Z",
                "status": "cancelled",
                "dep_delay": None,
                "air_time": None,
                "arr_delay": None,
            },
            {"time_hour": "2013-02-01T10:00:00Z", "status": "diverted", "arr_delay": None, "air_time": None},
        ]
    )
    times = compute.flight_times(flights)
    assert times.loc[0, "departed_at"] == pd.Timestamp("2013-02-01T10:50:00Z")
    assert times.loc[0, "outcome_at"] == pd.Timestamp("2013-02-01T12:20:00Z")  # + 60 min air + 30 min taxi
    assert times.loc[1, "outcome_at"] == pd.Timestamp("2013-02-01T10:00:00Z")
    assert pd.isna(times.loc[1, "departed_at"])
    assert times.loc[2, "outcome_at"] == pd.Timestamp("2013-02-01T22:00:00Z")


def test_a_rate_is_known_only_after_the_arrival():
    # departs 10:00 UTC, 60 min in the air, outcome known at 11:30 UTC; it was 40 minutes late
    flights = _flights([{"time_hour": "2013-02-01T10:00:00Z", "arr_delay": 40.0}])
    table = compute.carrier_features(flights, "2013-02").set_index("event_timestamp")
    assert table.loc[pd.Timestamp("2013-02-01T11:00:00Z"), "carrier_flights_1d"] == 0
    assert pd.isna(table.loc[pd.Timestamp("2013-02-01T11:00:00Z"), "carrier_delay_rate_1d"])
    assert table.loc[pd.Timestamp("2013-02-01T12:00:00Z"), "carrier_flights_1d"] == 1
    assert table.loc[pd.Timestamp("2013-02-01T12:00:00Z"), "carrier_delay_rate_1d"] == 1.0
    # and it leaves the 1-day window exactly a day after it became known
    assert table.loc[pd.Timestamp("2013-02-02T11:00:00Z"), "carrier_flights_1d"] == 1
    assert table.loc[pd.Timestamp("2013-02-02T12:00:00Z"), "carrier_flights_1d"] == 0
    assert table.loc[pd.Timestamp("2013-02-02T12:00:00Z"), "carrier_flights_7d"] == 1


def test_windows_reach_into_the_previous_month():
    flights = _flights([{"time_hour": "2013-01-20T10:00:00Z", "arr_delay": 40.0}])
    table = compute.carrier_features(flights, "2013-02").set_index("event_timestamp")
    first = pd.Timestamp("2013-02-01T05:00:00Z")  # local midnight
    assert table.loc[first, "carrier_flights_30d"] == 1
    assert table.loc[first, "carrier_flights_7d"] == 0


def test_origin_congestion_counts_the_timetable():
    flights = _flights([{"time_hour": "2013-02-03T15:00:00Z", "minute": m} for m in (0, 10, 20)])
    table = compute.origin_features(flights, "2013-02").set_index("event_timestamp")
    assert table.loc[pd.Timestamp("2013-02-03T15:00:00Z"), "origin_scheduled_this_hour"] == 3
    assert table.loc[pd.Timestamp("2013-02-03T16:00:00Z"), "origin_scheduled_this_hour"] == 0


def test_route_statistics_are_daily():
    flights = _flights([{"time_hour": "2013-02-03T15:00:00Z", "arr_delay": d} for d in (30.0, -10.0)])
    table = compute.route_features(flights, "2013-02").set_index("event_timestamp")
    next_day = pd.Timestamp("2013-02-04T05:00:00Z")
    assert table.loc[next_day, "route_arrivals_30d"] == 2
    assert table.loc[next_day, "route_delay_rate_30d"] == 0.5
    assert table.loc[next_day, "route_mean_arr_delay_30d"] == 10.0
    assert table.loc[pd.Timestamp("2013-02-03T05:00:00Z"), "route_arrivals_30d"] == 0


@pytest.mark.parametrize("month, hours", [("2013-03", 743), ("2013-11", 721), ("2013-06", 720)])
def test_month_grid_follows_local_time(month: str, hours: int):
    grid = compute.month_grid(month, "h")
    assert len(grid) == hours
    assert grid[0].tz_convert("America/New_York").hour == 0
