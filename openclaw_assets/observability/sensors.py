"""Alert sensors: failed gates, freshness violations, drift alarms and rollbacks become webhook notifications.

Each sensor reads one kind of durable event from the instance's event log, by asset key strings
(this plane imports no other):

- ``check_failure_alert_sensor``: a failed blocking asset check on any asset, and any failed check
  of the anomaly checks (``pipeline_health``, WARN: sent as ``severity: warning``);
- ``freshness_alert_sensor``: a failed freshness gate (``online_features:online_freshness``) and
  an asset whose Dagster freshness policy went to WARN or FAIL (the freshness daemon's state changes);
- ``drift_alert_sensor``: any failed check on the drift assets (``feature_drift``, ``live_drift``);
- ``rollback_alert_sensor``: a ``production_deployment`` materialization whose ``action`` is
  ``rollback`` (what the compute plane's rollback sensor reports when it moves champion back).

One notification per event: every event has a key (the check execution's record id, the
materialization's storage id, the freshness state's change time). The cursor holds the keys
delivered, pruned to those the sensor can still see, and the time before which events are not
notified (the first tick's time less ``LOOKBACK``: a sensor turned on does not page for last
year's failures). A delivery that fails stops the tick: that event and the ones after it stay
undelivered, not marked sent, and go out on the next tick; nothing delivered is sent again.
A webhook that took a POST but whose answer was lost may get it twice: the payload's
``fingerprint`` (and ``Idempotency-Key`` header) lets it tell.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from openclaw_assets.observability.notify import WEBHOOK_ENV, Alert, AlertDeliveryError, AlertWebhook

DRIFT_ASSETS = ("feature_drift", "live_drift")
"""Assets whose every failed check is a drift alarm."""
FRESHNESS_CHECKS = ("online_features:online_freshness",)
"""Checks (``asset:check``) that are freshness gates."""
ANOMALY_ASSETS = ("pipeline_health",)
"""Assets whose every failed check (WARN included) is notified as an anomaly."""
ROLLBACK_ASSET = "production_deployment"
"""The asset whose ``action: rollback`` materializations are rollbacks."""

LOOKBACK = 24 * 3600.0
"""On a sensor's first tick, events older than this are not notified."""
HISTORY = 25
"""Executions read per check (and materializations of the rollback asset) each tick."""


@dataclass(frozen=True)
class Tick:
    """What one evaluation did: the cursor to keep, what it says, what went out."""

    cursor: str | None
    reason: str
    sent: list[Alert]
    error: str | None = None


def _state(cursor: str | None, now: float) -> tuple[float, set[str], str]:
    if cursor:
        try:
            state = json.loads(cursor)
            return float(state["since"]), set(state["sent"]), ""
        except (ValueError, KeyError, TypeError):
            note = f"; an unreadable cursor was replaced (events of the last {LOOKBACK / 3600:g} h are considered)"
            return now - LOOKBACK, set(), note
    return now - LOOKBACK, set(), ""


def alert_tick(collect: Callable[[], list[Alert]], webhook: AlertWebhook, cursor: str | None, now: float) -> Tick:
    """One tick: send each event not yet delivered, in time order, stopping at the first failure."""
    if webhook.target() is None:
        return Tick(cursor, f"${WEBHOOK_ENV} is not set: alert notifications are off", [])
    since, sent, note = _state(cursor, now)
    seen = sorted((a for a in collect() if a.at >= since), key=lambda a: (a.at, a.key))
    pending = [a for a in seen if a.key not in sent]
    delivered: list[Alert] = []
    error = None
    for alert in pending:
        try:
            webhook.send(alert)
        except AlertDeliveryError as exc:
            error = str(exc)
            break
        delivered.append(alert)
        sent.add(alert.key)
    visible = {a.key for a in seen}
    state = json.dumps({"since": since, "sent": sorted(sent & visible)}, separators=(",", ":"))
    names = ", ".join(a.summary for a in delivered[:5]) + (" ..." if len(delivered) > 5 else "")
    parts = [f"sent {len(delivered)}: {names}"] if delivered else []
    if error is not None:
        parts.append(f"{len(pending) - len(delivered)} not delivered ({error}): retried next tick")
    reason = "; ".join(parts) or f"nothing new to send ({len(seen)} recent events, all sent)"
    return Tick(state, reason + note, delivered, error)


# --- where the events come from -----------------------------------------------------------------
def check_keys(repository: dg.RepositoryDefinition | None) -> list[dg.AssetCheckKey]:
    """Every asset check of the code location the sensor runs in."""
    if repository is None:
        return []
    keys = set(repository.asset_checks_defs_by_key)
    for assets_def in set(repository.assets_defs_by_key.values()):
        keys |= set(assets_def.check_keys)
    return sorted(keys, key=lambda k: (k.asset_key.to_user_string(), k.name))


def kind_of(asset: str, check: str, evaluation: dg.AssetCheckEvaluation) -> str | None:
    """Which sensor a failed check belongs to (None: a failed WARN check that nobody is paged for)."""
    if asset in DRIFT_ASSETS:
        return "drift"
    if f"{asset}:{check}" in FRESHNESS_CHECKS:
        return "freshness"
    if asset in ANOMALY_ASSETS:
        return "anomaly"
    return "check" if evaluation.blocking else None


