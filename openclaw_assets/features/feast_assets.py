"""Feast as assets: apply the repository, fill the online store, build the training set."""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from openclaw_assets.control import subjects
from openclaw_assets.control.resource import ProvenanceLedger
from openclaw_assets.features import checks
from openclaw_assets.features.assets import CODE_VERSION
from openclaw_assets.features.entities import labelled_flights
from openclaw_assets.features.repo import FEATURE_SERVICE, FEATURE_TABLES, VIEWS, known_at_column
from openclaw_assets.features.store import FeastStore
from openclaw_assets.features.window import TrainingWindow
from openclaw_assets.kernel.automation import MONTHLY_FRESHNESS, ON_CODE_CHANGE, ON_NEW_DATA, ON_NEW_MONTH
from openclaw_assets.kernel.concurrency import FEAST_POOL
from openclaw_assets.kernel.months import format_range, month_bounds
from openclaw_assets.kernel.outcomes import Outcome
from openclaw_assets.kernel.partitions import FIRST_MONTH, MONTHS, SINGLE_RUN, partition_months
from openclaw_assets.kernel.paths import table_partitions
from openclaw_assets.kernel.reporting import check_results
from openclaw_assets.kernel.warehouse import Warehouse

PARTITIONED_VIEWS = [v.name for v in VIEWS if v.partitioned]
PARITY_SAMPLE = 25


BOOKKEEPING = {"meta", "created_timestamp", "last_updated_timestamp", "materialization_intervals"}


def _scrub(message) -> None:
    """Clear, at every depth, the fields that record when something was written rather than what it is."""
    for field, value in message.ListFields():
        if field.name in BOOKKEEPING:
            message.ClearField(field.name)
        elif field.type == field.TYPE_MESSAGE:
            if field.is_repeated:
                if not field.message_type.GetOptions().map_entry:
                    for item in value:
                        _scrub(item)
            else:
                _scrub(value)


def _spec_bytes(obj) -> bytes:
    """An object's definition without its bookkeeping, as bytes to compare."""
    proto = obj.to_proto()
    _scrub(proto)
    return proto.SerializeToString(deterministic=True)


def _registry_specs(store) -> dict[str, bytes]:
    """Every registered object's spec, by kind and name (to tell what apply changed)."""
    project = store.project
    out = {}
    for kind, listing in (
        ("entity", store.registry.list_entities(project=project, allow_cache=False)),
        ("feature_view", store.registry.list_feature_views(project=project, allow_cache=False)),
        ("data_source", store.registry.list_data_sources(project=project, allow_cache=False)),
        ("feature_service", store.registry.list_feature_services(project=project, allow_cache=False)),
    ):
        for obj in listing:
            out[f"{kind}:{obj.name}"] = _spec_bytes(obj)
    return out


@dg.asset(
    group_name="features",
    deps=FEATURE_TABLES,
    automation_condition=ON_CODE_CHANGE,
    kinds={"feast"},
    pool=FEAST_POOL,
    code_version=CODE_VERSION,
    description=f"The Feast registry: entities, sources, feature views and the `{FEATURE_SERVICE}` service, applied.",
)
def feast_registry(
    context: dg.AssetExecutionContext, feast: FeastStore, ledger: ProvenanceLedger
) -> dg.MaterializeResult:
    from openclaw_assets.features.repo import build_objects

    store = feast.open()
    before = _registry_specs(store)
    objects = build_objects(feast.root)
    ledger.require(context, "feast_apply", apply_document(objects), f"{store.project}/{FEATURE_SERVICE}")
    wanted = {f"{_kind(o)}:{o.name}" for o in objects}
    wanted |= {f"data_source:{o.batch_source.name}" for o in objects if _kind(o) == "feature_view"}
    stale = [
        o
        for o in _registered_objects(store)
        if f"{_kind(o)}:{o.name}" not in wanted and not o.name.startswith("__")  # Feast's own objects stay
    ]
    store.apply(objects, objects_to_delete=stale, partial=False)
    after = _registry_specs(store)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(after) & set(before) if after[k] != before[k])
    context.log.info(f"feast apply: {len(added)} added, {len(changed)} changed, {len(removed)} removed")
    digest = _registry_digest(after)
    ledger.record(
        context,
        "registry",
        subjects.REGISTRY,
        digest=digest,
        facts={"objects": len(after), "added": added, "changed": changed, "removed": removed},
    )
    return dg.MaterializeResult(
        metadata={
            "added": ", ".join(added) or "none",
            "changed": ", ".join(changed) or "none",
            "removed": ", ".join(removed) or "none",
            "objects": len(after),
            "feature_service": FEATURE_SERVICE,
            "feature_store_yaml": dg.MetadataValue.path(str(feast.repo_path / "feature_store.yaml")),
        }
    )


