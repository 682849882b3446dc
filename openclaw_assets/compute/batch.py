"""Batch scoring through Dagster: every flight of a month scored by the champion, point in time.

Why Dagster and not an async job API on the gateway: a month is a partition with lineage,
retries, backfills and a row-accounting gate for free, and the features come from Feast's
historical retrieval (as of each flight's departure), which the online store cannot give.
The gateway stays a low-latency path.

Rows are processed in chunks (``chunk_rows``): each chunk is retrieved, scored and appended to
the output as its own row group, so memory depends on the chunk, not on the month. The
file appears at ``predictions/flight_delay/<YYYY-MM>.parquet`` only when complete.
"""

import dagster as dg
from pydantic import Field

from openclaw_assets.control import subjects
from openclaw_assets.control.resource import ProvenanceLedger
from openclaw_assets.features.repo import FEATURE_TABLES
from openclaw_assets.features.store import FeastStore
from openclaw_assets.kernel.automation import MONTHLY_FRESHNESS, ON_NEW_DATA
from openclaw_assets.kernel.partitions import MONTHS, SINGLE_RUN
from openclaw_assets.kernel.warehouse import Warehouse
from openclaw_assets.models.registry import CHAMPION, MlflowStore
from openclaw_assets.models.training import DECISION_THRESHOLD
from openclaw_assets.observability.resource import Tracing, traced

TABLE = "flight_delay"
EVERY_FLIGHT_SCORED = "every_flight_scored"


class BatchConfig(dg.Config):
    chunk_rows: int = Field(default=50_000, ge=100, description="Flights retrieved and scored per chunk.")
    threshold: float = Field(
        default=DECISION_THRESHOLD, gt=0, lt=1, description="Probability at which the decision is `delayed`."
    )


def scoring_rows(flights):
    """Entity rows for every flight (cancelled and diverted too), as the training set asks Feast, plus status."""
    from openclaw_assets.features.entities import flight_entity_rows

    rows = flight_entity_rows(flights).drop(columns=["delayed", "month"])
    rows["status"] = flights["status"].astype(str).to_numpy()
    return rows


