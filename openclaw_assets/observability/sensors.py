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
materialization's storage id, the freshness state's change time). Each tick considers the events
of the last ``LOOKBACK`` (a day: a sensor turned on does not page for last year's failures) and
the cursor holds the keys of those delivered. A delivery that fails stops the tick: that event
and the ones after it stay undelivered, not marked sent, and go out on a later tick (within the
day); nothing delivered is sent again. A webhook that took a POST but whose answer was lost may
get it twice: the payload's ``fingerprint`` (and ``Idempotency-Key`` header) lets it tell.

Reading is kept cheap (a tick every 30 s): one query for the latest execution of every check,
and a check's history only when its latest execution is recent.
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
"""Events older than this are not notified (nor retried)."""
SLACK = 6 * 3600.0
"""How long after a newer execution of the same check was planned an older one may still be evaluated."""
HISTORY = 25
"""Executions read per check (and materializations of the rollback asset) each tick."""


@dataclass(frozen=True)
class Tick:
    """What one evaluation did: the cursor to keep, what it says, what went out."""

    cursor: str | None
    reason: str
    sent: list[Alert]
    error: str | None = None


def _sent(cursor: str | None) -> tuple[set[str], str]:
    if not cursor:
        return set(), ""
    try:
        return {str(key) for key in json.loads(cursor)["sent"]}, ""
    except (ValueError, KeyError, TypeError):
        return set(), f"; an unreadable cursor was replaced: the last {LOOKBACK / 3600:g} h of events count as unsent"


def alert_tick(collect: Callable[[float], list[Alert]], webhook: AlertWebhook, cursor: str | None, now: float) -> Tick:
    """One tick: send each event of the last day not yet delivered, oldest first, stopping at the first failure."""
    if webhook.target() is None:
        return Tick(cursor, f"${WEBHOOK_ENV} is not set: alert notifications are off", [])
    since = now - LOOKBACK
    sent, note = _sent(cursor)
    seen = sorted((a for a in collect(since) if a.at >= since), key=lambda a: (a.at, a.key))
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
    state = json.dumps({"sent": sorted(sent & visible)}, separators=(",", ":"))
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


def failed_checks(
    instance: dg.DagsterInstance, keys: Iterable[dg.AssetCheckKey], kinds: set[str], since: float
) -> list[Alert]:
    """The failed executions of ``keys`` since ``since`` whose kind is one of ``kinds``."""
    storage = instance.event_log_storage
    latest = storage.get_latest_asset_check_execution_by_key(list(keys))
    alerts = []
    for key, newest in latest.items():
        if newest.create_timestamp < since - SLACK:
            continue  # nothing of this check's is recent: its history is not read
        asset, check = key.asset_key.to_user_string(), key.name
        for record in storage.get_asset_check_execution_history(key, limit=HISTORY):
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


def rollbacks(instance: dg.DagsterInstance, since: float, asset: str = ROLLBACK_ASSET) -> list[Alert]:
    """Rollbacks since ``since``: materializations of ``asset`` with ``action: rollback``."""
    records = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_timestamp=since)
    found = instance.fetch_materializations(records, limit=HISTORY)
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
Collector = Callable[[dg.SensorEvaluationContext, float], list[Alert]]


def alert_sensor(name: str, description: str, collect: Collector) -> dg.SensorDefinition:
    """A sensor that notifies the events ``collect`` finds, each once."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext, alert_webhook: AlertWebhook) -> dg.SensorResult:
        tick = alert_tick(lambda since: collect(context, since), alert_webhook, context.cursor, time.time())
        (context.log.error if tick.error else context.log.info)(tick.reason)
        return dg.SensorResult(cursor=tick.cursor, skip_reason=tick.reason)

    return _sensor


def _checks(kinds: set[str], which: Callable[[str, str], bool]) -> Collector:
    """Failed checks of ``kinds`` among the code location's checks that ``which(asset, check)`` selects."""

    def collect(context: dg.SensorEvaluationContext, since: float) -> list[Alert]:
        keys = [k for k in check_keys(context.repository_def) if which(k.asset_key.to_user_string(), k.name)]
        return failed_checks(context.instance, keys, kinds, since)

    return collect


def _freshness(context: dg.SensorEvaluationContext, since: float) -> list[Alert]:
    gates = _checks({"freshness"}, lambda asset, check: f"{asset}:{check}" in FRESHNESS_CHECKS)
    return gates(context, since) + freshness_states(context.instance, context.repository_def)


SENSORS: Sequence[dg.SensorDefinition] = (
    alert_sensor(
        "check_failure_alert_sensor",
        "Notifies the alert webhook of each failed blocking asset check, and of each metric anomaly.",
        _checks({"check", "anomaly"}, lambda asset, check: asset not in DRIFT_ASSETS),
    ),
    alert_sensor(
        "freshness_alert_sensor",
        "Notifies the alert webhook of each failed freshness gate and each asset gone stale by its freshness policy.",
        _freshness,
    ),
    alert_sensor(
        "drift_alert_sensor",
        f"Notifies the alert webhook of each failed check on {', '.join(DRIFT_ASSETS)}.",
        _checks({"drift"}, lambda asset, check: asset in DRIFT_ASSETS),
    ),
    alert_sensor(
        "rollback_alert_sensor",
        "Notifies the alert webhook of each rollback of the champion.",
        lambda context, since: rollbacks(context.instance, since),
    ),
)

defs = dg.Definitions(sensors=list(SENSORS), resources={"alert_webhook": AlertWebhook()})
