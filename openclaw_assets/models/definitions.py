"""The model plane's definitions: training, evaluation and their gates."""

import dagster as dg

from openclaw_assets.models.assets import model_evaluation, trained_model
from openclaw_assets.resources import mlflow_store, warehouse

defs = dg.Definitions(
    assets=[trained_model, model_evaluation],
    resources={"warehouse": warehouse, "mlflow_store": mlflow_store},
)