def score_month(store, service, model, rows, version: str, chunk_rows: int, threshold: float, target, model_name):
    """Score ``rows`` chunk by chunk into ``target`` (atomically); return (rows written, sha256)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from openclaw_assets.features.repo import missing_views
    from openclaw_assets.kernel.atomic import atomic_path, sha256_file
    from openclaw_assets.models.training import FEATURES

    schema = pa.schema(
        [
            ("flight_id", pa.string()),
            ("scheduled_departure", pa.timestamp("us", tz="UTC")),
            ("status", pa.string()),
            ("probability", pa.float64()),
            ("decision", pa.string()),
            ("risk_flag", pa.bool_()),
            ("out_of_range", pa.string()),
            ("missing_features", pa.string()),
            ("model_name", pa.string()),
            ("model_version", pa.string()),
        ]
    )
    written = 0
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for start in range(0, len(rows), chunk_rows):
            entities = rows.iloc[start : start + chunk_rows]
            joined = store.get_historical_features(entity_df=entities, features=service).to_df()
            joined = joined.set_index("flight_id").loc[entities["flight_id"]].reset_index()
            scored = model.predict(None, joined[FEATURES])
            missing = np.array([",".join(views) for views in missing_views(joined, len(joined))], dtype=object)
            probability = scored["probability"].to_numpy()
            out_of_range = scored["out_of_range"].to_numpy()
            chunk = pd.DataFrame(
                {
                    "flight_id": joined["flight_id"].to_numpy(),
                    "scheduled_departure": joined["event_timestamp"].to_numpy(),
                    "status": joined["status"].to_numpy(),
                    "probability": probability,
                    "decision": np.where(probability >= threshold, "delayed", "on_time"),
                    "risk_flag": (out_of_range != "") | (missing != ""),
                    "out_of_range": out_of_range,
                    "missing_features": missing,
                    "model_name": model_name,
                    "model_version": version,
                }
            )
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))
            written += len(chunk)
    return written, sha256_file(target)


@dg.asset(
    group_name="deployment",
    # the feature tables are read through Feast's historical retrieval: a month is scored once they exist
    deps=["production_deployment", dg.AssetDep("validated_flights"), *FEATURE_TABLES],
    partitions_def=MONTHS,
    automation_condition=ON_NEW_DATA,
    freshness_policy=MONTHLY_FRESHNESS,
    backfill_policy=SINGLE_RUN,
    kinds={"lightgbm", "parquet"},
    code_version="compute-1",
    check_specs=[
        dg.AssetCheckSpec(
            EVERY_FLIGHT_SCORED,
            asset="batch_predictions",
            blocking=True,
            description="One prediction per validated flight, each naming its model version.",
        )
    ],
    description="Every flight of the month scored by the champion with point-in-time features, chunked.",
)
@traced
def batch_predictions(
    context: dg.AssetExecutionContext,
    config: BatchConfig,
    warehouse: Warehouse,
    feast: FeastStore,
    mlflow_store: MlflowStore,
    ledger: ProvenanceLedger,
    tracing: Tracing,
):
    import time

    import mlflow
    import pandas as pd

    from openclaw_assets.features.repo import FEATURE_SERVICE
    from openclaw_assets.kernel.outcomes import Outcome
    from openclaw_assets.kernel.reporting import check_results, file_metadata, summarise

    champion = mlflow_store.version_for(CHAMPION)
    if champion is None:
        raise dg.Failure(description="no champion model: materialize production_deployment first", allow_retries=False)
    version = str(champion.version)
    mlflow_store.client()
    # the registered model's own predict, without MLflow's input-schema enforcement: integer feature
    # columns legitimately hold nulls here (a flight with no history in a window), as at serving time
    model = mlflow.pyfunc.load_model(f"models:/{mlflow_store.model_name}/{version}").unwrap_python_model()
    store = feast.open()
    service = store.get_feature_service(FEATURE_SERVICE)
    records, gates, metadata = [], {}, {}
    for partition in context.partition_keys:
        flights = warehouse.read("validated", "flights", partition)
        rows = scoring_rows(flights)
        target = warehouse.path("predictions", TABLE, partition)
        started = time.perf_counter()
        written, sha = score_month(
            store, service, model, rows, version, config.chunk_rows, config.threshold, target, mlflow_store.model_name
        )
        seconds = time.perf_counter() - started
        ledger.record(
            context,
            "predictions",
            subjects.table("predictions", TABLE, partition),
            digest=sha,
            path=target,
            inputs=[
                subjects.model(mlflow_store.model_name, version),
                subjects.table("validated", "flights", partition),
                *(subjects.table("features", v, partition) for v in FEATURE_TABLES if v != "aircraft"),
                subjects.table("features", "aircraft", None),
            ],
            facts={"rows": written, "partition": partition, "model_version": version},
        )
        check = pd.read_parquet(target, columns=["flight_id", "model_version"])
        complete = (
            len(check) == len(flights)
            and set(check["flight_id"]) == set(flights["flight_id"].astype(str))
            and bool((check["model_version"] == version).all())
        )
        gates[partition] = {
            EVERY_FLIGHT_SCORED: Outcome(
                complete,
                f"{len(check):,} predictions for {len(flights):,} validated flights, model v{version}",
                {"predictions": len(check), "flights": len(flights)},
            )
        }
        metadata = file_metadata(target, written, sha) | {
            "model_version": version,
            "rows_per_second": written / seconds,
        }
        records.append({"partition": partition, "rows": written, "rows_per_s": round(written / seconds)})
        context.log.info(
            f"{partition}: scored {written:,} flights with v{version} in {seconds:.1f}s",
            extra={"model_version": version},  # a field of its JSON line (observability.logs)
        )
    yield dg.MaterializeResult(metadata=summarise(records, metadata) | {"model_version": version})
    yield from check_results("batch_predictions", gates)
