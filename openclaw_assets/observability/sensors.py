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

One notification per condition as it starts, not per execution: a failing check is the condition
``check:asset:check[:partition]``, notified when its latest verdict goes from not failing (or never
seen) to failed, and not again while it keeps failing, however often it runs (``pipeline_health``
judges every month hourly, ``live_drift`` runs every 15 minutes: one bad month is one page). Once a
later execution passes, the condition clears; failing again is a new notification, also when the pass
and the new failure fall between two ticks (the pass's execution id marks the failing streak). A
condition still failing ``repeat_after_hours`` (24 by default, 0: never) after its notification is
notified again: a transition-only page that the receiver lost or the on-call forgot would otherwise
never come back. Events are their own condition: one notification per rollback materialization
(its storage id) and per freshness state change (its change time), never repeated.

The cursor holds the conditions (and events) notified that are still visible: failing in the last
``LOOKBACK`` (a day: a sensor turned on does not page for last year's failures), each with its
streak mark and notification time. So it is bounded by what one tick reads: at most ``HISTORY``
(check, partition)s per check, ``HISTORY`` rollbacks and one freshness state per asset. A condition
that passes, or whose latest failure is older than a day, leaves it (a check run less than daily that
still fails is notified at its next run). A delivery the webhook refused for good (a 4xx other than
408 and 429: a bad payload or a revoked token) is given up: recorded as notified, the tick's reason
and log name its status, and the tick goes on. Any other failed delivery (no answer, 5xx, 408, 429)
stops the tick: that alert and the ones after it stay unnotified and go out on a later tick (within
the day). A webhook that took a POST but whose answer was lost may get it twice: the payload's
``fingerprint`` (and ``Idempotency-Key`` header, from the latest failed execution's id) lets it tell,
unless the check failed again in between (then the copy names the newer execution).

Reading is kept cheap (a tick every 30 s): one query for the latest execution of every check,
and a check's verdicts (``HISTORY`` of them) only when its latest execution is recent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from openclaw_assets.observability.notify import WEBHOOK_ENV, Alert, AlertDeliveryError, AlertRejected, AlertWebhook

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
    """What one evaluation did: the cursor to keep, what it says, what went out (and what was given up)."""

    cursor: str | None
    reason: str
    sent: list[Alert]
    error: str | None = None
    given_up: list[Alert] = field(default_factory=list)


@dataclass(frozen=True)
class Notified:
    """A condition in the cursor: notified (or given up) at ``at``, in the failing streak ``episode`` marks."""

    episode: str | None
    at: float


def _state(cursor: str | None, now: float) -> tuple[dict[str, Notified], str]:
    if not cursor:
        return {}, ""
    try:
        state = json.loads(cursor)
        if "sent" in state:  # the cursor of the sensors that notified every execution: its keys, as notified now
            return {str(key): Notified(None, now) for key in state["sent"]}, ""
        return {
            str(k): Notified(None if e is None else str(e), float(at)) for k, (e, at) in state["firing"].items()
        }, ""
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}, f"; an unreadable cursor was replaced: the last {LOOKBACK / 3600:g} h of events count as unsent"


def _due(alert: Alert, notified: Notified | None, now: float, repeat: float) -> bool:
    if notified is None:
        return True  # first seen failing (or an event not yet delivered)
    if alert.condition and alert.episode is not None and alert.episode != notified.episode:
        return True  # it passed since it was notified, and fails again
    return bool(alert.condition) and repeat > 0 and now - notified.at >= repeat


def _names(alerts: list[Alert]) -> str:
    return ", ".join(a.summary for a in alerts[:5]) + (" ..." if len(alerts) > 5 else "")


def alert_tick(collect: Callable[[float], list[Alert]], webhook: AlertWebhook, cursor: str | None, now: float) -> Tick:
    """One tick: notify each condition that started failing (and each new event) of the last day, oldest first.

    A condition is notified once while it keeps failing (again after ``repeat_after_hours``); a delivery
    refused for good is given up and the tick goes on; any other failed delivery stops the tick.
    """
    if webhook.target() is None:
        return Tick(cursor, f"${WEBHOOK_ENV} is not set: alert notifications are off", [])
    since, repeat = now - LOOKBACK, webhook.repeat_after_hours * 3600.0
    firing, note = _state(cursor, now)
    seen = sorted((a for a in collect(since) if a.at >= since), key=lambda a: (a.at, a.key))
    pending = [a for a in seen if _due(a, firing.get(a.about), now, repeat)]
    delivered: list[Alert] = []
    given_up: list[tuple[Alert, AlertRejected]] = []
    error = None
    for alert in pending:
        try:
            webhook.send(alert)
        except AlertRejected as exc:
            given_up.append((alert, exc))
        except AlertDeliveryError as exc:
            error = str(exc)
            break
        else:
            delivered.append(alert)
        before = firing.get(alert.about)
        episode = alert.episode if alert.episode is not None or before is None else before.episode
        firing[alert.about] = Notified(episode, now)
    visible = {a.about for a in seen}  # a condition that passes (or ages out) leaves the cursor
    kept = {k: [n.episode, n.at] for k, n in sorted(firing.items()) if k in visible}
    state = json.dumps({"firing": kept}, separators=(",", ":"))
    parts = [f"sent {len(delivered)}: {_names(delivered)}"] if delivered else []
    if given_up:
        refused = "; ".join(f"{a.summary} (refused {exc.status}: {exc})" for a, exc in given_up)
        parts.append(f"gave up on {len(given_up)}, a permanent rejection, not retried: {refused}")
    if error is not None:
        parts.append(f"{len(pending) - len(delivered) - len(given_up)} not delivered ({error}): retried next tick")
    reason = "; ".join(parts) or f"nothing new to send ({len(seen)} recent events, all sent)"
    return Tick(state, reason + note, delivered, error, [a for a, _ in given_up])


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
    """The (check, partition)s of ``keys`` whose latest verdict since ``since`` is a failure of one of ``kinds``.

    One alert per failing condition, for its latest failed execution; ``episode`` is the id of the
    latest passing execution of that (check, partition) in the history read (None: none seen).
    """
    storage = instance.event_log_storage
    latest = storage.get_latest_asset_check_execution_by_key(list(keys))
    alerts = []
    for key, newest in latest.items():
        if newest.create_timestamp < since - SLACK:
            continue  # nothing of this check's is recent: its history is not read
        # the record's status type, taken from a record (Dagster exports it from no public module)
        verdicts = {type(newest.status)("SUCCEEDED"), type(newest.status)("FAILED")}
        asset, check = key.asset_key.to_user_string(), key.name
        newest_first: dict[str | None, list[Any]] = {}
        for record in storage.get_asset_check_execution_history(key, limit=HISTORY, status=verdicts):
            newest_first.setdefault(record.partition, []).append(record)
        for partition, records in newest_first.items():
            record = records[0]
            if record.status.value != "FAILED" or record.event is None:
                continue  # its latest verdict is a pass: not failing
            evaluation = record.event.asset_check_evaluation
            if evaluation is None or (kind := kind_of(asset, check, evaluation)) not in kinds:
                continue
            passed = next((r.id for r in records if r.status.value == "SUCCEEDED"), None)
            where = f" [{partition}]" if partition else ""
            labels = {"asset": asset, "check": check} | ({"partition": partition} if partition else {})
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
                    condition=f"check:{asset}:{check}" + (f":{partition}" if partition else ""),
                    episode=None if passed is None else str(passed),
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
        (context.log.error if tick.error or tick.given_up else context.log.info)(tick.reason)
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
