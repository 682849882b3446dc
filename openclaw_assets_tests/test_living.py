"""Open-ended time: months after 2013 (replayed data), months added in order, windows relative to what arrived."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from openclaw_assets.data.seed import SeedError, seed
from openclaw_assets.data.sensors import landing_zone_sensor, scan_landing
from openclaw_assets.features.window import TrainingWindow
from openclaw_assets.kernel.months import MonthError
from openclaw_assets.kernel.partitions import MONTHS, register_months, registered_months
from openclaw_assets.kernel.paths import warehouse_file
from openclaw_assets.kernel.warehouse import Warehouse
from openclaw_assets_tests.conftest import FLIGHTS_SELECTION, run_assets, run_job

REFERENCES = ["airlines", "airports", "planes"]


def test_months_are_registered_contiguously_and_in_calendar_order():
    with dg.instance_for_test() as instance:
        assert register_months(instance, ["2013-03", "2013-04"]) == ["2013-03", "2013-04"]
        assert register_months(instance, ["2013-04"]) == []
        # a later month brings the months between it and the newest partition: no hole
        assert register_months(instance, ["2013-07"]) == ["2013-05", "2013-06", "2013-07"]
        # an earlier month re-adds the partitions in order (ranges follow the instance's order)
        assert register_months(instance, ["2013-01"]) == ["2013-01", "2013-02"]
        assert registered_months(instance) == [f"2013-{m:02d}" for m in range(1, 8)]
        # across a year boundary
        register_months(instance, ["2014-01"])
        assert registered_months(instance)[-7:] == [
            "2013-07",
            "2013-08",
            "2013-09",
            "2013-10",
            "2013-11",
            "2013-12",
            "2014-01",
        ]
        with pytest.raises(MonthError, match="2012-12 is before 2013-01"):
            register_months(instance, ["2012-12"])


def test_shifted_seed_replays_2013_in_a_later_year(home: Path):
    (written,) = [w for w in seed(home, ["2014-02"], "csv", shift_years=1) if "flights" in w.path.name]
    drop = pd.read_csv(written.path, dtype=str, keep_default_na=False)
    assert set(drop["year"]) == {"2014"} and set(drop["month"]) == {"2"}
    source = seed(home / "real", ["2013-02"], "csv")
    original = pd.read_csv(next(w.path for w in source if "flights" in w.path.name), dtype=str, keep_default_na=False)
    assert len(drop) == len(original)
    # time_hour follows the local hour in the new year: 2014-02-01 05:00 in New York is 10:00 UTC
    first = drop[(drop["day"] == "1") & (drop["hour"] == "5")]["time_hour"].iloc[0]
    assert first == "2014-02-01T10:00:00Z"
    with pytest.raises(SeedError, match="2015-01 moved back 1 year\\(s\\) is not in 2013"):
        seed(home, ["2015-01"], "csv", shift_years=1)


def test_a_drop_for_2014_01_is_validated_through_the_same_contracts(home: Path):
    seed(home, ["2014-01"], "csv", shift_years=1)
    assert run_assets(home, REFERENCES, partition=None).success
    result = run_assets(
        home, [*FLIGHTS_SELECTION[2:], "raw_weather", "validated_weather", "quarantine_weather"], partition="2014-01"
    )
    assert result.success
    validated = pd.read_parquet(warehouse_file(home, "validated", "flights", "2014-01"))
    quarantined = pd.read_parquet(warehouse_file(home, "quarantine", "flights", "2014-01"))
    assert len(validated) > 26000 and set(validated["year"]) == {2014}
    assert len(quarantined) < 0.01 * len(validated)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks


def _tick(home: Path, instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        cursor=cursor, instance=instance, resources={"warehouse": Warehouse(home=str(home))}
    )
    result = landing_zone_sensor(context)
    for request in result.dynamic_partitions_requests or []:  # what the daemon does with them
        instance.add_dynamic_partitions(MONTHS.name, list(request.partition_keys))
    return result


class Said:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, line: str) -> None:
        self.lines.append(line)

    warning = info


def test_a_gap_month_waits_for_the_month_before_it(home: Path):
    seed(home, ["2014-01", "2014-03"], "csv", shift_years=1)
    assert run_assets(home, REFERENCES, partition=None).success
    with dg.instance_for_test() as instance:
        first = _tick(home, instance)
        assert sorted({r.partition_key for r in first.run_requests}) == ["2014-01"]
        assert registered_months(instance) == ["2014-01"]
        said = Said()
        scan_landing(home, {}, registered_months(instance), said)
        assert "flights_2014-03.csv: waits for 2014-02 (months are ingested in order, without gaps)" in said.lines

        # it keeps waiting, and starts with the month before it once that lands
        assert _tick(home, instance, first.cursor).run_requests == []
        seed(home, ["2014-02"], "csv", shift_years=1)
        second = _tick(home, instance, first.cursor)
        assert sorted({r.partition_key for r in second.run_requests}) == ["2014-02", "2014-03"]
        assert registered_months(instance) == ["2014-01", "2014-02", "2014-03"]


def test_the_training_window_is_the_latest_complete_months(tmp_path: Path):
    home = tmp_path
    tables = ["validated/flights"] + [
        f"features/{v}" for v in ("carrier_stats", "origin_stats", "route_stats", "tail_recent", "weather_hourly")
    ]
    months = [f"2013-{m:02d}" for m in range(3, 13)] + ["2014-01", "2014-02"]
    for table in tables:
        for month in months:
            path = home / "warehouse" / table / f"{month}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    (home / "warehouse" / "features" / "weather_hourly" / "2014-02.parquet").unlink()  # 2014-02 is not complete
    window = TrainingWindow(train_months=6, holdout_months=2)
    assert window.months(home) == [*(f"2013-{m:02d}" for m in range(6, 13)), "2014-01"]
    train, holdout = window.split(window.months(home))
    assert train == [f"2013-{m:02d}" for m in range(6, 12)] and holdout == ["2013-12", "2014-01"]
    assert TrainingWindow(train_months=10, holdout_months=2).split(["2013-01", "2013-02"]) == (["2013-01"], ["2013-02"])


@pytest.mark.slow
def test_a_months_feature_tables_do_not_depend_on_later_months(feature_home: Path, tmp_path: Path):
    """Leakage across time: 2013-02's feature tables are the same bytes whether or not March was ingested."""
    home = tmp_path / "home"
    seed(home, ["2013-01", "2013-02", "2013-03"], "csv")
    tags = {"dagster/asset_partition_range_start": "2013-01", "dagster/asset_partition_range_end": "2013-03"}
    selection = dg.AssetSelection.assets("carrier_stats", "weather_hourly").upstream().required_multi_asset_neighbors()
    result = run_job(home, tags=tags, selection=selection)
    assert result.success
    for view in ("carrier_stats", "origin_stats", "route_stats", "tail_recent", "weather_hourly"):
        with_march = warehouse_file(home, "features", view, "2013-02").read_bytes()
        without = warehouse_file(feature_home, "features", view, "2013-02").read_bytes()
        assert with_march == without, view


def test_a_verdict_still_being_judged_is_neither_passed_nor_failed():
    """The rollout sensor may tick between the evaluation's materialization and its checks (automation runs both)."""
    from openclaw_assets.compute.evidence import Verdict

    judging = Verdict("model_evaluation", "3", "run", {"quality_floor": "SUCCEEDED", "calibration": "PLANNED"})
    assert judging.pending and not judging.passed
    done = Verdict("model_evaluation", "3", "run", {"quality_floor": "SUCCEEDED", "calibration": "FAILED"})
    assert not done.pending and not done.passed and done.failed() == ["model_evaluation:calibration FAILED"]
