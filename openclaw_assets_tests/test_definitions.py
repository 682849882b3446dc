"""The code location as a whole: its graph, its gates, and what importing it costs."""

from __future__ import annotations

import json
import subprocess
import sys

import dagster as dg

from openclaw_assets.definitions import defs
from openclaw_assets.kernel.partitions import MONTHS

HEAVY = ["pandas", "pyarrow", "pandera", "feast", "mlflow", "sklearn", "lightgbm", "fastapi", "httpx", "numpy"]

EXPECTED_GRAPH = {
    "airlines": [],
    "airports": [],
    "planes": [],
    "raw_flights": [],
    "raw_weather": [],
    "validated_flights": ["airlines", "airports", "raw_flights"],
    "quarantine_flights": ["raw_flights"],
    "validated_weather": ["airports", "raw_weather"],
    "quarantine_weather": ["raw_weather"],
    "carrier_stats": ["validated_flights"],
    "origin_stats": ["validated_flights"],
    "route_stats": ["validated_flights"],
    "tail_recent": ["validated_flights"],
    "weather_hourly": ["validated_weather"],
    "aircraft": ["planes"],
    "feast_registry": ["aircraft", "carrier_stats", "origin_stats", "route_stats", "tail_recent", "weather_hourly"],
    "online_features": [
        "aircraft",
        "carrier_stats",
        "feast_registry",
        "origin_stats",
        "route_stats",
        "tail_recent",
        "weather_hourly",
    ],
    "training_set": [
        "aircraft",
        "carrier_stats",
        "feast_registry",
        "origin_stats",
        "route_stats",
        "tail_recent",
        "validated_flights",
        "weather_hourly",
    ],
    "trained_model": ["training_set"],
    "model_evaluation": ["trained_model"],
    "staging_validation": ["model_evaluation"],
    "release_readiness": ["model_evaluation", "staging_validation"],
    "production_deployment": ["release_readiness", "staging_validation"],
    "batch_predictions": [
        "aircraft",
        "carrier_stats",
        "origin_stats",
        "production_deployment",
        "route_stats",
        "tail_recent",
        "validated_flights",
        "weather_hourly",
    ],
    "ab_results": ["production_deployment", "validated_flights"],
    "pipeline_health": [
        "quarantine_flights",
        "quarantine_weather",
        "staging_validation",
        "validated_flights",
        "validated_weather",
    ],
    "feature_drift": ["batch_predictions", "training_set"],
    "live_drift": ["batch_predictions", "training_set"],
}


def _graph() -> dict[str, list[str]]:
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }


def test_asset_graph_snapshot():
    assert _graph() == EXPECTED_GRAPH


def test_every_gate_is_declared_on_its_asset_and_blocking():
    graph = defs.resolve_asset_graph()
    specs = {f"{k.asset_key.to_user_string()}:{k.name}": graph.get_check_spec(k) for k in graph.asset_check_keys}
    for table in ("flights", "weather"):
        for gate in ("row_accounting", "quarantine_rate", "key_uniqueness", "partition_completeness"):
            assert specs[f"validated_{table}:{gate}"].blocking, gate
    for table in ("airlines", "airports", "planes"):
        for gate in ("row_accounting", "quarantine_rate", "key_uniqueness"):
            assert specs[f"{table}:{gate}"].blocking
    assert not specs["validated_flights:dest_reference_coverage"].blocking
    for view in ("carrier_stats", "origin_stats", "route_stats", "tail_recent", "weather_hourly", "aircraft"):
        assert specs[f"{view}:null_rate_and_range"].blocking
    for gate in ("online_offline_parity", "online_freshness"):
        assert specs[f"online_features:{gate}"].blocking
    for gate in ("point_in_time", "training_row_accounting"):
        assert specs[f"training_set:{gate}"].blocking
    for gate in (
        "quality_floor",
        "no_regression_vs_champion",
        "slice_floor",
        "calibration",
        "training_data_gates_passed",
    ):
        assert specs[f"model_evaluation:{gate}"].blocking
    for gate in ("latency_budget", "error_budget"):
        assert specs[f"staging_validation:{gate}"].blocking
    assert specs["batch_predictions:every_flight_scored"].blocking
    for asset in ("feature_drift", "live_drift"):
        assert specs[f"{asset}:drift_below_limit"].blocking
        assert not specs[f"{asset}:drift_below_warning"].blocking


def test_rollout_and_rollback_are_sensors_and_rollout_is_a_job():
    assert {s.name for s in defs.sensors} >= {"landing_zone_sensor", "model_rollout_sensor", "rollback_sensor"}
    job = defs.resolve_job_def("openclaw_rollout")
    assert {n.name for n in job.graph.node_defs} == {"staging_validation", "release_readiness", "production_deployment"}
    features = defs.resolve_job_def("openclaw_features")
    assert not features.graph.has_node_named("production_deployment")
    assert not features.graph.has_node_named("feature_drift")  # it judges against a trained model's months
    main = defs.resolve_job_def("openclaw_main")
    assert main.graph.has_node_named("feature_drift") and main.graph.has_node_named("pipeline_health")
    assert not main.graph.has_node_named("live_drift")  # the gateway's traffic cannot fail a pipeline run


def test_every_partitioned_asset_shares_the_open_ended_months():
    graph = defs.resolve_asset_graph()
    partitioned = [graph.get(key) for key in graph.get_all_asset_keys() if graph.get(key).partitions_def is not None]
    assert {node.partitions_def for node in partitioned} == {MONTHS}
    assert isinstance(MONTHS, dg.DynamicPartitionsDefinition) and MONTHS.name == "months"
    for name in ("raw_flights", "validated_flights", "quarantine_weather", "carrier_stats", "batch_predictions"):
        assert graph.get(dg.AssetKey(name)).backfill_policy == dg.BackfillPolicy.single_run()
    assert graph.get(dg.AssetKey("airlines")).partitions_def is None


def test_every_asset_says_what_it_is_for():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert graph.get(key).description, key


def test_importing_the_code_location_loads_no_heavy_library():
    code = (
        f"import sys, json, openclaw_assets.definitions; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
