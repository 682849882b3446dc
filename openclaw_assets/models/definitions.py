"""The model plane's definitions: training, evaluation and their gates."""

import dagster as dg

from openclaw_assets.control.resource import LEDGER
from openclaw_assets.features.window import TRAINING_WINDOW
from openclaw_assets.kernel.warehouse import WAREHOUSE
from openclaw_assets.models.assets import model_evaluation, trained_model
from openclaw_assets.models.registry import MLFLOW

defs = dg.Definitions(
    assets=[trained_model, model_evaluation],
    resources={"warehouse": WAREHOUSE, "ledger": LEDGER, "mlflow_store": MLFLOW, "training_window": TRAINING_WINDOW},
)