def _registry_digest(specs: dict[str, bytes]) -> str:
    """SHA-256 over the registered objects' specs (bookkeeping removed), in name order."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(specs):
        digest.update(name.encode() + b"\0" + hashlib.sha256(specs[name]).digest())
    return digest.hexdigest()


def apply_document(objects: list) -> dict[str, Any]:
    """What the ``feast_apply`` policy judges: each view's owner, TTL, description and field classes."""
    from openclaw_assets.features.repo import CLASSIFICATION

    views = [o for o in objects if _kind(o) == "feature_view"]
    services = [o for o in objects if _kind(o) == "feature_service"]
    return {
        "feature_views": [
            {
                "name": v.name,
                "owner": v.owner or None,
                "ttl_seconds": int(v.ttl.total_seconds()) if v.ttl else 0,
                "description": v.description or "",
                "online": bool(v.online),
                "fields": [
                    {"name": f.name, "classification": (f.tags or {}).get(CLASSIFICATION)}
                    for f in [*v.entity_columns, *v.features]
                ],
            }
            for v in views
        ],
        "feature_services": [{"name": s.name, "views": [p.name for p in s.feature_view_projections]} for s in services],
    }


def _kind(obj) -> str:
    from feast import Entity, FeatureService, FeatureView

    if isinstance(obj, Entity):
        return "entity"
    if isinstance(obj, FeatureView):
        return "feature_view"
    if isinstance(obj, FeatureService):
        return "feature_service"
    return "data_source"


def _registered_objects(store) -> list:
    project = store.project
    return [
        *store.registry.list_feature_services(project=project, allow_cache=False),
        *store.registry.list_feature_views(project=project, allow_cache=False),
        *store.registry.list_entities(project=project, allow_cache=False),
        *store.registry.list_data_sources(project=project, allow_cache=False),
    ]


def materialized_until(store, views: list[str]):
    """The earliest end of the materialized intervals of ``views`` (None if one was never materialized)."""
    ends = []
    for name in views:
        intervals = store.get_feature_view(name).materialization_intervals
        if not intervals:
            return None
        ends.append(max(end for _, end in intervals))
    return min(ends)


def latest_offline(home: Path, view: str, until) -> Any:
    """Each entity's newest offline row with event_timestamp before ``until``."""
    import pandas as pd

    frames = [pd.read_parquet(p) for p in table_partitions(home, "features", view)]
    table = pd.concat(frames, ignore_index=True)
    table = table[table["event_timestamp"] < pd.Timestamp(until)]
    key = next(v.key for v in VIEWS if v.name == view)
    return table.sort_values("event_timestamp").groupby(key, sort=True).tail(1).reset_index(drop=True)


def parity(store, home: Path, view: str, until, sample: int = PARITY_SAMPLE) -> Outcome:
    """Compare online values with the latest offline ones for a sample of entities of one view."""
    spec = next(v for v in VIEWS if v.name == view)
    expected = latest_offline(home, view, until)
    expected = expected.sample(min(sample, len(expected)), random_state=0) if len(expected) else expected
    features = list(spec.features)
    rows = [{spec.key: value} for value in expected[spec.key]]
    online = store.get_online_features(features=[f"{view}:{f}" for f in features], entity_rows=rows).to_df()
    return checks.online_parity(expected[[spec.key, *features]], online[[spec.key, *features]], spec.key, features)


