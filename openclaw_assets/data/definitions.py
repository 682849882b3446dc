"""The data plane's definitions: ingestion assets, their gates, the landing-zone sensor."""

import dagster as dg

from openclaw_assets.control.resource import LEDGER
from openclaw_assets.data.assets import assets
from openclaw_assets.data.sensors import landing_zone_sensor
from openclaw_assets.kernel.warehouse import WAREHOUSE

defs = dg.Definitions(
    assets=assets,
    sensors=[landing_zone_sensor],
    resources={"warehouse": WAREHOUSE, "ledger": LEDGER},
)
