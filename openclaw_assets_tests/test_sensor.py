"""The landing-zone sensor, evaluated with a real sensor context and a real instance."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import dagster as dg

from openclaw_assets.data.sensors import landing_zone_sensor
from openclaw_assets.data.tables import landing_file
from openclaw_assets.kernel.warehouse import Warehouse
from openclaw_assets_tests.conftest import FLIGHTS_SELECTION, MONTH, run_assets


def _tick(home: Path, cursor: str | None, instance: dg.DagsterInstance) -> dg.SensorResult:
    context = dg.build_sensor_context(
        cursor=cursor, instance=instance, resources={"warehouse": Warehouse(home=str(home))}
    )
    return landing_zone_sensor(context)


def test_partition_drops_wait_for_their_reference_tables(seeded_home: Path):
    with dg.instance_for_test() as instance:
        first = _tick(seeded_home, None, instance)
        assert sorted(r.run_key.split("/")[0] for r in first.run_requests) == ["airlines", "airports", "planes"]
        assert all(r.partition_key is None for r in first.run_requests)
        assert run_assets(seeded_home, ["airlines", "airports", "planes"], partition=None).success
        second = _tick(seeded_home, first.cursor, instance)
        assert sorted(r.run_key.split("/")[0] for r in second.run_requests) == ["flights", "weather"]
        assert _tick(seeded_home, second.cursor, instance).run_requests == []


def test_new_drops_start_one_run_each_and_nothing_twice(seeded_home: Path):
    assert run_assets(seeded_home, ["airlines", "airports"], partition=None).success
    with dg.instance_for_test() as instance:
        first = _tick(seeded_home, None, instance)
        keys = sorted(r.run_key for r in first.run_requests)
        assert len(keys) == 3  # planes (not yet ingested), January flights and weather
        flights = next(r for r in first.run_requests if r.run_key.startswith("flights/"))
        assert flights.partition_key == MONTH
        assert [k.to_user_string() for k in flights.asset_selection] == [
            "raw_flights",
            "validated_flights",
            "quarantine_flights",
        ]
        sha = flights.tags["openclaw/drop_sha256"]
        assert flights.run_key == f"flights/flights_{MONTH}.csv@{sha[:16]}"

        # the next tick, and a daemon restarted with the saved cursor, start nothing
        assert _tick(seeded_home, first.cursor, instance).run_requests == []
        restarted_cursor = json.loads(json.dumps(json.loads(first.cursor)))
        assert _tick(seeded_home, json.dumps(restarted_cursor), instance).run_requests == []


def test_a_changed_drop_starts_a_run_for_its_partition_only(seeded_home: Path, january_flights):
    assert run_assets(seeded_home, ["airlines", "airports"], partition=None).success
    with dg.instance_for_test() as instance:
        cursor = _tick(seeded_home, None, instance).cursor
        path = landing_file(seeded_home, "flights", MONTH, "csv")
        january_flights.head(26000).to_csv(path, index=False)
        changed = _tick(seeded_home, cursor, instance)
        assert [r.partition_key for r in changed.run_requests] == [MONTH]
        assert changed.run_requests[0].run_key.startswith("flights/flights_2013-01.csv@")
        # touching a file without changing its content starts nothing
        os.utime(path, None)
        assert _tick(seeded_home, changed.cursor, instance).run_requests == []


def test_drops_already_ingested_are_not_ingested_again_after_a_lost_cursor(seeded_home: Path):
    assert run_assets(seeded_home, FLIGHTS_SELECTION).success
    with dg.instance_for_test() as instance:
        requests = _tick(seeded_home, None, instance).run_requests
    started = sorted(r.run_key.split("/")[0] for r in requests)
    assert started == ["planes", "weather"]  # flights, airlines and airports were ingested above


def test_unknown_files_and_months_are_ignored(seeded_home: Path):
    src = landing_file(seeded_home, "flights", MONTH, "csv")
    shutil.copy(src, src.with_name("flights_2019-05.csv"))
    shutil.copy(src, src.with_name("notes.csv"))
    shutil.copy(src, src.with_name(".tmp-flights_2013-01.csv.123.abcd"))
    assert run_assets(seeded_home, ["airlines", "airports"], partition=None).success
    with dg.instance_for_test() as instance:
        keys = [r.run_key for r in _tick(seeded_home, None, instance).run_requests]
    assert not any("2019-05" in k or "notes" in k or ".tmp-" in k for k in keys)
    assert len(keys) == 3


def test_sensor_is_registered_and_running_by_default():
    from openclaw_assets.definitions import defs

    sensor = defs.resolve_sensor_def("landing_zone_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 30
