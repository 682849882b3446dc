"""Every name bench takes from ``openclaw_assets``, in one place, imported only when first used.

``from bench import _project as p`` then ``p.warehouse_file(...)``: the import happens at that
attribute access, inside a child's clock or after it, never when bench itself is imported. The
module lists below are what children import before their clocks start, and the functions the
cases time by wrapping them.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "defs": "openclaw_assets.definitions",
    "cli_main": "openclaw_assets.cli:main",
    "prepare_dagster_home": "openclaw_assets.cli",
    "warehouse_file": "openclaw_assets.data.tables",
    "landing_file": "openclaw_assets.data.tables",
    "PARTITIONED_TABLES": "openclaw_assets.data.tables",
    "AIRLINES": "openclaw_assets.data.tables",
    "AIRPORTS": "openclaw_assets.data.tables",
    "FLIGHTS": "openclaw_assets.data.tables",
    "WEATHER": "openclaw_assets.data.tables",
    "read_drop": "openclaw_assets.data.landing",
    "validate_flights": "openclaw_assets.data.contracts",
    "validate_weather": "openclaw_assets.data.contracts",
    "validate_reference": "openclaw_assets.data.contracts",
    "flights_schema": "openclaw_assets.data.contracts",
    "weather_schema": "openclaw_assets.data.contracts",
    "LOCAL_TZ": "openclaw_assets.data.contracts",
    "FeastStore": "openclaw_assets.features.store",
    "feature_store_config": "openclaw_assets.features.store",
    "ENTITY_KEYS": "openclaw_assets.features.repo",
    "FEATURE_SERVICE": "openclaw_assets.features.repo",
    "source_dir": "openclaw_assets.features.repo",
    "labelled_flights": "openclaw_assets.features.feast_assets",
    "month_bounds": "openclaw_assets.features.assets",
    "FEATURES": "openclaw_assets.models.training",
    "LABEL": "openclaw_assets.models.training",
    "prepare": "openclaw_assets.models.training",
    "split": "openclaw_assets.models.training",
    "fit": "openclaw_assets.models.training",
    "fit_threads": "openclaw_assets.models.training",
    "TrainConfig": "openclaw_assets.models.assets",
    "MlflowStore": "openclaw_assets.models.registry",
    "Warehouse": "openclaw_assets.resources",
    "scoring_rows": "openclaw_assets.compute.batch",
    "PREDICTIONS_TABLE": "openclaw_assets.compute.batch:TABLE",
}

CODE_LOCATION = ("dagster", "openclaw_assets.definitions")
CLI = "openclaw_assets.cli"
CONTRACTS = ("openclaw_assets.data.contracts", "openclaw_assets.data.landing", "openclaw_assets.data.tables")
FEAST = (
    "feast",
    "openclaw_assets.features.store",
    "openclaw_assets.features.repo",
    "openclaw_assets.features.feast_assets",
)
TRAINING = "openclaw_assets.models.training"
MLFLOW = ("mlflow", "mlflow.pyfunc", "mlflow.models", "mlflow.tracking", "openclaw_assets.models.pyfunc")
REGISTRY = "openclaw_assets.models.registry"

TRAINING_PHASES = {
    "read training set + sha256": (
        ("openclaw_assets.models.assets", "_training_frame"),
        ("openclaw_assets.lib.atomic", "sha256_file"),
    ),
    "split + prepare": ((TRAINING, "split"), (TRAINING, "prepare")),
    "fit": ((TRAINING, "fit"),),
    "holdout predict + metrics": ((TRAINING, "predict"), (TRAINING, "metrics")),
    "MLflow": (
        (REGISTRY, "MlflowStore.client"),
        *(("mlflow", f) for f in ("start_run", "log_params", "log_metrics", "log_dict")),
        ("mlflow.models", "infer_signature"),
        ("mlflow.pyfunc", "log_model"),
        ("mlflow.tracking", "MlflowClient.set_model_version_tag"),
        ("mlflow.tracking", "MlflowClient.set_registered_model_alias"),
    ),
}
RETRIEVAL = "feature retrieval"
BATCH_PHASES = {
    "MLflow: champion + load_model": (
        (REGISTRY, "MlflowStore.version_for"),
        (REGISTRY, "MlflowStore.client"),
        ("mlflow.pyfunc", "load_model"),
    ),
    "Feast: open store": (
        ("openclaw_assets.features.store", "FeastStore.open"),
        ("feast", "FeatureStore.get_feature_service"),
    ),
    "read Parquet": (("pandas", "read_parquet"),),
    "entity rows": (("openclaw_assets.compute.batch", "scoring_rows"),),
    RETRIEVAL: (("feast", "FeatureStore.get_historical_features"),),
    "predict": (("openclaw_assets.models.pyfunc", "FlightDelayModel.predict"),),
    "write Parquet": (("pyarrow.parquet", "ParquetWriter.write_table"),),
    "sha256": (("openclaw_assets.lib.atomic", "sha256_file"),),
}
SCORE_MONTH = {"score_month": (("openclaw_assets.compute.batch", "score_month"),)}


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(name)
    module, _, attribute = _NAMES[name].partition(":")
    return getattr(importlib.import_module(module), attribute or name)
