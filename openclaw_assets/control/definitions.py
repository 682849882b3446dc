"""The control plane's definitions: the release-readiness asset and the resources it needs."""

import dagster as dg

from openclaw_assets.control.assets import release_readiness
from openclaw_assets.control.resource import LEDGER
from openclaw_assets.kernel.warehouse import WAREHOUSE

defs = dg.Definitions(assets=[release_readiness], resources={"warehouse": WAREHOUSE, "ledger": LEDGER})
