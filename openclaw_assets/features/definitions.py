"""The feature plane's definitions: feature tables, the Feast registry, online store and training set."""

import dagster as dg

from openclaw_assets.control.resource import LEDGER
from openclaw_assets.features.assets import aircraft, flight_features, weather_hourly
from openclaw_assets.features.feast_assets import feast_registry, online_features, training_set
from openclaw_assets.features.store import FEAST
from openclaw_assets.features.window import TRAINING_WINDOW
from openclaw_assets.kernel.warehouse import WAREHOUSE

defs = dg.Definitions(
    assets=[flight_features, weather_hourly, aircraft, feast_registry, online_features, training_set],
    resources={"warehouse": WAREHOUSE, "ledger": LEDGER, "feast": FEAST, "training_window": TRAINING_WINDOW},
)