ALERT_NAMES = {
    "check": "OpenclawCheckFailed",
    "anomaly": "OpenclawMetricAnomaly",
    "freshness": "OpenclawStale",
    "drift": "OpenclawDrift",
}


def failed_checks(instance: dg.DagsterInstance, keys: Iterable[dg.AssetCheckKey], kinds: set[str]) -> list[Alert]:
    """The recent failed executions of ``keys`` whose kind is one of ``kinds``."""
    alerts = []
    for key in keys:
        asset, check = key.asset_key.to_user_string(), key.name
        for record in instance.event_log_storage.get_asset_check_execution_history(key, limit=HISTORY):
            if record.status.value != "FAILED" or record.event is None:
                continue
            evaluation = record.event.asset_check_evaluation
            if evaluation is None or (kind := kind_of(asset, check, evaluation)) not in kinds:
                continue
            where = f" [{record.partition}]" if record.partition else ""
            labels = {"asset": asset, "check": check} | ({"partition": record.partition} if record.partition else {})
            alerts.append(
                Alert(
                    key=f"check:{asset}:{check}:{record.id}",
                    name=ALERT_NAMES[kind],
                    severity="critical" if evaluation.severity.value == "ERROR" else "warning",
                    summary=f"{asset}:{check}{where} failed",
                    description=evaluation.description or "(no description)",
                    at=record.event.timestamp,
                    labels=labels | {"blocking": str(bool(evaluation.blocking)).lower()},
                    annotations={"run_id": record.run_id},
                )
            )
    return alerts


def freshness_states(instance: dg.DagsterInstance, repository: dg.RepositoryDefinition | None) -> list[Alert]:
    """Assets whose freshness policy state is WARN or FAIL now, one event per state change."""
    if repository is None:
        return []
    alerts = []
    for key, record in instance.get_freshness_state_records(list(repository.assets_defs_by_key)).items():
        state = record.freshness_state.value
        if state not in ("WARN", "FAIL"):
            continue
        asset, at = key.to_user_string(), record.updated_at.timestamp()
        alerts.append(
            Alert(
                key=f"freshness:{asset}:{state}:{at}",
                name=ALERT_NAMES["freshness"],
                severity="critical" if state == "FAIL" else "warning",
                summary=f"{asset} freshness {state}",
                description=f"{asset}'s freshness policy went to {state}: it has not been refreshed within its window",
                at=at,
                labels={"asset": asset, "freshness_state": state},
            )
        )
    return alerts


def rollbacks(instance: dg.DagsterInstance, asset: str = ROLLBACK_ASSET) -> list[Alert]:
    """Recent rollbacks: materializations of ``asset`` with ``action: rollback``."""
    found = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset)), limit=HISTORY)
    alerts = []
    for record in found.records:
        event = record.asset_materialization
        metadata: dict[str, Any] = {k: v.value for k, v in event.metadata.items()} if event else {}
        if metadata.get("action") != "rollback":
            continue
        off, back = metadata.get("rolled_back"), metadata.get("champion_version", metadata.get("model_version"))
        alerts.append(
            Alert(
                key=f"rollback:{record.storage_id}",
                name="OpenclawRollback",
                severity="critical",
                summary=f"rollback v{off} -> v{back}",
                description=str(metadata.get("reason", "(no reason recorded)")),
                at=record.timestamp,
                labels={"asset": asset, "model_version": str(off), "champion_version": str(back)},
                annotations={"run_id": record.run_id} if record.run_id else {},
            )
        )
    return alerts


# --- the sensors ---------------------------------------------------------------------------------
Collector = Callable[[dg.SensorEvaluationContext], list[Alert]]


def alert_sensor(name: str, description: str, collect: Collector) -> dg.SensorDefinition:
    """A sensor that notifies the events ``collect`` finds, each once."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext, alert_webhook: AlertWebhook) -> dg.SensorResult:
        tick = alert_tick(lambda: collect(context), alert_webhook, context.cursor, time.time())
        (context.log.error if tick.error else context.log.info)(tick.reason)
        return dg.SensorResult(cursor=tick.cursor, skip_reason=tick.reason)

    return _sensor


def _checks(kinds: set[str]) -> Collector:
    return lambda context: failed_checks(context.instance, check_keys(context.repository_def), kinds)


SENSORS: Sequence[dg.SensorDefinition] = (
    alert_sensor(
        "check_failure_alert_sensor",
        "Notifies the alert webhook of each failed blocking asset check, and of each metric anomaly.",
        _checks({"check", "anomaly"}),
    ),
    alert_sensor(
        "freshness_alert_sensor",
        "Notifies the alert webhook of each failed freshness gate and each asset gone stale by its freshness policy.",
        lambda context: (
            failed_checks(context.instance, check_keys(context.repository_def), {"freshness"})
            + freshness_states(context.instance, context.repository_def)
        ),
    ),
    alert_sensor(
        "drift_alert_sensor",
        f"Notifies the alert webhook of each failed check on {', '.join(DRIFT_ASSETS)}.",
        _checks({"drift"}),
    ),
    alert_sensor(
        "rollback_alert_sensor",
        "Notifies the alert webhook of each rollback of the champion.",
        lambda context: rollbacks(context.instance),
    ),
)

defs = dg.Definitions(sensors=list(SENSORS), resources={"alert_webhook": AlertWebhook()})
