"""The compute plane's definitions: staging, deployment, batch scoring, A/B results, rollout sensors.

A/B results refresh by their automation condition (every 15 minutes), not a schedule.
"""

import dagster as dg

from openclaw_assets.compute.ab import ab_results
from openclaw_assets.compute.batch import batch_predictions
from openclaw_assets.compute.deployment import production_deployment
from openclaw_assets.compute.sensors import ROLLOUT_JOB, model_rollout_sensor, rollback_sensor
from openclaw_assets.compute.staging import staging_validation
from openclaw_assets.control.resource import LEDGER
from openclaw_assets.features.store import FEAST
from openclaw_assets.kernel.warehouse import WAREHOUSE
from openclaw_assets.models.registry import MLFLOW

rollout_job = dg.define_asset_job(
    ROLLOUT_JOB,
    selection=["staging_validation", "release_readiness", "production_deployment"],
    description="Stage the challenger behind a real gateway, score its release readiness, then promote it if "
    "every gate and the promotion policy allow.",
)
ab_job = dg.define_asset_job(
    "openclaw_ab_results", selection=["ab_results"], description="Join the prediction log with outcomes."
)

defs = dg.Definitions(
    assets=[staging_validation, production_deployment, batch_predictions, ab_results],
    jobs=[rollout_job, ab_job],
    sensors=[model_rollout_sensor, rollback_sensor],
    resources={"warehouse": WAREHOUSE, "ledger": LEDGER, "mlflow_store": MLFLOW, "feast": FEAST},
)
