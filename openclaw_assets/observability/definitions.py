"""The observability plane's definitions, built from what the code location hands it."""

from collections.abc import Mapping, Sequence

import dagster as dg

from openclaw_assets.kernel.warehouse import WAREHOUSE
from openclaw_assets.observability import health, sensors
from openclaw_assets.observability.drift_assets import build_assets as drift_assets
from openclaw_assets.observability.resource import resources


def build(families: Mapping[str, Sequence[str]]) -> dg.Definitions:
    """The plane's assets, checks, sensors and resources; ``families`` names each feature family's columns."""
    return dg.Definitions.merge(
        dg.Definitions(assets=drift_assets(families), resources={"warehouse": WAREHOUSE, **resources()}),
        health.defs,
        sensors.defs,
    )
