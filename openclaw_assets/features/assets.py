"""Feature plane assets: feature tables -> Feast registry -> online store, and the training set.

Feature tables are Parquet at ``warehouse/features/<view>/<YYYY-MM>.parquet`` and are the
Feast offline store's sources. Rolling windows reach back up to 30 days, so the flight
features of a month read that month's validated flights and those of the two months before it
(months arrive in order, so both exist unless they are before the first month).
"""

import functools
import json
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from openclaw_assets.control import subjects
from openclaw_assets.control.resource import ProvenanceLedger
from openclaw_assets.features import checks
from openclaw_assets.features.repo import VIEW_BY_NAME, known_at_column
from openclaw_assets.kernel.automation import ON_NEW_DATA
from openclaw_assets.kernel.months import shift
from openclaw_assets.kernel.partitions import MONTHS, SINGLE_RUN, registered_months
from openclaw_assets.kernel.reporting import check_results, summarise
from openclaw_assets.kernel.warehouse import Warehouse, Written

CODE_VERSION = "features-1"
FLIGHT_VIEWS = ("carrier_stats", "origin_stats", "route_stats", "tail_recent")
HISTORY_MONTHS = 2
"""Months before a partition whose flights its 30-day windows read."""
FLIGHT_COLUMNS = [
    "year",
    "month",
    "time_hour",
    "minute",
    "dep_delay",
    "air_time",
    "arr_delay",
    "status",
    "carrier",
    "origin",
    "dest",
    "tailnum",
]
BASELINE_FILE = Path(__file__).with_name("baseline.json")


class FeatureQualityConfig(dg.Config):
    """Thresholds of the feature tables' drift gate."""

    null_tolerance: float = Field(
        default=0.15, ge=0.0, le=1.0, description="How far a feature's null rate may rise above its baseline."
    )
    outside_ceiling: float = Field(
        default=0.10,
        ge=0.0,
        le=1.0,
        description="Largest share of values outside the baseline's 1-99% range widened by half its width.",
    )
    baseline_path: str | None = Field(
        default=None, description="A baseline JSON file; default: the one shipped with the package (2013 data)."
    )


