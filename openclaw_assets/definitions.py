"""The code location: each plane's definitions merged, plus the jobs that span them.

Kept cheap to import: no plane imports pandas, pyarrow, feast, mlflow or sklearn at
module level; they load inside the steps that use them.
"""

import dagster as dg

from openclaw_assets.compute import definitions as compute_plane
from openclaw_assets.control import definitions as control_plane
from openclaw_assets.data import definitions as data_plane
from openclaw_assets.features import definitions as feature_plane
from openclaw_assets.kernel.concurrency import sleep_while_blocked
from openclaw_assets.models import definitions as model_plane
from openclaw_assets.models.training import feature_families
from openclaw_assets.observability import definitions as observability_plane

sleep_while_blocked()  # a run waiting for a pool sleeps instead of spinning a core (kernel/concurrency.py)

# live_drift judges the gateway's traffic, not the run's months: on its own schedule, so that what someone
# sent the gateway cannot fail a run of the pipeline
main_job = dg.define_asset_job(
    "openclaw_main",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets("live_drift"),
    description="The whole pipeline for a range of months, in one run (live traffic's drift on its own schedule).",
)
features_job = dg.define_asset_job(
    "openclaw_features",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("models", "deployment", "control").downstream(),
    description="Ingestion and the feature plane, without training (a range too short to hold out a month).",
)

automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Carries new and corrected months downstream by each asset's automation condition.",
)

# One process per run: on two cores, a subprocess per step costs an import of the code
# location each (seconds) and buys no parallelism worth having.
defs = dg.Definitions.merge(
    data_plane.defs,
    feature_plane.defs,
    model_plane.defs,
    compute_plane.defs,
    control_plane.defs,
    observability_plane.build(families=feature_families()),
    dg.Definitions(jobs=[main_job, features_job], sensors=[automation_sensor], executor=dg.in_process_executor),
)
