"""The feature gates as pure functions, each shown failing on crafted data."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from openclaw_assets.features import checks


def _joined(known_offset: str) -> pd.DataFrame:
    event = pd.to_datetime(["2013-02-01T10:00:00Z", "2013-02-01T11:00:00Z"], utc=True)
    return pd.DataFrame({"event_timestamp": event, "carrier_stats__known_at": event + pd.Timedelta(known_offset)})


def test_point_in_time_passes_and_fails_on_a_leaked_value():
    ttls = {"carrier_stats": timedelta(days=1)}
    known = {"carrier_stats": "carrier_stats__known_at"}
    assert checks.point_in_time(_joined("-30min"), known, ttls).passed
    leaked = checks.point_in_time(_joined("1min"), known, ttls)
    assert not leaked.passed and leaked.metadata["future_values"] == 2
    stale = checks.point_in_time(_joined("-2D"), known, ttls)
    assert not stale.passed and stale.metadata["older_than_ttl"] == 2


def test_training_rows():
    assert checks.training_rows(10, 10).passed
    assert not checks.training_rows(10, 9).passed


def test_online_parity_fails_on_a_stale_row():
    offline = pd.DataFrame({"carrier": ["AA", "UA"], "rate": [0.25, float("nan")], "n": [4, 0]})
    assert checks.online_parity(offline, offline.copy(), "carrier", ["rate", "n"]).passed
    stale = offline.copy()
    stale.loc[0, "rate"] = 0.5
    failed = checks.online_parity(offline, stale, "carrier", ["rate", "n"])
    assert not failed.passed and failed.metadata["mismatches"] == 1
    missing = offline[offline["carrier"] == "UA"]
    assert not checks.online_parity(offline, missing, "carrier", ["rate", "n"]).passed


def test_freshness():
    end = pd.Timestamp("2013-03-01T05:00:00Z")
    assert checks.freshness(end, end).passed
    assert not checks.freshness(end - pd.Timedelta(hours=1), end).passed
    assert not checks.freshness(None, end).passed


def test_baseline_fails_on_drift_and_on_nulls():
    frame = pd.DataFrame({"temp": [float(t) for t in range(20, 80)]})
    baseline = checks.baseline_profile(frame, ["temp"])
    assert checks.against_baseline(frame, baseline, 0.15, 0.10).passed
    kelvin = frame.assign(temp=frame["temp"] + 273.15)
    assert not checks.against_baseline(kelvin, baseline, 0.15, 0.10).passed
    holes = frame.assign(temp=frame["temp"].where(frame.index % 3 != 0))
    failed = checks.against_baseline(holes, baseline, 0.15, 0.10)
    assert not failed.passed and "null rate" in failed.summary
    assert not checks.against_baseline(frame.rename(columns={"temp": "t"}), baseline, 0.15, 0.10).passed
