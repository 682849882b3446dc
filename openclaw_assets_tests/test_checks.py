"""The gates as pure functions: each passes on good data and fails on crafted bad data."""

from __future__ import annotations

import pandas as pd

from openclaw_assets.data import checks


def test_row_accounting():
    assert checks.row_accounting(10, 7, 3).passed
    failed = checks.row_accounting(10, 7, 2)
    assert not failed.passed
    assert failed.metadata["unaccounted"] == 1
    assert "off by 1" in failed.summary


def test_quarantine_rate():
    assert checks.quarantine_rate(1000, 20, 0.02).passed
    failed = checks.quarantine_rate(1000, 21, 0.02)
    assert not failed.passed
    assert failed.metadata["quarantine_rate"] == 0.021
    assert not checks.quarantine_rate(0, 0, 0.5).passed  # nothing landed is not a pass


def test_key_uniqueness():
    frame = pd.DataFrame({"origin": ["EWR", "JFK", "EWR"], "time_hour": [1, 1, 2]})
    assert checks.key_uniqueness(frame, ("origin", "time_hour")).passed
    duplicated = pd.concat([frame, frame.iloc[[0]]])
    failed = checks.key_uniqueness(duplicated, ("origin", "time_hour"))
    assert not failed.passed
    assert failed.metadata["duplicated_rows"] == 2


def test_flights_completeness():
    full = pd.DataFrame({"day": list(range(1, 29))})
    assert checks.flights_completeness(full, "2013-02", 1.0).passed
    gap = full[full["day"] != 14]
    failed = checks.flights_completeness(gap, "2013-02", 1.0)
    assert not failed.passed
    assert "missing days [14]" in failed.summary
    assert not checks.flights_completeness(full, "2013-03", 1.0).passed  # March has 31 days


def test_weather_completeness():
    hours = pd.date_range("2013-02-01", periods=28 * 24, freq="h", tz="UTC")
    frame = pd.concat([pd.DataFrame({"origin": o, "time_hour": hours}) for o in ("EWR", "JFK", "LGA")])
    assert checks.weather_completeness(frame, "2013-02", ["EWR", "JFK", "LGA"], 0.9).passed
    sparse = frame[(frame["origin"] != "LGA") | (frame["time_hour"].dt.day <= 20)]
    failed = checks.weather_completeness(sparse, "2013-02", ["EWR", "JFK", "LGA"], 0.9)
    assert not failed.passed
    assert failed.metadata["worst_hour_coverage"] < 0.9
    assert not checks.weather_completeness(
        frame[frame["origin"] != "JFK"], "2013-02", ["EWR", "JFK", "LGA"], 0.9
    ).passed


def test_dest_coverage():
    frame = pd.DataFrame({"dest": ["ATL"] * 95 + ["SJU"] * 5})
    assert checks.dest_coverage(frame, {"ATL"}, 0.05).passed
    failed = checks.dest_coverage(frame, {"ATL"}, 0.04)
    assert not failed.passed
    assert failed.metadata["unknown_dest_codes"] == "SJU"
