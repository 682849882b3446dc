"""The feature plane for real: Dagster runs, a real Feast registry, online store and DuckDB offline store.

January and February 2013 go through the whole pipeline once per session (``feature_home``);
each failure scenario works on a private copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from openclaw_assets.features import checks
from openclaw_assets.features.entities import labelled_flights
from openclaw_assets.features.repo import FEATURE_SERVICE, VIEWS
from openclaw_assets.features.store import FeastStore
from openclaw_assets.kernel.paths import warehouse_file
from openclaw_assets.kernel.warehouse import Warehouse
from openclaw_assets_tests.conftest import check_evaluations, run_job

FEB = {"dagster/asset_partition_range_start": "2013-02", "dagster/asset_partition_range_end": "2013-02"}
TRAINING_CONFIG = {"ops": {"training_set": {"config": {"months": "2013-01:2013-02"}}}}


def test_feature_tables_are_at_the_contract_paths(feature_home: Path):
    for view in VIEWS:
        months = [None] if not view.partitioned else ["2013-01", "2013-02"]
        for month in months:
            table = pd.read_parquet(warehouse_file(feature_home, "features", view.name, month))
            assert len(table) > 0
            assert (table["event_timestamp"] == table[f"{view.name}__known_at"]).all()
            assert set(view.features) <= set(table.columns)


def test_training_set_has_one_row_per_labelled_flight(feature_home: Path):
    training = pd.read_parquet(warehouse_file(feature_home, "features", "training_set", None))
    labelled = labelled_flights(Warehouse(home=str(feature_home)), ["2013-01", "2013-02"])
    assert len(training) == len(labelled) > 45_000
    assert training["flight_id"].is_unique
    assert set(training["flight_id"]) == set(labelled["flight_id"])
    assert training["delayed"].between(0, 1).all()
    # weather is joined for nearly every flight; the carrier rate is known for nearly all after day one
    assert training["temp"].notna().mean() > 0.95
    assert training.loc[training["month"] == 2, "carrier_delay_rate_30d"].notna().mean() > 0.99


def test_training_set_values_are_the_ones_known_at_departure(feature_home: Path):
    """Recompute one flight's carrier rate from validated flights by hand and compare."""
    training = pd.read_parquet(warehouse_file(feature_home, "features", "training_set", None))
    row = training[(training["carrier"] == "UA") & (training["month"] == 2)].iloc[500]
    flights = pd.concat(
        [pd.read_parquet(warehouse_file(feature_home, "validated", "flights", m)) for m in ("2013-01", "2013-02")]
    )
    flights = flights[flights["carrier"] == "UA"]
    from openclaw_assets.features.compute import flight_times

    times = flight_times(flights)
    as_of = row["carrier_stats__known_at"]
    window = (times["outcome_at"] >= as_of - pd.Timedelta(days=7)) & (times["outcome_at"] < as_of)
    arrived = window & times["arrived"]
    assert row["carrier_flights_7d"] == int(window.sum())
    assert row["carrier_delay_rate_7d"] == pytest.approx(times.loc[arrived, "delayed"].mean())
    assert as_of <= row["event_timestamp"] < as_of + pd.Timedelta(hours=1)


def test_online_store_serves_the_feature_service(feature_home: Path):
    store = FeastStore.at(feature_home, "embedded").open()
    served = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        entity_rows=[{"carrier": "UA", "origin": "EWR", "route": "EWR-ORD", "tailnum": "N14228"}],
    ).to_dict()
    assert served["carrier_flights_30d"][0] > 0
    assert served["temp"][0] is not None
    assert served["weather_hourly__known_at"][0] is not None


def test_reapplying_the_registry_reports_no_change(feature_copy: Path):
    result = run_job(feature_copy, selection=["feast_registry"])
    meta = result.asset_materializations_for_node("feast_registry")[0].metadata
    assert meta["added"].value == meta["changed"].value == meta["removed"].value == "none"
    assert meta["objects"].value == 18  # 4 entities, 6 sources, 6 views, 1 service, Feast's __dummy entity


