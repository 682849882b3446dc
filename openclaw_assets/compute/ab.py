"""A/B results: the gateway's prediction log joined with what actually happened.

Outcomes "arrive" when the flight's validated row has a label (arrived flights: arrival
delay over 15 minutes). Predictions for flights without an outcome yet are counted, not
dropped. Per variant and model version: traffic, labelled rows, observed delay rate, mean
predicted probability, AUC and Brier score; the rollback sensor reads the champion's live
AUC from here.
"""

import dagster as dg
from pydantic import Field

from openclaw_assets.kernel.automation import ON_SCHEDULE
from openclaw_assets.kernel.warehouse import Warehouse

TABLE = "ab_results"
VARIANT_COLUMNS = [
    "variant",
    "model_version",
    "predictions",
    "request_keys",
    "labelled",
    "observed_delay_rate",
    "mean_probability",
    "auc",
    "brier",
    "risk_flag_rate",
]
"""The columns of the per-variant table, in the Parquet file and in the UI."""


class AbConfig(dg.Config):
    min_labelled: int = Field(default=50, ge=1, description="Fewer labelled rows than this: no AUC is reported.")


def summarise_variants(log, outcomes, min_labelled: int):
    """One row per (variant, model_version) from log rows and a flight_id -> delayed frame."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    joined = log.merge(outcomes, on="flight_id", how="left")
    rows = []
    for (variant, version), group in joined.groupby(["variant", "model_version"], sort=True):
        labelled = group[group["delayed"].notna()]
        y = labelled["delayed"].astype("int64").to_numpy()
        p = labelled["probability"].astype("float64").to_numpy()
        enough = len(labelled) >= min_labelled and 0 < y.sum() < len(y)
        rows.append(
            {
                "variant": variant,
                "model_version": str(version),
                "predictions": len(group),
                "request_keys": group["request_key"].nunique(),
                "labelled": len(labelled),
                "observed_delay_rate": float(y.mean()) if len(y) else np.nan,
                "mean_probability": float(group["probability"].mean()),
                "auc": float(roc_auc_score(y, p)) if enough else np.nan,
                "brier": float(np.mean((p - y) ** 2)) if len(y) else np.nan,
                "risk_flag_rate": float(group["risk_flag"].astype(bool).mean()),
            }
        )
    return pd.DataFrame(rows)


def outcomes_frame(home):
    """flight_id -> delayed (0/1) for every arrived flight of every validated month."""
    import pandas as pd

    from openclaw_assets.kernel.paths import table_partitions

    frames = []
    for path in table_partitions(home, "validated", "flights"):
        flights = pd.read_parquet(path, columns=["flight_id", "status", "arr_delay"])
        arrived = flights[flights["status"] == "arrived"]
        frames.append(
            pd.DataFrame(
                {"flight_id": arrived["flight_id"].astype(str), "delayed": (arrived["arr_delay"] > 15).astype("int64")}
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"flight_id": [], "delayed": []})


@dg.asset(
    group_name="deployment",
    deps=["production_deployment", dg.AssetDep("validated_flights")],
    kinds={"parquet"},
    automation_condition=ON_SCHEDULE,
    code_version="compute-1",
    description="Per-variant live metrics: the gateway's prediction log joined with actual outcomes.",
)
def ab_results(context: dg.AssetExecutionContext, config: AbConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    import pandas as pd

    from openclaw_assets.compute.gateway.predlog import read_log
    from openclaw_assets.kernel.reporting import table as typed_table

    lines, skipped = read_log(warehouse.root)
    columns = ["flight_id", "request_key", "variant", "model_version", "probability", "risk_flag"]
    log = pd.DataFrame(lines, columns=columns) if lines else pd.DataFrame(columns=columns)
    table = summarise_variants(log, outcomes_frame(warehouse.root), config.min_labelled)
    if table.empty:
        table = pd.DataFrame(columns=["variant", "model_version", "predictions", "labelled", "auc", "brier"])
    written = warehouse.write(table, "predictions", TABLE)
    per_version = {
        f"v{r.model_version}_{metric}": float(getattr(r, metric))
        for r in table.itertuples()
        for metric in ("auc", "brier")
        if pd.notna(getattr(r, metric))
    }
    context.log.info(f"{len(lines)} logged predictions ({skipped} torn lines skipped), {len(table)} variant rows")
    return dg.MaterializeResult(
        metadata=written.metadata()
        | {
            "logged_predictions": len(lines),
            "torn_lines_skipped": skipped,
            "variants": typed_table(table.to_dict("records"), VARIANT_COLUMNS),
            **per_version,
        }
    )
