"""Sensors that move models: rollout of a challenger that passed its gates, rollback on a live SLO breach.

The logic lives in plain functions over (home, instance, MLflow, gateway) so tests can run
one tick directly; the sensors wrap them.
"""

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from openclaw_assets.compute.evidence import EVALUATION_CHECKS, verdict
from openclaw_assets.kernel.warehouse import Warehouse
from openclaw_assets.models.registry import CHALLENGER, CHAMPION, MlflowStore

log = logging.getLogger("openclaw.sensors")

ROLLOUT_JOB = "openclaw_rollout"


@dataclass(frozen=True)
class Slo:
    """What the live champion must keep to; breaching any one rolls it back.

    From the environment: OPENCLAW_SLO_MAX_ERROR_RATE (0.05), OPENCLAW_SLO_P99_MS (250),
    OPENCLAW_SLO_MIN_REQUESTS (20: fewer requests in the window are not judged) and
    OPENCLAW_SLO_MIN_AUC (0.6, judged on ab_results once outcomes have arrived).
    """

    max_error_rate: float = 0.05
    p99_ms: float = 250.0
    min_requests: int = 20
    min_auc: float = 0.6

    @classmethod
    def from_env(cls) -> "Slo":
        env = os.environ
        return cls(
            float(env.get("OPENCLAW_SLO_MAX_ERROR_RATE", cls.max_error_rate)),
            float(env.get("OPENCLAW_SLO_P99_MS", cls.p99_ms)),
            int(env.get("OPENCLAW_SLO_MIN_REQUESTS", cls.min_requests)),
            float(env.get("OPENCLAW_SLO_MIN_AUC", cls.min_auc)),
        )


# --- rollout ---------------------------------------------------------------------------------
def rollout_decision(instance: dg.DagsterInstance, mlflow_store: MlflowStore, handled: str | None):
    """(RunRequest or None, reason, version handled)."""
    from openclaw_assets.compute.deployment import ROLLED_BACK_TAG

    challenger = mlflow_store.version_for(CHALLENGER)
    if challenger is None:
        return None, "no challenger registered", handled
    version = str(challenger.version)
    champion = mlflow_store.version_for(CHAMPION)
    if champion is not None and str(champion.version) == version:
        return None, f"v{version} is already champion", handled
    if handled == version:
        return None, f"v{version} already handled", handled
    if challenger.tags.get(ROLLED_BACK_TAG):
        return None, f"v{version} was rolled back: never promoted again", version
    evaluation = verdict(instance, "model_evaluation", EVALUATION_CHECKS)
    if evaluation.model_version != version:
        return None, f"v{version} not evaluated yet (latest evaluation judged v{evaluation.model_version})", handled
    if evaluation.pending:
        return None, f"v{version} is still being evaluated (run {(evaluation.run_id or '')[:8]})", handled
    if not evaluation.passed:
        return None, f"v{version} failed its gates ({'; '.join(evaluation.failed())}): not promoted", version
    request = dg.RunRequest(
        run_key=f"rollout-v{version}",
        job_name=ROLLOUT_JOB,
        tags={"openclaw/model_version": version, "openclaw/trigger": "model_rollout_sensor"},
    )
    return request, f"v{version} passed every gate: staging validation and promotion", version


@dg.sensor(
    job_name=ROLLOUT_JOB,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A new challenger whose gates all passed starts staging validation and promotion.",
)
def model_rollout_sensor(context: dg.SensorEvaluationContext, mlflow_store: MlflowStore):
    request, reason, handled = rollout_decision(context.instance, mlflow_store, context.cursor)
    context.log.info(reason)
    if handled != context.cursor:
        context.update_cursor(handled)
    if request is None:
        return dg.SkipReason(reason)
    return dg.SensorResult(run_requests=[request])