def test_a_leaked_future_value_fails_the_point_in_time_gate(feature_copy: Path):
    path = warehouse_file(feature_copy, "features", "carrier_stats", "2013-02")
    table = pd.read_parquet(path)
    # a buggy feature job stamps each rate three hours before it could have been known
    table["carrier_stats__known_at"] = table["event_timestamp"] + pd.Timedelta(hours=3)
    table.to_parquet(path, index=False)
    result = run_job(feature_copy, run_config=TRAINING_CONFIG, selection=["training_set"])
    assert not result.success
    gate = check_evaluations(result)[f"training_set:{checks.POINT_IN_TIME}"]
    assert not gate.passed and gate.metadata["future_values"].value > 1000


def test_a_stale_online_row_fails_the_parity_gate(feature_copy: Path):
    store = FeastStore.at(feature_copy, "embedded").open()
    stale = pd.read_parquet(warehouse_file(feature_copy, "features", "carrier_stats", "2013-01"))
    stale = stale.sort_values("event_timestamp").groupby("carrier").tail(1)
    stale = stale.assign(event_timestamp=pd.Timestamp("2013-03-01T04:00:00Z"), carrier_delay_rate_30d=0.999)
    store.write_to_online_store("carrier_stats", stale)
    # a run for January writes nothing (February's values are newer) and checks what is there
    january = {"dagster/asset_partition_range_start": "2013-01", "dagster/asset_partition_range_end": "2013-01"}
    result = run_job(feature_copy, tags=january, selection=["online_features"])
    assert not result.success
    gate = check_evaluations(result)[f"online_features:{checks.ONLINE_PARITY}"]
    assert not gate.passed and gate.metadata["mismatches"].value >= 16


def test_the_freshness_gate_judges_the_months_its_run_materialized(feature_copy: Path):
    validated = warehouse_file(feature_copy, "validated", "flights", "2013-02")
    shutil.copy(validated, validated.with_name("2013-03.parquet"))  # March is validated, not yet online
    result = run_job(feature_copy, tags=FEB, selection=["online_features"])
    gate = check_evaluations(result)[f"online_features:{checks.ONLINE_FRESHNESS}"]
    # February's run is not blamed for March, which its own run brings online (automation starts it)
    assert result.success and gate.passed
    assert gate.metadata["validated_until"].value == "2013-03-01 05:00:00+00:00"


def test_a_drifted_column_fails_the_baseline_gate_and_blocks_the_online_store(feature_copy: Path):
    path = warehouse_file(feature_copy, "validated", "weather", "2013-02")
    weather = pd.read_parquet(path)
    weather["temp"] = weather["temp"] + 273.15  # a producer switched to kelvin
    weather.to_parquet(path, index=False)
    result = run_job(feature_copy, tags=FEB, selection=["weather_hourly", "online_features"])
    assert not result.success
    gate = check_evaluations(result)[f"weather_hourly:{checks.BASELINE}"]
    assert not gate.passed and "temp" in gate.metadata["summary"].value
    assert result.asset_materializations_for_node("online_features") == []


def test_an_object_no_longer_in_the_repository_is_removed_and_reported(feature_copy: Path):
    from datetime import timedelta

    from feast import FeatureView, Field, FileSource
    from feast.types import Float64

    store = FeastStore.at(feature_copy, "embedded").open()
    carrier = store.get_entity("carrier")
    source = FileSource(
        name="old_source",
        path=str(warehouse_file(feature_copy, "features", "aircraft", None)),
        timestamp_field="event_timestamp",
    )
    old = FeatureView(
        name="old_view",
        entities=[carrier],
        ttl=timedelta(days=1),
        schema=[Field(name="plane_age", dtype=Float64)],
        source=source,
    )
    store.apply([source, old])
    result = run_job(feature_copy, selection=["feast_registry"])
    meta = result.asset_materializations_for_node("feast_registry")[0].metadata
    assert meta["removed"].value == "data_source:old_source, feature_view:old_view"
    assert "old_view" not in [v.name for v in store.list_feature_views()]