@functools.lru_cache(maxsize=4)
def load_baseline(path: str | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """The stored baseline (read once per process and path)."""
    return json.loads(Path(path or BASELINE_FILE).read_text())


def write_feature_table(
    context, warehouse: Warehouse, ledger: ProvenanceLedger, view: str, partition: str | None, table, inputs: list[str]
) -> dict[str, Any]:
    """Add the known-at column, write atomically, record it in the ledger, return the file's metadata."""
    table = table.copy()
    table[known_at_column(view)] = table["event_timestamp"]
    written: Written = warehouse.write(table, "features", view, partition)
    ledger.record_file(context, written, inputs=inputs, asset=view, facts={"partition": partition or "all"})
    return written.metadata()


def _quality(table, view: str, config: FeatureQualityConfig) -> checks.Outcome:
    baseline = load_baseline(config.baseline_path).get(view, {})
    return checks.against_baseline(table, baseline, config.null_tolerance, config.outside_ceiling)


def _feature_specs(names, deps, descriptions):
    return [
        dg.AssetSpec(
            name,
            deps=deps,
            kinds={"parquet"},
            code_version=CODE_VERSION,
            description=descriptions[name],
            automation_condition=ON_NEW_DATA,
        )
        for name in names
    ]


def _baseline_check(view: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        checks.BASELINE,
        asset=view,
        blocking=True,
        description="Null rates and value ranges stay near the stored baseline (catches drift and broken inputs).",
    )


def _flight_months(partition: str, registered: set[str]) -> list[str]:
    """The month and the two months before it that are partitions: what its 30-day windows read."""
    months = [shift(partition, k) for k in range(-HISTORY_MONTHS, 0) if shift(partition, k) in registered]
    return [*months, partition]


def _read_flights(warehouse: Warehouse, months: list[str]):
    why = f"{months[-1]}'s 30-day windows"
    return warehouse.read_many("validated", "flights", months, columns=FLIGHT_COLUMNS, why=why)


@dg.multi_asset(
    name="flight_features",
    partitions_def=MONTHS,
    backfill_policy=SINGLE_RUN,
    group_name="features",
    specs=_feature_specs(
        FLIGHT_VIEWS,
        [dg.AssetDep("validated_flights")],
        {name: VIEW_BY_NAME[name].description for name in FLIGHT_VIEWS},
    ),
    check_specs=[_baseline_check(view) for view in FLIGHT_VIEWS],
)
def flight_features(
    context: dg.AssetExecutionContext, config: FeatureQualityConfig, warehouse: Warehouse, ledger: ProvenanceLedger
):
    """Carrier, origin, route and aircraft-delay features for each month, from that month and the two before it."""
    from openclaw_assets.features import compute

    builders = {
        "carrier_stats": (compute.carrier_features, ["carrier"]),
        "origin_stats": (compute.origin_features, ["origin"]),
        "route_stats": (compute.route_features, ["route"]),
        "tail_recent": (compute.tail_features, ["tailnum"]),
    }
    records: dict[str, list] = {view: [] for view in FLIGHT_VIEWS}
    metadata: dict[str, dict] = {}
    gates: dict[str, dict] = {view: {} for view in FLIGHT_VIEWS}
    registered = set(registered_months(context.instance))
    for partition in context.partition_keys:
        months = _flight_months(partition, registered)
        flights = _read_flights(warehouse, months)
        inputs = [subjects.table("validated", "flights", m) for m in months]
        for view, (build, keys) in builders.items():
            table = compute.finish(build(flights, partition), keys)
            metadata[view] = write_feature_table(context, warehouse, ledger, view, partition, table, inputs)
            records[view].append(
                {"partition": partition, "rows": len(table), "content_sha256": metadata[view]["content_sha256"][:16]}
            )
            gates[view][partition] = {checks.BASELINE: _quality(table, view, config)}
        context.log.info(f"{partition}: " + ", ".join(f"{v} {records[v][-1]['rows']} rows" for v in FLIGHT_VIEWS))
    for view in FLIGHT_VIEWS:
        yield dg.MaterializeResult(asset_key=view, metadata=summarise(records[view], metadata[view]))
        yield from check_results(view, gates[view])


@dg.asset(
    partitions_def=MONTHS,
    backfill_policy=SINGLE_RUN,
    group_name="features",
    deps=["validated_weather"],
    kinds={"parquet"},
    automation_condition=ON_NEW_DATA,
    code_version=CODE_VERSION,
    check_specs=[_baseline_check("weather_hourly")],
    description=VIEW_BY_NAME["weather_hourly"].description,
)
def weather_hourly(
    context: dg.AssetExecutionContext, config: FeatureQualityConfig, warehouse: Warehouse, ledger: ProvenanceLedger
):
    from openclaw_assets.features import compute

    records, metadata, gates = [], {}, {}
    for partition in context.partition_keys:
        weather = warehouse.read("validated", "weather", partition)
        table = compute.finish(compute.weather_features(weather), ["origin"])
        inputs = [subjects.table("validated", "weather", partition)]
        metadata = write_feature_table(context, warehouse, ledger, "weather_hourly", partition, table, inputs)
        records.append({"partition": partition, "rows": len(table), "content_sha256": metadata["content_sha256"][:16]})
        gates[partition] = {checks.BASELINE: _quality(table, "weather_hourly", config)}
    yield dg.MaterializeResult(metadata=summarise(records, metadata))
    yield from check_results("weather_hourly", gates)


@dg.asset(
    group_name="features",
    deps=["planes"],
    kinds={"parquet"},
    automation_condition=ON_NEW_DATA,
    code_version=CODE_VERSION,
    check_specs=[_baseline_check("aircraft")],
    description=VIEW_BY_NAME["aircraft"].description,
)
def aircraft(
    context: dg.AssetExecutionContext, config: FeatureQualityConfig, warehouse: Warehouse, ledger: ProvenanceLedger
):
    from openclaw_assets.features import compute

    table = compute.finish(compute.aircraft_features(warehouse.read("validated", "planes")), ["tailnum"])
    inputs = [subjects.table("validated", "planes", None)]
    metadata = write_feature_table(context, warehouse, ledger, "aircraft", None, table, inputs)
    yield dg.MaterializeResult(metadata=metadata)
    yield from check_results("aircraft", {None: {checks.BASELINE: _quality(table, "aircraft", config)}})