# --- rollback --------------------------------------------------------------------------------
def gateway_status(home: Path) -> dict[str, Any] | None:
    """The running gateway's /v1/admin/status, or None if none is running."""
    import httpx

    from openclaw_assets.compute.gateway.auth import client_token
    from openclaw_assets.compute.gateway.server import default_endpoint_file, read_endpoint

    found = read_endpoint(default_endpoint_file(home))
    if found is None:
        return None
    token = client_token(home, "admin")  # the gateway keeps only digests: the client's own copy
    if token is None:
        raise ValueError("no admin token to read the gateway's status with")
    answer = httpx.get(found["url"] + "/v1/admin/status", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    answer.raise_for_status()
    return answer.json() | {"url": found["url"], "token": token}


def breach(status: dict[str, Any] | None, live_auc: float | None, champion: str, slo: Slo) -> str | None:
    """Why the champion breaches the SLO, or None."""
    if status is not None:
        for stats in status.get("versions", []):
            if stats["version"] != champion or stats["requests"] < slo.min_requests:
                continue
            if stats["error_rate"] > slo.max_error_rate:
                rate, count = stats["error_rate"], stats["requests"]
                return f"error rate {rate:.1%} over {count} requests (SLO {slo.max_error_rate:.1%})"
            if stats["p99_ms"] is not None and stats["p99_ms"] > slo.p99_ms:
                return f"p99 {stats['p99_ms']:.1f} ms over {stats['requests']} requests (SLO {slo.p99_ms:.0f} ms)"
    if live_auc is not None and live_auc < slo.min_auc:
        return f"live AUC {live_auc:.4f} on arrived outcomes (SLO {slo.min_auc})"
    return None


def live_auc(instance: dg.DagsterInstance, version: str) -> float | None:
    event = instance.get_latest_materialization_event(dg.AssetKey("ab_results"))
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(f"v{version}_auc")
    return float(value.value) if value is not None and isinstance(value.value, (int, float)) else None


def rollback_tick(home: Path, instance: dg.DagsterInstance, mlflow_store: MlflowStore, slo: Slo, ledger: Any = None):
    """One tick: (AssetMaterialization of the rollback or None, reason). The rollback is recorded in the ledger."""
    import httpx
    from mlflow.exceptions import MlflowException

    from openclaw_assets.compute import record
    from openclaw_assets.compute.deployment import ROLLED_BACK_TAG

    champion = mlflow_store.version_for(CHAMPION)
    if champion is None:
        return None, "no champion"
    version = str(champion.version)
    previous = record.previous_champion(record.read_history(home), version)
    try:
        status = gateway_status(home)
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
        status = None
        reason_status = f"gateway status unreadable ({type(exc).__name__})"
    else:
        reason_status = "no gateway running" if status is None else "gateway healthy"
    why = breach(status, live_auc(instance, version), version, slo)
    if why is None:
        return None, f"champion v{version}: {reason_status}, within SLO"
    if previous is None:
        return None, f"champion v{version} breaches its SLO ({why}) but there is no previous champion to go back to"
    client = mlflow_store.client()
    try:
        target = client.get_model_version(mlflow_store.model_name, previous)
    except MlflowException:
        return None, f"champion v{version} breaches its SLO ({why}) but v{previous} is no longer registered"
    if target.tags.get(ROLLED_BACK_TAG):  # a rolled-back version never serves again
        return None, f"champion v{version} breaches its SLO ({why}) but v{previous} was rolled back itself"
    client.set_registered_model_alias(mlflow_store.model_name, CHAMPION, str(previous))
    client.set_model_version_tag(mlflow_store.model_name, version, ROLLED_BACK_TAG, why)
    entry = record.append(
        home,
        {
            "action": record.ROLLBACK,
            "champion": previous,
            "rolled_back": version,
            "reason": why,
            "model_name": mlflow_store.model_name,
            "signals": {k: v for k, v in (status or {}).items() if k != "token"},
        },
    )
    if status is not None:  # switch the gateway now rather than at its next poll
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                status["url"] + "/v1/admin/reload", headers={"Authorization": f"Bearer {status['token']}"}, timeout=30
            )
    from openclaw_assets.control import subjects
    from openclaw_assets.control.resource import ProvenanceLedger

    ledger = ledger or ProvenanceLedger.at(home, mlflow_store.warehouse.profile)
    name = mlflow_store.model_name
    try:  # evidence of a rollback that has happened: a ledger that cannot take it must not undo the reload
        ledger.record(
            None,
            "rollback",
            f"deployment:{name}",
            inputs=[subjects.model(name, previous), subjects.model(name, version)],
            facts={"action": record.ROLLBACK, "champion": str(previous), "rolled_back": version, "reason": why},
        )
    except Exception as exc:
        log.warning("rollback v%s -> v%s not recorded in the ledger: %s", version, previous, exc)
    event = dg.AssetMaterialization(
        asset_key="production_deployment",
        description=f"rollback: v{version} -> v{previous}",
        metadata={
            "action": "rollback",
            "model_version": str(previous),
            "champion_version": str(previous),
            "rolled_back": version,
            "reason": why,
            "deployed_at": entry["at"],
            "history": dg.MetadataValue.path(str(record.history_path(home))),
            "signals": dg.MetadataValue.json(json.loads(json.dumps(entry["signals"], default=str))),
        },
    )
    return event, f"rolled back v{version} -> v{previous}: {why}"


@dg.sensor(
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads the gateway's live signals (and live AUC from ab_results); on an SLO breach moves "
    "champion back to the version it replaced (from the deployment history) within the tick.",
)
def rollback_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse, mlflow_store: MlflowStore):
    from openclaw_assets.control.resource import ProvenanceLedger

    ledger = ProvenanceLedger(warehouse=warehouse)
    event, reason = rollback_tick(warehouse.root, context.instance, mlflow_store, Slo.from_env(), ledger)
    context.log.info(reason)
    if event is None:
        return dg.SkipReason(reason)
    return dg.SensorResult(asset_events=[event])