@dg.asset(
    partitions_def=MONTHS,
    backfill_policy=SINGLE_RUN,
    group_name="features",
    deps=["feast_registry", *PARTITIONED_VIEWS, "aircraft"],
    automation_condition=ON_NEW_DATA,
    freshness_policy=MONTHLY_FRESHNESS,
    kinds={"feast"},
    pool=FEAST_POOL,
    code_version=CODE_VERSION,
    check_specs=[
        dg.AssetCheckSpec(
            checks.ONLINE_PARITY,
            asset="online_features",
            blocking=True,
            description="For sampled entities, online values equal the latest offline values.",
        ),
        dg.AssetCheckSpec(
            checks.ONLINE_FRESHNESS,
            asset="online_features",
            blocking=True,
            description="The online store reaches the end of the newest month this run materialized.",
        ),
    ],
    description="The Feast online store, filled month by month from the feature tables.",
)
def online_features(context: dg.AssetExecutionContext, feast: FeastStore, warehouse: Warehouse):
    store = feast.open()
    done = materialized_until(store, PARTITIONED_VIEWS)
    written, skipped = [], []
    for partition in sorted(context.partition_keys):
        start, end = month_bounds(partition)
        if done is not None and end < done:
            # the online store already holds a later month's values; writing this month's would regress them
            skipped.append(partition)
            continue
        store.materialize(start_date=start, end_date=end, feature_views=PARTITIONED_VIEWS)
        written.append(partition)
        done = end
    if done is not None:
        store.materialize(
            start_date=month_bounds(FIRST_MONTH)[0].replace(year=2012),
            end_date=done,
            feature_views=["aircraft"],
        )
    if skipped:
        context.log.info(f"not written (the online store holds newer values): {', '.join(skipped)}")
    until = materialized_until(store, PARTITIONED_VIEWS)
    outcomes = {
        # judged against this run's months: a newer month validated meanwhile is its own run's to bring online
        checks.ONLINE_FRESHNESS: checks.freshness(until, max(month_bounds(p)[1] for p in context.partition_keys)),
    }
    parities = [parity(store, warehouse.root, view, until) for view in [*PARTITIONED_VIEWS, "aircraft"]]
    outcomes[checks.ONLINE_PARITY] = Outcome.all_of(parities, totals=("entities_sampled", "mismatches"))
    yield dg.MaterializeResult(
        metadata={
            "materialized": ", ".join(written) or "none",
            "skipped": ", ".join(skipped) or "none",
            "online_until": str(until),
        }
    )
    yield from check_results("online_features", {None: outcomes})


class TrainingSetConfig(dg.Config):
    """Which months of labelled flights the training set covers."""

    months: str | None = Field(
        default=None, description="A:B range of months (inclusive); default: the training window's months."
    )


@dg.asset(
    group_name="features",
    deps=["feast_registry", dg.AssetDep("validated_flights"), *FEATURE_TABLES],
    automation_condition=ON_NEW_MONTH,
    kinds={"feast", "parquet"},
    code_version=CODE_VERSION,
    check_specs=[
        dg.AssetCheckSpec(
            checks.POINT_IN_TIME,
            asset="training_set",
            blocking=True,
            description="No joined value became known after the flight's event time.",
        ),
        dg.AssetCheckSpec(
            checks.TRAINING_ROWS,
            asset="training_set",
            blocking=True,
            description="One row per labelled flight: Feast dropped nothing.",
        ),
    ],
    description=f"Labelled flights joined point-in-time with `{FEATURE_SERVICE}` through Feast's historical retrieval.",
)
def training_set(
    context: dg.AssetExecutionContext,
    config: TrainingSetConfig,
    feast: FeastStore,
    warehouse: Warehouse,
    training_window: TrainingWindow,
    ledger: ProvenanceLedger,
):
    months = partition_months(config.months) if config.months else training_window.months(warehouse.root)
    if not months:
        raise dg.Failure(
            description="no complete month to train on: a month needs its validated flights and feature tables",
            allow_retries=False,
        )
    entities = labelled_flights(warehouse, months)
    store = feast.open()
    joined = store.get_historical_features(
        entity_df=entities, features=store.get_feature_service(FEATURE_SERVICE)
    ).to_df()
    joined = joined.sort_values(["event_timestamp", "flight_id"], kind="stable").reset_index(drop=True)
    written = warehouse.write(joined, "features", "training_set")
    inputs = [subjects.table("validated", "flights", m) for m in months]
    inputs += [subjects.table("features", v, m) for v in PARTITIONED_VIEWS for m in months]
    inputs += [subjects.table("features", "aircraft", None), subjects.REGISTRY]
    ledger.record_file(
        context,
        written,
        kind="training_set",
        inputs=inputs,
        facts={"months": months, "feature_service": FEATURE_SERVICE},
    )
    known = {v.name: known_at_column(v.name) for v in VIEWS}
    outcomes = {
        checks.POINT_IN_TIME: checks.point_in_time(joined, known, {v.name: v.ttl for v in VIEWS}),
        checks.TRAINING_ROWS: checks.training_rows(len(entities), len(joined)),
    }
    positives = float(joined["delayed"].mean()) if written.rows else 0.0
    yield dg.MaterializeResult(
        metadata={
            **written.metadata(),
            "months": format_range(months),
            "label_positive_rate": positives,
            "feature_service": FEATURE_SERVICE,
            "columns": len(joined.columns),
        }
    )
    yield from check_results("training_set", {None: outcomes})
