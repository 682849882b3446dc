"""Reading the gates' verdicts back from the Dagster instance, tied to the model version they judged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from openclaw_assets.models import assets as model_assets

EVALUATION_CHECKS = model_assets.EVALUATION_CHECKS
"""The model gates, as ``models.assets`` declares them."""


@dataclass(frozen=True)
class Verdict:
    asset: str
    model_version: str | None
    run_id: str | None
    checks: dict[str, str]  # check name -> SUCCEEDED / FAILED / NEVER_RAN / OTHER_RUN ...

    @property
    def pending(self) -> bool:
        """A check of that materialization is still planned: its run has not finished judging."""
        return any(state == "PLANNED" for state in self.checks.values())

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(state == "SUCCEEDED" for state in self.checks.values())

    def failed(self) -> list[str]:
        return [f"{self.asset}:{name} {state}" for name, state in self.checks.items() if state != "SUCCEEDED"]

    def as_dict(self) -> dict[str, Any]:
        return {"asset": self.asset, "model_version": self.model_version, "run_id": self.run_id, "checks": self.checks}


def verdict(instance: dg.DagsterInstance, asset: str, names: tuple[str, ...]) -> Verdict:
    """The latest materialization of ``asset`` (its model_version and run) and its checks' states in that run."""
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None or event.asset_materialization is None:
        return Verdict(asset, None, None, {name: "NEVER_RAN" for name in names})
    metadata = event.asset_materialization.metadata
    version = metadata.get("model_version")
    checks: dict[str, str] = {}
    for name in names:
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(asset), name), limit=1
        )
        if not records:
            checks[name] = "NEVER_RAN"
        elif records[0].run_id != event.run_id:
            checks[name] = "NOT_IN_THAT_RUN"
        else:
            checks[name] = records[0].status.value
    return Verdict(asset, str(version.value) if version is not None else None, event.run_id, checks)
