"""Every name bench takes from ``openclaw_assets``, in one place, imported only when first used.

``from bench import _project as p`` then ``p.warehouse_file(...)``: the import happens at that
attribute access, inside a child's clock or after it, never when bench itself is imported. The
module lists below are what children import before their clocks start, and the functions the
cases time by wrapping them.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "openclaw_assets.definitions": "defs",
    "openclaw_assets.cli": "prepare_dagster_home split_months",
    "openclaw_assets.data.tables": "landing_file PARTITIONED_TABLES AIRLINES AIRPORTS FLIGHTS WEATHER",
    "openclaw_assets.kernel.paths": "warehouse_file",
    "openclaw_assets.kernel.months": "LOCAL_TZ month_bounds shift",
    "openclaw_assets.data.landing": "read_drop",
    "openclaw_assets.data.contracts": "validate_flights validate_weather validate_reference flights_schema"
    " weather_schema",
    "openclaw_assets.features.store": "FeastStore feature_store_config",
    "openclaw_assets.features.repo": "FEATURE_SERVICE VIEW_BY_NAME source_dir",
    "openclaw_assets.features.entities": "ENTITY_KEYS labelled_flights",
    "openclaw_assets.models.training": "FEATURES BASELINE_FEATURES LABEL prepare split fit fit_threads predict"
    " month_keys evaluation_figures auc_difference feature_families",
    "openclaw_assets.models.assets": "TrainConfig GateConfig judge",
    "openclaw_assets.models.registry": "MlflowStore",
    "openclaw_assets.kernel.warehouse": "Warehouse",
    "openclaw_assets.control.resource": "ProvenanceLedger",
    "openclaw_assets.kernel.partitions": "register_for_run months_of",
    "openclaw_assets.compute.batch": "scoring_rows TABLE",
    "openclaw_assets.compute.gateway.server": "exit_with_parent",
    "openclaw_assets.data.seed": "seed source_months",
    "openclaw_assets.features.checks": "ONLINE_FRESHNESS",
    "openclaw_assets.replay": "MonthStory observe shift_years_for",
    "openclaw_assets.control.ledger": "Ledger database_file",
    "openclaw_assets.control.merkle": "verify_inclusion verify_consistency",
}
_NAMES = {name: module for module, names in _MODULES.items() for name in names.split()}

CODE_LOCATION = ("dagster", "openclaw_assets.definitions")
CLI = "openclaw_assets.cli"
CONTRACTS = ("openclaw_assets.data.contracts", "openclaw_assets.data.landing", "openclaw_assets.data.tables")
FEAST = (
    "feast",
    "openclaw_assets.features.store",
    "openclaw_assets.features.repo",
    "openclaw_assets.features.entities",
    "openclaw_assets.features.feast_assets",
)
TRAINING = "openclaw_assets.models.training"
MLFLOW = ("mlflow", "mlflow.pyfunc", "mlflow.models", "mlflow.tracking", "openclaw_assets.models.pyfunc")
REGISTRY = "openclaw_assets.models.registry"
ATOMIC = "openclaw_assets.kernel.atomic"
LEDGER = ("sqlalchemy", "cryptography.hazmat.primitives.asymmetric.ed25519", "openclaw_assets.control.ledger")

TRAINING_PHASES = {
    "read training set + sha256": (("openclaw_assets.models.assets", "_training_frame"), (ATOMIC, "sha256_file")),
    "split + prepare": ((TRAINING, "split"), (TRAINING, "prepare")),
    "fit": ((TRAINING, "fit"),),
    "holdout predict + metrics": ((TRAINING, "predict"), (TRAINING, "metrics")),
    "MLflow": (
        (REGISTRY, "MlflowStore.client"),
        *(("mlflow", f) for f in ("start_run", "log_params", "log_metrics", "log_dict")),
        *(("mlflow.models", "infer_signature"), ("mlflow.pyfunc", "log_model")),
        *(("mlflow.tracking", f"MlflowClient.{f}") for f in ("set_model_version_tag", "set_registered_model_alias")),
    ),
}
RETRIEVAL = "feature retrieval"
BATCH_PHASES = {
    "MLflow: champion + load_model": (
        *((REGISTRY, f"MlflowStore.{f}") for f in ("version_for", "client")),
        ("mlflow.pyfunc", "load_model"),
    ),
    "Feast: open store": ((FEAST[1], "FeastStore.open"), ("feast", "FeatureStore.get_feature_service")),
    "read Parquet": (("pandas", "read_parquet"),),
    "entity rows": (("openclaw_assets.compute.batch", "scoring_rows"),),
    RETRIEVAL: (("feast", "FeatureStore.get_historical_features"),),
    "predict": (("openclaw_assets.models.pyfunc", "FlightDelayModel.predict"),),
    "write Parquet": (("pyarrow.parquet", "ParquetWriter.write_table"),),
    "sha256": ((ATOMIC, "sha256_file"),),
}
SCORE_MONTH = {"score_month": (("openclaw_assets.compute.batch", "score_month"),)}


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(name)
    return getattr(importlib.import_module(_NAMES[name]), name)
